// Copyright: the ablate authors.
//
// Internal to the engine: the decoder forward pass of every family as small
// functions over weights that already live on the compute device, cut where
// masked evaluation needs to cut it. A block is
//
//   z  = AttentionZ(x)        norm_1, fused q|k|v, rotary (not GPT-2), causal
//                             (sliding-window for Mistral) attention with
//                             grouped kv heads: per-query-head values before
//                             the output projection
//   z' = AblateHeads(z, ...)  ablated heads' z replaced (zero / value bias /
//                             mean)
//   x' = BlockTail(x, z')     sequential: a = x + o(z'), a + mlp(norm_2(a));
//                             parallel (NeoX): x + o(z') + mlp(norm_2(x))
//
// so a clean pass can cache x and z at every layer and masked rows can start
// from them. Shapes: B rows (chunks, or masks x chunks), T positions, d =
// n_embd, H query heads, KV kv heads, dh = d_head, q = H * dh.
//
// Autograd: with grad mode on (attribution) no op works in place on a tensor
// autograd may need; in inference mode some do, to save memory.
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
// ModelWeights). lm_head is always defined (wte itself when tied); inv_freq
// is the rotary inverse frequencies, float32 [rotary_dim / 2], undefined for
// GPT-2.
struct DeviceModel {
  ModelConfig config;
  torch::Tensor wte;  // [V, d]
  torch::Tensor wpe;  // [n_positions, d] or undefined
  std::vector<BlockWeights> blocks;
  torch::Tensor ln_f_weight, ln_f_bias;  // [d], [d] or undefined
  torch::Tensor lm_head;                 // [V, d]
  torch::Tensor inv_freq;                // float32 [rotary_dim / 2]
};

DeviceModel ToDevice(const ModelWeights& weights, torch::Device device,
                     torch::ScalarType dtype);

// Rotary inverse frequencies as Hugging Face computes them (float32, with
// linear or llama3 scaling applied).
torch::Tensor RopeInvFreq(const Rope& rope);

// tokens [B, T] int64 -> residual stream entering block 0, [B, T, d].
torch::Tensor Embed(const DeviceModel& m, const torch::Tensor& tokens);

// x [B, T, d] -> z [B, T, q]: query head h's attention-weighted values in
// columns h*dh .. h*dh+dh-1.
torch::Tensor AttentionZ(const DeviceModel& m, int layer,
                         const torch::Tensor& x);

// z [B, T, q], keep [B, H] bool (false = ablated), repl [H, dh] -> z with every
// ablated head's values replaced by its row of repl at every position.
torch::Tensor AblateHeads(const torch::Tensor& z, const torch::Tensor& keep,
                          const torch::Tensor& repl);

// x [B, T, d], z [B, T, q] -> output of block `layer`, [B, T, d].
torch::Tensor BlockTail(const DeviceModel& m, int layer, const torch::Tensor& x,
                        const torch::Tensor& z);

// Final norm of the positions that predict a token: x [B, T, d] ->
// [B * (T - 1), d]. The LM head (SlicedNll) then multiplies by m.lm_head.
torch::Tensor FinalNormPredicting(const DeviceModel& m, const torch::Tensor& x);

}  // namespace ablate::engine::internal

#endif  // ABLATE_WORKER_ENGINE_MODEL_FORWARD_H_
