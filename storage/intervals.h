// Per-block NLL and bootstrap intervals (proto/analysis/bootstrap.h) added to the query
// replies: the glue between stored phases and the HeadTable / CumulativeCurve /
// ThresholdTable / DistributionStats / LayerTable / Correlation messages. Used by storage/queries.cc only.
//
// A phase has blocks when every mask carries one block NLL per block of the job's chunking
// (storage::JobBlockSizes); results from workers older than blocks leave a phase without them,
// and then no blocks and no intervals are returned (not an error).
//
// Thread-safety: pure functions over values.
#ifndef ABLATE_STORAGE_INTERVALS_H_
#define ABLATE_STORAGE_INTERVALS_H_

#include <optional>
#include <vector>

#include "ablate/v1/ablate.pb.h"
#include "absl/status/statusor.h"
#include "proto/analysis/bootstrap.h"
#include "storage/store.h"

namespace ablate::storage {

// The request's bootstrap settings: nullopt for bootstrap = -1. Errors: INVALID_ARGUMENT
// naming uncertainty.ci or uncertainty.bootstrap.
absl::StatusOr<std::optional<analysis::BootstrapOptions>> ResolveUncertainty(
    const ablate::v1::Uncertainty& uncertainty);

// True when every mask of `data` has per-block NLL matching the job's blocks.
bool HasBlocks(const PhaseData& data);

// Blocks (unless u.omit_blocks) and, with `options`, the delta/rank intervals of every row.
// `table` must already hold one row per head in flat order.
absl::Status AddHeadIntervals(const PhaseData& data, const ablate::v1::Uncertainty& u,
                              const std::optional<analysis::BootstrapOptions>& options,
                              ablate::v1::HeadTable* table);

// Blocks and the ratio band of every point; `curve` must hold one point per mask.
absl::Status AddCurveBand(const PhaseData& data, const ablate::v1::Uncertainty& u,
                          const std::optional<analysis::BootstrapOptions>& options,
                          ablate::v1::CumulativeCurve* curve);

// max_heads_lo/hi of every row (rows in the order of `ratios`).
absl::Status AddThresholdIntervals(const PhaseData& data, const std::vector<double>& ratios,
                                   const std::optional<analysis::BootstrapOptions>& options,
                                   ablate::v1::ThresholdTable* table);

// n_significant, the interval of every statistic, and the settings.
absl::Status AddDistributionIntervals(const PhaseData& data,
                                      const std::optional<analysis::BootstrapOptions>& options,
                                      ablate::v1::DistributionStats* stats);

// The mean and max intervals of every layer row (rows in layer order) and the settings.
absl::Status AddLayerIntervals(const PhaseData& data,
                               const std::optional<analysis::BootstrapOptions>& options,
                               ablate::v1::LayerTable* table);

// The intervals of r and rho for `series` (one value per layer) and the settings.
absl::Status AddCorrelationIntervals(const PhaseData& data, const std::vector<double>& series,
                                     const std::optional<analysis::BootstrapOptions>& options,
                                     ablate::v1::Correlation* correlation);

}  // namespace ablate::storage

#endif  // ABLATE_STORAGE_INTERVALS_H_
