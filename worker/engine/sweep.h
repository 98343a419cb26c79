// Copyright: the ablate authors.
//
// Sweeps over heads on top of Model::Evaluate (DESIGN.md section 2):
//   individual: the baseline and every head ablated alone;
//   cumulative: for an order of heads, PPL with the first k of them ablated, k
//   = 0..|order|; full: individual, then cumulative in the order derived from
//   it
//         (analysis::CumulativeOrder: ascending signed delta, ties by (layer,
//         head)).
// PPL = exp(nll_sum / n_tokens); delta = (ppl - baseline_ppl) / baseline_ppl.
//
// Thread-safety: functions of their arguments; see Model for the model.
#ifndef ABLATE_WORKER_ENGINE_SWEEP_H_
#define ABLATE_WORKER_ENGINE_SWEEP_H_

#include <torch/torch.h>

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "worker/engine/model.h"

namespace ablate::engine {

inline constexpr int64_t kEndOfText =
    50256;  // GPT-2's <|endoftext|>, the usual BOS

struct HeadResult {
  int layer = 0;
  int head = 0;
  double ppl = 0;
  double delta = 0;  // fraction: (ppl - baseline_ppl) / baseline_ppl
};

struct CurvePoint {
  int removed = 0;  // k: heads ablated together
  double ppl = 0;
  std::optional<std::pair<int, int>>
      head;  // (layer, head) added at step k; none for k = 0
};

struct SweepResult {
  double baseline_ppl = 0;
  int64_t n_tokens_scored = 0;    // n_chunks * (seq_len - 1)
  std::vector<HeadResult> heads;  // individual phase, flat order (layer-major)
  std::vector<CurvePoint> cumulative;  // cumulative phase, k = 0, 1, ...
  double seconds = 0;                  // wall time of the sweep
};

// Chunks [n_chunks, seq_len] int64 from token ids. Without bos: the first
// n_chunks * seq_len tokens, cut in order; each chunk's first token is context
// only. With bos: each chunk is bos followed by the next seq_len - 1 tokens
// (n_chunks * (seq_len - 1) tokens used), so every text token is predicted.
// Either way n_chunks * (seq_len - 1) tokens are scored. Errors
// (InvalidArgument): n_chunks < 1, seq_len < 2, a negative bos id, or too few
// tokens ("text too short: ..." says how many the text has and needs).
absl::StatusOr<torch::Tensor> MakeChunks(absl::Span<const int> tokens,
                                         int64_t n_chunks, int64_t seq_len,
                                         std::optional<int64_t> bos = std::nullopt);

// progress(done, total) counts evaluated masks over the whole sweep.
absl::StatusOr<SweepResult> RunIndividual(const Model& model,
                                          const torch::Tensor& chunks,
                                          Method method,
                                          const ProgressFn& progress = nullptr);

// order: distinct flat head indices (layer * n_head + head); a full order of
// all L * H heads gives every k = 0..L*H. baseline_ppl is the k = 0 point.
absl::StatusOr<SweepResult> RunCumulative(const Model& model,
                                          const torch::Tensor& chunks,
                                          Method method,
                                          absl::Span<const int> order,
                                          const ProgressFn& progress = nullptr);

absl::StatusOr<SweepResult> RunFull(const Model& model,
                                    const torch::Tensor& chunks, Method method,
                                    const ProgressFn& progress = nullptr);

}  // namespace ablate::engine

#endif  // ABLATE_WORKER_ENGINE_SWEEP_H_
