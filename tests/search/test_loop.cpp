// The search loop against real Optuna: warm starts first, every trial stored before it is told,
// budgets, failures and stops.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>

#include "samplersearch/common/error.hpp"
#include "samplersearch/samplers/discretization.hpp"
#include "samplersearch/samplers/exact_models.hpp"
#include "samplersearch/samplers/solver.hpp"
#include "samplersearch/search/loop.hpp"

namespace samplersearch {
namespace {

// Mean squared distance to the reference samples (a mergeable trajectory error).
class TrajectoryState final : public MetricState {
 public:
  void add(const at::Tensor& s, const at::Tensor& r) override {
    sum_ += (s - r).to(at::kDouble).pow(2).sum().item<double>();
    n_ += s.size(0);
  }
  void merge(const MetricState& o) override {
    sum_ += dynamic_cast<const TrajectoryState&>(o).sum_;
    n_ += o.count();
  }
  int64_t count() const override { return n_; }
  double value() const override { return sum_ / static_cast<double>(n_); }

 private:
  double sum_ = 0;
  int64_t n_ = 0;
};

class Trajectory final : public Metric {
 public:
  std::string_view name() const override { return "trajectory"; }
  bool needs_reference_samples() const override { return true; }
  std::unique_ptr<MetricState> start() const override {
    return std::make_unique<TrajectoryState>();
  }
};

// Records every trial and checks Optuna has not been told of it yet.
class RecordingSink final : public TrialSink {
 public:
  explicit RecordingSink(OptunaBridge& study, int stop_after = -1)
      : study_(study), stop_after_(stop_after) {}
  void write(const TrialRecord& r) override {
    for (const FrozenTrial& t : study_.trials())
      if (t.number == r.number) {
        EXPECT_EQ(t.state, TrialState::running) << "told before stored";
      }
    records.push_back(r);
    if (static_cast<int>(records.size()) == stop_after_) request_stop();
  }
  std::vector<TrialRecord> records;

 private:
  OptunaBridge& study_;
  int stop_after_;
};

struct World {
  std::shared_ptr<const Schedule> schedule = make_schedule("vp-linear");
  std::vector<double> times = make_timesteps("time-quadratic", *schedule, 4, {1.0, 1e-3});
  GaussianMixtureModel model = [&] {
    at::manual_seed(5);
    const auto f = at::TensorOptions().dtype(at::kDouble);
    return GaussianMixtureModel(
        {at::tensor({0.5, 0.5}, f), at::randn({2, 8}, f), at::tensor({0.1, 0.3}, f)}, schedule,
        {8});
  }();
  Trajectory metric;
  ReferenceSamples reference{
      solver_matrices("ddim",
                      SolverPlan{schedule, TimeGrid("time-quadratic", {1.0, 1e-3}), 40, {}}),
      model, 3, SampleLayout{{8}, at::kFloat}};
  Objective objective{&model, &metric, {{8}, at::kFloat}, 3, 16, {16, 32}, &reference, {}};
  std::unique_ptr<SearchSpace> space =
      make_space("matrix", SpaceConfig{schedule, times, {{"tail", 2}}, {}});
  DevicePool pool{{"cpu:2"}};
};

// An in-memory study with Optuna's random sampler.
void create_random_study(OptunaBridge& study) {
  StudyConfig config;
  config.sampler = "random";
  study.create_study(config);
}

TEST(Loop, WarmStartsFirstEveryTrialStoredBeforeToldAndTheBudgetHolds) {
  reset_stop();
  World w;
  OptunaBridge study;
  StudyConfig config;
  config.sampler = "random";
  config.sampler_params = {{"seed", 1}};
  study.create_study(config);
  RecordingSink sink(study);
  LoopOptions options;
  options.n_trials = 8;
  options.concurrency = 2;
  const LoopResult r = run_search(study, *w.space, w.objective, w.pool, sink, options);
  EXPECT_EQ(r.complete + r.pruned + r.failed, 8);
  ASSERT_EQ(sink.records.size(), 8u);
  const auto trials = study.trials();
  ASSERT_EQ(trials.size(), 8u);
  // The warm starts are the first trials, with their params exactly.
  const auto warm = w.space->warm_starts();
  for (size_t i = 0; i < warm.size() && i < trials.size(); ++i) {
    EXPECT_EQ(trials[i].user_attrs.value("warm_start", ""), warm[i].label);
    for (const TrialRecord& rec : sink.records)
      if (rec.number == static_cast<int>(i)) {
        EXPECT_EQ(rec.warm_start, warm[i].label);
      }
    for (const auto& [k, v] : warm[i].params.items())
      EXPECT_NEAR(trials[i].params[k].get<double>(), v.get<double>(), 1e-12) << k;
  }
  // Stored values are what Optuna holds, and the best is their minimum.
  double best = INFINITY;
  for (const TrialRecord& rec : sink.records) {
    if (rec.state != TrialState::complete) continue;
    best = std::min(best, *rec.value);
    EXPECT_EQ(trials[static_cast<size_t>(rec.number)].values.at(0), *rec.value);
    EXPECT_EQ(rec.intermediate.size(), 2u);
    ASSERT_TRUE(rec.matrices.has_value());
    EXPECT_EQ(rec.matrices->steps(), 4);
  }
  ASSERT_TRUE(r.best.has_value());
  EXPECT_EQ(*r.best->value, best);
  EXPECT_FALSE(r.interrupted);
}

TEST(Loop, AStopFinishesRunningTrialsAndAsksNoMore) {
  reset_stop();
  World w;
  OptunaBridge study;
  create_random_study(study);
  RecordingSink sink(study, 2);
  LoopOptions options;
  options.n_trials = 50;
  options.concurrency = 2;
  const LoopResult r = run_search(study, *w.space, w.objective, w.pool, sink, options);
  EXPECT_TRUE(r.interrupted);
  EXPECT_LE(sink.records.size(), 3u);  // the two that stopped it and at most one in flight
  for (const FrozenTrial& t : study.trials()) EXPECT_NE(t.state, TrialState::running);
  reset_stop();
}

// A store that fails on its third write (a full disk): the loop must stop asking, let the other
// trial end, not tell Optuna of the trial it could not store, and rethrow instead of hanging.
class FailingSink final : public TrialSink {
 public:
  void write(const TrialRecord& r) override {
    if (++writes == 3) throw FileError("store.h5", "no space left on device");
    stored.push_back(r.number);
  }
  int writes = 0;
  std::vector<int> stored;
};

TEST(Loop, AnErrorThatIsNotTheTrialsStopsTheLoopAndIsRethrown) {
  reset_stop();
  World w;
  OptunaBridge study;
  create_random_study(study);
  FailingSink sink;
  LoopOptions options;
  options.n_trials = 50;
  options.concurrency = 2;
  try {
    run_search(study, *w.space, w.objective, w.pool, sink, options);
    FAIL() << "no error";
  } catch (const FileError& e) {
    EXPECT_EQ(std::string(e.what()), "store.h5: no space left on device");
  }
  EXPECT_LE(sink.writes, 4);  // the failing write and at most the one other trial in flight
  const std::vector<FrozenTrial> trials = study.trials();
  for (const FrozenTrial& t : trials) {
    const bool stored =
        std::find(sink.stored.begin(), sink.stored.end(), t.number) != sink.stored.end();
    // Stored trials were told; the one that could not be stored stays RUNNING for resume.
    if (stored) {
      EXPECT_NE(t.state, TrialState::running) << t.number;
    }
  }
  EXPECT_EQ(std::count_if(trials.begin(), trials.end(),
                          [](const FrozenTrial& t) { return t.state == TrialState::running; }),
            1);
}

TEST(Loop, AParameterTheSpaceRejectsFailsOnlyThatTrial) {
  reset_stop();
  World w;
  OptunaBridge study;
  create_random_study(study);
  // Rows whose ratios cancel: c2_0 = -1 with the diagonal 1 sums to 0 (NumericalError).
  nlohmann::json bad = w.space->warm_starts().front().params;
  bad["c2_0"] = -1.0;
  study.enqueue(bad);
  RecordingSink sink(study);
  LoopOptions options;
  options.n_trials = 3;
  options.enqueue_warm_starts = false;
  const LoopResult r = run_search(study, *w.space, w.objective, w.pool, sink, options);
  EXPECT_EQ(r.failed, 1);
  EXPECT_EQ(r.complete, 2);
  ASSERT_EQ(sink.records.front().state, TrialState::fail);
  EXPECT_EQ(sink.records.front().reason, "row 2 of the matrix sums to 0");
  EXPECT_FALSE(sink.records.front().matrices.has_value());
}

// One "best": only COMPLETE trials with a value count, a lower value wins, and no best yet means
// any COMPLETE trial is the best.
TEST(Loop, ImprovesOnRanksCompleteTrialsByValue) {
  TrialRecord a, b, pruned;
  a.state = b.state = TrialState::complete;
  a.value = 0.25;
  b.value = 0.5;
  pruned.state = TrialState::pruned;
  pruned.value = 0.125;  // a pruned trial never ranks, whatever it reported
  EXPECT_TRUE(improves_on(a, nullptr));
  EXPECT_TRUE(improves_on(a, &b));
  EXPECT_FALSE(improves_on(b, &a));
  EXPECT_FALSE(improves_on(a, &a));  // ties keep the earlier trial
  EXPECT_FALSE(improves_on(pruned, nullptr));
  EXPECT_FALSE(improves_on(pruned, &b));
}

// tell_record tells Optuna exactly what the record holds: COMPLETE with its value, PRUNED, and
// FAIL with the reason as the user attr fail_reason.
TEST(Loop, TellRecordTellsEachFinishedState) {
  OptunaBridge study;
  create_random_study(study);
  const std::vector<Distribution> d{Distribution::floating("x", 0, 1)};
  TrialRecord c, p, f;
  c.number = study.ask(d).number;
  p.number = study.ask(d).number;
  f.number = study.ask(d).number;
  c.state = TrialState::complete;
  c.value = 0.375;
  p.state = TrialState::pruned;
  f.state = TrialState::fail;
  f.reason = kInterruptedReason;
  for (const TrialRecord* r : {&c, &p, &f}) tell_record(study, *r);
  const std::vector<FrozenTrial> t = study.trials();
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].state, TrialState::complete);
  EXPECT_EQ(t[0].values, std::vector<double>{0.375});
  EXPECT_EQ(t[1].state, TrialState::pruned);
  EXPECT_EQ(t[2].state, TrialState::fail);
  EXPECT_EQ(t[2].user_attrs.at("fail_reason"), "interrupted");
  EXPECT_STREQ(TrialCancelled().what(), "interrupted");
}

}  // namespace
}  // namespace samplersearch
