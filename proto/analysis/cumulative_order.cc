#include "proto/analysis/cumulative_order.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"

namespace ablate::analysis {

absl::StatusOr<std::vector<int>> CumulativeOrder(absl::Span<const double> deltas, int n_layer,
                                                 int n_head) {
  if (n_layer <= 0 || n_head <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("CumulativeOrder: bad shape ", n_layer, " x ", n_head));
  }
  const size_t n = static_cast<size_t>(n_layer) * n_head;
  if (deltas.size() != n) {
    return absl::InvalidArgumentError(absl::StrCat("CumulativeOrder: ", deltas.size(),
                                                   " deltas for ", n_layer, " x ", n_head));
  }
  for (size_t i = 0; i < n; ++i) {
    if (std::isnan(deltas[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("CumulativeOrder: delta of head ", i / n_head, ".", i % n_head, " is NaN"));
    }
  }
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  // Flat index order equals (layer, head) order, so a stable sort gives the tie rule.
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return deltas[a] < deltas[b]; });
  return order;
}

}  // namespace ablate::analysis
