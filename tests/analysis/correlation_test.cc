// Pearson / Spearman and the Student t p-values against closed forms derived by hand.
//
// Two-sided p of Student's t with v degrees of freedom is I_x(v/2, 1/2), x = v / (v + t^2).
// For integer n, I_y(1/2, n) = y^(1/2) * sum_{j<n} [(1/2)_j / j!] (1 - y)^j, so with
// I_x(n, 1/2) = 1 - I_{1-x}(1/2, n) and s = sqrt(1 - x) = |t| / sqrt(v + t^2):
//   v = 2: p = 1 - s
//   v = 4: p = 1 - s * (1 + x/2)
//   v = 8: p = 1 - s * (1 + x/2 + 3x^2/8 + 5x^3/16)
// For odd v the t distribution has arctangent forms (theta = atan(|t| / sqrt(v))):
//   v = 1 (Cauchy): p = 1 - (2/pi) * theta
//   v = 3:          p = 1 - (2/pi) * (theta + sin(theta) cos(theta))
#include "proto/analysis/correlation.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace ablate::analysis {
namespace {

constexpr double kPi = 3.14159265358979323846;

double TOf(double r, int n) { return r * std::sqrt(n - 2.0) / std::sqrt(1.0 - r * r); }

TEST(StudentTTest, ClosedFormsForSmallDof) {
  for (double t : {0.0, 0.3, 1.0, 1.8856, 4.0, 25.0, -2.5}) {
    const double at = std::fabs(t);
    const double th1 = std::atan(at), th3 = std::atan(at / std::sqrt(3.0));
    EXPECT_NEAR(StudentTTwoSidedP(t, 1), 1 - 2 / kPi * th1, 1e-13) << t;
    EXPECT_NEAR(StudentTTwoSidedP(t, 2), 1 - at / std::sqrt(t * t + 2), 1e-13) << t;
    EXPECT_NEAR(StudentTTwoSidedP(t, 3), 1 - 2 / kPi * (th3 + std::sin(th3) * std::cos(th3)),
                1e-13)
        << t;
    const double x4 = 4 / (4 + t * t);
    EXPECT_NEAR(StudentTTwoSidedP(t, 4), 1 - at / std::sqrt(4 + t * t) * (1 + x4 / 2), 1e-13)
        << t;
  }
  EXPECT_EQ(StudentTTwoSidedP(INFINITY, 5), 0.0);
  EXPECT_TRUE(std::isnan(StudentTTwoSidedP(1.0, 0)));
}

TEST(StudentTTest, TableValues) {
  // Two-sided 5% critical values from standard t tables: t(0.975; 10) = 2.228, t(0.975; 30)
  // = 2.042; the normal limit (v huge) gives 1.959964 -> 0.05.
  EXPECT_NEAR(StudentTTwoSidedP(2.228139, 10), 0.05, 2e-6);
  EXPECT_NEAR(StudentTTwoSidedP(2.042272, 30), 0.05, 2e-6);
  EXPECT_NEAR(StudentTTwoSidedP(1.959964, 1e9), 0.05, 1e-6);
}

TEST(IncompleteBetaTest, KnownValuesAndErrors) {
  // I_x(1, 1) = x; I_x(2, 2) = 3x^2 - 2x^3; I_x(a, 1) = x^a.
  EXPECT_NEAR(*RegularizedIncompleteBeta(1, 1, 0.3), 0.3, 1e-14);
  EXPECT_NEAR(*RegularizedIncompleteBeta(2, 2, 0.8), 3 * 0.64 - 2 * 0.512, 1e-14);
  EXPECT_NEAR(*RegularizedIncompleteBeta(7.5, 1, 0.9), std::pow(0.9, 7.5), 1e-14);
  EXPECT_EQ(*RegularizedIncompleteBeta(2, 3, 0.0), 0.0);
  EXPECT_EQ(*RegularizedIncompleteBeta(2, 3, 1.0), 1.0);
  EXPECT_FALSE(RegularizedIncompleteBeta(0, 1, 0.5).ok());
  EXPECT_FALSE(RegularizedIncompleteBeta(1, 1, 1.5).ok());
  EXPECT_FALSE(RegularizedIncompleteBeta(1, NAN, 0.5).ok());
}

TEST(PearsonTest, FourPoints) {
  // x = 1..4, y = 1,3,2,4: deviations (-1.5,-.5,.5,1.5) and (-1.5,.5,-.5,1.5),
  // sxy = 2.25 - .25 - .25 + 2.25 = 4, sxx = syy = 5 -> r = 0.8, t = 0.8 sqrt(2) / 0.6.
  const std::vector<double> x = {1, 2, 3, 4}, y = {1, 3, 2, 4};
  absl::StatusOr<CorrelationResult> c = Pearson(x, y);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->n, 4);
  EXPECT_NEAR(c->coefficient, 0.8, 1e-15);
  const double t = 0.8 * std::sqrt(2.0) / 0.6;
  EXPECT_NEAR(c->p_value, 1 - t / std::sqrt(t * t + 2), 1e-13);
  EXPECT_NEAR(c->p_value, 0.2, 1e-13);  // t^2 = 32/9, t / sqrt(t^2 + 2) = sqrt(32/50) = 0.8.
}

TEST(PearsonTest, HalfCorrelationTenPoints) {
  // x = (1,-1,0,...,0), y = (1,-1,a,-a,0,...,0), both mean 0: sxy = 2, sxx = 2,
  // syy = 2 + 2a^2, r = 1 / sqrt(1 + a^2) = 0.5 for a = sqrt(3).
  // t = 0.5 * sqrt(8) / sqrt(0.75) = sqrt(8/3); x = 8 / (8 + 8/3) = 3/4; s = 1/2;
  // p = 1 - (1/2)(1 + 3/8 + 27/128 + 135/1024) = 1 - 1759/2048 = 289/2048 (tables: 0.141).
  const double a = std::sqrt(3.0);
  const std::vector<double> x = {1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
  const std::vector<double> y = {1, -1, a, -a, 0, 0, 0, 0, 0, 0};
  absl::StatusOr<CorrelationResult> c = Pearson(x, y);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->n, 10);
  EXPECT_NEAR(c->coefficient, 0.5, 1e-15);
  EXPECT_NEAR(c->p_value, 289.0 / 2048.0, 1e-13);
  EXPECT_NEAR(StudentTTwoSidedP(TOf(0.5, 10), 8), 289.0 / 2048.0, 1e-13);
}

TEST(PearsonTest, PerfectAndErrors) {
  const std::vector<double> x = {1, 2, 3}, y = {6, 4, 2};
  absl::StatusOr<CorrelationResult> c = Pearson(x, y);
  ASSERT_TRUE(c.ok());
  EXPECT_NEAR(c->coefficient, -1.0, 1e-15);
  EXPECT_EQ(c->p_value, 0.0);
  EXPECT_FALSE(Pearson(std::vector<double>{1, 2}, std::vector<double>{1, 2}).ok());
  EXPECT_FALSE(Pearson(x, std::vector<double>{1, 2}).ok());
  EXPECT_FALSE(Pearson(x, std::vector<double>{5, 5, 5}).ok());
  EXPECT_FALSE(Pearson(x, std::vector<double>{1, NAN, 2}).ok());
}

TEST(SpearmanTest, AverageRanksForTies) {
  const std::vector<double> v = {3.0, 1.0, 3.0, 2.0, 3.0};
  const std::vector<double> want = {4.0, 1.0, 4.0, 2.0, 4.0};  // Ranks 3, 4, 5 -> 4.
  EXPECT_EQ(AverageRanks(v), want);
}

TEST(SpearmanTest, TiesFivePoints) {
  // x = 1,2,2,3,4 -> ranks 1, 2.5, 2.5, 4, 5; y = 2,1,4,3,5 -> ranks 2,1,4,3,5.
  // Rank deviations from 3: (-2,-.5,-.5,1,2) and (-1,-2,1,0,2): sxy = 2+1-.5+0+4 = 6.5,
  // sxx = 4+.25+.25+1+4 = 9.5, syy = 1+4+1+0+4 = 10 -> rho = 6.5 / sqrt(95); v = 3.
  const std::vector<double> x = {1, 2, 2, 3, 4}, y = {2, 1, 4, 3, 5};
  absl::StatusOr<CorrelationResult> c = Spearman(x, y);
  ASSERT_TRUE(c.ok()) << c.status();
  const double rho = 6.5 / std::sqrt(95.0);
  EXPECT_NEAR(c->coefficient, rho, 1e-15);
  const double th = std::atan(std::fabs(TOf(rho, 5)) / std::sqrt(3.0));
  EXPECT_NEAR(c->p_value, 1 - 2 / kPi * (th + std::sin(th) * std::cos(th)), 1e-13);
}

TEST(SpearmanTest, MonotoneIsOneAndConstantFails) {
  const std::vector<double> x = {1, 5, 9, 100}, y = {-3, 0, 1, 2};
  absl::StatusOr<CorrelationResult> c = Spearman(x, y);
  ASSERT_TRUE(c.ok());
  EXPECT_NEAR(c->coefficient, 1.0, 1e-15);
  EXPECT_EQ(c->p_value, 0.0);
  EXPECT_FALSE(Spearman(x, std::vector<double>{2, 2, 2, 2}).ok());
  EXPECT_FALSE(Spearman(std::vector<double>{1, 2}, std::vector<double>{2, 1}).ok());
}

TEST(SpearmanTest, SixPointsWithTiesBothSides) {
  // x = 1,1,2,3,3,3 -> ranks 1.5,1.5,3,5,5,5; y = 10,20,20,5,30,40 -> ranks 2,3.5,3.5,1,5,6.
  // Deviations from 3.5: (-2,-2,-.5,1.5,1.5,1.5) and (-1.5,0,0,-2.5,1.5,2.5):
  // sxy = 3+0+0-3.75+2.25+3.75 = 5.25; sxx = 4+4+.25+2.25*3 = 15; syy = 2.25+0+0+6.25+2.25+6.25
  // = 17 -> rho = 5.25 / sqrt(255); v = 4.
  const std::vector<double> x = {1, 1, 2, 3, 3, 3}, y = {10, 20, 20, 5, 30, 40};
  absl::StatusOr<CorrelationResult> c = Spearman(x, y);
  ASSERT_TRUE(c.ok());
  const double rho = 5.25 / std::sqrt(255.0);
  EXPECT_NEAR(c->coefficient, rho, 1e-15);
  const double t = TOf(rho, 6), x4 = 4 / (4 + t * t);
  EXPECT_NEAR(c->p_value, 1 - std::fabs(t) / std::sqrt(4 + t * t) * (1 + x4 / 2), 1e-13);
}

}  // namespace
}  // namespace ablate::analysis
