// RanksDescending and CompareDeltas against ranks counted directly here.
#include "proto/analysis/compare.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace ablate::analysis {
namespace {

// Rank of v[i]: 1 + how many values are larger, or equal with a lower index.
std::vector<int> CountedRanks(const std::vector<double>& v) {
  std::vector<int> r(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    r[i] = 1;
    for (size_t j = 0; j < v.size(); ++j) r[i] += v[j] > v[i] || (v[j] == v[i] && j < i);
  }
  return r;
}

TEST(CompareTest, RanksMatchCountingWithTies) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> pick(-5, 5);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<double> v(1 + trial);
    for (double& x : v) x = pick(rng) / 100.0;  // Many ties.
    absl::StatusOr<std::vector<int>> ranks = RanksDescending(v);
    ASSERT_TRUE(ranks.ok());
    EXPECT_EQ(*ranks, CountedRanks(v));
  }
}

TEST(CompareTest, RowsCarryDeltasRanksAndShift) {
  const std::vector<double> a = {0.5, -0.1, 0.2, 0.2};
  const std::vector<double> b = {0.1, 0.3, 0.2, -0.4};
  absl::StatusOr<std::vector<HeadComparison>> rows = CompareDeltas(a, b);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 4u);
  // a: 0.5 -> 1, 0.2 (index 2) -> 2, 0.2 (index 3) -> 3, -0.1 -> 4.
  // b: 0.3 -> 1, 0.2 -> 2, 0.1 -> 3, -0.4 -> 4.
  const int rank_a[] = {1, 4, 2, 3}, rank_b[] = {3, 1, 2, 4};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ((*rows)[i].delta_a, a[i]);
    EXPECT_EQ((*rows)[i].delta_b, b[i]);
    EXPECT_EQ((*rows)[i].rank_a, rank_a[i]);
    EXPECT_EQ((*rows)[i].rank_b, rank_b[i]);
    EXPECT_EQ((*rows)[i].rank_shift, rank_b[i] - rank_a[i]);
  }
}

TEST(CompareTest, Errors) {
  EXPECT_FALSE(CompareDeltas(std::vector<double>{1, 2}, std::vector<double>{1}).ok());
  EXPECT_FALSE(CompareDeltas(std::vector<double>{}, std::vector<double>{}).ok());
  EXPECT_FALSE(RanksDescending(std::vector<double>{1, NAN}).ok());
}

}  // namespace
}  // namespace ablate::analysis
