// The exact x0-models (docs/equations.md §3) against NumPy references run by the test and
// hand-worked limits.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "samplersearch/common/error.hpp"
#include "samplersearch/samplers/exact_models.hpp"
#include "samplersearch/samplers/schedule.hpp"

namespace samplersearch {
namespace {

using nlohmann::json;

// float64 against a float64 NumPy computation of the same formula, done differently.
constexpr double kFloat64Tol = 1e-10;
// Closed forms evaluated in float64 (a few roundings of O(1) numbers).
constexpr double kClosedFormTol = 1e-13;
// float32 against float64 for O(1) outputs whose logits are O(10): float32 rounding of the
// logits (~1e-6 relative) moves the weights by about that much.
constexpr double kFloat32Tol = 1e-4;
// float32 data stored as X_i − mean and given back as (X_i − mean) + mean: two roundings of O(1).
constexpr double kRecenterTol32 = 1e-6;
// σ = 1e8 with |x| ~ σ: the logits differ by ~|X|·|ε|/σ ~ 1e-7, so the weights are uniform to that.
constexpr double kUniformTol = 1e-6;

std::string env_or_fail(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr) ADD_FAILURE() << name << " is not set (run through ctest)";
  return value == nullptr ? std::string() : std::string(value);
}

// A 2-d float64 tensor as nested JSON arrays (or 1-d as an array).
json to_json(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kDouble).contiguous();
  if (c.dim() == 1)
    return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
  json rows = json::array();
  for (int64_t i = 0; i < c.size(0); ++i) rows.push_back(to_json(c[i]));
  return rows;
}

// Nested JSON arrays of numbers as a float64 tensor.
at::Tensor from_json(const json& j) {
  if (!j.at(0).is_array()) {
    const auto v = j.get<std::vector<double>>();
    return at::tensor(v, at::kDouble);
  }
  std::vector<at::Tensor> rows;
  for (const auto& row : j) rows.push_back(from_json(row));
  return at::stack(rows);
}

// Runs tests/samplers/exact_models_reference.py on `input` and returns its answer.
json numpy_reference(const json& input) {
  static int counter = 0;
  const auto dir = std::filesystem::temp_directory_path();
  const std::string stem =
      "ss_exact_models_" + std::to_string(getpid()) + "_" + std::to_string(counter++);
  const auto in_path = dir / (stem + "_in.json");
  const auto out_path = dir / (stem + "_out.json");
  std::ofstream(in_path) << input.dump();
  const std::string command = "'" + env_or_fail("SAMPLERSEARCH_PYTHON") + "' '" +
                              env_or_fail("SAMPLERSEARCH_SOURCE_DIR") +
                              "/tests/samplers/exact_models_reference.py' '" + in_path.string() +
                              "' '" + out_path.string() + "'";
  const int status = std::system(command.c_str());
  EXPECT_EQ(status, 0) << command;
  json out;
  std::ifstream(out_path) >> out;
  std::filesystem::remove(in_path);
  std::filesystem::remove(out_path);
  return out;
}

at::Generator generator(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

// A 3-component mixture in D = 6 (sample shape {2, 3}) with one point mass (s = 0).
GaussianMixture test_mixture() {
  auto gen = generator(7);
  GaussianMixture m;
  m.weights = at::tensor(std::vector<double>{0.5, 0.3, 0.2}, at::kDouble);
  m.means = at::randn({3, 6}, gen, at::kDouble);
  m.stds = at::tensor(std::vector<double>{0.4, 0.0, 1.3}, at::kDouble);
  return m;
}

TEST(GaussianMixtureModel, PosteriorMeanMatchesNumpy) {
  const auto schedule = make_schedule("vp-linear");
  const GaussianMixture m = test_mixture();
  const GaussianMixtureModel model(m, schedule, {2, 3});
  auto gen = generator(11);
  for (double t : {0.02, 0.2, 0.5, 0.9, 1.0}) {
    // x drawn near the mixture's marginal at t so every component matters somewhere.
    const at::Tensor x = at::randn({8, 2, 3}, gen, at::kDouble) * 1.5;
    const at::Tensor got = model.predict_x0(x, t);
    ASSERT_EQ(got.sizes(), x.sizes());
    ASSERT_EQ(got.scalar_type(), at::kDouble);
    const json ref = numpy_reference({{"task", "gmm"},
                                      {"x", to_json(x.reshape({8, 6}))},
                                      {"weights", to_json(m.weights)},
                                      {"means", to_json(m.means)},
                                      {"stds", to_json(m.stds)},
                                      {"alpha", schedule->alpha(t)},
                                      {"sigma", schedule->sigma(t)}});
    EXPECT_LT(max_abs_diff(got.reshape({8, 6}), from_json(ref.at("x0"))), kFloat64Tol) << "t=" << t;
    // float32 in, float32 out, computed in float32.
    const at::Tensor got32 = model.predict_x0(x.to(at::kFloat), t);
    ASSERT_EQ(got32.scalar_type(), at::kFloat);
    EXPECT_LT(max_abs_diff(got32, got), kFloat32Tol) << "t=" << t;
  }
}

TEST(GaussianMixtureModel, PointMassReturnsItsMeanExactly) {
  // One component with s = 0: E[x0|x_t] = μ whatever x_t and t.
  GaussianMixture m;
  m.weights = at::ones({1}, at::kDouble);
  m.means = at::tensor(std::vector<double>{0.25, -1.5, 3.0}, at::kDouble).reshape({1, 3});
  m.stds = at::zeros({1}, at::kDouble);
  const GaussianMixtureModel model(m, make_schedule("vp-linear"), {3});
  auto gen = generator(3);
  for (double t : {1e-3, 0.3, 1.0}) {
    const at::Tensor got = model.predict_x0(at::randn({4, 3}, gen, at::kDouble) * 10, t);
    EXPECT_TRUE(at::equal(got, m.means.expand({4, 3}))) << "t=" << t;
  }
}

TEST(GaussianMixtureModel, SingleGaussianIsTweedie) {
  // One component N(μ, s²I): E[x0|x_t] = μ + α s²/(α²s² + σ²)·(x − αμ), worked by hand here.
  GaussianMixture m;
  m.weights = at::ones({1}, at::kDouble);
  m.means = at::tensor(std::vector<double>{0.5, -0.25}, at::kDouble).reshape({1, 2});
  m.stds = at::full({1}, 0.8, at::kDouble);
  const auto schedule = make_schedule("vp-cosine");
  const GaussianMixtureModel model(m, schedule, {2});
  const at::Tensor x =
      at::tensor(std::vector<double>{1.0, 2.0, -3.0, 0.5}, at::kDouble).reshape({2, 2});
  const double t = 0.4;
  const double a = schedule->alpha(t), sg = schedule->sigma(t), s2 = 0.64;
  const double c = a * s2 / (a * a * s2 + sg * sg);
  const at::Tensor got = model.predict_x0(x, t);
  const double mu[2] = {0.5, -0.25};
  for (int b = 0; b < 2; ++b)
    for (int d = 0; d < 2; ++d)
      EXPECT_NEAR(got[b][d].item<double>(), mu[d] + c * (x[b][d].item<double>() - a * mu[d]),
                  kClosedFormTol);
}

TEST(GaussianMixtureModel, TwoPointMassesGiveTanh) {
  // p = ½δ(−m) + ½δ(m) in 1-d: E[x0|x_t] = m·tanh(α m x/σ²).
  GaussianMixture mix;
  const double mval = 0.7;
  mix.weights = at::full({2}, 0.5, at::kDouble);
  mix.means = at::tensor(std::vector<double>{-mval, mval}, at::kDouble).reshape({2, 1});
  mix.stds = at::zeros({2}, at::kDouble);
  const auto schedule = make_schedule("vp-linear");
  const GaussianMixtureModel model(mix, schedule, {1});
  const at::Tensor x =
      at::tensor(std::vector<double>{-2.0, -0.3, 0.0, 0.1, 1.7}, at::kDouble).reshape({5, 1});
  for (double t : {0.1, 0.5, 0.95}) {
    const double a = schedule->alpha(t), sg = schedule->sigma(t);
    const at::Tensor got = model.predict_x0(x, t);
    for (int b = 0; b < 5; ++b) {
      const double xb = x[b][0].item<double>();
      EXPECT_NEAR(got[b][0].item<double>(), mval * std::tanh(a * mval * xb / (sg * sg)),
                  kClosedFormTol)
          << "t=" << t << " x=" << xb;
    }
  }
}

TEST(GaussianMixtureModel, SmallNoiseReturnsTheInput) {
  // α = 1, σ → 0 and every s_k > 0: E[x0|x_t] → x_t, with |E − x| ≤ (σ²/s²)·|x − μ| per component.
  GaussianMixture m = test_mixture();
  m.stds = at::tensor(std::vector<double>{0.4, 0.9, 1.3}, at::kDouble);
  const GaussianMixtureModel model(m, make_schedule("edm"), {2, 3});
  auto gen = generator(5);
  const at::Tensor x = at::randn({6, 2, 3}, gen, at::kDouble);
  const double sigma = 1e-6;
  const at::Tensor got = model.predict_x0(x, sigma);
  const double bound = sigma * sigma / (0.4 * 0.4) *
                       (x.abs().max().item<double>() + m.means.abs().max().item<double>()) *
                       std::sqrt(6.0);
  EXPECT_LT(max_abs_diff(got, x), bound + 1e-15);
}

TEST(GaussianMixtureModel, MeanAndCovarianceMatchNumpy) {
  const GaussianMixture m = test_mixture();
  const GaussianMixtureModel model(m, make_schedule("vp-linear"), {2, 3});
  const json ref = numpy_reference({{"task", "mixture_moments"},
                                    {"weights", to_json(m.weights)},
                                    {"means", to_json(m.means)},
                                    {"stds", to_json(m.stds)}});
  const at::Tensor mean = model.mean();
  const at::Tensor cov = model.covariance();
  ASSERT_EQ(mean.sizes(), (std::vector<int64_t>{6}));
  ASSERT_EQ(cov.sizes(), (std::vector<int64_t>{6, 6}));
  EXPECT_LT(max_abs_diff(mean, from_json(ref.at("mean"))), kFloat64Tol);
  EXPECT_LT(max_abs_diff(cov, from_json(ref.at("cov"))), kFloat64Tol);
}

TEST(GaussianMixtureModel, BadMixturesAreConfigErrors) {
  const auto schedule = make_schedule("vp-linear");
  auto expect_error = [&](GaussianMixture m, const std::string& message) {
    try {
      GaussianMixtureModel model(std::move(m), schedule, {2, 3});
      ADD_FAILURE() << "no ConfigError, expected: " << message;
    } catch (const ConfigError& e) {
      EXPECT_EQ(std::string(e.what()), message);
    }
  };
  GaussianMixture m = test_mixture();
  m.weights = at::tensor(std::vector<double>{0.5, 0.3, 0.1}, at::kDouble);
  expect_error(m, "mixture.weights: must sum to 1, sum to 0.900000");
  m = test_mixture();
  m.weights = at::tensor(std::vector<double>{1.2, -0.4, 0.2}, at::kDouble);
  expect_error(m, "mixture.weights: must be finite and non-negative");
  m = test_mixture();
  m.stds = at::tensor(std::vector<double>{0.4, -0.1, 1.3}, at::kDouble);
  expect_error(m, "mixture.stds: must be finite and non-negative");
  m = test_mixture();
  m.means = at::zeros({3, 5}, at::kDouble);
  expect_error(m, "mixture.means: must have shape [K, D] = [3, 6], got [3, 5]");
  m = test_mixture();
  m.stds = at::ones({2}, at::kDouble);
  expect_error(m, "mixture.stds: must have shape [K] = [3], got [2]");
}

TEST(ExactModelsDeathTest, ShapeMismatchIsABug) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const GaussianMixtureModel model(test_mixture(), make_schedule("vp-linear"), {2, 3});
  EXPECT_DEATH(model.predict_x0(at::zeros({4, 6}, at::kDouble), 0.5), "invariant broken");
}

// A small data set [N, 3, 4] and queries x = αX_i + σε around its points.
struct EmpiricalCase {
  at::Tensor data;
  at::Tensor x;
};

EmpiricalCase empirical_case(double alpha, double sigma, int64_t n, int64_t batch, uint64_t seed) {
  auto gen = generator(seed);
  const at::Tensor data = at::rand({n, 3, 4}, gen, at::kDouble) * 2 - 1;
  const at::Tensor pick = at::randint(n, {batch}, gen, at::kLong);
  const at::Tensor x =
      alpha * data.index_select(0, pick) + sigma * at::randn({batch, 3, 4}, gen, at::kDouble);
  return {data, x};
}

TEST(EmpiricalDenoiser, MatchesNumpySoftmax) {
  const auto schedule = make_schedule("vp-linear");
  for (double t : {0.05, 0.2, 0.5, 1.0}) {
    const double a = schedule->alpha(t), sg = schedule->sigma(t);
    const EmpiricalCase c = empirical_case(a, sg, 50, 6, 17);
    const EmpiricalDenoiser model(c.data, schedule);
    EXPECT_EQ(model.size(), 50);
    EXPECT_EQ(model.sample_shape(), (std::vector<int64_t>{3, 4}));
    const at::Tensor got = model.predict_x0(c.x, t);
    ASSERT_EQ(got.sizes(), c.x.sizes());
    const json ref = numpy_reference({{"task", "empirical"},
                                      {"x", to_json(c.x.reshape({6, 12}))},
                                      {"data", to_json(c.data.reshape({50, 12}))},
                                      {"alpha", a},
                                      {"sigma", sg}});
    EXPECT_LT(max_abs_diff(got.reshape({6, 12}), from_json(ref.at("x0"))), kFloat64Tol)
        << "t=" << t;
  }
}

TEST(EmpiricalDenoiser, Float32AgreesWithFloat64) {
  // Image-sized: N = 300 points of dimension 784 in [−1, 1], at σ/α between ~0.3 and ~100.
  auto gen = generator(23);
  const at::Tensor data = at::rand({300, 1, 28, 28}, gen, at::kDouble) * 2 - 1;
  const auto schedule = make_schedule("vp-linear");
  const EmpiricalDenoiser model(data, schedule);
  for (double t : {0.1, 0.4, 0.8}) {
    const double a = schedule->alpha(t), sg = schedule->sigma(t);
    const at::Tensor x =
        a * data.narrow(0, 0, 16) + sg * at::randn({16, 1, 28, 28}, gen, at::kDouble);
    const at::Tensor got64 = model.predict_x0(x, t);
    const at::Tensor got32 = model.predict_x0(x.to(at::kFloat), t);
    ASSERT_EQ(got32.scalar_type(), at::kFloat);
    EXPECT_LT(max_abs_diff(got32, got64), kFloat32Tol) << "t=" << t;
  }
}

TEST(EmpiricalDenoiser, TinyNoisePicksTheNearestNeighbour) {
  // EDM: α = 1, σ = t. With σ = 1e-6 every weight but the nearest point's underflows to 0; at
  // σ = 1e-20 the float32 logits would overflow and at σ = 0 they are undefined: both limits.
  const auto schedule = make_schedule("edm");
  const EmpiricalCase c = empirical_case(1.0, 0.05, 40, 5, 29);
  const EmpiricalDenoiser model(c.data, schedule);
  const at::Tensor flat_x = c.x.reshape({5, 12});
  const at::Tensor flat_data = c.data.reshape({40, 12});
  const at::Tensor nearest = at::cdist(flat_x, flat_data).argmin(1);
  const at::Tensor expected = c.data.index_select(0, nearest);
  for (double sigma : {1e-6, 1e-20, 0.0}) {
    for (auto type : {at::kDouble, at::kFloat}) {
      const at::Tensor got = model.predict_x0(c.x.to(type), sigma);
      EXPECT_TRUE(got.isfinite().all().item<bool>()) << "σ=" << sigma;
      // The denoiser stores X_i − mean and adds the mean back: exact up to that rounding.
      EXPECT_LT(max_abs_diff(got, expected), type == at::kDouble ? kClosedFormTol : kRecenterTol32)
          << "σ=" << sigma << " " << type;
    }
  }
}

TEST(EmpiricalDenoiser, HugeNoiseGivesTheDataMean) {
  const EmpiricalCase c = empirical_case(1.0, 1e8, 40, 5, 31);
  const at::Tensor data_mean = c.data.mean(0).expand({5, 3, 4});
  // EDM at σ = 1e8: the weights are uniform to ~1e-7.
  const EmpiricalDenoiser edm(c.data, make_schedule("edm"));
  EXPECT_LT(max_abs_diff(edm.predict_x0(c.x, 1e8), data_mean), kUniformTol);
  EXPECT_LT(max_abs_diff(edm.predict_x0(c.x.to(at::kFloat), 1e8), data_mean), kUniformTol);
  // Flow at t = 1: α = 0, so every logit is 0 and the answer is the mean to rounding.
  const EmpiricalDenoiser flow(c.data, make_schedule("flow"));
  EXPECT_LT(max_abs_diff(flow.predict_x0(c.x / 1e8, 1.0), data_mean), kClosedFormTol);
}

TEST(EmpiricalDenoiser, LargeBatchesAreChunkedTheSame) {
  // 3000 queries × 4000 points exceeds one chunk (2^23 logits): rows must not depend on the
  // chunking.
  auto gen = generator(37);
  const at::Tensor data = at::rand({4000, 12}, gen, at::kDouble) * 2 - 1;
  const auto schedule = make_schedule("vp-linear");
  const EmpiricalDenoiser model(data, schedule);
  const at::Tensor x = at::randn({3000, 12}, gen, at::kDouble) * 0.7;
  const at::Tensor all = model.predict_x0(x, 0.3);
  const at::Tensor some = model.predict_x0(x.narrow(0, 2990, 10), 0.3);
  EXPECT_LT(max_abs_diff(all.narrow(0, 2990, 10), some), kClosedFormTol);
}

TEST(ExactModels, EmptyBatchGivesAnEmptyBatch) {
  const GaussianMixtureModel gmm(test_mixture(), make_schedule("vp-linear"), {2, 3});
  EXPECT_EQ(gmm.predict_x0(at::zeros({0, 2, 3}, at::kFloat), 0.5).sizes(),
            (std::vector<int64_t>{0, 2, 3}));
  const EmpiricalDenoiser empirical(at::ones({4, 2, 3}, at::kDouble), make_schedule("vp-linear"));
  EXPECT_EQ(empirical.predict_x0(at::zeros({0, 2, 3}, at::kDouble), 0.5).sizes(),
            (std::vector<int64_t>{0, 2, 3}));
}

TEST(EmpiricalDenoiser, EmptyDataIsAConfigError) {
  try {
    EmpiricalDenoiser model(at::zeros({0, 3}, at::kDouble), make_schedule("vp-linear"));
    ADD_FAILURE() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "data: must be a non-empty data set [N, sample_shape...], got shape [0, 3]");
  }
}

}  // namespace
}  // namespace samplersearch
