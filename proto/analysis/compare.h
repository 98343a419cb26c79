// Pairing of two per-head tables of the same shape (two jobs: zero vs mean ablation, two
// models, two texts): each head's rank by delta in each table and the rank shift.
// Pure functions; thread-safe.
#ifndef ABLATE_PROTO_ANALYSIS_COMPARE_H_
#define ABLATE_PROTO_ANALYSIS_COMPARE_H_

#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace ablate::analysis {

// 1-based ranks by value, descending (rank 1 = the largest value); equal values keep index
// order (the lower index gets the lower rank), so ranks are a permutation of 1..n.
// Errors: a non-finite value.
absl::StatusOr<std::vector<int>> RanksDescending(absl::Span<const double> values);

struct HeadComparison {
  double delta_a = 0.0;
  double delta_b = 0.0;
  int rank_a = 0;
  int rank_b = 0;
  int rank_shift = 0;  // rank_b - rank_a.
};

// One entry per head, in the (flat) order of the inputs. Errors: different sizes, no heads,
// a non-finite delta.
absl::StatusOr<std::vector<HeadComparison>> CompareDeltas(absl::Span<const double> delta_a,
                                                          absl::Span<const double> delta_b);

}  // namespace ablate::analysis

#endif  // ABLATE_PROTO_ANALYSIS_COMPARE_H_
