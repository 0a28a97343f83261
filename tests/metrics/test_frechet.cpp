// The Fréchet distance (metrics/frechet.cpp) against closed forms: diagonal and commuting
// covariances, the 2×2 formula, rank-one covariances, identical inputs, and the input errors.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "samplersearch/common/error.hpp"
#include "samplersearch/metrics/frechet.hpp"
#include "statistics_test_support.hpp"

namespace samplersearch {
namespace {

using testing_support::relative_error;

// Closed forms against LAPACK on well-conditioned O(1) matrices: rounding of an eigensolver
// (a few ε·‖Σ‖ per eigenvalue, summed over d ≤ 64).
constexpr double kClosedFormTol = 1e-11;
// A rank-deficient closed form: the dropped null space contributes √(ε·‖Σ‖) at most per
// direction (the rank cut keeps only rounding-sized remainders).
constexpr double kRankDeficientTol = 1e-7;
// FD(a, a) relative to Tr Σ: the product's eigenvalues are Σ's squared eigenvalues, so the
// square roots carry a relative rounding of a few ε each.
constexpr double kSelfDistanceTol = 1e-12;

// A random orthogonal d×d matrix (QR of a Gaussian matrix).
at::Tensor random_rotation(int64_t d, uint64_t seed) {
  at::manual_seed(seed);
  return std::get<0>(at::linalg_qr(at::randn({d, d}, at::kDouble)));
}

at::Tensor random_covariance(int64_t d, int64_t n, uint64_t seed) {
  at::manual_seed(seed);
  const at::Tensor x = at::randn({n, d}, at::kDouble);
  const at::Tensor c = x - x.mean(0);
  return c.t().mm(c) / static_cast<double>(n - 1);
}

TEST(Frechet, DiagonalCovariances) {
  // Commuting diagonal Σ's: Tr √(Σ₁^{½}Σ₂Σ₁^{½}) = Σ √(a_i b_i), so
  // FD = ‖μ₁ − μ₂‖² + Σ (√a_i − √b_i)².
  const at::Tensor a = at::tensor({1.0, 4.0, 0.25, 9.0, 2.0}, at::kDouble);
  const at::Tensor b = at::tensor({4.0, 1.0, 0.25, 16.0, 0.5}, at::kDouble);
  const at::Tensor mu1 = at::tensor({0.0, 1.0, 2.0, 3.0, 4.0}, at::kDouble);
  const at::Tensor mu2 = at::tensor({1.0, 1.0, 0.0, 3.0, 4.5}, at::kDouble);
  // ‖Δμ‖² = 1 + 0 + 4 + 0 + 0.25 = 5.25; (√a − √b)² = 1 + 1 + 0 + 1 + (√2 − √½)² = 3.5.
  const double expected = 5.25 + 3.5;
  EXPECT_LE(relative_error(frechet_distance(mu1, at::diag(a), mu2, at::diag(b)), expected),
            kClosedFormTol);
  const FrechetTerms t = frechet_terms(mu1, at::diag(a), mu2, at::diag(b));
  EXPECT_DOUBLE_EQ(t.mean_term, 5.25);
  EXPECT_DOUBLE_EQ(t.trace1, 16.25);
  EXPECT_DOUBLE_EQ(t.trace2, 21.75);
  EXPECT_EQ(t.rank1, 5);
  EXPECT_EQ(t.rank2, 5);
}

TEST(Frechet, OneDimension) {
  // d = 1: FD = (μ₁ − μ₂)² + (s₁ − s₂)² with s the standard deviations: (1 − 4)² + (2 − 3)² = 10.
  const double fd =
      frechet_distance(at::tensor({1.0}, at::kDouble), at::full({1, 1}, 4.0, at::kDouble),
                       at::tensor({4.0}, at::kDouble), at::full({1, 1}, 9.0, at::kDouble));
  EXPECT_LE(relative_error(fd, 10.0), kClosedFormTol);
}

TEST(Frechet, CommutingCovariances) {
  // Σ₁ = Q diag(a) Qᵀ, Σ₂ = Q diag(b) Qᵀ share eigenvectors: Tr √(…) = Σ √(a_i b_i).
  const int64_t d = 48;
  const at::Tensor q = random_rotation(d, 1);
  const at::Tensor a = at::linspace(0.1, 5.0, d, at::kDouble);
  const at::Tensor b = at::linspace(3.0, 0.02, d, at::kDouble);
  const at::Tensor s1 = q.mm(at::diag(a)).mm(q.t());
  const at::Tensor s2 = q.mm(at::diag(b)).mm(q.t());
  const at::Tensor sym1 = (s1 + s1.t()) / 2;
  const at::Tensor sym2 = (s2 + s2.t()) / 2;
  const double expected = (a * b).sqrt().sum().item<double>();
  EXPECT_LE(relative_error(trace_sqrt_product(sym1, sym2), expected), kClosedFormTol);
  EXPECT_LE(relative_error(trace_sqrt_product(sym2, sym1), expected), kClosedFormTol);
}

TEST(Frechet, TwoByTwoClosedForm) {
  // For a 2×2 PSD M, Tr √M = √(Tr M + 2√det M); with M = Σ₁^{½}Σ₂Σ₁^{½}:
  // Tr M = Tr(Σ₁Σ₂), det M = det Σ₁ · det Σ₂. Σ₁ = [[2,1],[1,1]], Σ₂ = [[1,−0.5],[−0.5,3]]:
  // Tr(Σ₁Σ₂) = 2 − 0.5 − 0.5 + 3 = 4, det Σ₁ = 1, det Σ₂ = 2.75, so Tr √M = √(4 + 2√2.75).
  const at::Tensor s1 = at::tensor({2.0, 1.0, 1.0, 1.0}, at::kDouble).reshape({2, 2});
  const at::Tensor s2 = at::tensor({1.0, -0.5, -0.5, 3.0}, at::kDouble).reshape({2, 2});
  const double trace_sqrt = std::sqrt(4.0 + 2.0 * std::sqrt(2.75));
  EXPECT_LE(relative_error(trace_sqrt_product(s1, s2), trace_sqrt), kClosedFormTol);
  const at::Tensor mu1 = at::tensor({1.0, 2.0}, at::kDouble);
  const at::Tensor mu2 = at::tensor({-1.0, 2.5}, at::kDouble);
  const double expected = 4.25 + 3.0 + 4.0 - 2.0 * trace_sqrt;
  EXPECT_LE(relative_error(frechet_distance(mu1, s1, mu2, s2), expected), kClosedFormTol);
  // Float32 inputs are accepted and promoted.
  EXPECT_LE(
      relative_error(frechet_distance(mu1.to(at::kFloat), s1.to(at::kFloat), mu2, s2), expected),
      kClosedFormTol);
}

TEST(Frechet, RankOneCovariances) {
  // Σ₁ = uuᵀ: Σ₁^{½}Σ₂Σ₁^{½} = (uᵀΣ₂u/‖u‖²)·uuᵀ, so Tr √(…) = √(uᵀΣ₂u).
  // Σ₁ = uuᵀ, Σ₂ = vvᵀ: Tr √(…) = |uᵀv|.
  const int64_t d = 64;
  at::manual_seed(5);
  const at::Tensor u = at::randn({d, 1}, at::kDouble);
  const at::Tensor v = at::randn({d, 1}, at::kDouble);
  const at::Tensor full = random_covariance(d, 500, 9);
  const at::Tensor uu = u.mm(u.t());
  const at::Tensor vv = v.mm(v.t());
  EXPECT_LE(
      relative_error(trace_sqrt_product(uu, full), std::sqrt(u.t().mm(full).mm(u).item<double>())),
      kRankDeficientTol);
  EXPECT_LE(
      relative_error(trace_sqrt_product(full, uu), std::sqrt(u.t().mm(full).mm(u).item<double>())),
      kRankDeficientTol);
  EXPECT_LE(relative_error(trace_sqrt_product(uu, vv), std::abs(u.t().mm(v).item<double>())),
            kRankDeficientTol);
  const FrechetTerms t =
      frechet_terms(at::zeros({d}, at::kDouble), uu, at::zeros({d}, at::kDouble), full);
  EXPECT_EQ(t.rank1, 1);
  EXPECT_EQ(t.rank2, d);
  // A zero covariance: FD = ‖Δμ‖² + Tr Σ₂.
  const at::Tensor mu = at::ones({d}, at::kDouble);
  EXPECT_LE(relative_error(frechet_distance(mu, at::zeros({d, d}, at::kDouble), mu * 3, full),
                           4.0 * d + full.trace().item<double>()),
            kClosedFormTol);
}

TEST(Frechet, PivotBelowTheRankToleranceTakesTheRankCut) {
  // Σ₁ = diag(a) with a_d = 1e-20: plain Cholesky succeeds, but its last pivot is below
  // d·ε·max Σ_ii ≈ 1.4e-14, so Σ₁ counts as of rank d − 1 and the pivoted route drops that
  // direction, whose term √(a_d b_d) ≈ 1e-10 is below kClosedFormTol relative to the sum.
  const int64_t d = 64;
  at::Tensor a = at::linspace(0.5, 2.0, d, at::kDouble);
  a[d - 1] = 1e-20;
  const at::Tensor b = at::linspace(3.0, 0.25, d, at::kDouble);
  const FrechetTerms t = frechet_terms(at::zeros({d}, at::kDouble), at::diag(a),
                                       at::zeros({d}, at::kDouble), at::diag(b));
  EXPECT_EQ(t.rank1, d - 1);
  EXPECT_EQ(t.rank2, d);
  EXPECT_LE(relative_error(t.trace_sqrt, (a * b).sqrt().sum().item<double>()), kClosedFormTol);
  // With a_d = 1e-10 (above the tolerance) both are of full rank and the term is kept.
  a[d - 1] = 1e-10;
  const FrechetTerms full = frechet_terms(at::zeros({d}, at::kDouble), at::diag(a),
                                          at::zeros({d}, at::kDouble), at::diag(b));
  EXPECT_EQ(full.rank1, d);
  EXPECT_EQ(full.rank2, d);
  EXPECT_LE(relative_error(full.trace_sqrt, (a * b).sqrt().sum().item<double>()), kClosedFormTol);
}

TEST(Frechet, DistanceToItselfIsZeroAndOrderDoesNotMatter) {
  const int64_t d = 64;
  const at::Tensor mu = at::randn({d}, at::kDouble);
  for (const int64_t n : {1000, 20}) {  // full rank and rank 19
    const at::Tensor s = random_covariance(d, n, static_cast<uint64_t>(n));
    const double trace = s.trace().item<double>();
    EXPECT_LE(std::abs(frechet_distance(mu, s, mu, s)) / trace, kSelfDistanceTol) << "n = " << n;
    const at::Tensor other = random_covariance(d, 300, 77);
    const double ab = frechet_distance(mu, s, mu * 0.5, other);
    const double ba = frechet_distance(mu * 0.5, other, mu, s);
    EXPECT_LE(relative_error(ab, ba), kSelfDistanceTol) << "n = " << n;
  }
}

// Runs `body`, which must throw E with exactly `message`.
template <class E, class F>
void expect_error(F body, const std::string& message) {
  try {
    body();
    ADD_FAILURE() << "expected an error: " << message;
  } catch (const E& e) {
    EXPECT_EQ(std::string(e.what()), message);
  }
}

TEST(Frechet, BadInputs) {
  const at::Tensor mu3 = at::zeros({3}, at::kDouble);
  const at::Tensor eye3 = at::eye(3, at::kDouble);
  expect_error<ConfigError>(
      [&] {
        frechet_distance(mu3, at::zeros({3, 4}, at::kDouble), mu3, eye3);
      },
      "sigma1: expected a square d x d matrix with d >= 1, got shape [3, 4]");
  expect_error<ConfigError>(
      [&] { frechet_distance(mu3, eye3, at::zeros({4}, at::kDouble), at::eye(4, at::kDouble)); },
      "sigma2: is 4 x 4 but sigma1 is 3 x 3: the statistics have different feature dimensions");
  expect_error<ConfigError>(
      [&] { frechet_distance(at::zeros({2}, at::kDouble), eye3, mu3, eye3); },
      "mu1: expected a vector of length 3 (the size of sigma1), got shape [2]");
  at::Tensor nan_sigma = eye3.clone();
  nan_sigma[0][2] = std::nan("");
  expect_error<NumericalError>([&] { frechet_distance(mu3, eye3, mu3, nan_sigma); },
                               "sigma2: contains NaN or Inf");
  at::Tensor inf_mu = mu3.clone();
  inf_mu[1] = INFINITY;
  expect_error<NumericalError>([&] { frechet_distance(mu3, eye3, inf_mu, eye3); },
                               "mu2: contains NaN or Inf");
  at::Tensor skew = eye3.clone();
  skew[0][1] = 0.5;
  expect_error<ConfigError>([&] { frechet_distance(mu3, skew, mu3, eye3); },
                            "sigma1: is not symmetric (max |S - S^T| = 0.5, max |S| = 1)");
  expect_error<ConfigError>([&] { trace_sqrt_product(eye3, -eye3); },
                            "sigma2: has a negative diagonal entry (-1): not a covariance matrix");
  expect_error<ConfigError>([&] { trace_sqrt_product(at::eye(3, at::kLong), eye3); },
                            "sigma1: expected a floating-point matrix, got Long");
}

}  // namespace
}  // namespace samplersearch
