// Paired block bootstrap: the generator against published SplitMix64 values, intervals against
// fully enumerated small cases and against a plain re-implementation written here (sums of
// drawn blocks, sorted order statistics), invariants, and the cost of a GPT-2-small-sized run.
#include "proto/analysis/bootstrap.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <vector>

#include "gtest/gtest.h"
#include "tests/analysis/bootstrap_fixture.h"

namespace ablate::analysis {
namespace {

TEST(SplitMix64Test, PublishedValues) {
  SplitMix64 zero(0);
  EXPECT_EQ(zero.Next(), 0xe220a8397b1dcdafULL);
  EXPECT_EQ(zero.Next(), 0x6e789e6aa1b965f4ULL);
  EXPECT_EQ(zero.Next(), 0x06c45d188009454fULL);
  SplitMix64 rng(1234567);
  EXPECT_EQ(rng.Next(), 6457827717110365317ULL);
  EXPECT_EQ(rng.Next(), 3203168211198807973ULL);
  EXPECT_EQ(rng.Next(), 9817491932198370423ULL);
}

TEST(SplitMix64Test, UniformIsInRangeAndUnbiased) {
  SplitMix64 rng(7);
  std::vector<int> hits(3);
  for (int i = 0; i < 30000; ++i) ++hits[rng.Uniform(3)];
  for (int h : hits) EXPECT_NEAR(h, 10000, 400);
  EXPECT_EQ(rng.Uniform(1), 0u);
  // n = 2^63 + 1: half of all 64-bit values are rejected; results still < n.
  const uint64_t big = (1ULL << 63) + 1;
  for (int i = 0; i < 100; ++i) EXPECT_LT(rng.Uniform(big), big);
}

TEST(PercentileTest, KthSmallestAndLargest) {
  std::vector<double> v(10000);
  for (int i = 0; i < 10000; ++i) v[i] = 9999 - i;  // 0..9999 reversed
  Interval in = PercentileInterval(v, 0.95);
  EXPECT_EQ(in.lo, 249.0);   // the 250th smallest
  EXPECT_EQ(in.hi, 9750.0);  // the 250th largest
  std::vector<double> three = {3, 1, 2};
  in = PercentileInterval(three, 0.95);  // k = max(1, floor(0.075)) = 1: min and max
  EXPECT_EQ(in.lo, 1.0);
  EXPECT_EQ(in.hi, 3.0);
}

// Two blocks of 10 and 30 tokens: a resample is {0,0} (p 1/4), {1,1} (1/4) or {0,1} (1/2).
// At ci = 0.95 the 250th smallest of 10000 draws is the smallest outcome (P < 1e-100 that
// fewer than 250 draws hit it), so the interval is [min, max] of the enumerated outcomes.
TEST(HeadIntervalsTest, TwoBlocksEnumerated) {
  const std::vector<int64_t> tokens = {10, 30};
  const MaskNll base = Mask({20.0, 45.0});
  const MaskNll head = Mask({23.0, 44.0});
  auto delta = [&](int c0, int c1) {
    const double t = c0 * 10.0 + c1 * 30.0;
    const double a = c0 * 23.0 + c1 * 44.0, b = c0 * 20.0 + c1 * 45.0;
    return std::exp(a / t) / std::exp(b / t) - 1.0;
  };
  const std::vector<double> outcomes = {delta(2, 0), delta(0, 2), delta(1, 1)};
  absl::StatusOr<std::vector<HeadInterval>> out =
      HeadIntervals(tokens, base, {head}, BootstrapOptions{});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_NEAR((*out)[0].delta_lo, *std::min_element(outcomes.begin(), outcomes.end()), 1e-12);
  EXPECT_NEAR((*out)[0].delta_hi, *std::max_element(outcomes.begin(), outcomes.end()), 1e-12);
  // {0,0}: +35%, {1,1}: -3.3%: the interval spans 0, so not significant.
  EXPECT_FALSE((*out)[0].significant);
  EXPECT_EQ((*out)[0].rank_lo, 1);
  EXPECT_EQ((*out)[0].rank_hi, 1);
  // ci = 0.2: the 4000th smallest and largest both fall in the {0,1} outcome (P(< 4000 or
  // > 6000 of 10000 land below it) is negligible), so the interval is the point estimate.
  out = HeadIntervals(tokens, base, {head}, BootstrapOptions{0.2, 10000, 5});
  ASSERT_TRUE(out.ok());
  EXPECT_NEAR((*out)[0].delta_lo, delta(1, 1), 1e-12);
  EXPECT_NEAR((*out)[0].delta_hi, delta(1, 1), 1e-12);
}

// Three blocks: 27 equally likely ordered draws; a head worse in every block is significant
// and its interval is [min, max] over the 10 distinct count vectors.
TEST(HeadIntervalsTest, ThreeBlocksAllWorse) {
  const std::vector<int64_t> tokens = {4, 4, 2};
  const MaskNll base = Mask({8.0, 9.0, 5.0});
  const MaskNll head = Mask({8.5, 9.1, 5.6});
  double lo = 1e9, hi = -1e9;
  for (int i = 0; i < 27; ++i) {
    int c[3] = {0, 0, 0};
    ++c[i % 3], ++c[i / 3 % 3], ++c[i / 9];
    double a = 0, b = 0, t = 0;
    for (int j = 0; j < 3; ++j) {
      a += c[j] * head.block_nll[j], b += c[j] * base.block_nll[j], t += c[j] * tokens[j];
    }
    const double d = std::exp(a / t) / std::exp(b / t) - 1.0;
    lo = std::min(lo, d), hi = std::max(hi, d);
  }
  auto out = HeadIntervals(tokens, base, {head}, BootstrapOptions{0.999, 100000, 3});
  ASSERT_TRUE(out.ok());
  // k = 50 of 100000; each extreme outcome has probability 1/27: lo/hi are the extremes.
  EXPECT_NEAR((*out)[0].delta_lo, lo, 1e-12);
  EXPECT_NEAR((*out)[0].delta_hi, hi, 1e-12);
  EXPECT_TRUE((*out)[0].significant);
  EXPECT_GT(lo, 0.0);
}

// A plain implementation: for every resample draw the indices with the same generator, sum the
// drawn blocks of each mask directly, sort all values, take the order statistics.
struct Reference {
  std::vector<std::vector<double>> delta;  // [mask][b]
  std::vector<std::vector<double>> rank;   // [mask][b]
};

Reference Plain(const std::vector<int64_t>& tokens, const MaskNll& base,
                const std::vector<MaskNll>& masks, int B, uint64_t seed) {
  SplitMix64 rng(seed);
  const size_t n = tokens.size();
  Reference ref;
  ref.delta.assign(masks.size(), {});
  ref.rank.assign(masks.size(), {});
  for (int b = 0; b < B; ++b) {
    std::vector<size_t> idx(n);
    for (size_t i = 0; i < n; ++i) idx[i] = rng.Uniform(n);
    double t = 0, sb = 0;
    for (size_t i : idx) t += tokens[i], sb += base.block_nll[i];
    std::vector<double> d(masks.size());
    for (size_t m = 0; m < masks.size(); ++m) {
      double sa = 0;
      for (size_t i : idx) sa += masks[m].block_nll[i];
      d[m] = std::exp(sa / t) / std::exp(sb / t) - 1.0;
      ref.delta[m].push_back(d[m]);
    }
    for (size_t m = 0; m < masks.size(); ++m) {
      int r = 1;
      for (size_t o = 0; o < masks.size(); ++o) r += d[o] > d[m] || (d[o] == d[m] && o < m);
      ref.rank[m].push_back(r);
    }
  }
  return ref;
}

TEST(HeadIntervalsTest, MatchesPlainImplementation) {
  const Fixture f = Random(12, 6, 11);
  for (uint64_t seed : {1ULL, 99ULL}) {
    const BootstrapOptions opt{0.9, 2000, seed};
    auto out = HeadIntervals(f.tokens, f.base, f.masks, opt);
    ASSERT_TRUE(out.ok()) << out.status();
    const Reference ref = Plain(f.tokens, f.base, f.masks, opt.resamples, seed);
    for (size_t m = 0; m < f.masks.size(); ++m) {
      auto [lo, hi] = SortedInterval(ref.delta[m], opt.ci);
      EXPECT_NEAR((*out)[m].delta_lo, lo, 1e-12) << m;
      EXPECT_NEAR((*out)[m].delta_hi, hi, 1e-12) << m;
      EXPECT_EQ((*out)[m].significant, lo > 0 || hi < 0);
      auto [rlo, rhi] = SortedInterval(ref.rank[m], opt.ci);
      EXPECT_EQ((*out)[m].rank_lo, rlo) << m;
      EXPECT_EQ((*out)[m].rank_hi, rhi) << m;
    }
  }
}

TEST(HeadIntervalsTest, SeededRunIsReproducibleAndSeedMatters) {
  const Fixture f = Random(32, 10, 5);
  auto a = HeadIntervals(f.tokens, f.base, f.masks, BootstrapOptions{});
  auto b = HeadIntervals(f.tokens, f.base, f.masks, BootstrapOptions{});
  auto c = HeadIntervals(f.tokens, f.base, f.masks, BootstrapOptions{0.95, 10000, 2});
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  int differ = 0;
  for (size_t m = 0; m < a->size(); ++m) {
    EXPECT_EQ((*a)[m].delta_lo, (*b)[m].delta_lo);
    EXPECT_EQ((*a)[m].delta_hi, (*b)[m].delta_hi);
    differ += (*a)[m].delta_lo != (*c)[m].delta_lo;
  }
  EXPECT_GT(differ, 0);
}

TEST(HeadIntervalsTest, IntervalsContainPointEstimates) {
  const Fixture f = Random(32, 20, 8);
  auto out = HeadIntervals(f.tokens, f.base, f.masks, BootstrapOptions{});
  ASSERT_TRUE(out.ok());
  int significant = 0;
  for (size_t m = 0; m < f.masks.size(); ++m) {
    const double point = std::exp((f.masks[m].nll_sum - f.base.nll_sum) / (32 * 64 - 8)) - 1;
    EXPECT_LE((*out)[m].delta_lo, point) << m;
    EXPECT_GE((*out)[m].delta_hi, point) << m;
    EXPECT_LE((*out)[m].rank_lo, (*out)[m].rank_hi);
    significant += (*out)[m].significant;
  }
  // Effects grow by 0.2% per mask against 0.3% noise per block: small ones are not significant,
  // large ones are.
  EXPECT_FALSE((*out)[0].significant);
  EXPECT_TRUE((*out)[19].significant);
  EXPECT_GT(significant, 5);
  EXPECT_EQ((*out)[19].rank_lo, 1);
}

TEST(HeadIntervalsTest, TiesAndNoEffect) {
  const Fixture f = Random(8, 1, 2);
  std::vector<double> worse = f.base.block_nll;
  for (size_t i = 0; i < worse.size(); ++i) worse[i] += 0.1 * f.tokens[i];
  const MaskNll same = Mask(worse);
  auto out = HeadIntervals(f.tokens, f.base, {f.base, same, same}, BootstrapOptions{});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ((*out)[0].delta_lo, 0.0);  // the clean run itself: exactly 0, never significant
  EXPECT_EQ((*out)[0].delta_hi, 0.0);
  EXPECT_FALSE((*out)[0].significant);
  // Identical heads tie in every resample: the lower flat index ranks first.
  EXPECT_EQ((*out)[1].delta_lo, (*out)[2].delta_lo);
  EXPECT_NEAR((*out)[1].delta_lo, std::exp(0.1) - 1, 1e-12);  // +0.1 nats on every token
  EXPECT_NEAR((*out)[1].delta_hi, std::exp(0.1) - 1, 1e-12);
  const int want[3][2] = {{3, 3}, {1, 1}, {2, 2}};
  for (int m = 0; m < 3; ++m) {
    EXPECT_EQ((*out)[m].rank_lo, want[m][0]) << m;
    EXPECT_EQ((*out)[m].rank_hi, want[m][1]) << m;
  }
}

TEST(CurveBandTest, MatchesPlainImplementationAndThresholds) {
  // A curve rising by 5% per head: point k adds k times the per-block increment.
  Fixture f = Random(16, 1, 4);
  std::vector<MaskNll> points = {f.base};
  for (int k = 1; k <= 8; ++k) {
    std::vector<double> v = f.base.block_nll;
    for (size_t i = 0; i < v.size(); ++i) v[i] += f.tokens[i] * (0.05 * k) * (1 + 0.3 * (i % 3));
    points.push_back(Mask(v));
  }
  const BootstrapOptions opt{0.95, 3000, 17};
  const std::vector<double> ratios = {1.1, 1.5};
  auto out = CurveBand(f.tokens, f.base, points, ratios, opt);
  ASSERT_TRUE(out.ok()) << out.status();
  const Reference ref = Plain(f.tokens, f.base, points, opt.resamples, opt.seed);
  ASSERT_EQ(out->ratio.size(), points.size());
  for (size_t k = 0; k < points.size(); ++k) {
    auto [lo, hi] = SortedInterval(ref.delta[k], opt.ci);
    EXPECT_NEAR(out->ratio[k].lo, lo + 1, 1e-12) << k;
    EXPECT_NEAR(out->ratio[k].hi, hi + 1, 1e-12) << k;
  }
  for (size_t r = 0; r < ratios.size(); ++r) {
    std::vector<double> removable;
    for (int b = 0; b < opt.resamples; ++b) {
      int k = 0;
      while (k + 1 < static_cast<int>(points.size()) && ref.delta[k + 1][b] + 1 <= ratios[r]) ++k;
      removable.push_back(k);
    }
    auto [lo, hi] = SortedInterval(removable, opt.ci);
    EXPECT_EQ(out->max_heads[r].lo, lo) << r;
    EXPECT_EQ(out->max_heads[r].hi, hi) << r;
    EXPECT_LE(lo, hi);
  }
  EXPECT_EQ(out->ratio[0].lo, 1.0);
  EXPECT_EQ(out->ratio[0].hi, 1.0);
  // The point estimate's thresholds lie inside their intervals.
  std::vector<double> ppl;
  for (const MaskNll& p : points) ppl.push_back(std::exp(p.nll_sum / 1020.0));
  auto point = ComputeThresholds(ppl, ppl[0], ratios);
  ASSERT_TRUE(point.ok());
  for (size_t r = 0; r < ratios.size(); ++r) {
    EXPECT_LE(out->max_heads[r].lo, (*point)[r].max_heads);
    EXPECT_GE(out->max_heads[r].hi, (*point)[r].max_heads);
  }
  EXPECT_EQ(CurveBand(f.tokens, f.base, points, {}, opt)->max_heads.size(), 3u);
}

TEST(BootstrapTest, BadInputIsAnError) {
  const Fixture f = Random(4, 1, 1);
  MaskNll short_mask = Mask({1.0, 2.0});
  EXPECT_FALSE(HeadIntervals(f.tokens, f.base, {short_mask}, {}).ok());
  EXPECT_FALSE(HeadIntervals({}, MaskNll{}, {MaskNll{}}, {}).ok());
  EXPECT_FALSE(HeadIntervals(f.tokens, f.base, {}, {}).ok());
  EXPECT_FALSE(HeadIntervals({64, 0, 64, 64}, f.base, f.masks, {}).ok());
  MaskNll nan = f.masks[0];
  nan.block_nll[1] = NAN;
  EXPECT_FALSE(HeadIntervals(f.tokens, f.base, {nan}, {}).ok());
  EXPECT_FALSE(HeadIntervals(f.tokens, f.base, f.masks, BootstrapOptions{1.0, 10, 1}).ok());
  EXPECT_FALSE(HeadIntervals(f.tokens, f.base, f.masks, BootstrapOptions{0.9, 0, 1}).ok());
  EXPECT_FALSE(CurveBand(f.tokens, f.base, f.masks, {0.9}, {}).ok());
  EXPECT_FALSE(CurveBand(f.tokens, f.base, {}, {}, {}).ok());
}

TEST(BootstrapTest, ResolveWireForm) {
  auto d = ResolveBootstrap(0, 0, 0);
  ASSERT_TRUE(d.ok() && d->has_value());
  EXPECT_EQ((*d)->ci, 0.95);
  EXPECT_EQ((*d)->resamples, 10000);
  EXPECT_EQ((*d)->seed, kDefaultSeed);
  auto none = ResolveBootstrap(0.9, -1, 3);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  auto set = ResolveBootstrap(0.8, 500, 9);
  ASSERT_TRUE(set.ok() && set->has_value());
  EXPECT_EQ((*set)->ci, 0.8);
  EXPECT_EQ((*set)->resamples, 500);
  EXPECT_EQ((*set)->seed, 9u);
  EXPECT_FALSE(ResolveBootstrap(1.0, 0, 0).ok());
  EXPECT_FALSE(ResolveBootstrap(-0.5, 0, 0).ok());
  EXPECT_FALSE(ResolveBootstrap(NAN, 0, 0).ok());
  EXPECT_FALSE(ResolveBootstrap(0.9, -2, 0).ok());
  EXPECT_FALSE(ResolveBootstrap(0.9, kMaxResamples + 1, 0).ok());
}

TEST(BootstrapTest, CheckBlocks) {
  MaskNll m = Mask({1.5, 2.5});
  EXPECT_TRUE(CheckBlocks({3, 2}, m).ok());
  EXPECT_FALSE(CheckBlocks({3, 2, 1}, m).ok());
  m.nll_sum = 4.1;
  EXPECT_FALSE(CheckBlocks({3, 2}, m).ok());
  m.nll_sum = 4.0 + 1e-9;
  EXPECT_TRUE(CheckBlocks({3, 2}, m).ok());
  EXPECT_EQ(BlockSizes(2, 6, 2), (std::vector<int64_t>{2, 2, 1, 2, 2, 1}));
  EXPECT_EQ(BlockSizes(1, 65, 64), (std::vector<int64_t>{64}));
  EXPECT_TRUE(BlockSizes(1, 1, 64).empty());
}

// GPT-2 small's individual sweep: 145 masks x 32 blocks (2 x 1024 tokens), 10000 resamples.
TEST(BootstrapTest, FastEnoughForGpt2Small) {
  const Fixture f = Random(32, 145, 3);
  const std::vector<MaskNll> heads(f.masks.begin() + 1, f.masks.end());
  const auto start = std::chrono::steady_clock::now();
  const std::clock_t cpu = std::clock();
  auto out = HeadIntervals(f.tokens, f.masks[0], heads, BootstrapOptions{});
  auto band = CurveBand(f.tokens, f.masks[0], f.masks, {}, BootstrapOptions{});
  const double s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(out.ok() && band.ok());
  std::printf("bootstrap 10000 x (144 heads + 145 curve points) x 32 blocks: %.3f s wall, "
              "%.3f s CPU\n", s, static_cast<double>(std::clock() - cpu) / CLOCKS_PER_SEC);
  EXPECT_LT(s, 5.0);  // target: well under 1 s; slack for shared and sanitizer builds
}

}  // namespace
}  // namespace ablate::analysis
