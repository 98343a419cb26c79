#include "proto/analysis/correlation.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "absl/strings/str_cat.h"

namespace ablate::analysis {
namespace {

constexpr double kTiny = 1e-300;
constexpr double kEps = 1e-15;
constexpr int kMaxIterations = 10000;

// log Gamma(v) for v > 0, without touching the global `signgam` where the C library allows.
double LogGamma(double v) {
#if defined(__GLIBC__)
  int sign = 0;
  return ::lgamma_r(v, &sign);
#else
  return std::lgamma(v);
#endif
}

// 1 / (1 + d1 / (1 + d2 / (1 + ...))) for I_x(a, b), evaluated by the modified Lentz method.
// d_{2m+1} = -(a+m)(a+b+m)x / ((a+2m)(a+2m+1)),  d_{2m} = m(b-m)x / ((a+2m-1)(a+2m)).
double BetaContinuedFraction(double a, double b, double x) {
  double f = 1.0, c = 1.0, d = 0.0;
  for (int j = 1; j <= kMaxIterations; ++j) {
    const int m = j / 2;
    const double num =
        (j % 2 == 1) ? -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
                     : m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m));
    d = 1.0 + num * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1.0 + num / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    const double step = c * d;
    f *= step;
    if (std::fabs(step - 1.0) < kEps) break;
  }
  return 1.0 / f;
}

absl::Status CheckPair(absl::Span<const double> x, absl::Span<const double> y) {
  if (x.size() != y.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("correlation of series of different lengths: ", x.size(), " vs ", y.size()));
  }
  if (x.size() < 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("correlation needs at least 3 points, got ", x.size()));
  }
  for (size_t i = 0; i < x.size(); ++i) {
    if (!std::isfinite(x[i]) || !std::isfinite(y[i])) {
      return absl::InvalidArgumentError(absl::StrCat("correlation: value ", i, " is not finite"));
    }
  }
  return absl::OkStatus();
}

// p-value of a correlation coefficient r over n points.
double CorrelationP(double r, int n) {
  const double one_minus = 1.0 - r * r;
  if (one_minus <= 0.0) return 0.0;
  const double dof = n - 2;
  return StudentTTwoSidedP(r * std::sqrt(dof / one_minus), dof);
}

}  // namespace

absl::StatusOr<double> RegularizedIncompleteBeta(double a, double b, double x) {
  if (!(a > 0.0) || !(b > 0.0) || !(x >= 0.0 && x <= 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("incomplete beta: bad arguments a=", a, " b=", b, " x=", x));
  }
  if (x == 0.0 || x == 1.0) return x;
  const double log_front =
      a * std::log(x) + b * std::log1p(-x) - (LogGamma(a) + LogGamma(b) - LogGamma(a + b));
  if (x < (a + 1.0) / (a + b + 2.0)) {
    return std::exp(log_front) * BetaContinuedFraction(a, b, x) / a;
  }
  return 1.0 - std::exp(log_front) * BetaContinuedFraction(b, a, 1.0 - x) / b;
}

double StudentTTwoSidedP(double t, double dof) {
  if (std::isnan(t) || !(dof > 0.0)) return std::numeric_limits<double>::quiet_NaN();
  if (std::isinf(t)) return 0.0;
  absl::StatusOr<double> p = RegularizedIncompleteBeta(dof / 2.0, 0.5, dof / (dof + t * t));
  return p.ok() ? std::clamp(*p, 0.0, 1.0) : std::numeric_limits<double>::quiet_NaN();
}

std::vector<double> AverageRanks(absl::Span<const double> v) {
  std::vector<size_t> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> ranks(v.size());
  for (size_t i = 0; i < idx.size();) {
    size_t j = i;
    while (j + 1 < idx.size() && v[idx[j + 1]] == v[idx[i]]) ++j;
    const double avg = 0.5 * static_cast<double>(i + j) + 1.0;  // Mean of ranks i+1 .. j+1.
    for (size_t k = i; k <= j; ++k) ranks[idx[k]] = avg;
    i = j + 1;
  }
  return ranks;
}

absl::StatusOr<CorrelationResult> Pearson(absl::Span<const double> x,
                                          absl::Span<const double> y) {
  if (absl::Status s = CheckPair(x, y); !s.ok()) return s;
  const double n = static_cast<double>(x.size());
  const double mx = std::accumulate(x.begin(), x.end(), 0.0) / n;
  const double my = std::accumulate(y.begin(), y.end(), 0.0) / n;
  double sxx = 0.0, syy = 0.0, sxy = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
    sxy += (x[i] - mx) * (y[i] - my);
  }
  if (sxx == 0.0 || syy == 0.0) {
    return absl::InvalidArgumentError("correlation of a constant series is undefined");
  }
  CorrelationResult out;
  out.n = static_cast<int>(x.size());
  out.coefficient = std::clamp(sxy / std::sqrt(sxx * syy), -1.0, 1.0);
  out.p_value = CorrelationP(out.coefficient, out.n);
  return out;
}

absl::StatusOr<CorrelationResult> Spearman(absl::Span<const double> x,
                                           absl::Span<const double> y) {
  if (absl::Status s = CheckPair(x, y); !s.ok()) return s;
  const std::vector<double> rx = AverageRanks(x);
  const std::vector<double> ry = AverageRanks(y);
  return Pearson(rx, ry);
}

}  // namespace ablate::analysis
