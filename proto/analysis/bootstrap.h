// Paired block bootstrap: confidence intervals for per-head deltas, head ranks, the cumulative
// curve and the threshold table, from per-block NLL sums (issue 11, README "Definitions").
//
// A job's scored tokens are cut into blocks (BlockTokens in the engine: blocks of
// `block_tokens` consecutive scored tokens inside each chunk, never spanning chunks). One
// resample draws n blocks with replacement from all n blocks pooled (uniformly, independently);
// the same draw serves the baseline and every mask, so for mask m
//   ratio_b(m) = exp(sum ablated NLL / sum tokens) / exp(sum baseline NLL / sum tokens)
//              = exp(sum_i c_bi (nll_m,i - base_i) / sum_i c_bi tok_i),
// c_bi = how often block i was drawn in resample b; delta_b(m) = ratio_b(m) - 1.
//
// Randomness is specified so results are identical on every platform and standard library:
// SplitMix64 (Steele, Lea, Flood 2014) seeded with `seed`, one stream for the whole run; each
// draw is Uniform(n) below; resample b = 0..B-1 draws its n indices in order. Any two calls with
// the same seed, block count and B see the same resamples, so head intervals, ranks, the curve
// band and threshold intervals all come from the same draws.
//
// Percentile interval at level ci over B resampled values: with k = max(1, floor(B (1-ci)/2)),
// lo = the k-th smallest and hi = the k-th largest value (B = 10000, ci = 0.95: the 250th of
// each end). Integer statistics (ranks, heads removable) therefore get integer bounds.
//
// Pure functions; no I/O, no global state; thread-safe.
#ifndef ABLATE_PROTO_ANALYSIS_BOOTSTRAP_H_
#define ABLATE_PROTO_ANALYSIS_BOOTSTRAP_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "proto/analysis/tables.h"

namespace ablate::analysis {

inline constexpr double kDefaultCi = 0.95;
inline constexpr int kDefaultResamples = 10000;
inline constexpr int kMaxResamples = 1000000;
// The documented default seed: the ASCII bytes of "ablate" read as a big-endian integer.
inline constexpr uint64_t kDefaultSeed = 0x61626c617465ULL;

// SplitMix64: state += 0x9e3779b97f4a7c15; z = state; z = (z ^ z>>30) * 0xbf58476d1ce4e5b9;
// z = (z ^ z>>27) * 0x94d049bb133111eb; return z ^ z>>31. Not thread-safe (one per thread).
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t Next();
  // Uniform integer in [0, n), n >= 1, without modulo bias: draws x = Next() until
  // x >= (2^64 - n) mod n, then returns x mod n.
  uint64_t Uniform(uint64_t n);

 private:
  uint64_t state_;
};

struct BootstrapOptions {
  double ci = kDefaultCi;          // In (0, 1).
  int resamples = kDefaultResamples;  // 1..kMaxResamples.
  uint64_t seed = kDefaultSeed;
};

// The wire form (ablate.v1.Uncertainty): ci 0 = 0.95, bootstrap 0 = 10000, -1 = no intervals
// (nullopt), seed 0 = kDefaultSeed. Errors: ci outside [0, 1) or not finite (0 = default),
// bootstrap < -1 or > kMaxResamples.
absl::StatusOr<std::optional<BootstrapOptions>> ResolveBootstrap(double ci, int64_t bootstrap,
                                                                 uint64_t seed);

// lo/hi of the percentile interval (header comment) of `values`, which is reordered.
// Requires a non-empty `values` and ci in (0, 1).
struct Interval {
  double lo = 0.0;
  double hi = 0.0;
};
Interval PercentileInterval(std::vector<double>& values, double ci);

// The bootstrap distribution of ratio_b(m) for every mask: ratios[b * masks.size() + m].
// `block_tokens` holds each block's scored tokens; the baseline and every mask must carry
// block_nll of the same length. Errors: no blocks, a block with < 1 token, a length mismatch,
// a non-finite block NLL, bad options.
absl::StatusOr<std::vector<double>> ResampleRatios(absl::Span<const int64_t> block_tokens,
                                                   const MaskNll& baseline,
                                                   absl::Span<const MaskNll> masks,
                                                   const BootstrapOptions& options);

struct HeadInterval {
  double delta_lo = 0.0;
  double delta_hi = 0.0;
  bool significant = false;  // The interval excludes 0 (delta_lo > 0 or delta_hi < 0).
  int rank_lo = 0;           // Percentile interval of the head's rank by delta (1 = largest;
  int rank_hi = 0;           // ties by flat index, lower first) across the same resamples.
};

// One HeadInterval per head (flat order, as BuildHeadTable). Errors: as ResampleRatios, no heads.
absl::StatusOr<std::vector<HeadInterval>> HeadIntervals(absl::Span<const int64_t> block_tokens,
                                                        const MaskNll& baseline,
                                                        absl::Span<const MaskNll> heads,
                                                        const BootstrapOptions& options);

// The same from `ratios`, what ResampleRatios returned for `n_heads` head masks with these
// options, so that other statistics (bootstrap_stats.h) can share the draws without
// resampling again. Errors: no heads, ratios not options.resamples x n_heads.
absl::StatusOr<std::vector<HeadInterval>> HeadIntervalsFromRatios(absl::Span<const double> ratios,
                                                                  size_t n_heads,
                                                                  const BootstrapOptions& options);

struct CurveIntervals {
  std::vector<Interval> ratio;  // Band of ppl(k) / baseline for every point k (order fixed).
  // Interval of max heads removable (MaxHeadsRemovable on each resample's ratios) per ratio,
  // in the order given (DefaultRatios() when empty).
  std::vector<Interval> max_heads;
};

// Curve band and threshold intervals; points[k] = first k heads ablated (points[0] is usually
// the clean run and equals `baseline`). Errors: as ResampleRatios, no points, a ratio < 1 or
// not finite.
absl::StatusOr<CurveIntervals> CurveBand(absl::Span<const int64_t> block_tokens,
                                         const MaskNll& baseline,
                                         absl::Span<const MaskNll> points,
                                         absl::Span<const double> ratios,
                                         const BootstrapOptions& options);

// Checks that a mask's blocks match `block_tokens` in count and sum to its nll_sum within a
// relative tolerance of 1e-6 (absolute 1e-6 near zero). Errors name the mismatch.
absl::Status CheckBlocks(absl::Span<const int64_t> block_tokens, const MaskNll& mask);

}  // namespace ablate::analysis

#endif  // ABLATE_PROTO_ANALYSIS_BOOTSTRAP_H_
