// Distribution statistics of the per-head deltas, the Zipf fit of their magnitudes, and the
// per-layer table (DESIGN.md section 2). Pure functions; thread-safe.
#ifndef ABLATE_PROTO_ANALYSIS_DISTRIBUTION_H_
#define ABLATE_PROTO_ANALYSIS_DISTRIBUTION_H_

#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "proto/analysis/tables.h"

namespace ablate::analysis {

// |delta|(rank) = c * rank^-alpha, fitted by least squares of log|delta| on log rank.
struct ZipfFit {
  double alpha = 0.0;
  double c = 0.0;
  double r2 = 0.0;   // Coefficient of determination of the log-log fit.
  int n_points = 0;  // Heads with delta != 0 that entered the fit.
};

struct DistributionStats {
  int n_heads = 0;
  int under_1pct = 0;   // |delta| < 0.01.
  int under_10pct = 0;  // |delta| < 0.10.
  int improved = 0;     // delta < 0.
  double mean_delta = 0.0;
  double median_delta = 0.0;  // Mean of the two middle values when n_heads is even.
  double max_delta = 0.0;
  int max_layer = 0;  // The head with max_delta; the first in (layer, head) order on ties.
  int max_head = 0;
  double mean_abs_delta = 0.0;
  std::optional<ZipfFit> zipf;  // Absent when fewer than 2 heads have delta != 0.
};

struct LayerStats {
  int layer = 0;
  double mean_delta = 0.0;
  double max_delta = 0.0;
  int max_head = 0;  // Head with max_delta; the lowest head index on ties.
};

// Zipf fit over the deltas != 0, ranked by |delta| descending (rank 1 = largest). When all
// fitted magnitudes are equal the fit is exact: alpha = 0, r2 = 1.
// Errors: fewer than 2 nonzero deltas, a non-finite delta.
absl::StatusOr<ZipfFit> FitZipf(absl::Span<const double> deltas);

// Statistics over all heads (any order; the max head's tie rule uses (layer, head)).
// Errors: no heads, a non-finite delta.
absl::StatusOr<DistributionStats> ComputeDistribution(absl::Span<const HeadResult> heads);

// Mean and max delta of each layer 0..n_layer-1 (heads in any order).
// Errors: n_layer <= 0, a head's layer outside 0..n_layer-1, a layer with no heads,
// a non-finite delta.
absl::StatusOr<std::vector<LayerStats>> ComputeLayerStats(absl::Span<const HeadResult> heads,
                                                          int n_layer);

}  // namespace ablate::analysis

#endif  // ABLATE_PROTO_ANALYSIS_DISTRIBUTION_H_
