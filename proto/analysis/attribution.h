// Attribution pre-ranking and its exact verification (DESIGN.md section 2, README
// "Definitions"): the estimated delta of every head from its first-order NLL estimate, the
// heads to verify, and how well estimate and exact ablation agree. Pure functions; thread-safe.
#ifndef ABLATE_PROTO_ANALYSIS_ATTRIBUTION_H_
#define ABLATE_PROTO_ANALYSIS_ATTRIBUTION_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace ablate::analysis {

// atp_delta of one head: exp((NLL + est) / N) / exp(NLL / N) - 1 = expm1(est / N), the delta
// the estimate est (NLL units) predicts. Errors: n_tokens <= 0, est not finite.
absl::StatusOr<double> AtpDelta(double estimate, int64_t n_tokens);

// AtpDelta of every estimate, in order.
absl::StatusOr<std::vector<double>> AtpDeltas(absl::Span<const double> estimates,
                                              int64_t n_tokens);

// Indices of the k largest values, largest first; ties by lower index. k is clamped to
// [0, values.size()].
std::vector<int> TopK(absl::Span<const double> values, int k);

// Spearman's rho of estimated vs exact deltas over the verified heads; nullopt when it is
// undefined (fewer than 3 heads, or either series constant).
std::optional<double> AtpSpearman(absl::Span<const double> estimated,
                                  absl::Span<const double> exact);

// Recall of the true top k: the fraction of the k heads with the largest exact deltas in
// `reference_deltas` (every head, flat order; ties by lower index) that are among `verified`
// (flat indices), k = verified.size(). nullopt when `verified` is empty.
std::optional<double> TopKRecall(absl::Span<const int> verified,
                                 absl::Span<const double> reference_deltas);

}  // namespace ablate::analysis

#endif  // ABLATE_PROTO_ANALYSIS_ATTRIBUTION_H_
