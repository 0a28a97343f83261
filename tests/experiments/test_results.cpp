// Re-scoring before a winner is named, and the spread over search seeds: a trial with the best
// in-sample value but a worse re-scored value is not the winner (with a real trajectory error on a
// Gaussian-mixture exact denoiser as the re-scoring), a stopped re-scoring resumes without redoing
// anything, and the median and range of several searches.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <limits>

#include "samplersearch/experiments/driver.hpp"
#include "samplersearch/experiments/results.hpp"
#include "samplersearch/metrics/metric.hpp"
#include "samplersearch/samplers/discretization.hpp"
#include "samplersearch/samplers/exact_models.hpp"
#include "samplersearch/samplers/solver.hpp"
#include "samplersearch/search/device_pool.hpp"
#include "samplersearch/search/evaluate.hpp"

namespace samplersearch {
namespace {

namespace fs = std::filesystem;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A cheap re-scoring: trajectory MSE of 4-step samplers on 8-dimensional two-component Gaussian
// mixture data (exact denoiser) against a 40-step DPM-Solver++(3M) reference, on noise stream 7.
struct World {
  std::shared_ptr<const Schedule> schedule = make_schedule("vp-linear");
  TimeGrid grid{"time-quadratic", {1.0, 1e-3}};
  GaussianMixtureModel model = [&] {
    at::manual_seed(5);
    const auto f = at::TensorOptions().dtype(at::kDouble);
    return GaussianMixtureModel(
        {at::tensor({0.5, 0.5}, f), at::randn({2, 8}, f), at::tensor({0.1, 0.3}, f)}, schedule,
        {8});
  }();
  std::unique_ptr<Metric> metric = make_metric("trajectory_mse", {}, MetricResources{});
  ReferenceSamples reference{classic("dpmsolver++(3M)", 40), model, 7,
                             SampleLayout{{8}, at::kFloat}};
  Objective objective{&model, metric.get(), {{8}, at::kFloat}, 7, 64, {256}, &reference, {}};
  DevicePool pool{{"cpu"}};

  Matrices classic(const std::string& label, int steps) const {
    Matrices m =
        classic_matrices(find_classic(label, "test"), SolverPlan{schedule, grid, steps, {}});
    m.solver = label;
    return m;
  }
  double rescore(const Matrices& m) { return evaluate(m, objective, pool, nullptr).value; }
};

class Rescore : public ::testing::Test {
 protected:
  void SetUp() override {
    reset_stop();
    dir_ = fs::temp_directory_path() /
           ("ss_results_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    reset_stop();
    if (!HasFailure()) fs::remove_all(dir_);
  }
  // A store of COMPLETE trials with the given samplers and in-sample values (trial i = entry i).
  std::unique_ptr<TrialStore> store_of(World& w,
                                       const std::vector<std::pair<std::string, double>>& trials) {
    auto store =
        TrialStore::create((dir_ / "s.h5").string(), StoreLayout{"{}", "", w.schedule, 4, {256}});
    for (size_t i = 0; i < trials.size(); ++i) {
      TrialRecord r;
      r.number = static_cast<int>(i);
      r.state = TrialState::complete;
      r.matrices = w.classic(trials[i].first, 4);
      r.value = trials[i].second;
      r.intermediate = {{256, trials[i].second}};
      store->write(r);
    }
    return store;
  }
  fs::path dir_;
};

TEST_F(Rescore, TheBestInSampleTrialWithAWorseRescoredValueIsNotTheWinner) {
  World w;
  // In-sample values as a search might report them: DDIM looks best on the search's own noise.
  auto store = store_of(w, {{"ddim", 0.01},
                            {"dpmsolver++(2M)", 0.02},
                            {"dpmsolver++(3M)", 0.03},
                            {"dpmsolver++(2M)", 0.5}});
  // Independent of the code under test: the re-scored values, computed directly.
  const double ddim = w.rescore(w.classic("ddim", 4));
  const double dpm2 = w.rescore(w.classic("dpmsolver++(2M)", 4));
  const double dpm3 = w.rescore(w.classic("dpmsolver++(3M)", 4));
  ASSERT_GT(ddim, dpm2);  // the premise: first order is worse than second order at 4 steps
  const double best_other = std::min(dpm2, dpm3);

  int calls = 0;
  const auto rescore = [&](const Matrices& m) {
    ++calls;
    return w.rescore(m);
  };
  ASSERT_TRUE(rescore_best(read_store(store->path()), 3, *store, rescore, {}));
  EXPECT_EQ(calls, 3);  // the top 3 by in-sample value, not trial 3
  const StoreContents c = read_store(store->path());
  ASSERT_EQ(c.validations.size(), 3u);
  EXPECT_FALSE(c.validations.count(3));
  // Both numbers are kept per trial: the in-sample value and the re-scored one.
  EXPECT_EQ(*c.trials[0].value, 0.01);
  EXPECT_DOUBLE_EQ(c.validations.at(0), ddim);
  EXPECT_DOUBLE_EQ(c.validations.at(1), dpm2);
  EXPECT_DOUBLE_EQ(c.validations.at(2), dpm3);

  const StoreSummary s = summarize(c);
  ASSERT_NE(s.best, nullptr);
  EXPECT_EQ(s.best->number, 0);  // the in-sample best is still reported as such
  ASSERT_NE(s.winner, nullptr);
  EXPECT_NE(s.winner->number, 0);
  EXPECT_EQ(s.winner->number, dpm2 <= dpm3 ? 1 : 2);
  EXPECT_DOUBLE_EQ(s.winner_rescored, best_other);
  EXPECT_EQ(s.rescored, 3);

  // Export order: re-scored trials by their re-scored value, then the rest by in-sample value.
  const std::vector<ExportEntry> e = ranked_entries(c, 4);
  ASSERT_EQ(e.size(), 4u);
  EXPECT_EQ(e[0].trial, s.winner->number);
  EXPECT_DOUBLE_EQ(e[0].validation, best_other);
  EXPECT_EQ(e[1].trial, dpm2 <= dpm3 ? 2 : 1);
  EXPECT_EQ(e[2].trial, 0);
  EXPECT_EQ(e[3].trial, 3);
  EXPECT_TRUE(std::isnan(e[3].validation));
  EXPECT_EQ(e[3].value, 0.5);

  // Already re-scored trials are not redone.
  ASSERT_TRUE(rescore_best(c, 3, *store, rescore, {}));
  EXPECT_EQ(calls, 3);
}

TEST_F(Rescore, AStoppedRescoringResumesWithoutRedoingAnything) {
  World w;
  auto store = store_of(w, {{"ddim", 0.01}, {"dpmsolver++(2M)", 0.02}, {"dpmsolver++(3M)", 0.03}});
  int calls = 0;
  const auto stop_after_one = [&](const Matrices& m) {
    ++calls;
    request_stop();  // like Ctrl-C during the first re-measurement
    return w.rescore(m);
  };
  EXPECT_FALSE(rescore_best(read_store(store->path()), 3, *store, stop_after_one, {}));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(read_store(store->path()).validations.size(), 1u);  // the finished one is stored
  EXPECT_FALSE(summarize(read_store(store->path())).winner == nullptr);

  // The resume (a new process after a kill reads the same store) re-scores only the other two.
  reset_stop();
  store.reset();
  auto reopened = TrialStore::open((dir_ / "s.h5").string());
  calls = 0;
  const auto count = [&](const Matrices& m) {
    ++calls;
    return w.rescore(m);
  };
  ASSERT_TRUE(rescore_best(read_store(reopened->path()), 3, *reopened, count, {}));
  EXPECT_EQ(calls, 2);
  const StoreContents c = read_store(reopened->path());
  ASSERT_EQ(c.validations.size(), 3u);
  EXPECT_DOUBLE_EQ(c.validations.at(0), w.rescore(w.classic("ddim", 4)));
}

TEST_F(Rescore, AFailedRescoringIsStoredAsNaNAndNeverWins) {
  World w;
  auto store = store_of(w, {{"ddim", 0.01}, {"dpmsolver++(2M)", 0.02}});
  const auto failing_first = [&](const Matrices& m) {
    if (m.solver == "ddim") throw NumericalError("non-finite samples");
    return 1.5;
  };
  ASSERT_TRUE(rescore_best(read_store(store->path()), 2, *store, failing_first, {}));
  const StoreContents c = read_store(store->path());
  EXPECT_TRUE(std::isnan(c.validations.at(0)));
  EXPECT_EQ(c.validations.at(1), 1.5);
  EXPECT_EQ(summarize(c).winner->number, 1);
  const auto e = ranked_entries(c, 2);
  EXPECT_EQ(e[0].trial, 1);
  EXPECT_EQ(e[1].trial, 0);
}

TEST(Spread, MedianAndRangeOfTheFiniteRatios) {
  auto outcome = [](double ratio) {
    SeedOutcome o;
    o.ratio = ratio;
    return o;
  };
  Spread s = spread_of({outcome(0.3), outcome(0.1), outcome(0.2)});
  EXPECT_EQ(s.runs, 3);
  EXPECT_EQ(s.median, 0.2);
  EXPECT_EQ(s.min, 0.1);
  EXPECT_EQ(s.max, 0.3);
  s = spread_of({outcome(0.4), outcome(0.1), outcome(kNaN), outcome(0.3), outcome(0.2)});
  EXPECT_EQ(s.runs, 4);
  EXPECT_DOUBLE_EQ(s.median, 0.25);  // (0.2 + 0.3) / 2
  EXPECT_EQ(s.min, 0.1);
  EXPECT_EQ(s.max, 0.4);
  s = spread_of({outcome(kNaN)});
  EXPECT_EQ(s.runs, 0);
  EXPECT_TRUE(std::isnan(s.median));
}

TEST(Spread, ASeedsOutcomeIsItsWinnerOverTheBaselineOnUnseenNoise) {
  StoreContents c;
  TrialRecord a, b;
  a.number = 0, a.state = TrialState::complete, a.value = 0.1;  // in-sample best
  b.number = 1, b.state = TrialState::complete, b.value = 0.2;
  c.trials = {a, b};
  c.validations = {{0, 0.9}, {1, 0.6}};
  Baseline ddim, dpm;
  ddim.label = "ddim", ddim.value = 5, ddim.validation = 4;
  dpm.label = "dpmsolver++(2M)", dpm.value = 2.5, dpm.validation = 2.4;
  c.baselines = {ddim, dpm};
  const SeedOutcome o = seed_outcome(c, "x.h5", 3, "dpmsolver++(2M)");
  EXPECT_EQ(o.store, "x.h5");
  EXPECT_EQ(o.seed, 3);
  EXPECT_EQ(o.trial, 1);
  EXPECT_EQ(o.rescored, 0.6);
  EXPECT_EQ(o.baseline, 2.4);
  EXPECT_DOUBLE_EQ(o.ratio, 0.25);
  EXPECT_TRUE(std::isnan(seed_outcome(c, "x.h5", 3, "unipc(bh2)").ratio));  // not measured
}

}  // namespace
}  // namespace samplersearch
