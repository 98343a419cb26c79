// Per-head table, curve and thresholds against values worked out by hand.
#include "proto/analysis/tables.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace ablate::analysis {
namespace {

TEST(PerplexityTest, ExpOfMeanNll) {
  // 100 tokens, mean NLL log(20) -> PPL 20.
  absl::StatusOr<double> ppl = Perplexity(100 * std::log(20.0), 100);
  ASSERT_TRUE(ppl.ok());
  EXPECT_NEAR(*ppl, 20.0, 1e-12);
  EXPECT_FALSE(Perplexity(1.0, 0).ok());
  EXPECT_FALSE(Perplexity(NAN, 10).ok());
}

TEST(HeadTableTest, DeltaIsRelativeChange) {
  const int64_t n = 50;
  const MaskNll base{n * std::log(10.0), n};
  // 2 layers x 2 heads with PPL 10, 12, 9, 15.
  const std::vector<MaskNll> heads = {{n * std::log(10.0), n},
                                      {n * std::log(12.0), n},
                                      {n * std::log(9.0), n},
                                      {n * std::log(15.0), n}};
  absl::StatusOr<std::vector<HeadResult>> rows = BuildHeadTable(base, heads, 2, 2);
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 4u);
  const double want[] = {0.0, 0.2, -0.1, 0.5};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ((*rows)[i].layer, i / 2);
    EXPECT_EQ((*rows)[i].head, i % 2);
    EXPECT_NEAR((*rows)[i].delta, want[i], 1e-12) << i;
  }
  EXPECT_NEAR((*rows)[3].ppl, 15.0, 1e-12);
}

TEST(HeadTableTest, RejectsShapeMismatch) {
  const MaskNll base{10.0, 10};
  const std::vector<MaskNll> heads(3, base);
  EXPECT_FALSE(BuildHeadTable(base, heads, 2, 2).ok());
  EXPECT_FALSE(BuildHeadTable(base, heads, 0, 3).ok());
  EXPECT_FALSE(BuildHeadTable(MaskNll{1.0, 0}, heads, 1, 3).ok());
}

TEST(CurveTest, RatioToBaseline) {
  const int64_t n = 10;
  const std::vector<MaskNll> pts = {{n * std::log(8.0), n}, {n * std::log(12.0), n}};
  absl::StatusOr<std::vector<CurveResult>> curve = BuildCurve(8.0, pts);
  ASSERT_TRUE(curve.ok());
  EXPECT_EQ((*curve)[1].removed, 1);
  EXPECT_NEAR((*curve)[1].ratio, 1.5, 1e-12);
  EXPECT_FALSE(BuildCurve(8.0, {}).ok());
  EXPECT_FALSE(BuildCurve(0.0, pts).ok());
}

// base 10: limits 11 (r 1.1), 15 (r 1.5), 20 (r 2), 30 (r 3).
const std::vector<double> kNonMonotone = {10, 9, 10.5, 12, 10.8, 16, 14, 25, 21};

TEST(ThresholdsTest, NonMonotoneCurveStopsAtFirstCrossing) {
  // r 1.1: 12 at k=3 crosses -> 2. r 1.5: 16 at k=5 crosses (14 at k=6 would fit) -> 4.
  // r 2: 25 at k=7 crosses (21 at k=8 too) -> 6. r 3: never crosses -> 8.
  EXPECT_EQ(*MaxHeadsRemovable(kNonMonotone, 10.0, 1.1), 2);
  EXPECT_EQ(*MaxHeadsRemovable(kNonMonotone, 10.0, 1.5), 4);
  EXPECT_EQ(*MaxHeadsRemovable(kNonMonotone, 10.0, 2.0), 6);
  EXPECT_EQ(*MaxHeadsRemovable(kNonMonotone, 10.0, 3.0), 8);
}

TEST(ThresholdsTest, BoundaryIsInclusive) {
  // 11 == 1.1 * 10 exactly in binary? Not guaranteed, so use ratio 1.5 and 15.
  const std::vector<double> curve = {10, 15, 15.000001};
  EXPECT_EQ(*MaxHeadsRemovable(curve, 10.0, 1.5), 1);
}

TEST(ThresholdsTest, ZeroWhenFirstStepCrosses) {
  const std::vector<double> curve = {10, 30, 11};
  EXPECT_EQ(*MaxHeadsRemovable(curve, 10.0, 2.0), 0);
  // PPL(0) measured a hair above baseline still allows k = 0.
  const std::vector<double> noisy = {10.0000001, 10.5};
  EXPECT_EQ(*MaxHeadsRemovable(noisy, 10.0, 1.0), 0);
}

TEST(ThresholdsTest, NanCountsAsCrossing) {
  const std::vector<double> curve = {10, 10, NAN, 10};
  EXPECT_EQ(*MaxHeadsRemovable(curve, 10.0, 2.0), 1);
}

TEST(ThresholdsTest, TableWithDefaultsAndFractions) {
  absl::StatusOr<std::vector<Threshold>> rows = ComputeThresholds(kNonMonotone, 10.0, {});
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[0].ratio, 1.1);
  EXPECT_EQ((*rows)[0].max_heads, 2);
  EXPECT_EQ((*rows)[0].ppl_at_max, 10.5);
  EXPECT_NEAR((*rows)[0].fraction, 2.0 / 8.0, 1e-15);
  EXPECT_EQ((*rows)[1].max_heads, 4);
  EXPECT_EQ((*rows)[1].ppl_at_max, 10.8);
  EXPECT_EQ((*rows)[2].max_heads, 6);
  EXPECT_EQ((*rows)[2].ppl_at_max, 14.0);
  const std::vector<double> ratios = {3.0, 1.5};
  rows = ComputeThresholds(kNonMonotone, 10.0, ratios);
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ((*rows)[0].max_heads, 8);
  EXPECT_EQ((*rows)[0].fraction, 1.0);
  EXPECT_EQ((*rows)[1].max_heads, 4);
}

TEST(ThresholdsTest, RejectsBadInput) {
  EXPECT_FALSE(MaxHeadsRemovable({}, 10.0, 1.5).ok());
  EXPECT_FALSE(MaxHeadsRemovable(kNonMonotone, 0.0, 1.5).ok());
  EXPECT_FALSE(MaxHeadsRemovable(kNonMonotone, 10.0, 0.9).ok());
  EXPECT_FALSE(MaxHeadsRemovable(kNonMonotone, 10.0, NAN).ok());
  const std::vector<double> bad = {1.5, -1.0};
  EXPECT_FALSE(ComputeThresholds(kNonMonotone, 10.0, bad).ok());
}

}  // namespace
}  // namespace ablate::analysis
