// KID and FD∞ (metrics/bias.cpp): the unbiased MMD² against a NumPy computation of the same
// estimator, blocked kernel sums against the whole kernel matrix, FD∞'s sizes and least-squares
// line by hand, and FD∞ on Gaussian samples where the 1/n bias of the Fréchet distance is known.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "samplersearch/common/error.hpp"
#include "samplersearch/metrics/bias.hpp"
#include "samplersearch/metrics/frechet.hpp"
#include "statistics_test_support.hpp"

namespace samplersearch {
namespace {

using testing_support::relative_error;
using testing_support::run_python_code;
using testing_support::TempDir;

// Same estimator in NumPy (float64, a different summation order): rounding only.
constexpr double kNumpyTol = 1e-10;
// Blocked sums against one sum over the whole kernel matrix: rounding only.
constexpr double kBlockTol = 1e-12;
// The least-squares line recomputed by hand from the same FD values.
constexpr double kFitTol = 1e-10;

void write_matrix(const std::string& path, const at::Tensor& m) {
  std::ofstream out(path);
  out.precision(17);
  const at::Tensor c = m.contiguous();
  for (int64_t i = 0; i < c.size(0); ++i) {
    for (int64_t j = 0; j < c.size(1); ++j) out << (j ? " " : "") << c[i][j].item<double>();
    out << "\n";
  }
}

double read_number(const std::string& path) {
  std::ifstream in(path);
  double value = std::nan("");
  in >> value;
  return value;
}

TEST(Kid, AgreesWithNumpyUnbiasedEstimator) {
  TempDir dir;
  at::manual_seed(3);
  // Different sizes and a shifted, scaled second set, so every term of the estimator matters.
  const at::Tensor x = at::randn({37, 5}, at::kDouble);
  const at::Tensor y = 0.7 * at::randn({53, 5}, at::kDouble) + 0.3;
  write_matrix(dir.file("x.txt"), x);
  write_matrix(dir.file("y.txt"), y);
  const std::string code =
      "import numpy as np\n"
      "x = np.loadtxt('" +
      dir.file("x.txt") +
      "')\n"
      "y = np.loadtxt('" +
      dir.file("y.txt") +
      "')\n"
      "d = x.shape[1]\n"
      "k = lambda a, b: (a @ b.T / d + 1.0) ** 3\n"
      "n, m = len(x), len(y)\n"
      "kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)\n"
      "v = ((kxx.sum() - np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - "
      "1))"
      " - 2 * kxy.mean())\n"
      "open('" +
      dir.file("kid.txt") + "', 'w').write(repr(float(v)))\n";
  ASSERT_EQ(run_python_code(dir, code), 0);
  const double reference = read_number(dir.file("kid.txt"));
  EXPECT_LE(relative_error(kernel_inception_distance(x, y), reference), kNumpyTol)
      << kernel_inception_distance(x, y) << " vs NumPy " << reference;
}

TEST(Kid, KernelByHand) {
  // x = (1, 2), y = (3, −1): xᵀy/d = (3 − 2)/2 = 0.5, so k = 1.5³ = 3.375.
  const at::Tensor x = at::tensor({1.0, 2.0}, at::kDouble).reshape({1, 2});
  const at::Tensor y = at::tensor({3.0, -1.0}, at::kDouble).reshape({1, 2});
  EXPECT_DOUBLE_EQ(polynomial_kernel(x, y).item<double>(), 3.375);
}

TEST(Kid, BlockedSumsMatchWholeMatrix) {
  // Sizes past one block of rows (kKernelBlockRows) and of columns (4096).
  at::manual_seed(5);
  const at::Tensor x = at::randn({kKernelBlockRows + 300, 3}, at::kDouble);
  const at::Tensor y = at::randn({4500, 3}, at::kDouble);
  const double whole = polynomial_kernel(x, y).sum().item<double>();
  EXPECT_LE(relative_error(kernel_sum(x, y), whole), kBlockTol);
  const at::Tensor kxx = polynomial_kernel(x, x);
  const double offdiagonal = kxx.sum().item<double>() - kxx.diagonal().sum().item<double>();
  EXPECT_LE(relative_error(kernel_sum_offdiagonal(x), offdiagonal), kBlockTol);
}

TEST(Kid, TooFewSamplesIsConfigError) {
  const at::Tensor one = at::zeros({1, 3}, at::kDouble);
  EXPECT_THROW(kernel_inception_distance(one, at::zeros({4, 3}, at::kDouble)), ConfigError);
}

TEST(FdInfinity, SizesByHand) {
  // n = 100, 15 points from 10: 10 + i·90/14 rounded half away from zero.
  const std::vector<int64_t> expected = {10, 16, 23, 29, 36, 42, 49, 55,
                                         61, 68, 74, 81, 87, 94, 100};
  EXPECT_EQ(fd_infinity_sizes(100, 15, 0.1), expected);
  // Duplicates are dropped: n = 4 allows only 2, 3, 4.
  EXPECT_EQ(fd_infinity_sizes(4, 15, 0.1), (std::vector<int64_t>{2, 3, 4}));
  EXPECT_THROW(fd_infinity_sizes(2, 15, 0.1), ConfigError);
  EXPECT_THROW(fd_infinity_sizes(100, 1, 0.1), ConfigError);
  EXPECT_THROW(fd_infinity_sizes(100, 5, 1.0), ConfigError);
}

TEST(FdInfinity, LeastSquaresLineThroughPrefixDistances) {
  at::manual_seed(9);
  const at::Tensor x = at::randn({400, 3}, at::kDouble) * 1.5 + 0.2;
  Statistics reference{at::zeros({3}, at::kDouble), at::eye(3, at::kDouble), 0, ""};
  const FdInfinityFit fit = fd_infinity(x, reference, 6, 0.25);
  ASSERT_EQ(fit.sizes, (std::vector<int64_t>{100, 160, 220, 280, 340, 400}));
  // FD of each prefix, computed from scratch, and the normal equations of y = a + b·(1/n).
  double s1 = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (size_t i = 0; i < fit.sizes.size(); ++i) {
    const Statistics prefix = compute_statistics(x.slice(0, 0, fit.sizes[i]));
    const double fd = frechet_distance(prefix, reference);
    EXPECT_LE(relative_error(fit.values[i], fd), kFitTol);
    const double u = 1.0 / static_cast<double>(fit.sizes[i]);
    s1 += 1;
    sx += u;
    sy += fd;
    sxx += u * u;
    sxy += u * fd;
  }
  const double slope = (s1 * sxy - sx * sy) / (s1 * sxx - sx * sx);
  const double intercept = (sy - slope * sx) / s1;
  EXPECT_LE(relative_error(fit.slope, slope), kFitTol);
  EXPECT_LE(relative_error(fit.intercept, intercept), kFitTol);
}

// Samples x_1…x_n ~ N(0, I_d) against the exact statistics (0, I). With the sample mean m and the
// unbiased covariance S = I + E, E‖m‖² = d/n and E Tr S = d, and to second order
// Tr √S = d + Tr E/2 − Tr E²/8 with E Tr E² = d(d+1)/(n−1) (E_ii has variance 2/(n−1), E_ij
// 1/(n−1)), so E FD(n) = d/n + d(d+1)/(4(n−1)) + O(d³/n²): a line in 1/n with intercept 0 (the
// true distance) and slope c = d + d(d+1)/4. For d = 4, c = 9.
TEST(FdInfinity, RemovesTheKnownOneOverNBiasOfGaussianSamples) {
  constexpr int64_t kDim = 4;
  constexpr int64_t kSamples = 20000;
  constexpr int kRepeats = 100;
  const double expected_slope = kDim + kDim * (kDim + 1) / 4.0;
  // Statistical tolerances, about 4 standard errors of the mean over kRepeats runs: one run's
  // slope spreads by 3.5, its intercept by 3.7e-4 and FD(2000) by ~1.5e-3 (standard deviations
  // over 400 runs of the same procedure in NumPy/SciPy, which also gave mean slope 9.07, mean
  // intercept −2e-5 and mean FD(2000) 4.505e-3).
  constexpr double kSlopeTol = 1.5;
  constexpr double kInterceptTol = 1.5e-4;
  constexpr double kFdSmallestTol = 6e-4;
  Statistics exact{at::zeros({kDim}, at::kDouble), at::eye(kDim, at::kDouble), 0, ""};
  at::manual_seed(2024);
  double mean_slope = 0;
  double mean_intercept = 0;
  double mean_fd_smallest = 0;
  for (int r = 0; r < kRepeats; ++r) {
    const FdInfinityFit fit = fd_infinity(at::randn({kSamples, kDim}, at::kDouble), exact, 15, 0.1);
    mean_slope += fit.slope / kRepeats;
    mean_intercept += fit.intercept / kRepeats;
    mean_fd_smallest += fit.values.front() / kRepeats;
  }
  // The plain FD at n = 2000 is biased by ≈ c/n = 4.5e-3; FD∞ removes it.
  EXPECT_NEAR(mean_fd_smallest, expected_slope / 2000.0, kFdSmallestTol);
  EXPECT_NEAR(mean_slope, expected_slope, kSlopeTol);
  EXPECT_NEAR(mean_intercept, 0.0, kInterceptTol);
}

}  // namespace
}  // namespace samplersearch
