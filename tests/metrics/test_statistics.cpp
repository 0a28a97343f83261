// RunningStats (metrics/statistics.cpp): a hand-worked example, a long-double two-pass reference,
// independence of how the samples were split and merged, dtypes, and the input errors.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include "samplersearch/common/error.hpp"
#include "samplersearch/metrics/statistics.hpp"
#include "statistics_test_support.hpp"

namespace samplersearch {
namespace {

using testing_support::relative_error;

// Hand-worked answers of a few O(1) numbers, exact up to one or two roundings.
constexpr double kHandWorkedTol = 1e-15;
// Same samples, different split or merge order: only the rounding of the merge differs.
constexpr double kSplitTol = 1e-12;
// float64 streaming against a long-double two-pass formula on the same samples.
constexpr double kTwoPassTol = 1e-12;

// Features with a large common offset (stresses cancellation) and correlated columns.
at::Tensor random_features(int64_t n, int64_t d, uint64_t seed) {
  at::manual_seed(seed);
  const at::Tensor mixing = at::randn({d, d}, at::kDouble) / std::sqrt(static_cast<double>(d));
  return at::randn({n, d}, at::kDouble).mm(mixing) + 100.0 + at::arange(d, at::kDouble);
}

// Mean and unbiased covariance by the textbook two-pass formula in long double.
void two_pass(const at::Tensor& x, std::vector<long double>& mean, std::vector<long double>& cov) {
  const at::Tensor c = x.contiguous();
  const int64_t n = c.size(0);
  const int64_t d = c.size(1);
  const double* p = c.data_ptr<double>();
  mean.assign(static_cast<size_t>(d), 0.0L);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j) mean[static_cast<size_t>(j)] += p[i * d + j];
  for (auto& m : mean) m /= static_cast<long double>(n);
  cov.assign(static_cast<size_t>(d * d), 0.0L);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j)
      for (int64_t k = 0; k < d; ++k)
        cov[static_cast<size_t>(j * d + k)] += (p[i * d + j] - mean[static_cast<size_t>(j)]) *
                                               (p[i * d + k] - mean[static_cast<size_t>(k)]);
  for (auto& v : cov) v /= static_cast<long double>(n - 1);
}

at::Tensor to_tensor(const std::vector<long double>& v, std::vector<int64_t> shape) {
  std::vector<double> d(v.begin(), v.end());
  return at::tensor(d, at::kDouble).reshape(shape);
}

TEST(RunningStats, HandWorkedThreeSamples) {
  // (1,2), (3,6), (5,7): mean (3,5); deviations (−2,−3), (0,1), (2,2) give the scatter
  // [[8,10],[10,14]], so the unbiased covariance is [[4,5],[5,7]].
  RunningStats stats;
  stats.add(at::tensor({1.0, 2.0, 3.0, 6.0}, at::kDouble).reshape({2, 2}));
  stats.add(at::tensor({5.0f, 7.0f}).reshape({1, 2}));
  EXPECT_EQ(stats.count(), 3);
  EXPECT_EQ(stats.dim(), 2);
  EXPECT_LE(relative_error(stats.mean(), at::tensor({3.0, 5.0}, at::kDouble)), kHandWorkedTol);
  EXPECT_LE(relative_error(stats.covariance(),
                           at::tensor({4.0, 5.0, 5.0, 7.0}, at::kDouble).reshape({2, 2})),
            kHandWorkedTol);
}

TEST(RunningStats, AgreesWithLongDoubleTwoPass) {
  const at::Tensor x = random_features(257, 9, 11);
  RunningStats stats;
  for (int64_t start = 0; start < 257; start += 50) stats.add(x.slice(0, start, start + 50));
  std::vector<long double> mean;
  std::vector<long double> cov;
  two_pass(x, mean, cov);
  EXPECT_LE(relative_error(stats.mean(), to_tensor(mean, {9})), kTwoPassTol);
  EXPECT_LE(relative_error(stats.covariance(), to_tensor(cov, {9, 9})), kTwoPassTol);
  const at::Tensor sigma = stats.covariance();
  EXPECT_TRUE(at::equal(sigma, sigma.t())) << "covariance must be exactly symmetric";
}

TEST(RunningStats, ResultDoesNotDependOnTheSplit) {
  const int64_t n = 1000;
  const int64_t d = 24;
  const at::Tensor x = random_features(n, d, 7);
  RunningStats whole;
  whole.add(x);

  const std::vector<int64_t> sizes{1, 400, 3, 250, 96, 2, 248};  // 7 uneven chunks, sum 1000
  ASSERT_EQ(std::accumulate(sizes.begin(), sizes.end(), int64_t{0}), n);
  std::vector<RunningStats> parts;
  int64_t start = 0;
  for (const int64_t size : sizes) {
    parts.emplace_back();
    parts.back().add(x.slice(0, start, start + size));
    start += size;
  }
  // Order 1: streamed into one accumulator chunk by chunk.
  RunningStats streamed;
  start = 0;
  for (const int64_t size : sizes) {
    streamed.add(x.slice(0, start, start + size));
    start += size;
  }
  // Order 2: workers merged in reverse order.
  RunningStats reversed;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) reversed.merge(*it);
  // Order 3: a shuffled pairwise tree.
  std::vector<RunningStats> level = parts;
  std::mt19937 rng(3);
  while (level.size() > 1) {
    std::shuffle(level.begin(), level.end(), rng);
    std::vector<RunningStats> next;
    for (size_t i = 0; i + 1 < level.size(); i += 2) {
      next.push_back(level[i]);
      next.back().merge(level[i + 1]);
    }
    if (level.size() % 2 == 1) next.push_back(level.back());
    level = std::move(next);
  }
  for (const RunningStats* s : {&streamed, &reversed, &level.front()}) {
    EXPECT_EQ(s->count(), n);
    EXPECT_LE(relative_error(s->mean(), whole.mean()), kSplitTol);
    EXPECT_LE(relative_error(s->covariance(), whole.covariance()), kSplitTol);
  }
  // Merging into an empty accumulator and merging an empty one change nothing.
  RunningStats empty;
  empty.merge(whole);
  empty.merge(RunningStats());
  EXPECT_TRUE(at::equal(empty.covariance(), whole.covariance()));
  // Merging and copying must not alias: later adds to the copy leave the source alone.
  const at::Tensor before = whole.covariance();
  empty.add(x.slice(0, 0, 5));
  RunningStats copy = whole;
  copy.merge(parts[0]);
  EXPECT_TRUE(at::equal(whole.covariance(), before));
}

TEST(RunningStats, AnyFloatDtypeIsAccumulatedInDouble) {
  const at::Tensor x = random_features(64, 5, 5).to(at::kFloat);
  RunningStats from_float;
  from_float.add(x);
  RunningStats from_double;
  from_double.add(x.to(at::kDouble));
  EXPECT_TRUE(at::equal(from_float.covariance(), from_double.covariance()));
  RunningStats from_half;
  from_half.add(x.to(at::kHalf));
  EXPECT_TRUE(at::equal(from_half.mean(), x.to(at::kHalf).to(at::kDouble).mean(0)));
  const Statistics s = compute_statistics(x, "unit-test");
  EXPECT_EQ(s.count, 64);
  EXPECT_EQ(s.source, "unit-test");
  EXPECT_EQ(s.sigma.scalar_type(), at::kDouble);
  EXPECT_TRUE(at::equal(s.sigma, from_float.covariance()));
}

TEST(RunningStats, BadInputs) {
  RunningStats stats(3);
  try {
    stats.add(at::zeros({4}));
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "features: expected a 2-D tensor [n, d], got shape [4]");
  }
  try {
    stats.add(at::zeros({4, 2}));
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "features: expected d = 3 features per row, got 2");
  }
  try {
    stats.add(at::zeros({4, 3}, at::kLong));
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "features: expected a floating-point tensor, got Long");
  }
  at::Tensor bad = at::zeros({4, 3});
  bad[2][1] = std::nan("");
  try {
    stats.add(bad);
    FAIL() << "expected NumericalError";
  } catch (const NumericalError& e) {
    EXPECT_STREQ(e.what(), "features: NaN or Inf in a batch of 4 samples");
  }
  EXPECT_EQ(stats.count(), 0);
  stats.add(at::ones({1, 3}));
  try {
    (void)stats.covariance();
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "statistics: the covariance needs at least 2 samples, got 1");
  }
  RunningStats other;
  other.add(at::ones({2, 4}));
  try {
    stats.merge(other);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "statistics: cannot merge statistics of d = 4 into statistics of d = 3");
  }
}

}  // namespace
}  // namespace samplersearch
