#pragma once
// Finite-sample-bias-aware estimators: KID, the unbiased squared MMD with the
// polynomial kernel k(x, y) = (xᵀy/d + 1)³ (Bińkowski et al. 2018), and FD∞, the Fréchet distance
// extrapolated to infinitely many samples from a linear fit in 1/n (Chong & Forsyth 2020).
//
// KID here is the full U-statistic over all pairs of the given sets,
//   MMD²_u = Σ_{i≠j} k(x_i, x_j)/(n(n−1)) + Σ_{i≠j} k(y_i, y_j)/(m(m−1))
//            − 2·Σ_{i,j} k(x_i, y_j)/(nm),
// not the average over random subsets of 1000 that the standard implementations compute: both are
// unbiased for the same MMD², this one has the lower variance and needs no random choice (so it is
// independent of how the samples were chunked). Memory stays bounded because every kernel sum is
// computed in row blocks of the kernel matrix (kKernelBlockRows rows at a time).
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "samplersearch/metrics/statistics.hpp"

namespace samplersearch {

// Rows of the kernel matrix held at once by the kernel sums.
inline constexpr int64_t kKernelBlockRows = 1024;

// k(x_i, y_j) = (x_iᵀy_j/d + 1)³ for all pairs: float64 [n, m] of x [n, d] and y [m, d].
at::Tensor polynomial_kernel(const at::Tensor& x, const at::Tensor& y);

// Σ_{i,j} k(x_i, y_j), in row blocks.
double kernel_sum(const at::Tensor& x, const at::Tensor& y);

// Σ_{i≠j} k(x_i, x_j) (the diagonal left out), over the upper triangle of blocks (half the work).
double kernel_sum_offdiagonal(const at::Tensor& x);

// MMD²_u of x [n, d] and y [m, d], n, m ≥ 2 (the formula above); may be slightly negative.
double kernel_inception_distance(const at::Tensor& x, const at::Tensor& y);

// The points and the least-squares line FD(n) = intercept + slope/n of an FD∞ evaluation.
struct FdInfinityFit {
  std::vector<int64_t> sizes;  // n_i, increasing
  std::vector<double> values;  // FD of the first n_i rows against the reference statistics
  double intercept = 0;        // FD∞: the line's value at 1/n = 0
  double slope = 0;            // the fitted bias coefficient c in FD(n) ≈ FD∞ + c/n
};

// Subset sizes n_i = round(n_min + i·(n − n_min)/(points − 1)), i = 0…points−1, with
// n_min = max(2, round(min_fraction·n)); duplicates dropped. ConfigError when fewer than two
// distinct sizes remain (too few samples).
std::vector<int64_t> fd_infinity_sizes(int64_t n, int64_t points, double min_fraction);

// FD of the first n_i rows of `features` [n, d] against `reference` at fd_infinity_sizes(n, …),
// and the ordinary least-squares line through (1/n_i, FD(n_i)).
FdInfinityFit fd_infinity(const at::Tensor& features, const Statistics& reference, int64_t points,
                          double min_fraction);

}  // namespace samplersearch
