// Correlation of two series (e.g. per-layer mean delta vs. a user's per-layer series):
// Pearson r and Spearman rho, each with a two-sided p-value from Student's t with n - 2
// degrees of freedom (DESIGN.md section 2). Pure functions; thread-safe.
#ifndef ABLATE_PROTO_ANALYSIS_CORRELATION_H_
#define ABLATE_PROTO_ANALYSIS_CORRELATION_H_

#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace ablate::analysis {

struct CorrelationResult {
  int n = 0;
  double coefficient = 0.0;  // r or rho, in [-1, 1].
  double p_value = 1.0;      // Two-sided; 0 when |coefficient| == 1.
};

// Pearson's r of x and y; p from t = r * sqrt((n - 2) / (1 - r^2)).
// Errors: size mismatch, n < 3, a non-finite value, a constant series.
absl::StatusOr<CorrelationResult> Pearson(absl::Span<const double> x, absl::Span<const double> y);

// Spearman's rho: Pearson's r of the average ranks (ties share the mean of their ranks);
// p as for Pearson (the t approximation). Errors: as Pearson (constant = all values tied).
absl::StatusOr<CorrelationResult> Spearman(absl::Span<const double> x,
                                           absl::Span<const double> y);

// 1-based ranks; equal values get the average of the ranks they span. NaN-free input.
std::vector<double> AverageRanks(absl::Span<const double> v);

// Regularized incomplete beta function I_x(a, b), by its continued fraction (modified
// Lentz), using the symmetry I_x(a, b) = 1 - I_{1-x}(b, a) where that converges faster.
// Relative accuracy about 1e-14. Errors: a <= 0, b <= 0, x outside [0, 1], NaN.
absl::StatusOr<double> RegularizedIncompleteBeta(double a, double b, double x);

// Two-sided p-value P(|T| >= |t|) of Student's t with `dof` > 0 degrees of freedom:
// I_{dof / (dof + t^2)}(dof / 2, 1 / 2). Returns 0 for infinite t, NaN for bad input.
double StudentTTwoSidedP(double t, double dof);

}  // namespace ablate::analysis

#endif  // ABLATE_PROTO_ANALYSIS_CORRELATION_H_
