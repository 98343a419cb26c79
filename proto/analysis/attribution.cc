#include "proto/analysis/attribution.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include "absl/strings/str_cat.h"
#include "proto/analysis/correlation.h"

namespace ablate::analysis {

absl::StatusOr<double> AtpDelta(double estimate, int64_t n_tokens) {
  if (n_tokens <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("n_tokens must be > 0, got ", n_tokens));
  }
  if (!std::isfinite(estimate)) {
    return absl::InvalidArgumentError(absl::StrCat("estimate is not finite: ", estimate));
  }
  return std::expm1(estimate / static_cast<double>(n_tokens));
}

absl::StatusOr<std::vector<double>> AtpDeltas(absl::Span<const double> estimates,
                                              int64_t n_tokens) {
  std::vector<double> out;
  for (double est : estimates) {
    absl::StatusOr<double> d = AtpDelta(est, n_tokens);
    if (!d.ok()) return d.status();
    out.push_back(*d);
  }
  return out;
}

std::vector<int> TopK(absl::Span<const double> values, int k) {
  std::vector<int> idx(values.size());
  std::iota(idx.begin(), idx.end(), 0);
  k = std::clamp(k, 0, static_cast<int>(values.size()));
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int a, int b) {
    return values[a] > values[b] || (values[a] == values[b] && a < b);
  });
  idx.resize(k);
  return idx;
}

std::optional<double> AtpSpearman(absl::Span<const double> estimated,
                                  absl::Span<const double> exact) {
  absl::StatusOr<CorrelationResult> rho = Spearman(estimated, exact);
  if (!rho.ok()) return std::nullopt;
  return rho->coefficient;
}

std::optional<double> TopKRecall(absl::Span<const int> verified,
                                 absl::Span<const double> reference_deltas) {
  if (verified.empty()) return std::nullopt;
  const int k = static_cast<int>(verified.size());
  const std::set<int> chosen(verified.begin(), verified.end());
  int hits = 0;
  for (int head : TopK(reference_deltas, k)) hits += chosen.count(head);
  return static_cast<double>(hits) / k;
}

}  // namespace ablate::analysis
