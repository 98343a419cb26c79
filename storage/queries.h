// The query RPCs' computations: stored per-mask NLLs of a job -> the derived tables of
// DESIGN.md section 2, computed by ablate_analysis and returned as proto messages.
//
// Errors: those of Store::LoadPhase (NOT_FOUND, FAILED_PRECONDITION while the phase is
// unfinished or absent from the job's sweep), INVALID_ARGUMENT for bad request fields
// (ratios, series), and analysis errors on degenerate data.
//
// Thread-safety: as Store (thread-safe).
#ifndef ABLATE_STORAGE_QUERIES_H_
#define ABLATE_STORAGE_QUERIES_H_

#include "absl/strings/string_view.h"

#include "ablate/v1/ablate.pb.h"
#include "absl/status/statusor.h"
#include "storage/store.h"

namespace ablate::storage {

// The head table, curve, thresholds and distribution carry per-block NLL and bootstrap
// intervals when the phase's results have blocks (storage/intervals.h); `uncertainty` (or
// request.uncertainty) picks the level, resamples and seed (defaults 0.95, 10000, the
// documented seed; bootstrap -1 = none). Errors add INVALID_ARGUMENT for bad uncertainty.
absl::StatusOr<ablate::v1::HeadTable> QueryHeadTable(
    Store& store, absl::string_view job_id,
    const ablate::v1::Uncertainty& uncertainty = ablate::v1::Uncertainty::default_instance());
absl::StatusOr<ablate::v1::CumulativeCurve> QueryCurve(
    Store& store, absl::string_view job_id,
    const ablate::v1::Uncertainty& uncertainty = ablate::v1::Uncertainty::default_instance());
absl::StatusOr<ablate::v1::ThresholdTable> QueryThresholds(
    Store& store, const ablate::v1::ThresholdsRequest& request);
absl::StatusOr<ablate::v1::DistributionStats> QueryDistribution(
    Store& store, absl::string_view job_id,
    const ablate::v1::Uncertainty& uncertainty = ablate::v1::Uncertainty::default_instance());
absl::StatusOr<ablate::v1::LayerTable> QueryLayers(
    Store& store, absl::string_view job_id,
    const ablate::v1::Uncertainty& uncertainty = ablate::v1::Uncertainty::default_instance());
// Per-layer mean delta against request.series (one value per layer).
absl::StatusOr<ablate::v1::Correlation> QueryCorrelation(
    Store& store, const ablate::v1::CorrelationRequest& request);

}  // namespace ablate::storage

#endif  // ABLATE_STORAGE_QUERIES_H_
