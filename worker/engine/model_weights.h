// Copyright: the ablate authors.
//
// The parameters of a decoder-only transformer as plain LibTorch tensors, in
// one internal layout shared by every supported family (GPT-2, GPT-NeoX /
// Pythia, Llama, Mistral, Qwen2). This is the contract between the checkpoint
// loader (checkpoint.h), which converts each family's Hugging Face tensors into
// it, and the model (model.h); tests build it by hand.
//
// Layout (GPT-2's Conv1D convention, y = x W + b, W is [in, out]):
// - c_attn's output is Q | K | V: Q is n_head * d_head wide, K and V
//   n_kv_head * d_head each; query head h owns columns h*dh .. (h+1)*dh-1 of Q,
//   kv head g the same columns of K and V. Query head h reads kv head
//   h / (n_head / n_kv_head) (grouped-query attention).
// - c_proj maps the n_head * d_head concatenated head outputs to n_embd.
// - mlp_c_fc is [n_embd, d_ff], or [n_embd, 2 * d_ff] = gate | up for the
//   gated (SwiGLU) families; mlp_c_proj is [d_ff, n_embd].
// - Biases and LayerNorm biases are undefined tensors where the family or the
//   config has none (RMSNorm families have no norm biases). wpe is defined only
//   for learned positions (GPT-2). lm_head is undefined when the head is tied
//   to wte.
// All tensors are float32, contiguous, on the CPU when produced by the loader.
//
// Thread-safety: a plain value; const access from many threads is safe.
#ifndef ABLATE_WORKER_ENGINE_MODEL_WEIGHTS_H_
#define ABLATE_WORKER_ENGINE_MODEL_WEIGHTS_H_

#include <torch/torch.h>

#include <string>
#include <vector>

#include "worker/engine/model_config.h"

namespace ablate::engine {

struct BlockWeights {
  torch::Tensor ln_1_weight, ln_1_bias;                // [d], [d] or undefined
  torch::Tensor attn_c_attn_weight, attn_c_attn_bias;  // [d, q+2kv], [q+2kv]
  torch::Tensor attn_c_proj_weight, attn_c_proj_bias;  // [q, d], [d]
  torch::Tensor ln_2_weight, ln_2_bias;                // [d], [d]
  torch::Tensor mlp_c_fc_weight, mlp_c_fc_bias;  // [d, ff or 2ff], [ff]
  torch::Tensor mlp_c_proj_weight, mlp_c_proj_bias;  // [ff, d], [d]
};

struct ModelWeights {
  ModelConfig config;
  torch::Tensor wte;  // [vocab, d]; also the LM head when tied.
  torch::Tensor wpe;  // [n_positions, d]; GPT-2 only.
  std::vector<BlockWeights> blocks;      // n_layer entries.
  torch::Tensor ln_f_weight, ln_f_bias;  // [d], [d] or undefined
  torch::Tensor lm_head;                 // [vocab, d]; undefined when tied
};

// One tensor slot of ModelWeights with the shape the config implies; shape
// empty = the slot must be undefined for this config. Internal names follow
// GPT-2 ("h.3.attn.c_attn.weight"); `dims` names the config fields behind the
// shape, for messages.
struct WeightSlot {
  std::string name;
  torch::Tensor* tensor;
  std::vector<int64_t> shape;
  std::string dims;
};

// Every slot, in GPT-2 checkpoint order. w->blocks must have n_layer entries.
std::vector<WeightSlot> WeightSlots(ModelWeights* w);

}  // namespace ablate::engine

#endif  // ABLATE_WORKER_ENGINE_MODEL_WEIGHTS_H_
