// KID (unbiased MMD², polynomial kernel) and FD∞ (Fréchet distance extrapolated in 1/n).
#include "samplersearch/metrics/bias.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "samplersearch/common/check.hpp"
#include "samplersearch/common/error.hpp"
#include "samplersearch/metrics/frechet.hpp"

namespace samplersearch {
namespace {

// Columns of the kernel matrix held at once (with kKernelBlockRows rows: 32 MB of float64).
constexpr int64_t kKernelBlockCols = 4096;

at::Tensor as_features(const at::Tensor& x, const char* what) {
  if (!x.defined() || x.dim() != 2) throw ConfigError(what, "features must be a 2-D tensor [n, d]");
  return x.to(at::kCPU, at::kDouble).contiguous();
}

void check_same_dim(const at::Tensor& x, const at::Tensor& y) {
  if (x.size(1) != y.size(1))
    throw ConfigError("features", "dimensions differ: " + std::to_string(x.size(1)) + " vs " +
                                      std::to_string(y.size(1)));
}

// Σ of the kernel block of rows x and columns y (both float64, contiguous).
double block_sum(const at::Tensor& x, const at::Tensor& y) {
  return polynomial_kernel(x, y).sum().item<double>();
}

}  // namespace

at::Tensor polynomial_kernel(const at::Tensor& x, const at::Tensor& y) {
  const at::Tensor a = as_features(x, "x");
  const at::Tensor b = as_features(y, "y");
  check_same_dim(a, b);
  const double d = static_cast<double>(a.size(1));
  return at::addmm(at::ones({1}, at::kDouble), a, b.t(), /*beta=*/1.0, /*alpha=*/1.0 / d).pow_(3);
}

double kernel_sum(const at::Tensor& x, const at::Tensor& y) {
  const at::Tensor a = as_features(x, "x");
  const at::Tensor b = as_features(y, "y");
  check_same_dim(a, b);
  double total = 0;
  for (int64_t i = 0; i < a.size(0); i += kKernelBlockRows)
    for (int64_t j = 0; j < b.size(0); j += kKernelBlockCols)
      total += block_sum(a.slice(0, i, i + kKernelBlockRows), b.slice(0, j, j + kKernelBlockCols));
  return total;
}

double kernel_sum_offdiagonal(const at::Tensor& x) {
  const at::Tensor a = as_features(x, "x");
  const int64_t n = a.size(0);
  double total = 0;
  for (int64_t i = 0; i < n; i += kKernelBlockRows) {
    const at::Tensor rows = a.slice(0, i, i + kKernelBlockRows);
    // The diagonal block without its diagonal, then the blocks right of it counted twice.
    const at::Tensor diagonal_block = polynomial_kernel(rows, rows);
    total += diagonal_block.sum().item<double>() - diagonal_block.diagonal().sum().item<double>();
    for (int64_t j = i + kKernelBlockRows; j < n; j += kKernelBlockCols)
      total += 2.0 * block_sum(rows, a.slice(0, j, j + kKernelBlockCols));
  }
  return total;
}

double kernel_inception_distance(const at::Tensor& x, const at::Tensor& y) {
  const at::Tensor a = as_features(x, "x");
  const at::Tensor b = as_features(y, "y");
  check_same_dim(a, b);
  const auto n = static_cast<double>(a.size(0));
  const auto m = static_cast<double>(b.size(0));
  if (a.size(0) < 2 || b.size(0) < 2)
    throw ConfigError("features", "KID needs at least 2 samples in each set");
  const double value = kernel_sum_offdiagonal(a) / (n * (n - 1)) +
                       kernel_sum_offdiagonal(b) / (m * (m - 1)) - 2.0 * kernel_sum(a, b) / (n * m);
  if (!std::isfinite(value)) throw NumericalError("KID is not finite (NaN/Inf in the features)");
  return value;
}

std::vector<int64_t> fd_infinity_sizes(int64_t n, int64_t points, double min_fraction) {
  if (points < 2) throw ConfigError("points", "must be at least 2");
  if (!(min_fraction > 0 && min_fraction < 1))
    throw ConfigError("min_fraction", "must lie in (0, 1)");
  const int64_t n_min = std::max<int64_t>(2, std::llround(min_fraction * static_cast<double>(n)));
  std::vector<int64_t> sizes;
  for (int64_t i = 0; i < points; ++i) {
    const double t = static_cast<double>(i) / static_cast<double>(points - 1);
    const int64_t size =
        std::llround(static_cast<double>(n_min) + t * static_cast<double>(n - n_min));
    if (size >= 2 && size <= n && (sizes.empty() || size > sizes.back())) sizes.push_back(size);
  }
  if (sizes.size() < 2)
    throw ConfigError("fd_inf", "needs at least 2 distinct subset sizes, but " + std::to_string(n) +
                                    " samples give " + std::to_string(sizes.size()));
  return sizes;
}

FdInfinityFit fd_infinity(const at::Tensor& features, const Statistics& reference, int64_t points,
                          double min_fraction) {
  const at::Tensor x = as_features(features, "features");
  FdInfinityFit fit;
  fit.sizes = fd_infinity_sizes(x.size(0), points, min_fraction);
  // Nested prefixes: the statistics of the first n_i rows grow segment by segment.
  RunningStats stats(x.size(1));
  int64_t done = 0;
  for (const int64_t size : fit.sizes) {
    stats.add(x.slice(0, done, size));
    done = size;
    fit.values.push_back(frechet_distance(stats.statistics(), reference));
  }
  // Ordinary least squares of FD on 1/n.
  const auto k = static_cast<double>(fit.sizes.size());
  double mean_x = 0;
  double mean_y = 0;
  for (size_t i = 0; i < fit.sizes.size(); ++i) {
    mean_x += 1.0 / static_cast<double>(fit.sizes[i]) / k;
    mean_y += fit.values[i] / k;
  }
  double sxy = 0;
  double sxx = 0;
  for (size_t i = 0; i < fit.sizes.size(); ++i) {
    const double dx = 1.0 / static_cast<double>(fit.sizes[i]) - mean_x;
    sxy += dx * (fit.values[i] - mean_y);
    sxx += dx * dx;
  }
  SS_CHECK(sxx > 0) << "distinct sizes give distinct 1/n";
  fit.slope = sxy / sxx;
  fit.intercept = mean_y - fit.slope * mean_x;
  if (!std::isfinite(fit.intercept)) throw NumericalError("FD-infinity is not finite");
  return fit;
}

}  // namespace samplersearch
