#pragma once
// The Fréchet distance between two Gaussians (docs/equations.md §6), in double precision:
//   FD = ‖μ₁ − μ₂‖² + Tr Σ₁ + Tr Σ₂ − 2·Tr √(Σ₁^{½} Σ₂ Σ₁^{½}),
// computed by symmetric routes with LAPACK (no general-matrix sqrtm, no eigenvectors), Tr √(…)
// being Σ_i √λ_i over the eigenvalues of one symmetric matrix similar to Σ₁Σ₂:
//  - both of full rank (plain Cholesky Σ₁ = L₁L₁ᵀ succeeds with every pivot above the rank
//    tolerance below; FID with more samples than features): M = L₁ᵀΣ₂L₁;
//  - otherwise pivoted Cholesky factors Σ₁ = F₁F₁ᵀ, Σ₂ = F₂F₂ᵀ with rank cuts (LAPACK's tolerance
//    d·ε·max Σ_ii) and M = (F₂ᵀF₁)ᵀ(F₂ᵀF₁), of the smaller rank: the nonzero eigenvalues of
//    Σ₁^{½}Σ₂Σ₁^{½}. Sound for singular covariances (fewer samples than dimensions).
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
  int64_t rank1 = 0;  // numerical ranks of Σ₁ and Σ₂ (d, or pivoted Cholesky's with its tolerance)
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
