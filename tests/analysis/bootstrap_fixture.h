// Test fixtures shared by the bootstrap tests: per-block masks, random jobs with graded head
// effects, and the percentile interval computed plainly (sort, then the k rule).
#ifndef ABLATE_TESTS_ANALYSIS_BOOTSTRAP_FIXTURE_H_
#define ABLATE_TESTS_ANALYSIS_BOOTSTRAP_FIXTURE_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "proto/analysis/bootstrap.h"
#include "proto/analysis/tables.h"

namespace ablate::analysis {

inline MaskNll Mask(std::vector<double> blocks) {
  MaskNll m;
  for (double b : blocks) m.nll_sum += b;
  m.block_nll = std::move(blocks);
  return m;
}

inline std::pair<double, double> SortedInterval(std::vector<double> v, double ci) {
  std::sort(v.begin(), v.end());
  const int k = std::max(1, static_cast<int>(std::floor(v.size() * (1 - ci) / 2 + 1e-9)));
  return {v[k - 1], v[v.size() - k]};
}

struct Fixture {
  std::vector<int64_t> tokens;
  MaskNll base;
  std::vector<MaskNll> masks;
};

// n_blocks blocks (the last of each 4 shorter), masks with graded effects plus noise.
inline Fixture Random(int n_blocks, int n_masks, uint64_t seed) {
  SplitMix64 rng(seed);
  auto u = [&rng] { return static_cast<double>(rng.Next() >> 11) / 9007199254740992.0; };
  Fixture f;
  std::vector<double> base;
  for (int i = 0; i < n_blocks; ++i) {
    f.tokens.push_back(i % 4 == 3 ? 63 : 64);
    base.push_back(f.tokens.back() * (4.0 + u()));
  }
  f.base = Mask(base);
  for (int m = 0; m < n_masks; ++m) {
    std::vector<double> v(base);
    for (int i = 0; i < n_blocks; ++i) v[i] += f.tokens[i] * (0.002 * m + 0.01 * (u() - 0.5));
    f.masks.push_back(Mask(v));
  }
  return f;
}

}  // namespace ablate::analysis

#endif  // ABLATE_TESTS_ANALYSIS_BOOTSTRAP_FIXTURE_H_
