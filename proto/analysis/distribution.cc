#include "proto/analysis/distribution.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "absl/strings/str_cat.h"

namespace ablate::analysis {
namespace {

absl::Status CheckFinite(absl::Span<const HeadResult> heads) {
  for (const HeadResult& h : heads) {
    if (!std::isfinite(h.delta)) {
      return absl::InvalidArgumentError(
          absl::StrCat("delta of head ", h.layer, ".", h.head, " is not finite"));
    }
  }
  return absl::OkStatus();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// (layer, head) of a comes before b.
bool Before(const HeadResult& a, const HeadResult& b) {
  return a.layer != b.layer ? a.layer < b.layer : a.head < b.head;
}

}  // namespace

absl::StatusOr<ZipfFit> FitZipf(absl::Span<const double> deltas) {
  std::vector<double> mags;
  for (double d : deltas) {
    if (!std::isfinite(d)) return absl::InvalidArgumentError("Zipf fit: a delta is not finite");
    if (d != 0.0) mags.push_back(std::fabs(d));
  }
  const size_t n = mags.size();
  if (n < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("Zipf fit needs at least 2 nonzero deltas, got ", n));
  }
  std::sort(mags.begin(), mags.end(), std::greater<double>());
  double mean_x = 0.0, mean_y = 0.0;
  for (size_t i = 0; i < n; ++i) {
    mean_x += std::log(static_cast<double>(i + 1));
    mean_y += std::log(mags[i]);
  }
  mean_x /= n;
  mean_y /= n;
  double sxx = 0.0, sxy = 0.0, syy = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const double dx = std::log(static_cast<double>(i + 1)) - mean_x;
    const double dy = std::log(mags[i]) - mean_y;
    sxx += dx * dx;
    sxy += dx * dy;
    syy += dy * dy;
  }
  const double slope = sxy / sxx;
  const double intercept = mean_y - slope * mean_x;
  ZipfFit fit;
  fit.alpha = -slope;
  fit.c = std::exp(intercept);
  // Residual sum of squares of the least-squares line is syy - slope * sxy.
  fit.r2 = syy == 0.0 ? 1.0 : std::max(0.0, 1.0 - (syy - slope * sxy) / syy);
  fit.n_points = static_cast<int>(n);
  return fit;
}

absl::StatusOr<DistributionStats> ComputeDistribution(absl::Span<const HeadResult> heads) {
  if (heads.empty()) return absl::InvalidArgumentError("distribution of an empty head table");
  if (absl::Status s = CheckFinite(heads); !s.ok()) return s;
  DistributionStats st;
  st.n_heads = static_cast<int>(heads.size());
  std::vector<double> deltas;
  deltas.reserve(heads.size());
  const HeadResult* max = &heads[0];
  double sum = 0.0, sum_abs = 0.0;
  for (const HeadResult& h : heads) {
    deltas.push_back(h.delta);
    const double a = std::fabs(h.delta);
    st.under_1pct += a < 0.01;
    st.under_10pct += a < 0.10;
    st.improved += h.delta < 0.0;
    sum += h.delta;
    sum_abs += a;
    if (h.delta > max->delta || (h.delta == max->delta && Before(h, *max))) max = &h;
  }
  st.mean_delta = sum / st.n_heads;
  st.mean_abs_delta = sum_abs / st.n_heads;
  st.median_delta = Median(deltas);
  st.max_delta = max->delta;
  st.max_layer = max->layer;
  st.max_head = max->head;
  absl::StatusOr<ZipfFit> zipf = FitZipf(deltas);
  if (zipf.ok()) st.zipf = *zipf;
  return st;
}

absl::StatusOr<std::vector<LayerStats>> ComputeLayerStats(absl::Span<const HeadResult> heads,
                                                          int n_layer) {
  if (n_layer <= 0) return absl::InvalidArgumentError(absl::StrCat("bad n_layer ", n_layer));
  if (absl::Status s = CheckFinite(heads); !s.ok()) return s;
  std::vector<LayerStats> rows(n_layer);
  std::vector<int> count(n_layer, 0);
  for (const HeadResult& h : heads) {
    if (h.layer < 0 || h.layer >= n_layer) {
      return absl::InvalidArgumentError(
          absl::StrCat("head ", h.layer, ".", h.head, " outside ", n_layer, " layers"));
    }
    LayerStats& row = rows[h.layer];
    const bool better = count[h.layer] == 0 || h.delta > row.max_delta ||
                        (h.delta == row.max_delta && h.head < row.max_head);
    if (better) {
      row.max_delta = h.delta;
      row.max_head = h.head;
    }
    row.mean_delta += h.delta;
    ++count[h.layer];
  }
  for (int l = 0; l < n_layer; ++l) {
    if (count[l] == 0) return absl::InvalidArgumentError(absl::StrCat("layer ", l, " has no heads"));
    rows[l].layer = l;
    rows[l].mean_delta /= count[l];
  }
  return rows;
}

}  // namespace ablate::analysis
