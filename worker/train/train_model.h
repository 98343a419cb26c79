// Copyright: the ablate authors.
//
// A differentiable GPT-2 for training, on the engine's own parameter struct
// (ModelWeights, Hugging Face layout), so a trained model is saved with
// SaveCheckpoint as is. The math is GPT-2's: pre-LayerNorm blocks, causal
// attention scaled by 1/sqrt(d_head), tanh GELU ("gelu_new"), final LayerNorm
// and the LM head tied to wte. No dropout. The engine's forward
// (worker/engine/model.h) is inference-only; this one keeps autograd.
//
// Thread-safety: functions are reentrant; concurrent calls on the same weights
// are safe only without backward passes.
#ifndef ABLATE_WORKER_TRAIN_TRAIN_MODEL_H_
#define ABLATE_WORKER_TRAIN_TRAIN_MODEL_H_

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "worker/engine/model_weights.h"

namespace ablate::train {

// Fresh weights, GPT-2's initialisation: weights and embeddings N(0, 0.02),
// the two residual projections (attn.c_proj, mlp.c_proj) N(0,
// 0.02/sqrt(2*n_layer)), LayerNorm gains 1, all biases 0. Deterministic given
// the seed (CPU generator). Every tensor requires grad.
engine::ModelWeights InitWeights(const engine::ModelConfig& config,
                                uint64_t seed);

// Every trainable tensor of the model, in a fixed order.
std::vector<torch::Tensor> Parameters(const engine::ModelWeights& weights);

// Logits [B, T, vocab] for token ids [B, T] (int64, T <= n_positions).
torch::Tensor Forward(const engine::ModelWeights& weights,
                      const torch::Tensor& ids);

// Mean next-token cross-entropy of each row predicting its tokens 1..T-1 from
// the tokens before them (DESIGN.md's perplexity convention).
torch::Tensor NextTokenLoss(const engine::ModelWeights& weights,
                            const torch::Tensor& ids);

// exp(mean NLL) over the given chunks [n_chunks, T], evaluated without
// autograd in batches of `batch` chunks.
double Perplexity(const engine::ModelWeights& weights,
                  const torch::Tensor& chunks, int64_t batch);

}  // namespace ablate::train

#endif  // ABLATE_WORKER_TRAIN_TRAIN_MODEL_H_
