// The order in which a cumulative sweep removes heads (DESIGN.md section 2).
#ifndef ABLATE_PROTO_ANALYSIS_CUMULATIVE_ORDER_H_
#define ABLATE_PROTO_ANALYSIS_CUMULATIVE_ORDER_H_

#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace ablate::analysis {

// Flat head indices (layer * n_head + head) sorted by ascending signed delta (heads whose
// removal improves perplexity first), ties broken by (layer, head). `deltas` holds one value
// per head in flat order. Errors: size != n_layer * n_head, or a NaN delta.
absl::StatusOr<std::vector<int>> CumulativeOrder(absl::Span<const double> deltas, int n_layer,
                                                 int n_head);

}  // namespace ablate::analysis

#endif  // ABLATE_PROTO_ANALYSIS_CUMULATIVE_ORDER_H_
