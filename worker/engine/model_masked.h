// Copyright: the ablate authors.
//
// Internal to the engine: evaluation of many head masks over one block of
// chunks, sharing everything that is exactly shared (DESIGN.md section 3).
//
// A clean pass caches the residual stream entering every block and every
// block's clean z. A mask whose first ablated layer is l has the clean residual
// and the clean z at layer l, so it starts there: its rows join the batch at
// layer l (copies of the cached residual and z), get their heads replaced, and
// run the rest of the model. A batch holds masks sorted by first ablated layer;
// rows of later-starting masks join as the batch climbs, so batches stay full
// and no mask computes a layer below its first ablated one. Rows are
// mask-major: row (i * C + c) is chunk c under the batch's i-th mask.
//
// Thread-safety: pure functions of their arguments.
#ifndef ABLATE_WORKER_ENGINE_MODEL_MASKED_H_
#define ABLATE_WORKER_ENGINE_MODEL_MASKED_H_

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "worker/engine/model_forward.h"
#include "worker/engine/model_lm_head.h"

namespace ablate::engine::internal {

// Activations of a clean forward pass over C chunks of T tokens.
struct CleanCache {
  std::vector<torch::Tensor>
      resid;  // L + 1 entries: resid[l] enters block l; [C, T, d]
  std::vector<torch::Tensor> z;  // L entries: clean z of block l; [C, T, d]
};

// tokens [C, T] -> the cache (costs one plain forward without the LM head).
CleanCache CleanPass(const DeviceModel& m, const torch::Tensor& tokens);

// One mask to evaluate. first_layer = L for the clean (empty) mask.
struct MaskJob {
  int index = 0;                 // position in the caller's mask list
  int first_layer = 0;           // lowest ablated layer
  std::vector<uint8_t> ablated;  // [L * H] flat, 1 = head ablated
};

// Per-layer replacement of an ablated head's z: repl[l] is [H, dh] in the
// compute dtype.
using Replacements = std::vector<torch::Tensor>;

// Per-block NLL sums of `jobs` (which must be sorted by first_layer): float64
// [jobs, C * nb] on the CPU, row i for jobs[i], chunk-major: column c * nb + b
// is the sum over positions b * block_tokens .. min((b + 1) * block_tokens,
// T - 1) - 1 of chunk c, nb = ceil((T - 1) / block_tokens). targets: [C, T - 1]
// int64, the tokens each position predicts.
torch::Tensor RunMaskBatch(const DeviceModel& m, const CleanCache& cache,
                           const Replacements& repl,
                           absl::Span<const MaskJob> jobs,
                           const torch::Tensor& targets,
                           const LmHeadOptions& lm, int64_t block_tokens);

// nll [n, C, P] -> float64 [n, C * ceil(P / block_tokens)] block sums on the
// CPU (chunk-major; the last block of a chunk may be shorter).
torch::Tensor BlockSums(const torch::Tensor& nll, int64_t block_tokens);

}  // namespace ablate::engine::internal

#endif  // ABLATE_WORKER_ENGINE_MODEL_MASKED_H_
