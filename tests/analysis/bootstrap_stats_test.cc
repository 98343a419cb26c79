// Intervals of the summary statistics (10B, 10D, correlation): a hand-checked case where every
// resample gives the same deltas (the intervals collapse onto the point estimates, computed
// here by hand), a plain re-implementation over the same resampled ratios (means, medians,
// counts, layer means and sorted order statistics written out here), undefined statistics,
// and bad input. Every function takes the resampled ratios (ResampleRatios) of the heads.
#include "proto/analysis/bootstrap_stats.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "tests/analysis/bootstrap_fixture.h"

namespace ablate::analysis {
namespace {

// A head whose every block has `c` more NLL per token than the baseline: ratio_b = exp(c) on
// every resample, whatever blocks it draws.
MaskNll Shifted(const std::vector<double>& base, const std::vector<int64_t>& tokens, double c) {
  std::vector<double> blocks;
  for (size_t i = 0; i < base.size(); ++i) blocks.push_back(base[i] + c * tokens[i]);
  return Mask(blocks);
}

// The resampled ratios of `heads` (what the functions under test take).
std::vector<double> Ratios(const std::vector<int64_t>& tokens, const MaskNll& base,
                           const std::vector<MaskNll>& heads, const BootstrapOptions& options) {
  absl::StatusOr<std::vector<double>> r = ResampleRatios(tokens, base, heads, options);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : std::vector<double>();
}

TEST(DistributionBandTest, EqualResamplesCollapseOntoHandComputedValues) {
  const std::vector<int64_t> tokens = {64, 64, 63, 10};
  const std::vector<double> base_blocks = {200.0, 190.5, 170.25, 31.0};
  const MaskNll base = Mask(base_blocks);
  // 2 layers x 2 heads; deltas e^c - 1 = +2.0201%, -0.99502%, +22.1403%, +0.50125%.
  const std::vector<double> c = {0.02, -0.01, 0.2, 0.005};
  std::vector<MaskNll> heads;
  for (double v : c) heads.push_back(Shifted(base_blocks, tokens, v));
  const BootstrapOptions opt{0.95, 500, 7};
  const std::vector<double> ratios = Ratios(tokens, base, heads, opt);
  auto out = DistributionBand(ratios, 2, 2, opt);
  ASSERT_TRUE(out.ok()) << out.status();
  auto expect_point = [](const Interval& in, double v, const char* what) {
    EXPECT_NEAR(in.lo, v, 1e-12) << what;
    EXPECT_NEAR(in.hi, v, 1e-12) << what;
  };
  const double d0 = std::exp(0.02) - 1, d1 = std::exp(-0.01) - 1, d2 = std::exp(0.2) - 1,
               d3 = std::exp(0.005) - 1;
  expect_point(out->under_1pct, 2, "under 1%: d1 and d3");
  expect_point(out->under_10pct, 3, "under 10%: all but d2");
  expect_point(out->improved, 1, "improved: d1");
  expect_point(out->mean_delta, (d0 + d1 + d2 + d3) / 4, "mean");
  expect_point(out->median_delta, (d0 + d3) / 2, "median of d1 < d3 < d0 < d2");
  expect_point(out->mean_abs_delta, (d0 - d1 + d2 + d3) / 4, "mean |delta|");
  expect_point(out->max_delta, d2, "max");
  ASSERT_TRUE(out->zipf_alpha.has_value());
  // Zipf: log|d| against log rank over d2 > d0 > |d1| > d3, slope -alpha by least squares.
  std::vector<double> mags = {d2, d0, -d1, d3};
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (int r = 0; r < 4; ++r) {
    const double x = std::log(r + 1.0), y = std::log(mags[r]);
    sx += x; sy += y; sxx += x * x; sxy += x * y;
  }
  const double slope = (4 * sxy - sx * sy) / (4 * sxx - sx * sx);
  expect_point(*out->zipf_alpha, -slope, "zipf alpha");
  auto layers = LayerBand(ratios, 2, 2, opt);
  ASSERT_TRUE(layers.ok()) << layers.status();
  ASSERT_EQ(layers->mean.size(), 2u);
  expect_point(layers->mean[0], (d0 + d1) / 2, "layer 0 mean");
  expect_point(layers->mean[1], (d2 + d3) / 2, "layer 1 mean");
  expect_point(layers->max[0], d0, "layer 0 max");
  expect_point(layers->max[1], d2, "layer 1 max");

  // Correlation (3 layers x 1 head) of the layer means e^c - 1 with the series 1, 3, 2.
  std::vector<MaskNll> three;
  const std::vector<double> cl = {0.01, 0.03, 0.02}, series = {1.0, 3.0, 2.0};
  for (double v : cl) three.push_back(Shifted(base_blocks, tokens, v));
  auto corr = CorrelationBand(Ratios(tokens, base, three, opt), 3, 1, series, opt);
  ASSERT_TRUE(corr.ok()) << corr.status();
  ASSERT_TRUE(corr->pearson.has_value() && corr->spearman.has_value());
  double mx = 0, cxy = 0, cxx = 0, cyy = 0;
  for (double v : cl) mx += (std::exp(v) - 1) / 3;
  for (int l = 0; l < 3; ++l) {
    const double x = std::exp(cl[l]) - 1 - mx, y = series[l] - 2.0;
    cxy += x * y; cxx += x * x; cyy += y * y;
  }
  expect_point(*corr->pearson, cxy / std::sqrt(cxx * cyy), "pearson");
  expect_point(*corr->spearman, 1.0, "spearman: the same order");
}

TEST(DistributionBandTest, MatchesPlainStatisticsOverTheSameResamples) {
  const int n_layer = 3, n_head = 4, n = n_layer * n_head;
  const Fixture f = Random(10, n, 5);
  const BootstrapOptions opt{0.9, 3000, 42};
  auto ratios = ResampleRatios(f.tokens, f.base, f.masks, opt);
  ASSERT_TRUE(ratios.ok());
  std::vector<double> mean, median, under1, improved, max;
  std::vector<std::vector<double>> layer_mean(n_layer);
  std::vector<double> series = {0.3, -1.0, 2.0}, pearson;
  for (int b = 0; b < opt.resamples; ++b) {
    std::vector<double> d(n);
    for (int m = 0; m < n; ++m) d[m] = (*ratios)[b * n + m] - 1.0;
    std::vector<double> s = d;
    std::sort(s.begin(), s.end());
    double sum = 0, small = 0, neg = 0;
    for (double v : d) { sum += v; small += std::fabs(v) < 0.01; neg += v < 0; }
    mean.push_back(sum / n);
    median.push_back((s[n / 2 - 1] + s[n / 2]) / 2);
    under1.push_back(small);
    improved.push_back(neg);
    max.push_back(s.back());
    std::vector<double> lm(n_layer);
    for (int l = 0; l < n_layer; ++l) {
      for (int h = 0; h < n_head; ++h) lm[l] += d[l * n_head + h] / n_head;
      layer_mean[l].push_back(lm[l]);
    }
    double mx = 0, my = 0;
    for (int l = 0; l < n_layer; ++l) { mx += lm[l] / n_layer; my += series[l] / n_layer; }
    double sxy = 0, sxx = 0, syy = 0;
    for (int l = 0; l < n_layer; ++l) {
      sxy += (lm[l] - mx) * (series[l] - my);
      sxx += (lm[l] - mx) * (lm[l] - mx);
      syy += (series[l] - my) * (series[l] - my);
    }
    pearson.push_back(sxy / std::sqrt(sxx * syy));
  }
  auto out = DistributionBand(*ratios, n_layer, n_head, opt);
  ASSERT_TRUE(out.ok()) << out.status();
  auto layers = LayerBand(*ratios, n_layer, n_head, opt);
  ASSERT_TRUE(layers.ok()) << layers.status();
  auto expect = [&](const Interval& in, const std::vector<double>& v, const char* what) {
    auto [lo, hi] = SortedInterval(v, opt.ci);
    EXPECT_NEAR(in.lo, lo, 1e-12) << what;
    EXPECT_NEAR(in.hi, hi, 1e-12) << what;
  };
  expect(out->mean_delta, mean, "mean");
  expect(out->median_delta, median, "median");
  expect(out->under_1pct, under1, "under 1%");
  expect(out->improved, improved, "improved");
  expect(out->max_delta, max, "max");
  for (int l = 0; l < n_layer; ++l) expect(layers->mean[l], layer_mean[l], "layer mean");
  EXPECT_LT(out->mean_delta.lo, out->mean_delta.hi);  // The resamples do differ.
  auto corr = CorrelationBand(*ratios, n_layer, n_head, series, opt);
  ASSERT_TRUE(corr.ok()) << corr.status();
  ASSERT_TRUE(corr->pearson.has_value());
  auto [lo, hi] = SortedInterval(pearson, opt.ci);
  EXPECT_NEAR(corr->pearson->lo, lo, 1e-9);
  EXPECT_NEAR(corr->pearson->hi, hi, 1e-9);
}

TEST(DistributionBandTest, UndefinedStatisticsGetNoInterval) {
  const std::vector<int64_t> tokens = {8, 8, 8};
  const std::vector<double> base_blocks = {20.0, 21.0, 19.5};
  // One head with no effect at all, one with an effect: a single nonzero delta, no Zipf fit.
  std::vector<MaskNll> heads = {Mask(base_blocks), Shifted(base_blocks, tokens, 0.1)};
  const BootstrapOptions opt{0.95, 200, 3};
  auto out = DistributionBand(Ratios(tokens, Mask(base_blocks), heads, opt), 1, 2, opt);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_FALSE(out->zipf_alpha.has_value());
  EXPECT_NEAR(out->max_delta.lo, std::exp(0.1) - 1, 1e-12);
  // Two layers with equal means on every resample: no correlation is defined.
  std::vector<MaskNll> same = {Shifted(base_blocks, tokens, 0.1),
                               Shifted(base_blocks, tokens, 0.1)};
  auto corr = CorrelationBand(Ratios(tokens, Mask(base_blocks), same, opt), 2, 1,
                              std::vector<double>{1, 2}, opt);
  ASSERT_TRUE(corr.ok()) << corr.status();
  EXPECT_FALSE(corr->pearson.has_value());
  EXPECT_FALSE(corr->spearman.has_value());
}

TEST(DistributionBandTest, BadInputIsAnError) {
  const std::vector<int64_t> tokens = {8, 8};
  const std::vector<double> base_blocks = {20.0, 21.0};
  std::vector<MaskNll> heads = {Mask(base_blocks), Mask(base_blocks), Mask(base_blocks)};
  const BootstrapOptions opt{0.95, 10, 1};
  const std::vector<double> ratios = Ratios(tokens, Mask(base_blocks), heads, opt);
  auto wrong_count = DistributionBand(ratios, 2, 2, opt);
  EXPECT_EQ(wrong_count.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(wrong_count.status().message().find("2 x 2"), std::string::npos);
  EXPECT_EQ(LayerBand(ratios, 3, 2, opt).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LayerBand(ratios, 0, 3, opt).status().code(), absl::StatusCode::kInvalidArgument);
  auto series = CorrelationBand(ratios, 3, 1, std::vector<double>{1, 2}, opt);
  EXPECT_EQ(series.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(series.status().message().find("3 layers"), std::string::npos);
  EXPECT_EQ(HeadIntervalsFromRatios(ratios, 4, opt).status().code(),
            absl::StatusCode::kInvalidArgument);
  heads[1].block_nll.pop_back();  // Caught where the ratios are made.
  EXPECT_FALSE(ResampleRatios(tokens, Mask(base_blocks), heads, opt).ok());
}

}  // namespace
}  // namespace ablate::analysis
