// The metric registry (metrics/metric.cpp): every entry through one conformance test (chunking
// invariance, count, NaN input), each value against an independent computation, and bad params.
// Data: the first 2,000 Fashion-MNIST training images; samples: test images with a little noise;
// reference samples: the same test images (as if a reference sampler had produced them).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "samplersearch/common/error.hpp"
#include "samplersearch/metrics/bias.hpp"
#include "samplersearch/metrics/frechet.hpp"
#include "samplersearch/metrics/metric.hpp"
#include "samplersearch/metrics/statistics_file.hpp"
#include "samplersearch/samplers/datasets.hpp"
#include "statistics_test_support.hpp"

namespace samplersearch {
namespace {

using nlohmann::json;
using testing_support::relative_error;
using testing_support::TempDir;

// One chunk against uneven chunks split over two merged states: only the summation order differs
// (measured ≤ 7e-13: KID is a difference of O(1) sums, FD∞ a fit through 15 distances).
constexpr double kChunkTol = 1e-10;
// A value against the same formula computed independently in the test: rounding only.
constexpr double kIndependentTol = 1e-10;

constexpr int64_t kDataImages = 2000;
constexpr int64_t kSamples = 300;

// The resources every case shares (one cache folder: the tiny classifier is trained once).
struct Fixture {
  TempDir dir;
  MetricResources resources;
  at::Tensor samples;
  at::Tensor reference;
  Fixture() {
    resources.data = fashion_mnist_images("train", kDataImages);
    resources.data_labels = fashion_mnist_labels("train", kDataImages);
    resources.test_data = fashion_mnist_images("test", 500);
    resources.test_labels = fashion_mnist_labels("test", 500);
    resources.cache_dir = dir.file("cache");
    reference = fashion_mnist_images("test", kSamples).to(at::kFloat);
    at::manual_seed(17);
    samples = (reference + 0.1 * at::randn_like(reference)).clamp(-1, 1);
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

// A small classifier recipe (one epoch on the 2,000 data images) for the classifier cases.
const json kTinyClassifier = {
    {"conv1_channels", 8}, {"conv2_channels", 16}, {"hidden", 32}, {"epochs", 1}};

struct Case {
  std::string metric;
  json params;
  bool needs_reference;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.metric << " " << c.params.dump(); }

std::vector<Case> cases() {
  return {
      {"fd", {{"features", "pixels"}}, false},
      {"fd", {{"features", "classifier"}, {"classifier", kTinyClassifier}}, false},
      {"kid", {{"features", "pixels"}, {"data_size", 500}}, false},
      {"kid", {{"features", "classifier"}, {"classifier", kTinyClassifier}}, false},
      {"fd_inf", {{"features", "pixels"}, {"points", 5}}, false},
      {"fd_inf", {{"features", "classifier"}, {"classifier", kTinyClassifier}}, false},
      {"trajectory_mse", json::object(), true},
      {"excess", {{"metric", "fd"}, {"features", "pixels"}}, true},
      {"excess", {{"metric", "kid"}, {"features", "pixels"}, {"data_size", 300}}, true},
      {"excess", {{"metric", "trajectory_mse"}}, true},
  };
}

class MetricConformance : public ::testing::TestWithParam<Case> {};

// Adds rows [begin, end) of the fixture's samples (and the matching reference rows).
void add_rows(MetricState& state, int64_t begin, int64_t end) {
  const Fixture& f = fixture();
  state.add(f.samples.slice(0, begin, end), f.reference.slice(0, begin, end));
}

TEST_P(MetricConformance, ChunkingCountAndNaN) {
  const Case& c = GetParam();
  const auto metric = make_metric(c.metric, c.params, fixture().resources);
  EXPECT_EQ(metric->name(), c.metric);
  EXPECT_EQ(metric->needs_reference_samples(), c.needs_reference);

  auto whole = metric->start();
  EXPECT_EQ(whole->count(), 0);
  add_rows(*whole, 0, kSamples);
  EXPECT_EQ(whole->count(), kSamples);
  const double one_chunk = whole->value();

  // Uneven chunks 7, 120, 1 | 0, 172 on two "workers", merged.
  auto first = metric->start();
  auto second = metric->start();
  add_rows(*first, 0, 7);
  add_rows(*first, 7, 127);
  add_rows(*first, 127, 128);
  add_rows(*second, 128, 128);
  add_rows(*second, 128, kSamples);
  EXPECT_EQ(first->count(), 128);
  first->merge(*second);
  EXPECT_EQ(first->count(), kSamples);
  const double chunked = first->value();
  EXPECT_LE(relative_error(chunked, one_chunk), kChunkTol) << chunked << " vs " << one_chunk;

  // A NaN in the samples is a numerical failure of the trial.
  auto poisoned = metric->start();
  at::Tensor bad = fixture().samples.slice(0, 0, 10).clone();
  bad[3][0][5][5] = std::nan("");
  EXPECT_THROW(poisoned->add(bad, fixture().reference.slice(0, 0, 10)), NumericalError);
  if (c.needs_reference) {
    auto poisoned_reference = metric->start();
    EXPECT_THROW(poisoned_reference->add(fixture().samples.slice(0, 0, 10), bad), NumericalError);
  }
}

INSTANTIATE_TEST_SUITE_P(Registry, MetricConformance, ::testing::ValuesIn(cases()));

TEST(MetricRegistry, EveryEntryHasAConformanceCase) {
  std::set<std::string> covered;
  for (const Case& c : cases()) covered.insert(c.metric);
  for (const MetricEntry& e : metric_registry()) {
    EXPECT_TRUE(covered.count(std::string(e.name))) << e.name << " has no conformance case";
    EXPECT_FALSE(e.summary.empty());
  }
}

// Pixel-space FD: the data's and the samples' statistics computed directly.
TEST(MetricValues, FdOnPixelsIsTheFrechetDistanceOfTheFlattenedSamples) {
  const Fixture& f = fixture();
  auto state = make_metric("fd", {{"features", "pixels"}}, f.resources)->start();
  state->add(f.samples, {});
  const double expected =
      frechet_distance(compute_statistics(f.samples.reshape({kSamples, -1}).to(at::kDouble)),
                       compute_statistics(f.resources.data.reshape({kDataImages, -1})));
  EXPECT_LE(relative_error(state->value(), expected), kIndependentTol);
}

// KID against the evenly spread data rows ⌊i·N/m⌋.
TEST(MetricValues, KidOnPixelsUsesTheEvenlySpreadDataSubset) {
  const Fixture& f = fixture();
  auto state =
      make_metric("kid", {{"features", "pixels"}, {"data_size", 400}}, f.resources)->start();
  state->add(f.samples, {});
  const at::Tensor rows = at::arange(400, at::kLong) * 5;  // N/m = 2000/400
  const double expected =
      kernel_inception_distance(f.samples.reshape({kSamples, -1}).to(at::kDouble),
                                f.resources.data.index_select(0, rows).reshape({400, -1}));
  EXPECT_LE(relative_error(state->value(), expected), kIndependentTol);
}

TEST(MetricValues, FdInfOnPixelsIsTheInterceptOfTheFit) {
  const Fixture& f = fixture();
  auto state = make_metric("fd_inf", {{"features", "pixels"}, {"points", 4}, {"min_fraction", 0.5}},
                           f.resources)
                   ->start();
  state->add(f.samples, {});
  const FdInfinityFit fit =
      fd_infinity(f.samples.reshape({kSamples, -1}).to(at::kDouble),
                  compute_statistics(f.resources.data.reshape({kDataImages, -1})), 4, 0.5);
  EXPECT_LE(relative_error(state->value(), fit.intercept), kIndependentTol);
}

TEST(MetricValues, TrajectoryMseByHand) {
  // Per dimension: sample 1 (1, 2) vs (0, 0): (1 + 4)/2 = 2.5; sample 2 (3, 4) vs (1, 1):
  // (4 + 9)/2 = 6.5; the mean over samples is 4.5.
  auto state = make_metric("trajectory_mse", json::object(), {})->start();
  const at::Tensor x = at::tensor({1.0, 2.0, 3.0, 4.0}, at::kDouble).reshape({2, 1, 1, 2});
  const at::Tensor r = at::tensor({0.0, 0.0, 1.0, 1.0}, at::kDouble).reshape({2, 1, 1, 2});
  state->add(x, r);
  EXPECT_DOUBLE_EQ(state->value(), 4.5);
  EXPECT_THROW(state->add(x, at::Tensor()), ConfigError);
}

TEST(MetricValues, ExcessIsTheDifferenceOnTheSameNoise) {
  const Fixture& f = fixture();
  const json fd_params = {{"features", "pixels"}};
  auto excess = make_metric("excess", {{"metric", "fd"}, {"features", "pixels"}}, f.resources);
  auto state = excess->start();
  state->add(f.samples, f.reference);
  const auto fd = make_metric("fd", fd_params, f.resources);
  auto on_samples = fd->start();
  on_samples->add(f.samples, {});
  auto on_reference = fd->start();
  on_reference->add(f.reference, {});
  EXPECT_LE(relative_error(state->value(), on_samples->value() - on_reference->value()),
            kIndependentTol);
  EXPECT_THROW(state->add(f.samples, at::Tensor()), ConfigError);
}

// The reference side is computed once per reference chunk and reused by later states (trials):
// a second trial on other samples, its reference side from the cache, still equals the
// independent difference, and a repeated trial gives the same value to the bit.
TEST(MetricValues, ExcessReusesTheReferenceSideAcrossTrials) {
  const Fixture& f = fixture();
  auto excess = make_metric("excess", {{"metric", "fd"}, {"features", "pixels"}}, f.resources);
  const auto fd = make_metric("fd", {{"features", "pixels"}}, f.resources);
  auto on_reference = fd->start();
  on_reference->add(f.reference, {});
  auto first = excess->start();
  first->add(f.samples, f.reference);
  const at::Tensor other = f.samples.flip(0) * 0.5 + 0.25;
  auto second = excess->start();
  second->add(other, f.reference);
  auto on_other = fd->start();
  on_other->add(other, {});
  EXPECT_LE(relative_error(second->value(), on_other->value() - on_reference->value()),
            kIndependentTol);
  auto again = excess->start();
  again->add(f.samples, f.reference);
  EXPECT_EQ(again->value(), first->value());
  // A state outlives the metric that made it (the inner metric is shared).
  auto orphan =
      make_metric("excess", {{"metric", "fd"}, {"features", "pixels"}}, f.resources)->start();
  orphan->add(f.samples, f.reference);
  EXPECT_EQ(orphan->value(), first->value());
}

TEST(MetricCache, DataStatisticsAreComputedOnceAndReused) {
  TempDir dir;
  MetricResources r = fixture().resources;
  r.cache_dir = dir.file("stats");
  auto a = make_metric("fd", {{"features", "pixels"}}, r)->start();
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(r.cache_dir))
    files.push_back(entry.path());
  ASSERT_EQ(files.size(), 1U);
  const auto written = std::filesystem::last_write_time(files[0]);
  auto b = make_metric("fd", {{"features", "pixels"}}, r)->start();
  EXPECT_EQ(std::filesystem::last_write_time(files[0]), written);
  a->add(fixture().samples, {});
  b->add(fixture().samples, {});
  EXPECT_EQ(a->value(), b->value());
}

// metric.statistics: the data side read from a statistics file, not computed from the data. A file
// holding other statistics (the data shifted by 0.5) gives the FD against those, by hand.
TEST(MetricCache, AStatisticsFileReplacesTheDataSide) {
  TempDir dir;
  const Fixture& f = fixture();
  const at::Tensor shifted = f.resources.data.reshape({kDataImages, -1}).add(0.5);
  const Statistics stats = compute_statistics(shifted, "shifted data");
  MetricResources r;  // no data at all
  r.statistics_file = dir.file("stats.h5");
  write_statistics(r.statistics_file, stats);
  auto state = make_metric("fd", {{"features", "pixels"}}, r)->start();
  state->add(f.samples, {});
  const double expected = frechet_distance(
      compute_statistics(f.samples.reshape({kSamples, -1}).to(at::kDouble)), stats);
  EXPECT_LE(relative_error(state->value(), expected), kIndependentTol);
}

// The ConfigError of `metric` with `params` names `field`.
void expect_config_error(const std::string& metric, const json& params, const std::string& field) {
  try {
    (void)make_metric(metric, params, fixture().resources);
    ADD_FAILURE() << metric << " " << params.dump() << ": expected ConfigError on " << field;
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.field(), field) << metric << " " << params.dump() << ": " << e.what();
  }
}

TEST(MetricParams, BadParamsNameTheParam) {
  expect_config_error("nope", json::object(), "metric");
  expect_config_error("fd", {{"features", "nope"}}, "fd.features");
  expect_config_error("fd", {{"features", 3}}, "fd.features");
  expect_config_error("fd", {{"bogus", 1}}, "fd.bogus");
  expect_config_error("fd", {{"features", "pixels"}, {"classifier", json::object()}},
                      "fd.classifier");
  expect_config_error("fd", {{"features", "classifier"}, {"classifier", {{"epochs", 0}}}},
                      "fd.classifier.epochs");
  expect_config_error("fd", {{"features", "inception"}}, "fd.features");  // no weights given
  expect_config_error("kid", {{"data_size", 1}}, "kid.data_size");
  expect_config_error("fd_inf", {{"points", 1}}, "fd_inf.points");
  expect_config_error("fd_inf", {{"min_fraction", 1.5}}, "fd_inf.min_fraction");
  expect_config_error("trajectory_mse", {{"features", "pixels"}}, "trajectory_mse.features");
  expect_config_error("excess", json::object(), "excess.metric");
  expect_config_error("excess", {{"metric", "nope"}}, "excess.metric");
  expect_config_error("excess", {{"metric", "excess"}}, "excess.metric");
  expect_config_error("excess", {{"metric", "fd"}, {"features", "nope"}}, "fd.features");
  try {
    (void)make_metric("nope", json::object(), fixture().resources);
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("fd, kid, fd_inf, trajectory_mse, excess"),
              std::string::npos)
        << e.what();
  }
}

TEST(MetricParams, DataIsRequiredForDataMetrics) {
  MetricResources empty;
  try {
    (void)make_metric("fd", {{"features", "pixels"}}, empty);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.field(), "fd.features");
  }
}

}  // namespace
}  // namespace samplersearch
