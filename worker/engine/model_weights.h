// Copyright: the ablate authors.
//
// The parameters of a GPT-2 model as plain LibTorch tensors, in the Hugging Face layout.
// This is the contract between the checkpoint loader (checkpoint.h) and the model (model.h):
// the loader fills it from a checkpoint folder, tests build it by hand.
//
// Layout: Conv1D weights are [in, out] (y = x W + b). c_attn's output is Q | K | V, each
// n_embd wide; head h owns columns h*d_head .. (h+1)*d_head-1 of each block. The LM head is
// tied to wte. All tensors are float32, contiguous, on the CPU when produced by the loader.
//
// Thread-safety: a plain value; const access from many threads is safe.
#ifndef ABLATE_WORKER_ENGINE_MODEL_WEIGHTS_H_
#define ABLATE_WORKER_ENGINE_MODEL_WEIGHTS_H_

#include <torch/torch.h>

#include <vector>

namespace ablate::engine {

// Hyperparameters from config.json.
struct ModelConfig {
  int n_layer = 12;
  int n_head = 12;
  int n_embd = 768;
  int n_positions = 1024;
  int vocab_size = 50257;
  double layer_norm_epsilon = 1e-5;

  int d_head() const { return n_embd / n_head; }
  int n_heads_total() const { return n_layer * n_head; }
};

struct BlockWeights {
  torch::Tensor ln_1_weight, ln_1_bias;            // [d], [d]
  torch::Tensor attn_c_attn_weight, attn_c_attn_bias;  // [d, 3d], [3d]
  torch::Tensor attn_c_proj_weight, attn_c_proj_bias;  // [d, d], [d]
  torch::Tensor ln_2_weight, ln_2_bias;            // [d], [d]
  torch::Tensor mlp_c_fc_weight, mlp_c_fc_bias;    // [d, 4d], [4d]
  torch::Tensor mlp_c_proj_weight, mlp_c_proj_bias;  // [4d, d], [d]
};

struct ModelWeights {
  ModelConfig config;
  torch::Tensor wte;  // [vocab, d]; also the (tied) LM head.
  torch::Tensor wpe;  // [n_positions, d]
  std::vector<BlockWeights> blocks;  // n_layer entries.
  torch::Tensor ln_f_weight, ln_f_bias;  // [d], [d]
};

}  // namespace ablate::engine

#endif  // ABLATE_WORKER_ENGINE_MODEL_WEIGHTS_H_
