#include "client/model_shape.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "client/rpc.h"
#include "nlohmann/json.hpp"

namespace ablate::client {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kFamilies = "gpt2, gpt_neox, llama, mistral, qwen2";

// Reads a positive integer field (the first of `keys` present); `fallback` when none is
// present and fallback > 0.
absl::StatusOr<int> Positive(const json& cfg, const std::string& path,
                             std::initializer_list<const char*> keys, int fallback = 0) {
  for (const char* key : keys) {
    auto it = cfg.find(key);
    if (it == cfg.end() || it->is_null()) continue;
    if (!it->is_number_integer() || it->get<int64_t>() <= 0 || it->get<int64_t>() > (1 << 30)) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": '", key, "' must be a positive integer"));
    }
    return it->get<int>();
  }
  if (fallback > 0) return fallback;
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": missing '", *keys.begin(), "'"));
}

// bos_token_id as an int, or -1 when absent, null or not an integer >= 0.
int BosTokenId(const json& cfg, int fallback) {
  auto it = cfg.find("bos_token_id");
  if (it == cfg.end() || it->is_null()) return fallback;
  if (!it->is_number_integer() || it->get<int64_t>() < 0) return -1;
  return it->get<int>();
}

}  // namespace

absl::StatusOr<v1::ModelShape> ReadModelShape(const std::string& model_dir) {
  const std::string path = (fs::path(model_dir) / "config.json").string();
  absl::StatusOr<std::string> text = ReadFile(path, "model config");
  if (!text.ok()) return text.status();
  const json cfg = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (cfg.is_discarded() || !cfg.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is not a JSON object"));
  }
  std::string family = "gpt2";
  if (auto it = cfg.find("model_type"); it != cfg.end()) {
    if (!it->is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": 'model_type' must be a string"));
    }
    family = it->get<std::string>();
  }
  const bool gpt2 = family == "gpt2";
  const bool gqa = family == "llama" || family == "mistral" || family == "qwen2";
  if (!gpt2 && !gqa && family != "gpt_neox") {
    return absl::InvalidArgumentError(absl::StrCat(path, ": model_type '", family,
                                                   "' is not supported (ablate runs ",
                                                   kFamilies, ")"));
  }
  auto layers = Positive(cfg, path, {gpt2 ? "n_layer" : "num_hidden_layers"});
  auto heads = Positive(cfg, path, {gpt2 ? "n_head" : "num_attention_heads"});
  auto embd = Positive(cfg, path, {gpt2 ? "n_embd" : "hidden_size"});
  auto positions = gpt2 ? Positive(cfg, path, {"n_positions", "n_ctx"})
                        : Positive(cfg, path, {"max_position_embeddings"});
  auto vocab = Positive(cfg, path, {"vocab_size"});
  for (const auto* s : {&layers, &heads, &embd, &positions, &vocab}) {
    if (!s->ok()) return s->status();
  }
  auto kv = gqa ? Positive(cfg, path, {"num_key_value_heads"}, *heads) : *heads;
  auto head_dim = gqa ? Positive(cfg, path, {"head_dim"}, *embd / *heads) : *embd / *heads;
  if (!kv.ok()) return kv.status();
  if (!head_dim.ok()) return head_dim.status();
  v1::ModelShape shape;
  shape.set_family(family);
  shape.set_n_layer(*layers);
  shape.set_n_head(*heads);
  shape.set_n_embd(*embd);
  shape.set_n_positions(*positions);
  shape.set_vocab_size(*vocab);
  shape.set_n_kv_head(*kv);
  shape.set_head_dim(*head_dim);
  shape.set_bos_token_id(BosTokenId(cfg, gpt2 ? 50256 : -1));
  return shape;
}

bool DefaultBos(const v1::ModelShape& shape) {
  return shape.bos_token_id() >= 0 && (shape.family() == "llama" || shape.family() == "mistral");
}

}  // namespace ablate::client
