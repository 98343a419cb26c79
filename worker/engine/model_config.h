// Copyright: the ablate authors.
//
// ModelConfig: the hyperparameters of a decoder-only transformer of any
// supported family (GPT-2, GPT-NeoX / Pythia, Llama, Mistral, Qwen2), as
// config.json gives them (config.h parses and writes it). Free of LibTorch, so
// code that only reads configs stays light; model_weights.h adds the tensors.
//
// Thread-safety: plain values.
#ifndef ABLATE_WORKER_ENGINE_MODEL_CONFIG_H_
#define ABLATE_WORKER_ENGINE_MODEL_CONFIG_H_

#include <string>

namespace ablate::engine {

// Model families (config.json "model_type").
enum class Family { kGpt2 = 1, kGptNeox = 2, kLlama = 3, kMistral = 4, kQwen2 = 5 };

// "gpt2", "gpt_neox", "llama", "mistral", "qwen2".
std::string FamilyName(Family family);

// The MLP's activation. kSilu means the gated SwiGLU MLP
// down(silu(gate(x)) * up(x)); the GELUs act on one up-projection.
enum class Activation { kGeluTanh = 1, kGeluExact = 2, kSilu = 3 };

// Rotary position embedding (absent for GPT-2's learned positions).
struct Rope {
  enum class Scaling { kNone = 0, kLinear = 1, kLlama3 = 2 };
  int rotary_dim = 0;  // leading dims of each head that rotate; 0 = no rotary
  double theta = 10000.0;
  Scaling scaling = Scaling::kNone;
  double factor = 1.0;            // linear and llama3
  double low_freq_factor = 1.0;   // llama3
  double high_freq_factor = 4.0;  // llama3
  int original_max_position_embeddings = 8192;  // llama3
};

// Hyperparameters from config.json. The first six fields are GPT-2's; the
// defaults of the others describe GPT-2, so ModelConfig{L, H, d, P, V, eps} is
// a GPT-2 config.
struct ModelConfig {
  int n_layer = 12;
  int n_head = 12;
  int n_embd = 768;
  int n_positions = 1024;  // max_position_embeddings
  int vocab_size = 50257;
  double layer_norm_epsilon = 1e-5;  // LayerNorm eps, or RMSNorm eps
  Family family = Family::kGpt2;
  int n_kv_head = 0;          // 0 = n_head (no grouped-query attention)
  int head_dim = 0;           // 0 = n_embd / n_head
  int intermediate_size = 0;  // 0 = 4 * n_embd
  Activation activation = Activation::kGeluTanh;
  bool qkv_bias = true;  // q, k, v projections have biases
  bool o_bias = true;    // the attention output projection has a bias
  bool mlp_bias = true;  // the MLP's projections have biases
  bool tie_word_embeddings = true;
  bool parallel_residual = false;  // x + attn(ln1(x)) + mlp(ln2(x)) (NeoX)
  int sliding_window = 0;          // attend to at most this many positions
                                   // (the own one included); 0 = all
  Rope rope;                       // rotary_dim 0 for GPT-2
  int bos_token_id = -1;           // -1 = none in config.json

  int d_head() const { return head_dim > 0 ? head_dim : n_embd / n_head; }
  int kv_heads() const { return n_kv_head > 0 ? n_kv_head : n_head; }
  int d_ff() const {
    return intermediate_size > 0 ? intermediate_size : 4 * n_embd;
  }
  int n_heads_total() const { return n_layer * n_head; }
  int q_width() const { return n_head * d_head(); }
  int kv_width() const { return kv_heads() * d_head(); }
  bool rms_norm() const {
    return family != Family::kGpt2 && family != Family::kGptNeox;
  }
  bool gated_mlp() const { return activation == Activation::kSilu; }
  bool learned_positions() const { return family == Family::kGpt2; }
  bool norm_bias() const { return !rms_norm(); }
};

}  // namespace ablate::engine

#endif  // ABLATE_WORKER_ENGINE_MODEL_CONFIG_H_
