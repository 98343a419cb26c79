// Copyright: the ablate authors.
//
// Internal to the engine: attribution patching. For every head at once, the
// first-order estimate of the change in total NLL when the head's z is
// replaced by its convention's value:
//
//   est_h = sum over chunks and positions of (r_h - z_h) . dL/dz_h
//
// on the clean run, L = total NLL (sum over scored tokens). One forward pass
// with autograd through the blocks (the same Embed / AttentionZ / BlockTail /
// FinalNormPredicting cut as masked evaluation, so every family that
// implements those pieces gets attribution), the LM head's NLL and its
// gradient in one sliced pass over the vocabulary (never [positions, vocab]
// logits in memory, any vocabulary size), and one backward pass from the final
// norm to every layer's z. Since est_h is linear in the sums below, chunks are
// processed in groups and only per-head sums survive a group:
//
//   ZG_h = sum z_h . g_h,   G_h = sum g_h,   Z_h = sum z_h      (g = dL/dz)
//   est_h = r_h . G_h - ZG_h,  r_h = 0 (zero), b_V,h (zero_folded), Z_h / n
//   (mean)
//
// Memory: the autograd graph of one group of chunks through all layers (about
// L x T x (24 d + 2 H T) values per chunk; AttributionRows sizes groups from
// the activation budget), plus one block of LM-head logits slices.
//
// Thread-safety: pure functions of their arguments.
#ifndef ABLATE_WORKER_ENGINE_ATTRIBUTION_H_
#define ABLATE_WORKER_ENGINE_ATTRIBUTION_H_

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "worker/engine/model.h"
#include "worker/engine/model_forward.h"
#include "worker/engine/model_lm_head.h"
#include "worker/engine/model_masked.h"

namespace ablate::engine::internal {

// h [N, d] (final-normed hidden states), targets [N] int64, wte [V, d] ->
// nll [N] float32 (as SlicedNll) and *grad [N, d] float32, the gradient of
// sum(nll) with respect to h: softmax(h wte^T) wte - wte[target]. The softmax-
// weighted sum is accumulated online with the logsumexp, so each slice of
// logits is computed once.
torch::Tensor SlicedNllWithGrad(const torch::Tensor& h,
                                const torch::Tensor& targets,
                                const torch::Tensor& wte,
                                const LmHeadOptions& options,
                                torch::Tensor* grad);

// Chunks per forward + backward pass: options.max_batch_rows if set, else as
// many as the activation budget holds (at least 1).
int64_t AttributionRows(const DeviceModel& m, const EngineOptions& options,
                        const torch::Device& device, int64_t seq_len);

struct AttributionRun {
  std::vector<double> block_nll;  // clean run, chunk-major (as MaskNll)
  std::vector<double> estimates;  // [L * H] est_h, flat layer * n_head + head
};

// tokens [C, T] int64 on the model's device. repl: the per-layer [H, dh]
// replacement (zero, zero_folded); nullptr = the clean mean of z over all
// positions of all chunks (mean). Chunks go `rows` at a time. Runs with grad
// mode on and outside inference mode whatever the caller's mode; the weights
// must not be inference tensors. Throws torch errors.
AttributionRun Attribute(const DeviceModel& m, const torch::Tensor& tokens,
                         const Replacements* repl, const LmHeadOptions& lm,
                         int64_t rows, const EvalOptions& eval);

}  // namespace ablate::engine::internal

#endif  // ABLATE_WORKER_ENGINE_ATTRIBUTION_H_
