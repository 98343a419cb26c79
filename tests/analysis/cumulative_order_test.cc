// The cumulative order: ascending signed delta, ties by (layer, head).
#include "proto/analysis/cumulative_order.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace ablate::analysis {
namespace {

TEST(CumulativeOrderTest, AscendingSignedDeltaWithTies) {
  // 2 layers x 3 heads; flat index = layer * 3 + head.
  //   0.0: 0.2  0.1: -0.1  0.2: 0.05
  //   1.0: -0.1 1.1: 0.05  1.2: 0.0
  // Ascending: -0.1 (0.1 before 1.0), 0.0 (1.2), 0.05 (0.2 before 1.1), 0.2 (0.0).
  const std::vector<double> d = {0.2, -0.1, 0.05, -0.1, 0.05, 0.0};
  absl::StatusOr<std::vector<int>> order = CumulativeOrder(d, 2, 3);
  ASSERT_TRUE(order.ok()) << order.status();
  EXPECT_EQ(*order, (std::vector<int>{1, 3, 5, 2, 4, 0}));
}

TEST(CumulativeOrderTest, AllTiedKeepsLayerHeadOrder) {
  const std::vector<double> d(6, 0.25);
  EXPECT_EQ(*CumulativeOrder(d, 3, 2), (std::vector<int>{0, 1, 2, 3, 4, 5}));
}

TEST(CumulativeOrderTest, RejectsBadInput) {
  const std::vector<double> d = {0.1, 0.2, 0.3};
  EXPECT_FALSE(CumulativeOrder(d, 2, 2).ok());
  EXPECT_FALSE(CumulativeOrder(d, 0, 3).ok());
  const std::vector<double> nan = {0.1, NAN};
  EXPECT_FALSE(CumulativeOrder(nan, 1, 2).ok());
}

}  // namespace
}  // namespace ablate::analysis
