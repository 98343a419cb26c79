#include "proto/analysis/compare.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"

namespace ablate::analysis {

absl::StatusOr<std::vector<int>> RanksDescending(absl::Span<const double> values) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      return absl::InvalidArgumentError(absl::StrCat("value ", i, " is not finite"));
    }
  }
  std::vector<int> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int x, int y) { return values[x] > values[y]; });
  std::vector<int> ranks(values.size());
  for (size_t r = 0; r < order.size(); ++r) ranks[order[r]] = static_cast<int>(r) + 1;
  return ranks;
}

absl::StatusOr<std::vector<HeadComparison>> CompareDeltas(absl::Span<const double> delta_a,
                                                          absl::Span<const double> delta_b) {
  if (delta_a.size() != delta_b.size()) {
    return absl::InvalidArgumentError(absl::StrCat("the tables have ", delta_a.size(), " and ",
                                                   delta_b.size(), " heads"));
  }
  if (delta_a.empty()) return absl::InvalidArgumentError("no heads to compare");
  absl::StatusOr<std::vector<int>> rank_a = RanksDescending(delta_a);
  if (!rank_a.ok()) return rank_a.status();
  absl::StatusOr<std::vector<int>> rank_b = RanksDescending(delta_b);
  if (!rank_b.ok()) return rank_b.status();
  std::vector<HeadComparison> out(delta_a.size());
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = {delta_a[i], delta_b[i], (*rank_a)[i], (*rank_b)[i], (*rank_b)[i] - (*rank_a)[i]};
  }
  return out;
}

}  // namespace ablate::analysis
