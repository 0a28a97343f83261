#pragma once
// The Fréchet distance between two Gaussians (docs/equations.md §6), in double precision:
//   FD = ‖μ₁ − μ₂‖² + Tr Σ₁ + Tr Σ₂ − 2·Tr √(Σ₁^{½} Σ₂ Σ₁^{½}),
// computed by a symmetric route with LAPACK (no general-matrix sqrtm, no eigenvectors): pivoted
// Cholesky factors Σ₁ = F₁F₁ᵀ, Σ₂ = F₂F₂ᵀ with rank cuts, then Tr √(…) = Σ_i √λ_i where λ_i are
// the eigenvalues of the small symmetric matrix (F₂ᵀF₁)ᵀ(F₂ᵀF₁) — the nonzero eigenvalues of
// Σ₁^{½}Σ₂Σ₁^{½}. Sound for singular covariances (fewer samples than dimensions).
#include <ATen/core/Tensor.h>

#include <cstdint>

#include "samplersearch/metrics/statistics.hpp"

namespace samplersearch {

// The terms of the distance, for diagnostics; value() is the distance.
struct FrechetTerms {
  double mean_term = 0;   // ‖μ₁ − μ₂‖²
  double trace1 = 0;      // Tr Σ₁
  double trace2 = 0;      // Tr Σ₂
  double trace_sqrt = 0;  // Tr √(Σ₁^{½} Σ₂ Σ₁^{½})
  int64_t rank1 = 0;  // numerical ranks of Σ₁ and Σ₂ (pivoted Cholesky with LAPACK's tolerance)
  int64_t rank2 = 0;
  // ‖μ₁ − μ₂‖² + Tr Σ₁ + Tr Σ₂ − 2·Tr √(Σ₁^{½} Σ₂ Σ₁^{½}); may be a rounding error below 0.
  double value() const { return mean_term + trace1 + trace2 - 2.0 * trace_sqrt; }
};

// Tr √(Σ₁^{½} Σ₂ Σ₁^{½}) of two symmetric positive semidefinite d×d matrices (any float dtype).
// ConfigError on a non-square, mismatched, non-symmetric or negative-diagonal input;
// NumericalError on NaN/Inf or a LAPACK failure.
double trace_sqrt_product(const at::Tensor& sigma1, const at::Tensor& sigma2);

// Every term of the distance; inputs checked as in trace_sqrt_product, plus μ's length.
FrechetTerms frechet_terms(const at::Tensor& mu1, const at::Tensor& sigma1, const at::Tensor& mu2,
                           const at::Tensor& sigma2);

// FD = ‖μ₁ − μ₂‖² + Tr Σ₁ + Tr Σ₂ − 2·Tr √(Σ₁^{½} Σ₂ Σ₁^{½}).
double frechet_distance(const at::Tensor& mu1, const at::Tensor& sigma1, const at::Tensor& mu2,
                        const at::Tensor& sigma2);

// FD between two statistics (their mu and sigma).
double frechet_distance(const Statistics& a, const Statistics& b);

}  // namespace samplersearch
