// Attribution statistics against the definitions written out here and hand-checked cases.
#include "proto/analysis/attribution.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace ablate::analysis {
namespace {

TEST(AtpDeltaTest, IsTheDefinition) {
  // exp((NLL + est) / N) / exp(NLL / N) - 1 for a few clean NLLs: the NLL cancels.
  for (double nll : {10.0, 300.0, 2000.0}) {
    for (double est : {-3.0, 0.0, 0.5, 40.0}) {
      const double want = std::exp((nll + est) / 254) / std::exp(nll / 254) - 1;
      EXPECT_NEAR(*AtpDelta(est, 254), want, 1e-12) << nll << " " << est;
    }
  }
  EXPECT_EQ(*AtpDelta(0.0, 10), 0.0);
  EXPECT_FALSE(AtpDelta(1.0, 0).ok());
  EXPECT_FALSE(AtpDelta(NAN, 10).ok());
  EXPECT_FALSE(AtpDeltas({1.0, INFINITY}, 10).ok());
  EXPECT_EQ(AtpDeltas({0.0, 0.0}, 10)->size(), 2u);
}

TEST(TopKTest, LargestFirstTiesByIndex) {
  const std::vector<double> v = {0.1, 0.5, -2.0, 0.5, 0.3};
  EXPECT_EQ(TopK(v, 3), (std::vector<int>{1, 3, 4}));
  EXPECT_EQ(TopK(v, 0), std::vector<int>{});
  EXPECT_EQ(TopK(v, 9), (std::vector<int>{1, 3, 4, 0, 2}));
  EXPECT_EQ(TopK(v, -1), std::vector<int>{});
}

TEST(AgreementTest, SpearmanAndRecall) {
  // Ranks (1,2,3,4) vs (1,3,2,4): d^2 = 2, rho = 1 - 6 * 2 / (4 * 15) = 0.8.
  EXPECT_NEAR(*AtpSpearman({0.1, 0.2, 0.3, 0.4}, {1.0, 3.0, 2.0, 4.0}), 0.8, 1e-12);
  EXPECT_NEAR(*AtpSpearman({0.1, 0.2, 0.3}, {-1.0, -2.0, -3.0}), -1.0, 1e-12);
  EXPECT_FALSE(AtpSpearman({0.1, 0.2}, {1.0, 2.0}).has_value());  // n < 3
  EXPECT_FALSE(AtpSpearman({0.1, 0.1, 0.1}, {1.0, 2.0, 3.0}).has_value());
  // True top 3 of the reference: heads 4, 0, 2. Verified 0, 1, 4: two of three.
  const std::vector<double> ref = {0.9, 0.1, 0.5, -0.3, 1.2, 0.0};
  EXPECT_NEAR(*TopKRecall({0, 1, 4}, ref), 2.0 / 3.0, 1e-12);
  EXPECT_EQ(*TopKRecall({4}, ref), 1.0);
  EXPECT_EQ(*TopKRecall({5, 3}, ref), 0.0);
  EXPECT_FALSE(TopKRecall({}, ref).has_value());
}

}  // namespace
}  // namespace ablate::analysis
