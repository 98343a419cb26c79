// Per-head table, cumulative curve and threshold table (DESIGN.md section 2, "Derived tables").
// Pure functions over stored per-mask NLL sums; no I/O, no global state, thread-safe.
#ifndef ABLATE_PROTO_ANALYSIS_TABLES_H_
#define ABLATE_PROTO_ANALYSIS_TABLES_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace ablate::analysis {

// What a worker reports for one mask: the summed NLL over the scored tokens and their count,
// and (workers since per-block NLL) the NLL sums of its blocks, chunk-major (bootstrap.h).
struct MaskNll {
  double nll_sum = 0.0;
  int64_t n_tokens = 0;
  std::vector<double> block_nll;  // Empty when the worker reported no blocks.
};

// Scored tokens of each block, chunk-major: n_chunks times ceil((seq_len - 1) / block_tokens)
// entries, each block_tokens except a shorter last one per chunk (the engine's BlockTokens).
// Empty unless n_chunks >= 1, seq_len >= 2 and block_tokens >= 1.
std::vector<int64_t> BlockSizes(int64_t n_chunks, int64_t seq_len, int64_t block_tokens);

// One row of the individual-head table. delta = (ppl - baseline) / baseline, a fraction.
struct HeadResult {
  int layer = 0;
  int head = 0;
  double ppl = 0.0;
  double delta = 0.0;
};

// One point of the cumulative curve: PPL with the first `removed` heads ablated together.
struct CurveResult {
  int removed = 0;
  double ppl = 0.0;
  double ratio = 0.0;  // ppl / baseline.
};

// Max heads removable at one ratio.
struct Threshold {
  double ratio = 0.0;
  int max_heads = 0;        // Largest k with PPL(j) <= ratio * baseline for every j <= k.
  double ppl_at_max = 0.0;  // PPL(max_heads).
  double fraction = 0.0;    // max_heads / (number of curve points - 1), i.e. of all L*H heads.
};

// exp(nll_sum / n_tokens). Errors: n_tokens <= 0, nll_sum not finite.
absl::StatusOr<double> Perplexity(double nll_sum, int64_t n_tokens);
absl::StatusOr<double> Perplexity(const MaskNll& mask);

// The individual-head table in (layer, head) order. `heads` holds one mask per head in flat
// order (index layer * n_head + head). Errors: bad shape, size mismatch, a bad mask (see
// Perplexity), or a baseline PPL that is not positive.
absl::StatusOr<std::vector<HeadResult>> BuildHeadTable(const MaskNll& baseline,
                                                       absl::Span<const MaskNll> heads,
                                                       int n_layer, int n_head);

// Curve points k = 0..points.size()-1 from the cumulative masks (points[k] = first k heads
// ablated). Errors: empty `points`, a bad mask, baseline_ppl not positive and finite.
absl::StatusOr<std::vector<CurveResult>> BuildCurve(double baseline_ppl,
                                                    absl::Span<const MaskNll> points);

// The ratios used when a caller gives none: 1.1, 1.5, 2.0.
std::vector<double> DefaultRatios();

// Largest k such that curve_ppl[j] <= ratio * baseline_ppl for every j in 1..k; a curve that
// rises above the line and comes back down stops at the first crossing. k = 0 (removing
// nothing) always counts, so a measured PPL(0) a hair above the baseline cannot make the
// answer undefined. A NaN point counts as a crossing.
// Errors: empty curve, baseline not positive and finite, ratio < 1 or not finite.
absl::StatusOr<int> MaxHeadsRemovable(absl::Span<const double> curve_ppl, double baseline_ppl,
                                      double ratio);

// One Threshold per ratio, in the order given (DefaultRatios() when `ratios` is empty).
// Errors: as MaxHeadsRemovable.
absl::StatusOr<std::vector<Threshold>> ComputeThresholds(absl::Span<const double> curve_ppl,
                                                         double baseline_ppl,
                                                         absl::Span<const double> ratios);

}  // namespace ablate::analysis

#endif  // ABLATE_PROTO_ANALYSIS_TABLES_H_
