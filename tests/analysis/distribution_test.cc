// Distribution statistics, Zipf fit and per-layer table against hand-computed values.
#include "proto/analysis/distribution.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace ablate::analysis {
namespace {

std::vector<HeadResult> Heads(int n_head, const std::vector<double>& deltas) {
  std::vector<HeadResult> rows;
  for (size_t i = 0; i < deltas.size(); ++i) {
    rows.push_back({static_cast<int>(i) / n_head, static_cast<int>(i) % n_head, 0.0, deltas[i]});
  }
  return rows;
}

TEST(ZipfTest, RecoversExactPowerLaw) {
  const double alpha = 1.37, c = 2.35;
  // Magnitudes c * rank^-alpha for ranks 1..40, shuffled, with mixed signs and zeros.
  std::vector<double> deltas;
  for (int i = 0; i < 40; ++i) {
    const int rank = (i * 17) % 40 + 1;  // 17 is coprime with 40: a permutation.
    const double mag = c * std::pow(rank, -alpha);
    deltas.push_back(i % 3 == 0 ? -mag : mag);
    if (i % 7 == 0) deltas.push_back(0.0);
  }
  absl::StatusOr<ZipfFit> fit = FitZipf(deltas);
  ASSERT_TRUE(fit.ok()) << fit.status();
  EXPECT_NEAR(fit->alpha, alpha, 1e-9);
  EXPECT_NEAR(fit->c, c, 1e-9);
  EXPECT_NEAR(fit->r2, 1.0, 1e-12);
  EXPECT_EQ(fit->n_points, 40);
}

TEST(ZipfTest, TwoPointsAndFlatLine) {
  // Ranks 1, 2 with magnitudes 4 and 1: slope = log(1/4) / log 2 = -2 -> alpha 2, c 4.
  const std::vector<double> two = {-1.0, 4.0};
  absl::StatusOr<ZipfFit> fit = FitZipf(two);
  ASSERT_TRUE(fit.ok());
  EXPECT_NEAR(fit->alpha, 2.0, 1e-12);
  EXPECT_NEAR(fit->c, 4.0, 1e-12);
  // Equal magnitudes: a flat line fits exactly.
  const std::vector<double> flat = {0.5, 0.5, 0.5};
  fit = FitZipf(flat);
  ASSERT_TRUE(fit.ok());
  EXPECT_NEAR(fit->alpha, 0.0, 1e-15);
  EXPECT_NEAR(fit->c, 0.5, 1e-15);
  EXPECT_EQ(fit->r2, 1.0);
}

TEST(ZipfTest, RSquaredOfThreePoints) {
  // Magnitudes 1, 1, e^-1 at ranks 1, 2, 3: x = (0, a, b) with a = log 2, b = log 3,
  // y = (0, 0, -1). Least squares: slope = sxy / sxx; r2 = sxy^2 / (sxx * syy).
  const double a = std::log(2.0), b = std::log(3.0);
  const double mx = (a + b) / 3, my = -1.0 / 3;
  const double sxx = mx * mx + (a - mx) * (a - mx) + (b - mx) * (b - mx);
  const double sxy = (0 - mx) * (0 - my) + (a - mx) * (0 - my) + (b - mx) * (-1 - my);
  const double syy = 2.0 / 3.0;  // (1/3)^2 + (1/3)^2 + (2/3)^2.
  const std::vector<double> d = {1.0, -std::exp(-1.0), 1.0};
  absl::StatusOr<ZipfFit> fit = FitZipf(d);
  ASSERT_TRUE(fit.ok());
  EXPECT_NEAR(fit->alpha, -sxy / sxx, 1e-12);
  EXPECT_NEAR(fit->c, std::exp(my - (sxy / sxx) * mx), 1e-12);
  EXPECT_NEAR(fit->r2, sxy * sxy / (sxx * syy), 1e-12);
}

TEST(ZipfTest, RejectsTooFewPoints) {
  const std::vector<double> d = {0.0, 0.3, 0.0};
  EXPECT_FALSE(FitZipf(d).ok());
  const std::vector<double> inf = {1.0, INFINITY};
  EXPECT_FALSE(FitZipf(inf).ok());
}

TEST(DistributionTest, CountsMeanMedianMax) {
  // 2 layers x 3 heads.
  const std::vector<HeadResult> heads =
      Heads(3, {0.005, -0.02, 0.5, 0.09, 0.5, -0.005});
  absl::StatusOr<DistributionStats> st = ComputeDistribution(heads);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->n_heads, 6);
  EXPECT_EQ(st->under_1pct, 2);   // 0.005, -0.005.
  EXPECT_EQ(st->under_10pct, 4);  // + -0.02, 0.09.
  EXPECT_EQ(st->improved, 2);
  EXPECT_NEAR(st->mean_delta, (0.005 - 0.02 + 0.5 + 0.09 + 0.5 - 0.005) / 6, 1e-15);
  EXPECT_NEAR(st->mean_abs_delta, (0.005 + 0.02 + 0.5 + 0.09 + 0.5 + 0.005) / 6, 1e-15);
  // Sorted: -0.02, -0.005, 0.005, 0.09, 0.5, 0.5 -> median (0.005 + 0.09) / 2.
  EXPECT_NEAR(st->median_delta, 0.0475, 1e-15);
  EXPECT_EQ(st->max_delta, 0.5);
  EXPECT_EQ(st->max_layer, 0);  // Tie between heads 0.2 and 1.1: first in (layer, head) order.
  EXPECT_EQ(st->max_head, 2);
  ASSERT_TRUE(st->zipf.has_value());
  EXPECT_EQ(st->zipf->n_points, 6);
}

TEST(DistributionTest, OddMedianAndNoZipf) {
  const std::vector<HeadResult> heads = Heads(3, {0.0, 0.3, 0.0});
  absl::StatusOr<DistributionStats> st = ComputeDistribution(heads);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->median_delta, 0.0);
  EXPECT_EQ(st->max_layer, 0);
  EXPECT_EQ(st->max_head, 1);
  EXPECT_FALSE(st->zipf.has_value());
  EXPECT_FALSE(ComputeDistribution({}).ok());
}

TEST(LayerStatsTest, MeanAndMaxPerLayer) {
  std::vector<HeadResult> heads = Heads(3, {0.1, 0.4, 0.4, -0.3, -0.1, -0.2});
  std::swap(heads[0], heads[5]);  // Any order is accepted.
  absl::StatusOr<std::vector<LayerStats>> rows = ComputeLayerStats(heads, 2);
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].layer, 0);
  EXPECT_NEAR((*rows)[0].mean_delta, 0.3, 1e-15);
  EXPECT_EQ((*rows)[0].max_delta, 0.4);
  EXPECT_EQ((*rows)[0].max_head, 1);  // Tie between heads 1 and 2: the lower.
  EXPECT_NEAR((*rows)[1].mean_delta, -0.2, 1e-15);
  EXPECT_EQ((*rows)[1].max_delta, -0.1);
  EXPECT_EQ((*rows)[1].max_head, 1);
}

TEST(LayerStatsTest, RejectsBadLayers) {
  const std::vector<HeadResult> heads = Heads(2, {0.1, 0.2});
  EXPECT_FALSE(ComputeLayerStats(heads, 2).ok());  // Layer 1 has no heads.
  EXPECT_FALSE(ComputeLayerStats(heads, 0).ok());
  const std::vector<HeadResult> outside = Heads(1, {0.1, 0.2});
  EXPECT_FALSE(ComputeLayerStats(outside, 1).ok());
}

}  // namespace
}  // namespace ablate::analysis
