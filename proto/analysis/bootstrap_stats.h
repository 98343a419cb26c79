// Bootstrap intervals for the summary statistics of a job: the distribution of effects (10B),
// the per-layer table (10D) and the correlation of the layer means with a series. They come
// from the very resamples of the head intervals: each function takes the matrix
// ResampleRatios (bootstrap.h) returned for the job's L x H head masks, so one resampling
// serves the head intervals and every statistic. On resample b every head's
// delta_b = ratio_b - 1 goes through the unchanged point-estimate code (ComputeDistribution,
// ComputeLayerStats, Pearson, Spearman), and each statistic gets the percentile interval of its
// B values. So "mean dPPL +0.64% [+0.41%, +0.90%]" means: over resamples of the text's blocks,
// 95% of the recomputed means fell in that range.
//
// Counts (heads under 1%, under 10%, improved) get integer bounds. A statistic that is
// undefined on some resample (the Zipf fit with fewer than two nonzero deltas, a correlation
// whose layer means are all equal) gets no interval rather than one over a subset.
//
// Errors (every function): `ratios` is not options.resamples x (n_layer * n_head), or
// n_layer / n_head < 1.
//
// Pure functions; thread-safe.
#ifndef ABLATE_PROTO_ANALYSIS_BOOTSTRAP_STATS_H_
#define ABLATE_PROTO_ANALYSIS_BOOTSTRAP_STATS_H_

#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "proto/analysis/bootstrap.h"

namespace ablate::analysis {

struct DistributionIntervals {
  Interval under_1pct, under_10pct, improved;  // Counts of heads.
  Interval mean_delta, median_delta, mean_abs_delta, max_delta;
  std::optional<Interval> zipf_alpha;  // Only when the fit exists on every resample.
};

// `ratios`: ResampleRatios over the heads in flat order (layer * n_head + head).
absl::StatusOr<DistributionIntervals> DistributionBand(absl::Span<const double> ratios,
                                                       int n_layer, int n_head,
                                                       const BootstrapOptions& options);

struct LayerIntervals {
  std::vector<Interval> mean;  // Per layer 0..n_layer-1: mean and max delta.
  std::vector<Interval> max;
};

absl::StatusOr<LayerIntervals> LayerBand(absl::Span<const double> ratios, int n_layer,
                                         int n_head, const BootstrapOptions& options);

struct CorrelationIntervals {
  std::optional<Interval> pearson;   // Of r between the layer means and the series.
  std::optional<Interval> spearman;  // Of rho.
};

// Intervals of the correlations between the per-layer mean delta and `series` (one value per
// layer, held fixed). Errors: as above, a series of another length.
absl::StatusOr<CorrelationIntervals> CorrelationBand(absl::Span<const double> ratios,
                                                     int n_layer, int n_head,
                                                     absl::Span<const double> series,
                                                     const BootstrapOptions& options);

}  // namespace ablate::analysis

#endif  // ABLATE_PROTO_ANALYSIS_BOOTSTRAP_STATS_H_
