// Copyright: the ablate authors.
#include "worker/engine/tools/shapes.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace ablate::engine::bench {
namespace {

ModelConfig Neox(int layers, int heads, int d, int ff) {
  ModelConfig c;
  c.family = Family::kGptNeox;
  c.n_layer = layers;
  c.n_head = heads;
  c.n_embd = d;
  c.intermediate_size = ff;
  c.n_positions = 2048;
  c.vocab_size = 50304;
  c.activation = Activation::kGeluExact;
  c.tie_word_embeddings = false;
  c.parallel_residual = true;
  c.rope.rotary_dim = c.d_head() / 4;  // rotary_pct 0.25
  c.bos_token_id = 0;
  return c;
}

ModelConfig LlamaLike(Family family, int layers, int heads, int kv, int d,
                      int ff, int vocab, bool tied) {
  ModelConfig c;
  c.family = family;
  c.n_layer = layers;
  c.n_head = heads;
  c.n_kv_head = kv;
  c.n_embd = d;
  c.intermediate_size = ff;
  c.vocab_size = vocab;
  c.n_positions = 131072;
  c.activation = Activation::kSilu;
  c.qkv_bias = c.o_bias = c.mlp_bias = false;
  c.tie_word_embeddings = tied;
  c.layer_norm_epsilon = 1e-5;
  c.rope.rotary_dim = c.d_head();
  return c;
}

std::map<std::string, ModelConfig> Shapes() {
  std::map<std::string, ModelConfig> s;
  s["gpt2-small"] = ModelConfig{};
  s["pythia-160m"] = Neox(12, 12, 768, 3072);
  s["pythia-410m"] = Neox(24, 16, 1024, 4096);
  s["smollm-135m"] =
      LlamaLike(Family::kLlama, 30, 9, 3, 576, 1536, 49152, true);
  s["tinyllama-1.1b"] =
      LlamaLike(Family::kLlama, 22, 32, 4, 2048, 5632, 32000, false);
  ModelConfig llama = LlamaLike(Family::kLlama, 16, 32, 8, 2048, 8192, 128256, true);
  llama.rope.theta = 500000;
  llama.rope.scaling = Rope::Scaling::kLlama3;
  llama.rope.factor = 32;
  llama.rope.low_freq_factor = 1;
  llama.rope.high_freq_factor = 4;
  llama.rope.original_max_position_embeddings = 8192;
  s["llama-3.2-1b"] = llama;
  ModelConfig qwen = LlamaLike(Family::kQwen2, 24, 14, 2, 896, 4864, 151936, true);
  qwen.qkv_bias = true;
  qwen.rope.theta = 1e6;
  qwen.layer_norm_epsilon = 1e-6;
  s["qwen2-0.5b"] = qwen;
  ModelConfig mistral = LlamaLike(Family::kMistral, 4, 8, 2, 256, 512, 32000, false);
  mistral.sliding_window = 64;
  s["mistral-tiny"] = mistral;
  return s;
}

}  // namespace

std::vector<std::string> ShapeNames() {
  return {"gpt2-small",     "pythia-160m",  "pythia-410m", "smollm-135m",
          "tinyllama-1.1b", "llama-3.2-1b", "qwen2-0.5b",  "mistral-tiny"};
}

absl::StatusOr<ModelConfig> ShapeConfig(const std::string& name) {
  const std::map<std::string, ModelConfig> shapes = Shapes();
  auto it = shapes.find(name);
  if (it == shapes.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown shape \"", name,
                     "\": use one of ", absl::StrJoin(ShapeNames(), ", ")));
  }
  return it->second;
}

}  // namespace ablate::engine::bench
