#!/usr/bin/env bash
# Builds the libFuzzer targets with clang + ASan/UBSan (build-fuzz/) and runs each for a set
# time (issue 10). Not part of ctest or CI.
# Usage: [FUZZ_BUILD=DIR] tests/fuzz/run.sh [SECONDS_PER_TARGET (default 60)] [TARGET...]
# Prints, per target, the inputs tried and whether it crashed; crash inputs are kept under
# build-fuzz/findings/TARGET/. Exit 1 if any target crashed.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_safetensors fuzz_config fuzz_tokenizer fuzz_hf_tokenizer fuzz_model_archive fuzz_job_spec)
build="${FUZZ_BUILD:-build-fuzz}"  # Any clang build with -DABLATE_FUZZ=ON.
if [ ! -f "$build/CMakeCache.txt" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DABLATE_FUZZ=ON -DABLATE_SANITIZE=address,undefined -DABLATE_BUILD_TESTS=OFF >/dev/null
fi
cmake --build "$build" -j "$(nproc)" --target "${targets[@]}" >/dev/null

# Seeds: one valid input per target, so the fuzzers start past the first checks.
seeds=$build/seeds
mkdir -p "$seeds"/{fuzz_safetensors,fuzz_config,fuzz_tokenizer,fuzz_hf_tokenizer,fuzz_model_archive,fuzz_job_spec}
header='{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"__metadata__":{"k":"v"}}'
python3 - "$seeds" "$header" <<'PY'
import struct, sys, os, tarfile, io
seeds, header = sys.argv[1], sys.argv[2].encode()
open(os.path.join(seeds, 'fuzz_safetensors', 'seed'), 'wb').write(
    struct.pack('<Q', len(header)) + header + struct.pack('<2f', 1.0, 2.0))
open(os.path.join(seeds, 'fuzz_config', 'seed'), 'w').write(
    '{"n_layer": 2, "n_head": 2, "n_embd": 8, "n_positions": 16, "vocab_size": 300,'
    ' "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new"}')
byte_syms = {}
n = 0
for b in range(256):
    c = chr(b) if (33 <= b <= 126 or 161 <= b <= 172 or 174 <= b <= 255) else chr(256 + n)
    if not (33 <= b <= 126 or 161 <= b <= 172 or 174 <= b <= 255): n += 1
    byte_syms[c] = b
import json
vocab = {c: i for i, c in enumerate(byte_syms)}
vocab['he'] = 256
open(os.path.join(seeds, 'fuzz_tokenizer', 'seed'), 'w').write(
    json.dumps(vocab) + '\n====\n#version: 0.2\nh e\n\n====\nhello there')
# tokenizer.json seeds: byte-level BPE with a Split regex and NFC (GPT-2 / Llama 3 style),
# and sentencepiece-style BPE with byte_fallback and Metaspace (Llama 2 / Mistral style).
bl_vocab = dict(vocab)
bl_vocab['\u0120t'] = 257
byte_level = {
    'added_tokens': [{'id': 258, 'content': '<|end|>', 'special': True, 'lstrip': False,
                      'rstrip': False, 'normalized': False, 'single_word': False}],
    'normalizer': {'type': 'NFC'},
    'pre_tokenizer': {'type': 'Sequence', 'pretokenizers': [
        {'type': 'Split', 'pattern': {'Regex': "(?i:'s|'t)|\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+|\\s+"},
         'behavior': 'Isolated', 'invert': False},
        {'type': 'ByteLevel', 'add_prefix_space': False, 'trim_offsets': True, 'use_regex': False}]},
    'decoder': {'type': 'ByteLevel'},
    'model': {'type': 'BPE', 'vocab': bl_vocab, 'merges': ['h e', '\u0120 t'],
              'byte_fallback': False, 'fuse_unk': False}}
sp_vocab = {'<unk>': 0, '<s>': 1, '</s>': 2}
for b in range(256): sp_vocab['<0x%02X>' % b] = 3 + b
for t in ['\u2581', 'a', 'b', '\u2581a', 'ab']: sp_vocab[t] = len(sp_vocab)
sentencepiece = {
    'added_tokens': [{'id': 1, 'content': '<s>', 'special': True, 'lstrip': False,
                      'rstrip': False, 'normalized': False, 'single_word': False}],
    'normalizer': {'type': 'Sequence', 'normalizers': [
        {'type': 'Prepend', 'prepend': '\u2581'},
        {'type': 'Replace', 'pattern': {'String': ' '}, 'content': '\u2581'}]},
    'pre_tokenizer': None,
    'decoder': {'type': 'Sequence', 'decoders': [
        {'type': 'Replace', 'pattern': {'String': '\u2581'}, 'content': ' '},
        {'type': 'ByteFallback'}, {'type': 'Fuse'},
        {'type': 'Strip', 'content': ' ', 'start': 1, 'stop': 0}]},
    'model': {'type': 'BPE', 'vocab': sp_vocab, 'merges': ['\u2581 a', 'a b'],
              'byte_fallback': True, 'fuse_unk': True, 'unk_token': '<unk>'}}
for name, tok in [('byte_level', byte_level), ('sentencepiece', sentencepiece)]:
    open(os.path.join(seeds, 'fuzz_hf_tokenizer', name), 'w').write(
        json.dumps(tok) + '\n====\n{"add_bos_token": false}\n====\nhe t ab\u00e9 12345 \U0001F600')
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode='w', format=tarfile.USTAR_FORMAT) as tar:
    for name, data in [('config.json', b'{}'), ('model.safetensors', b'x' * 10)]:
        info = tarfile.TarInfo(name); info.size = len(data); info.mode = 0o644
        info.mtime = 0; info.uname = info.gname = ''
        tar.addfile(info, io.BytesIO(data))
open(os.path.join(seeds, 'fuzz_model_archive', 'seed'), 'wb').write(buf.getvalue())
PY
# A valid SubmitJobRequest (protobuf wire format, written out by hand).
python3 - "$seeds" <<'PY'
import os, sys
def field(number, payload):  # Length-delimited field; payloads here are < 128 bytes.
    return bytes([number << 3 | 2, len(payload)]) + payload
def varint(number, value):
    return bytes([number << 3, value])
shape = varint(1, 2) + varint(2, 2) + varint(4, 64)
model = field(1, b'/m') + field(2, b'a' * 64) + field(3, shape)
dataset = field(1, b'abcdefghij')
spec = field(1, model) + field(2, dataset) + varint(3, 1) + varint(4, 8) + varint(5, 1) + varint(6, 1)
open(os.path.join(sys.argv[1], 'fuzz_job_spec', 'seed'), 'wb').write(field(2, spec))
PY
status=0
for t in "${targets[@]}"; do
  corpus=$build/corpus/$t
  findings=$build/findings/$t
  mkdir -p "$corpus" "$findings"
  cp -n "$seeds/$t"/* "$corpus/" 2>/dev/null || true
  log=$build/$t.log
  if "$build/tests/fuzz/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
      -artifact_prefix="$findings/" -print_final_stats=1 "$corpus" >"$log" 2>&1; then
    result=ok
  else
    result="CRASH (see $log, inputs in $findings)"
    status=1
  fi
  runs=$(awk -F: '/stat::number_of_executed_units/ {gsub(/ /, "", $NF); print $NF}' "$log")
  echo "fuzz: $t: ${runs:-?} inputs in ${seconds}s, $(find "$corpus" -type f | wc -l) in corpus: $result"
done
exit $status
