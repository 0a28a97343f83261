#include "samplersearch/metrics/frechet.hpp"

#include <ATen/ATen.h>
#include <cblas.h>
#include <lapacke.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "samplersearch/common/check.hpp"
#include "samplersearch/common/error.hpp"

namespace samplersearch {
namespace {

// Relative asymmetry max|Σ − Σᵀ| / max|Σ| above which an input is rejected as not a covariance.
constexpr double kSymmetryTolerance = 1e-6;

std::string shape_text(const at::Tensor& t) {
  std::string out = "[";
  for (int64_t i = 0; i < t.dim(); ++i) out += (i ? ", " : "") + std::to_string(t.size(i));
  return out + "]";
}

std::string number_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// A covariance as a float64 CPU tensor, checked and symmetrized ((Σ + Σᵀ)/2).
at::Tensor checked_covariance(const at::Tensor& sigma, const std::string& field) {
  if (!sigma.defined() || sigma.dim() != 2 || sigma.size(0) != sigma.size(1) || sigma.size(0) == 0)
    throw ConfigError(field, "expected a square d x d matrix with d >= 1, got shape " +
                                 (sigma.defined() ? shape_text(sigma) : std::string("(none)")));
  if (!at::isFloatingType(sigma.scalar_type()))
    throw ConfigError(field, std::string("expected a floating-point matrix, got ") +
                                 c10::toString(sigma.scalar_type()));
  if (sigma.size(0) > std::numeric_limits<int>::max())
    throw ConfigError(field, "dimension " + std::to_string(sigma.size(0)) + " is too large");
  const at::Tensor s = sigma.to(at::kCPU, at::kDouble).contiguous();
  if (!at::isfinite(s).all().item<bool>()) throw NumericalError(field + ": contains NaN or Inf");
  const at::Tensor diag = s.diagonal();
  const double min_diag = diag.min().item<double>();
  if (min_diag < 0)
    throw ConfigError(field, "has a negative diagonal entry (" + number_text(min_diag) +
                                 "): not a covariance matrix");
  const double scale = s.abs().max().item<double>();
  const double asymmetry = (s - s.t()).abs().max().item<double>();
  if (asymmetry > kSymmetryTolerance * scale)
    throw ConfigError(field, "is not symmetric (max |S - S^T| = " + number_text(asymmetry) +
                                 ", max |S| = " + number_text(scale) + ")");
  return ((s + s.t()) * 0.5).contiguous();
}

// A mean vector as a float64 CPU tensor of length d.
at::Tensor checked_mean(const at::Tensor& mu, int64_t d, const std::string& field,
                        const std::string& sigma_field) {
  if (!mu.defined() || mu.dim() != 1 || mu.size(0) != d)
    throw ConfigError(field, "expected a vector of length " + std::to_string(d) + " (the size of " +
                                 sigma_field + "), got shape " +
                                 (mu.defined() ? shape_text(mu) : std::string("(none)")));
  if (!at::isFloatingType(mu.scalar_type()))
    throw ConfigError(field, std::string("expected a floating-point vector, got ") +
                                 c10::toString(mu.scalar_type()));
  const at::Tensor m = mu.to(at::kCPU, at::kDouble).contiguous();
  if (!at::isfinite(m).all().item<bool>()) throw NumericalError(field + ": contains NaN or Inf");
  return m;
}

void check_same_size(const at::Tensor& sigma1, const at::Tensor& sigma2) {
  if (sigma1.size(0) != sigma2.size(0))
    throw ConfigError("sigma2", "is " + std::to_string(sigma2.size(0)) + " x " +
                                    std::to_string(sigma2.size(0)) + " but sigma1 is " +
                                    std::to_string(sigma1.size(0)) + " x " +
                                    std::to_string(sigma1.size(0)) +
                                    ": the statistics have different feature dimensions");
}

// Σ = P L Lᵀ Pᵀ by pivoted Cholesky (LAPACK dpstrf), L d×d column-major lower triangular with
// its columns from `rank` on set to zero; (P L)[piv[k]] = L[k] (0-based piv).
//
// Why pivoted Cholesky: a covariance of n < d samples is singular (rank n − 1), which breaks a
// plain Cholesky. dpstrf picks the largest remaining pivot at each step and stops once every
// remaining diagonal entry is below LAPACK's tolerance d·ε·max Σ_ii; since the unfactored Schur
// complement is positive semidefinite, what is dropped is a PSD perturbation of Σ with all
// diagonal entries (hence its norm per entry) at the level of Σ's own rounding error. It costs
// the same d³/3 as a plain Cholesky, about 20× less than the eigendecomposition with vectors
// that the alternative (Σ₁ = VΛVᵀ, F = VΛ^{½}) needs, and its rank r shrinks the eigenproblem
// below to r×r. The trailing Schur complement that dpstrf leaves in place is discarded.
struct PivotedFactor {
  std::vector<double> l;
  std::vector<int> piv;
  int rank = 0;
};

PivotedFactor pivoted_cholesky(const at::Tensor& sigma) {
  const int d = static_cast<int>(sigma.size(0));
  PivotedFactor f;
  f.l.assign(sigma.data_ptr<double>(), sigma.data_ptr<double>() + static_cast<size_t>(d) * d);
  std::vector<lapack_int> piv(static_cast<size_t>(d));
  lapack_int rank = 0;
  const lapack_int info =
      LAPACKE_dpstrf(LAPACK_COL_MAJOR, 'L', d, f.l.data(), d, piv.data(), &rank, -1.0);
  SS_CHECK(info >= 0) << "LAPACK dpstrf rejected argument " << -info;
  f.rank = static_cast<int>(rank);
  f.piv.resize(static_cast<size_t>(d));
  for (int k = 0; k < d; ++k) f.piv[static_cast<size_t>(k)] = static_cast<int>(piv[k]) - 1;
  for (int j = 0; j < d; ++j) {
    double* col = f.l.data() + static_cast<size_t>(j) * d;
    const int keep_from = j < f.rank ? j : d;  // rows j.. of the first `rank` columns are L
    std::fill(col, col + keep_from, 0.0);
  }
  return f;
}

// Σ_i √max(λ_i, 0) over the eigenvalues λ of (F_bᵀF_s)ᵀ(F_bᵀF_s), F = P L, where s is the factor
// of smaller rank: those are the nonzero eigenvalues of Σ_s^{½} Σ_b Σ_s^{½}.
double trace_sqrt_from_factors(const PivotedFactor& small, const PivotedFactor& big, int d) {
  const int rs = small.rank;
  const int rb = big.rank;
  if (rs == 0 || rb == 0) return 0.0;
  // B = P_bᵀ P_s L_s (d×rs): row i of B is row piv_b[i] of P_s L_s, i.e. row k of L_s with
  // piv_s[k] = piv_b[i].
  std::vector<int> position(static_cast<size_t>(d));
  for (int k = 0; k < d; ++k) position[static_cast<size_t>(small.piv[static_cast<size_t>(k)])] = k;
  std::vector<double> b(static_cast<size_t>(d) * rs);
  for (int j = 0; j < rs; ++j) {
    const double* src = small.l.data() + static_cast<size_t>(j) * d;
    double* dst = b.data() + static_cast<size_t>(j) * d;
    for (int i = 0; i < d; ++i)
      dst[i] = src[position[static_cast<size_t>(big.piv[static_cast<size_t>(i)])]];
  }
  // A = L_bᵀ B restricted to its first rb rows (the rest are zero because L_b's columns from rb
  // on are): A = L_b[:rb,:rb]ᵀ B[:rb] + L_b[rb:,:rb]ᵀ B[rb:], computed in place in B[:rb].
  cblas_dtrmm(CblasColMajor, CblasLeft, CblasLower, CblasTrans, CblasNonUnit, rb, rs, 1.0,
              big.l.data(), d, b.data(), d);
  if (rb < d)
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, rb, rs, d - rb, 1.0, big.l.data() + rb, d,
                b.data() + rb, d, 1.0, b.data(), d);
  // M = AᵀA (rs×rs, lower triangle), then its eigenvalues only.
  std::vector<double> m(static_cast<size_t>(rs) * rs, 0.0);
  cblas_dsyrk(CblasColMajor, CblasLower, CblasTrans, rs, rb, 1.0, b.data(), d, 0.0, m.data(), rs);
  std::vector<double> eigenvalues(static_cast<size_t>(rs));
  // Eigenvalues only by the two-stage reduction (dense → band with BLAS-3, then band →
  // tridiagonal), measured 1.4× faster than dsyevd at 2048-d here; it supports only jobz = 'N',
  // which is all we need. Plain dsyevd if this LAPACK rejects it (an argument error returns
  // before M is touched).
  lapack_int info =
      LAPACKE_dsyevd_2stage(LAPACK_COL_MAJOR, 'N', 'L', rs, m.data(), rs, eigenvalues.data());
  if (info < 0)
    info = LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'N', 'L', rs, m.data(), rs, eigenvalues.data());
  if (info != 0)
    throw NumericalError("Frechet distance: LAPACK dsyevd failed (info = " + std::to_string(info) +
                         ")");
  double sum = 0.0;
  for (const double lambda : eigenvalues) sum += std::sqrt(std::max(lambda, 0.0));
  return sum;
}

// Tr √(Σ₁^{½}Σ₂Σ₁^{½}) of checked float64 matrices, with the two numerical ranks.
double trace_sqrt_checked(const at::Tensor& s1, const at::Tensor& s2, int64_t& rank1,
                          int64_t& rank2) {
  const int d = static_cast<int>(s1.size(0));
  const PivotedFactor f1 = pivoted_cholesky(s1);
  const PivotedFactor f2 = pivoted_cholesky(s2);
  rank1 = f1.rank;
  rank2 = f2.rank;
  const double value =
      f1.rank <= f2.rank ? trace_sqrt_from_factors(f1, f2, d) : trace_sqrt_from_factors(f2, f1, d);
  if (!std::isfinite(value)) throw NumericalError("Frechet distance: Tr sqrt(...) is not finite");
  return value;
}

}  // namespace

double trace_sqrt_product(const at::Tensor& sigma1, const at::Tensor& sigma2) {
  const at::Tensor s1 = checked_covariance(sigma1, "sigma1");
  const at::Tensor s2 = checked_covariance(sigma2, "sigma2");
  check_same_size(s1, s2);
  int64_t rank1 = 0;
  int64_t rank2 = 0;
  return trace_sqrt_checked(s1, s2, rank1, rank2);
}

FrechetTerms frechet_terms(const at::Tensor& mu1, const at::Tensor& sigma1, const at::Tensor& mu2,
                           const at::Tensor& sigma2) {
  const at::Tensor s1 = checked_covariance(sigma1, "sigma1");
  const at::Tensor s2 = checked_covariance(sigma2, "sigma2");
  check_same_size(s1, s2);
  const int64_t d = s1.size(0);
  const at::Tensor m1 = checked_mean(mu1, d, "mu1", "sigma1");
  const at::Tensor m2 = checked_mean(mu2, d, "mu2", "sigma2");
  FrechetTerms terms;
  terms.mean_term = (m1 - m2).square().sum().item<double>();
  terms.trace1 = s1.trace().item<double>();
  terms.trace2 = s2.trace().item<double>();
  terms.trace_sqrt = trace_sqrt_checked(s1, s2, terms.rank1, terms.rank2);
  return terms;
}

double frechet_distance(const at::Tensor& mu1, const at::Tensor& sigma1, const at::Tensor& mu2,
                        const at::Tensor& sigma2) {
  return frechet_terms(mu1, sigma1, mu2, sigma2).value();
}

double frechet_distance(const Statistics& a, const Statistics& b) {
  return frechet_distance(a.mu, a.sigma, b.mu, b.sigma);
}

}  // namespace samplersearch
