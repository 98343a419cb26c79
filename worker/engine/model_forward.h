// Copyright: the ablate authors.
//
// Internal to the engine: the GPT-2 forward pass as small functions over
// weights that already live on the compute device, cut where masked evaluation
// needs to cut it. A block is
//
//   z   = AttentionZ(x)          ln_1, c_attn, causal attention: per-head
//   values, before c_proj z'  = AblateHeads(z, ...)    ablated heads' z
//   replaced (zero / value bias / mean) x'  = BlockTail(x, z')       x +
//   c_proj(z'), then x + mlp(ln_2(.))
//
// so a clean pass can cache x and z at every layer and masked rows can start
// from them. Shapes: B rows (chunks, or masks x chunks), T positions, d =
// n_embd, H heads, dh = d / H.
//
// Attribution (attribution.h) runs these pieces with autograd: with
// torch::GradMode enabled they must be differentiable (no in-place op on a
// tensor that backward needs).
//
// Thread-safety: pure functions of their arguments.
#ifndef ABLATE_WORKER_ENGINE_MODEL_FORWARD_H_
#define ABLATE_WORKER_ENGINE_MODEL_FORWARD_H_

#include <torch/torch.h>

#include <vector>

#include "worker/engine/model_weights.h"

namespace ablate::engine::internal {

// The weights on the compute device in the compute dtype (same layout as
// ModelWeights).
struct DeviceModel {
  ModelConfig config;
  torch::Tensor wte;  // [V, d], also the tied LM head
  torch::Tensor wpe;  // [n_positions, d]
  std::vector<BlockWeights> blocks;
  torch::Tensor ln_f_weight, ln_f_bias;  // [d]
};

DeviceModel ToDevice(const ModelWeights& weights, torch::Device device,
                     torch::ScalarType dtype);

// tokens [B, T] int64 -> residual stream entering block 0, [B, T, d].
torch::Tensor Embed(const DeviceModel& m, const torch::Tensor& tokens);

// x [B, T, d] -> z [B, T, d]: head h's attention-weighted values in columns
// h*dh .. h*dh+dh-1.
torch::Tensor AttentionZ(const DeviceModel& m, int layer,
                         const torch::Tensor& x);

// z [B, T, d], keep [B, H] bool (false = ablated), repl [H, dh] -> z with every
// ablated head's values replaced by its row of repl at every position.
torch::Tensor AblateHeads(const torch::Tensor& z, const torch::Tensor& keep,
                          const torch::Tensor& repl);

// x [B, T, d], z [B, T, d] -> output of block `layer`, [B, T, d].
torch::Tensor BlockTail(const DeviceModel& m, int layer, const torch::Tensor& x,
                        const torch::Tensor& z);

// ln_f of the positions that predict a token: x [B, T, d] -> [B * (T - 1), d].
torch::Tensor FinalNormPredicting(const DeviceModel& m, const torch::Tensor& x);

}  // namespace ablate::engine::internal

#endif  // ABLATE_WORKER_ENGINE_MODEL_FORWARD_H_
