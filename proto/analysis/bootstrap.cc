#include "proto/analysis/bootstrap.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"

namespace ablate::analysis {
namespace {

absl::Status CheckOptions(const BootstrapOptions& options) {
  if (!std::isfinite(options.ci) || options.ci <= 0.0 || options.ci >= 1.0) {
    return absl::InvalidArgumentError(absl::StrCat("ci must be in (0, 1), got ", options.ci));
  }
  if (options.resamples < 1 || options.resamples > kMaxResamples) {
    return absl::InvalidArgumentError(absl::StrCat("bootstrap must be in 1..", kMaxResamples,
                                                   ", got ", options.resamples));
  }
  return absl::OkStatus();
}

// k of the percentile rule: max(1, floor(B (1 - ci) / 2)); the tiny slack keeps
// B (1 - ci) / 2 = 250 from becoming 249.99999999999997.
int64_t TailIndex(int64_t n, double ci) {
  const double k = std::floor(static_cast<double>(n) * (1.0 - ci) / 2.0 + 1e-9);
  return std::max<int64_t>(1, std::min<int64_t>(static_cast<int64_t>(k), n));
}

absl::Status CheckMask(absl::Span<const int64_t> block_tokens, const MaskNll& mask,
                       absl::string_view what) {
  if (mask.block_nll.size() != block_tokens.size()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " has ", mask.block_nll.size(),
                                                   " block NLLs; expected ",
                                                   block_tokens.size()));
  }
  for (double v : mask.block_nll) {
    if (!std::isfinite(v)) {
      return absl::InvalidArgumentError(absl::StrCat(what, " has a non-finite block NLL"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckInputs(absl::Span<const int64_t> block_tokens, const MaskNll& baseline,
                         absl::Span<const MaskNll> masks, const BootstrapOptions& options) {
  if (absl::Status s = CheckOptions(options); !s.ok()) return s;
  if (block_tokens.empty()) return absl::InvalidArgumentError("no per-block results");
  for (int64_t t : block_tokens) {
    if (t < 1) return absl::InvalidArgumentError(absl::StrCat("a block has ", t, " tokens"));
  }
  if (absl::Status s = CheckMask(block_tokens, baseline, "baseline"); !s.ok()) return s;
  for (size_t m = 0; m < masks.size(); ++m) {
    if (absl::Status s = CheckMask(block_tokens, masks[m], absl::StrCat("mask ", m)); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

// Draws resample b's block counts into `counts` (size n, zeroed here).
void DrawCounts(SplitMix64& rng, std::vector<int64_t>& counts) {
  std::fill(counts.begin(), counts.end(), 0);
  const uint64_t n = counts.size();
  for (uint64_t i = 0; i < n; ++i) ++counts[rng.Uniform(n)];
}

// Percentile interval of column m of a row-major [B x width] matrix.
template <typename T>
Interval ColumnInterval(absl::Span<const T> matrix, size_t width, size_t m, double ci,
                        std::vector<double>& scratch) {
  scratch.clear();
  for (size_t i = m; i < matrix.size(); i += width) scratch.push_back(matrix[i]);
  return PercentileInterval(scratch, ci);
}

// The percentile interval (same k as PercentileInterval) of a statistic with values
// 1..width, given how many resamples took each value.
std::pair<int, int> HistogramInterval(const int* hist, size_t width,
                                      const BootstrapOptions& options) {
  const int64_t k = TailIndex(options.resamples, options.ci);
  int lo = 0, hi = 0;
  int64_t below = 0;
  for (size_t r = 0; r < width; ++r) {
    below += hist[r];
    if (lo == 0 && below >= k) lo = static_cast<int>(r) + 1;
    if (below >= options.resamples - k + 1) {
      hi = static_cast<int>(r) + 1;
      break;
    }
  }
  return {lo, hi};
}

}  // namespace

uint64_t SplitMix64::Next() {
  state_ += 0x9e3779b97f4a7c15ULL;
  uint64_t z = state_;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t SplitMix64::Uniform(uint64_t n) {
  const uint64_t threshold = (0 - n) % n;  // (2^64 - n) mod n = 2^64 mod n.
  while (true) {
    const uint64_t x = Next();
    if (x >= threshold) return x % n;
  }
}

absl::StatusOr<std::optional<BootstrapOptions>> ResolveBootstrap(double ci, int64_t bootstrap,
                                                                 uint64_t seed) {
  if (bootstrap == -1) return std::optional<BootstrapOptions>();
  BootstrapOptions options;
  if (ci != 0.0) options.ci = ci;
  if (bootstrap != 0) {
    if (bootstrap < -1 || bootstrap > kMaxResamples) {
      return absl::InvalidArgumentError(absl::StrCat(
          "bootstrap must be -1 (none), 0 (default) or 1..", kMaxResamples, ", got ", bootstrap));
    }
    options.resamples = static_cast<int>(bootstrap);
  }
  if (seed != 0) options.seed = seed;
  if (absl::Status s = CheckOptions(options); !s.ok()) return s;
  return std::optional<BootstrapOptions>(options);
}

Interval PercentileInterval(std::vector<double>& values, double ci) {
  const int64_t n = static_cast<int64_t>(values.size());
  const int64_t k = TailIndex(n, ci);
  std::nth_element(values.begin(), values.begin() + (k - 1), values.end());
  Interval out;
  out.lo = values[k - 1];
  std::nth_element(values.begin(), values.begin() + (n - k), values.end());
  out.hi = values[n - k];
  return out;
}

absl::StatusOr<std::vector<double>> ResampleRatios(absl::Span<const int64_t> block_tokens,
                                                   const MaskNll& baseline,
                                                   absl::Span<const MaskNll> masks,
                                                   const BootstrapOptions& options) {
  if (absl::Status s = CheckInputs(block_tokens, baseline, masks, options); !s.ok()) return s;
  const size_t n = block_tokens.size(), width = masks.size();
  std::vector<double> diff(n * width);  // diff[i * width + m] = nll_m,i - base_i
  for (size_t i = 0; i < n; ++i) {
    for (size_t m = 0; m < width; ++m) {
      diff[i * width + m] = masks[m].block_nll[i] - baseline.block_nll[i];
    }
  }
  std::vector<double> out(static_cast<size_t>(options.resamples) * width);
  std::vector<int64_t> counts(n);
  SplitMix64 rng(options.seed);
  for (int b = 0; b < options.resamples; ++b) {
    DrawCounts(rng, counts);
    int64_t tokens = 0;
    for (size_t i = 0; i < n; ++i) tokens += counts[i] * block_tokens[i];
    const double inv = 1.0 / static_cast<double>(tokens);
    double* row = &out[static_cast<size_t>(b) * width];  // sums over blocks in order i = 0..n-1
    for (size_t i = 0; i < n; ++i) {
      if (counts[i] == 0) continue;
      const double c = static_cast<double>(counts[i]);
      const double* d = &diff[i * width];
      for (size_t m = 0; m < width; ++m) row[m] += c * d[m];
    }
    for (size_t m = 0; m < width; ++m) row[m] = std::exp(row[m] * inv);
  }
  return out;
}

absl::StatusOr<std::vector<HeadInterval>> HeadIntervals(absl::Span<const int64_t> block_tokens,
                                                        const MaskNll& baseline,
                                                        absl::Span<const MaskNll> heads,
                                                        const BootstrapOptions& options) {
  if (heads.empty()) return absl::InvalidArgumentError("no heads");
  absl::StatusOr<std::vector<double>> ratios =
      ResampleRatios(block_tokens, baseline, heads, options);
  if (!ratios.ok()) return ratios.status();
  return HeadIntervalsFromRatios(*ratios, heads.size(), options);
}

absl::StatusOr<std::vector<HeadInterval>> HeadIntervalsFromRatios(absl::Span<const double> ratios,
                                                                  size_t n_heads,
                                                                  const BootstrapOptions& options) {
  if (n_heads == 0) return absl::InvalidArgumentError("no heads");
  if (ratios.size() != static_cast<size_t>(options.resamples) * n_heads) {
    return absl::InvalidArgumentError(absl::StrCat("expected ", options.resamples, " x ",
                                                   n_heads, " resampled ratios, got ",
                                                   ratios.size()));
  }
  const size_t width = n_heads;
  // Ranks within each resample (larger ratio first, ties by flat index), counted per head:
  // hist[m * width + r - 1] = resamples in which head m has rank r.
  std::vector<int> hist(width * width, 0);
  std::vector<std::pair<double, int>> order(width);  // (-ratio, index): ascending = rank order
  for (size_t b = 0; b * width < ratios.size(); ++b) {
    const double* row = &ratios[b * width];
    for (size_t m = 0; m < width; ++m) order[m] = {-row[m], static_cast<int>(m)};
    std::sort(order.begin(), order.end());
    for (size_t r = 0; r < width; ++r) ++hist[order[r].second * width + r];
  }
  std::vector<HeadInterval> out(width);
  std::vector<double> scratch;
  for (size_t m = 0; m < width; ++m) {
    const Interval ratio = ColumnInterval<double>(ratios, width, m, options.ci, scratch);
    const auto [rank_lo, rank_hi] = HistogramInterval(&hist[m * width], width, options);
    HeadInterval& h = out[m];
    h.delta_lo = ratio.lo - 1.0;
    h.delta_hi = ratio.hi - 1.0;
    h.significant = h.delta_lo > 0.0 || h.delta_hi < 0.0;
    h.rank_lo = rank_lo;
    h.rank_hi = rank_hi;
  }
  return out;
}

absl::StatusOr<CurveIntervals> CurveBand(absl::Span<const int64_t> block_tokens,
                                         const MaskNll& baseline,
                                         absl::Span<const MaskNll> points,
                                         absl::Span<const double> ratios,
                                         const BootstrapOptions& options) {
  if (points.empty()) return absl::InvalidArgumentError("cumulative curve has no points");
  std::vector<double> defaults;
  if (ratios.empty()) {
    defaults = DefaultRatios();
    ratios = defaults;
  }
  for (double r : ratios) {
    if (!std::isfinite(r) || r < 1.0) {
      return absl::InvalidArgumentError(absl::StrCat("ratio must be >= 1, got ", r));
    }
  }
  absl::StatusOr<std::vector<double>> curve =
      ResampleRatios(block_tokens, baseline, points, options);
  if (!curve.ok()) return curve.status();
  const size_t width = points.size();
  // Heads removable per resample and ratio: largest k with ratio_b(j) <= r for all 1 <= j <= k.
  std::vector<int> removable(static_cast<size_t>(options.resamples) * ratios.size());
  for (size_t b = 0; b < static_cast<size_t>(options.resamples); ++b) {
    const double* row = &(*curve)[b * width];
    for (size_t r = 0; r < ratios.size(); ++r) {
      size_t k = 0;
      while (k + 1 < width && row[k + 1] <= ratios[r]) ++k;
      removable[b * ratios.size() + r] = static_cast<int>(k);
    }
  }
  CurveIntervals out;
  std::vector<double> scratch;
  for (size_t m = 0; m < width; ++m) {
    out.ratio.push_back(ColumnInterval<double>(*curve, width, m, options.ci, scratch));
  }
  for (size_t r = 0; r < ratios.size(); ++r) {
    out.max_heads.push_back(
        ColumnInterval<int>(removable, ratios.size(), r, options.ci, scratch));
  }
  return out;
}

absl::Status CheckBlocks(absl::Span<const int64_t> block_tokens, const MaskNll& mask) {
  if (mask.block_nll.size() != block_tokens.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "block_nll has ", mask.block_nll.size(), " entries; expected ", block_tokens.size()));
  }
  double sum = 0.0;
  for (double v : mask.block_nll) {
    if (!std::isfinite(v)) return absl::InvalidArgumentError("block_nll has a non-finite value");
    sum += v;
  }
  const double tolerance = 1e-6 * std::max(1.0, std::abs(mask.nll_sum));
  if (!(std::abs(sum - mask.nll_sum) <= tolerance)) {
    return absl::InvalidArgumentError(absl::StrCat("block_nll sums to ", sum,
                                                   "; nll_sum is ", mask.nll_sum));
  }
  return absl::OkStatus();
}

}  // namespace ablate::analysis
