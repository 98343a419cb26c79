"""A checkpoint folder as the server sees it: its shape (config.json), its model files, the
weights digest and the tokenizer kind. The same rules as the C++ client
(client/model_shape.cc, proto/artifact/checkpoint_files.h), so a job submitted from Python is
the job `ablate submit` would make."""
import hashlib
import json
import os
import re

from ablate.v1 import ablate_pb2 as pb

FAMILIES = ("gpt2", "gpt_neox", "llama", "mistral", "qwen2")
CONFIG = "config.json"
SINGLE_WEIGHTS = "model.safetensors"
SHARD_INDEX = "model.safetensors.index.json"
_FIXED = (CONFIG, SINGLE_WEIGHTS, SHARD_INDEX, "tokenizer.json", "tokenizer_config.json",
          "vocab.json", "merges.txt")
_SHARD = re.compile(r"^model-(\d{5})-of-(\d{5})\.safetensors$")


def _positive(cfg, path, keys, fallback=0):
    for key in keys:
        value = cfg.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 1 << 30:
            raise ValueError("%s: %r must be a positive integer" % (path, key))
        return value
    if fallback > 0:
        return fallback
    raise ValueError("%s: missing %r" % (path, keys[0]))


def read_shape(model_dir):
    """pb.ModelShape from the folder's config.json; ValueError names the file and field."""
    path = os.path.join(model_dir, CONFIG)
    try:
        with open(path, "rb") as f:
            cfg = json.loads(f.read())
    except OSError as e:
        raise ValueError("cannot read model config %s: %s" % (path, e.strerror)) from None
    except ValueError:
        raise ValueError("%s is not a JSON object" % path) from None
    if not isinstance(cfg, dict):
        raise ValueError("%s is not a JSON object" % path)
    family = cfg.get("model_type", "gpt2")
    if not isinstance(family, str):
        raise ValueError("%s: 'model_type' must be a string" % path)
    if family not in FAMILIES:
        raise ValueError("%s: model_type %r is not supported (ablate runs %s)"
                         % (path, family, ", ".join(FAMILIES)))
    gpt2 = family == "gpt2"
    gqa = family in ("llama", "mistral", "qwen2")
    layers = _positive(cfg, path, ["n_layer" if gpt2 else "num_hidden_layers"])
    heads = _positive(cfg, path, ["n_head" if gpt2 else "num_attention_heads"])
    embd = _positive(cfg, path, ["n_embd" if gpt2 else "hidden_size"])
    positions = _positive(cfg, path, ["n_positions", "n_ctx"] if gpt2
                          else ["max_position_embeddings"])
    vocab = _positive(cfg, path, ["vocab_size"])
    kv = _positive(cfg, path, ["num_key_value_heads"], heads) if gqa else heads
    head_dim = _positive(cfg, path, ["head_dim"], embd // heads) if gqa else embd // heads
    bos = cfg.get("bos_token_id")
    if bos is None:
        bos = 50256 if gpt2 else -1
    elif isinstance(bos, bool) or not isinstance(bos, int) or bos < 0:
        bos = -1
    return pb.ModelShape(family=family, n_layer=layers, n_head=heads, n_embd=embd,
                         n_positions=positions, vocab_size=vocab, n_kv_head=kv,
                         head_dim=head_dim, bos_token_id=bos)


def default_bos(shape):
    """Whether `ablate submit` puts a BOS in each chunk by default: Llama and Mistral."""
    return shape.bos_token_id >= 0 and shape.family in ("llama", "mistral")


def is_model_file(name):
    if name in _FIXED:
        return True
    m = _SHARD.match(name)
    return bool(m) and 1 <= int(m.group(1)) <= int(m.group(2))


def model_files(model_dir):
    """The model file names present in the folder as regular files, sorted bytewise."""
    if not os.path.isdir(model_dir):
        raise ValueError("%s is not a folder" % model_dir)
    names = [n for n in os.listdir(model_dir)
             if is_model_file(n) and os.path.isfile(os.path.join(model_dir, n))]
    return sorted(names, key=lambda n: n.encode())


def weight_files(model_dir, names):
    """The weight files in digest order: [model.safetensors] or the shards 1..N then the
    index. ValueError says what is wrong, as the C++ client does."""
    single, index = SINGLE_WEIGHTS in names, SHARD_INDEX in names
    shards, totals = {}, set()
    for name in names:
        m = _SHARD.match(name)
        if m and 1 <= int(m.group(1)) <= int(m.group(2)):
            shards[int(m.group(1))] = name
            totals.add(int(m.group(2)))
    where = model_dir + " "
    if single and (index or shards):
        raise ValueError(where + "has both model.safetensors and sharded weights; keep one form")
    if single:
        return [SINGLE_WEIGHTS]
    if not index and not shards:
        raise ValueError(where + "has no weights (model.safetensors, or shards with %s)"
                         % SHARD_INDEX)
    if not index:
        raise ValueError(where + "has weight shards but no " + SHARD_INDEX)
    if not shards:
        raise ValueError(where + "has %s but no shards model-KKKKK-of-NNNNN.safetensors"
                         % SHARD_INDEX)
    if len(totals) != 1:
        raise ValueError(where + "has shards of different totals")
    n = totals.pop()
    missing = [k for k in range(1, n + 1) if k not in shards]
    if missing:
        raise ValueError(where + "is missing shard %d of %d (model-%05d-of-%05d.safetensors)"
                         % (missing[0], n, missing[0], n))
    return [shards[k] for k in range(1, n + 1)] + [SHARD_INDEX]


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def weights_digest(model_dir):
    """ModelRef.sha256: SHA-256 of model.safetensors, or for shards the SHA-256 of what
    `sha256sum model-*-of-*.safetensors model.safetensors.index.json` prints."""
    weights = weight_files(model_dir, model_files(model_dir))
    if len(weights) == 1:
        return sha256_file(os.path.join(model_dir, weights[0]))
    listing = "".join("%s  %s\n" % (sha256_file(os.path.join(model_dir, n)), n)
                      for n in weights)
    return hashlib.sha256(listing.encode()).hexdigest()


def tokenizer_kind(model_dir):
    return ("tokenizer.json" if os.path.isfile(os.path.join(model_dir, "tokenizer.json"))
            else "vocab.json+merges.txt")
