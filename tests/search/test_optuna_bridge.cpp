// The Optuna bridge against real Optuna (search/optuna_bridge.py run by /usr/bin/python3): every
// sampler on every storage that runs here, warm starts, pruning, trial states, errors, a killed
// bridge and a hung one. One bridge serves most tests: starting one imports Optuna (~1.3 s).
// One file of ~780 lines on purpose: splitting it would start that shared bridge once per file.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "samplersearch/common/registry.hpp"
#include "samplersearch/search/optuna_bridge.hpp"
#include "samplersearch/search/shared_study.hpp"

namespace samplersearch {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// Doubles cross JSON as shortest round-trip decimals on both sides: exact.
constexpr double kJsonRoundTrip = 0.0;
// Optuna maps a Sobol point u to low + u * (high - low): a few ulps of 6.
constexpr double kQmcScale = 1e-12;

// f(x, y) = (x - 1)^2 + (y + 0.5)^2, minimum 0 at (1, -0.5).
double quadratic(double x, double y) { return (x - 1) * (x - 1) + (y + 0.5) * (y + 0.5); }

const std::vector<Distribution>& xy_space() {
  static const std::vector<Distribution> space{Distribution::floating("x", -3, 3),
                                               Distribution::floating("y", -3, 3)};
  return space;
}

class OptunaBridgeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Study files on tmpfs when there is one: sqlite fsyncs every commit (~90 ms a trial on
    // this machine's disk), which would test the disk, not the bridge.
    std::string tmpl =
        fs::is_directory("/dev/shm") ? "/dev/shm" : fs::temp_directory_path().string();
    tmpl += "/samplersearch_bridge_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = new fs::path(tmpl);
    bridge_ = new OptunaBridge();
  }
  static void TearDownTestSuite() {
    delete bridge_;
    bridge_ = nullptr;
    fs::remove_all(*dir_);
    delete dir_;
  }

  // "" (in-memory), sqlite:///dir/tag.db or journal:///dir/tag.log.
  static std::string storage_url(const std::string& kind, const std::string& tag) {
    if (kind == "memory") return "";
    if (kind == "sqlite") return "sqlite:///" + (*dir_ / (tag + ".db")).string();
    return "journal://" + (*dir_ / (tag + ".log")).string();
  }

  // ask -> tell n times on the quadratic; returns the told values by trial number.
  static std::vector<double> run_quadratic(OptunaBridge& bridge, int n) {
    std::vector<double> told;
    for (int i = 0; i < n; ++i) {
      const AskedTrial t = bridge.ask(xy_space());
      const double v = quadratic(t.params.at("x").get<double>(), t.params.at("y").get<double>());
      const FrozenTrial done = bridge.tell(t.number, {v});
      EXPECT_EQ(done.state, TrialState::complete);
      told.push_back(v);
    }
    return told;
  }

  // Every trial COMPLETE, numbered 0..n-1, its value f(params), and best_trials the minimum.
  static void expect_recorded(OptunaBridge& bridge, const std::vector<double>& told) {
    const std::vector<FrozenTrial> trials = bridge.trials();
    ASSERT_EQ(trials.size(), told.size());
    for (size_t i = 0; i < trials.size(); ++i) {
      const FrozenTrial& t = trials[i];
      EXPECT_EQ(t.number, static_cast<int>(i));
      EXPECT_EQ(t.state, TrialState::complete);
      ASSERT_EQ(t.values.size(), 1u);
      const double x = t.params.at("x").get<double>(), y = t.params.at("y").get<double>();
      EXPECT_GE(x, -3.0);
      EXPECT_LE(x, 3.0);
      EXPECT_NEAR(t.values[0], quadratic(x, y), kJsonRoundTrip);
      EXPECT_NEAR(t.values[0], told[i], kJsonRoundTrip);
      EXPECT_FALSE(t.datetime_start.empty());
    }
    const std::vector<FrozenTrial> best = bridge.best_trials();
    ASSERT_EQ(best.size(), 1u);
    EXPECT_NEAR(best[0].values.at(0), *std::min_element(told.begin(), told.end()), kJsonRoundTrip);
  }

  static double best_of(const std::vector<double>& v) {
    return *std::min_element(v.begin(), v.end());
  }

  static inline fs::path* dir_ = nullptr;
  static inline OptunaBridge* bridge_ = nullptr;
};

class SamplerStorage : public OptunaBridgeTest,
                       public ::testing::WithParamInterface<std::string> {};

// Every sampler on one storage kind, studies named after the sampler.
TEST_P(SamplerStorage, EverySamplerRecordsAndConverges) {
  const std::string kind = GetParam();
  OptunaBridge& bridge = *bridge_;
  auto config = [&](const std::string& sampler, json params) {
    StudyConfig c;
    c.name = sampler + "-" + kind;
    c.sampler = sampler;
    c.sampler_params = std::move(params);
    c.storage = storage_url(kind, c.name);
    return c;
  };

  {  // random: seeded, records exactly what was told
    SCOPED_TRACE("random");
    const StudyInfo info = bridge.create_study(config("random", {{"seed", 7}}));
    EXPECT_EQ(info.n_trials, 0);
    EXPECT_EQ(info.storage_kind, kind == "sqlite" ? "rdb" : kind);
    EXPECT_EQ(info.effective_seed, 7);
    const auto told = run_quadratic(bridge, 12);
    expect_recorded(bridge, told);
  }
  {  // tpe: 10 random startup trials, then the model; 40 trials beat random search, whose
     // expected best of n uniform draws on the 6x6 square is about 36 / (pi (n + 1)) = 0.28
    SCOPED_TRACE("tpe");
    bridge.create_study(config("tpe", {{"seed", 1}, {"n_startup_trials", 10}}));
    const auto told = run_quadratic(bridge, 40);
    expect_recorded(bridge, told);
    EXPECT_LT(best_of(told), 0.5 * 36 / (M_PI * 41));  // seed 1 gives 0.080
  }
  {  // cmaes around a warm start: the enqueued mean is trial 0, the rest stay near it
    SCOPED_TRACE("cmaes");
    const json x0 = {{"x", 0.7}, {"y", -0.2}};
    bridge.create_study(config("cmaes", {{"seed", 3}, {"x0", x0}, {"sigma0", 0.1}}));
    bridge.enqueue(x0);
    const auto told = run_quadratic(bridge, 30);
    expect_recorded(bridge, told);
    const auto trials = bridge.trials();
    EXPECT_EQ(trials[0].params, x0);
    // After trial 0 the search space is known and CMA-ES samples N(x0, 0.1^2) and moves on:
    // nothing strays 1.0 (10 sigma0) from the warm start.
    for (size_t i = 1; i < trials.size(); ++i) {
      EXPECT_LT(std::abs(trials[i].params["x"].get<double>() - 0.7), 1.0) << i;
      EXPECT_LT(std::abs(trials[i].params["y"].get<double>() + 0.2), 1.0) << i;
    }
    const double warm = quadratic(0.7, -0.2);  // 0.18, 4 sigma0 from the optimum
    EXPECT_LT(best_of(told), 0.25 * warm);     // seed 3 gives 0.030
  }
  {  // qmc: trial 0 comes from the independent sampler, then unscrambled Sobol points 0, 1, ...
    SCOPED_TRACE("qmc");
    bridge.create_study(config("qmc", {{"seed", 0}, {"qmc_type", "sobol"}, {"scramble", false}}));
    const auto told = run_quadratic(bridge, 8);
    expect_recorded(bridge, told);
    // The first 2-D Sobol points (Joe-Kuo directions, as scipy.stats.qmc.Sobol gives them).
    const double sobol[7][2] = {{0, 0},         {0.5, 0.5},     {0.75, 0.25},  {0.25, 0.75},
                                {0.375, 0.375}, {0.875, 0.875}, {0.625, 0.125}};
    const auto trials = bridge.trials();
    for (int k = 0; k < 7; ++k) {
      EXPECT_NEAR(trials[k + 1].params["x"].get<double>(), -3 + 6 * sobol[k][0], kQmcScale) << k;
      EXPECT_NEAR(trials[k + 1].params["y"].get<double>(), -3 + 6 * sobol[k][1], kQmcScale) << k;
    }
  }
  {  // grid: every point exactly once, then the grid reports itself used up
    SCOPED_TRACE("grid");
    const json grid = {{"x", {-1, 0, 1, 2}}, {"y", {-0.5, 0.5}}};
    bridge.create_study(config("grid", {{"seed", 0}, {"search_space", grid}}));
    const auto told = run_quadratic(bridge, 7);
    EXPECT_EQ(bridge.study_info().grid_exhausted, false);
    auto all = told;
    const auto last = run_quadratic(bridge, 1);
    all.push_back(last[0]);
    EXPECT_EQ(bridge.study_info().grid_exhausted, true);
    expect_recorded(bridge, all);
    std::set<std::pair<double, double>> seen;
    for (const FrozenTrial& t : bridge.trials())
      seen.emplace(t.params["x"].get<double>(), t.params["y"].get<double>());
    std::set<std::pair<double, double>> expected;
    for (double x : {-1.0, 0.0, 1.0, 2.0})
      for (double y : {-0.5, 0.5}) expected.emplace(x, y);
    EXPECT_EQ(seen, expected);
    EXPECT_EQ(best_of(all), 0.0);  // (1, -0.5) is on the grid
  }
  {  // nsga2, two objectives: best_trials is exactly the non-dominated set
    SCOPED_TRACE("nsga2");
    StudyConfig c = config("nsga2", {{"seed", 5}, {"population_size", 8}});
    c.directions = {"minimize", "minimize"};
    const StudyInfo info = bridge.create_study(c);
    EXPECT_EQ(info.directions, (std::vector<std::string>{"minimize", "minimize"}));
    for (int i = 0; i < 24; ++i) {
      const AskedTrial t = bridge.ask(xy_space());
      const double x = t.params["x"].get<double>(), y = t.params["y"].get<double>();
      bridge.tell(t.number, {x * x + y * y, (x - 1) * (x - 1) + (y - 1) * (y - 1)});
    }
    const auto trials = bridge.trials();
    ASSERT_EQ(trials.size(), 24u);
    std::set<int> front;
    for (const FrozenTrial& a : trials) {
      const double a0 = a.values.at(0), a1 = a.values.at(1);
      EXPECT_EQ(a0, a.params["x"].get<double>() * a.params["x"].get<double>() +
                        a.params["y"].get<double>() * a.params["y"].get<double>());
      bool dominated = false;
      for (const FrozenTrial& b : trials)
        dominated = dominated || (b.values[0] <= a0 && b.values[1] <= a1 &&
                                  (b.values[0] < a0 || b.values[1] < a1));
      if (!dominated) front.insert(a.number);
    }
    std::set<int> best;
    for (const FrozenTrial& t : bridge.best_trials()) best.insert(t.number);
    EXPECT_EQ(best, front);
    EXPECT_GE(front.size(), 2u);
  }
}

INSTANTIATE_TEST_SUITE_P(Storages, SamplerStorage,
                         ::testing::Values("memory", "sqlite", "journal"));

// The C++ registries are the bridge's tables: names agree with what hello lists, and unknown
// names are ConfigErrors before anything reaches Python.
TEST_F(OptunaBridgeTest, RegistriesMatchTheBridge) {
  const json hello = bridge_->hello();
  EXPECT_EQ(hello.at("samplers").get<std::vector<std::string>>(),
            registry_names(optuna_sampler_registry()));
  EXPECT_EQ(hello.at("pruners").get<std::vector<std::string>>(),
            registry_names(optuna_pruner_registry()));
  EXPECT_EQ(hello.at("storages").size(), optuna_storage_registry().size());
  EXPECT_EQ(hello.at("protocol"), 1);
  StudyConfig c;
  c.sampler = "annealing";
  try {
    bridge_->create_study(c);
    ADD_FAILURE() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(),
                 "sampler: unknown name 'annealing' (valid: tpe, cmaes, random, qmc, "
                 "nsga2, grid)");
  }
  c.sampler = "tpe";
  c.pruner = "patient";
  EXPECT_THROW(bridge_->create_study(c), ConfigError);
  c.pruner = "none";
  c.storage = "redis://localhost";
  EXPECT_THROW(bridge_->create_study(c), ConfigError);
  EXPECT_EQ(optuna_storage_kind(""), "memory");
  EXPECT_EQ(optuna_storage_kind("sqlite:///a.db"), "sqlite");
  EXPECT_EQ(optuna_storage_kind("postgresql+psycopg2://u@h/db"), "postgresql");
  EXPECT_EQ(optuna_storage_kind("journal:///a.log"), "journal");
}

// The bridge's own name tables (its `describe` op) are the C++ tables: samplers, pruners and
// storage kinds by name and order, Optuna's trial states with their codes' order, and the
// finished ones (those a tell accepts) are exactly TrialState::is_finished().
TEST_F(OptunaBridgeTest, DescribeListsTheCppTables) {
  const json d = bridge_->request({{"op", "describe"}});
  EXPECT_EQ(d.at("samplers").get<std::vector<std::string>>(),
            registry_names(optuna_sampler_registry()));
  EXPECT_EQ(d.at("pruners").get<std::vector<std::string>>(),
            registry_names(optuna_pruner_registry()));
  EXPECT_EQ(d.at("storages").get<std::vector<std::string>>(),
            registry_names(optuna_storage_registry()));
  std::vector<std::string> shared;
  for (const StorageEntry& e : optuna_storage_registry())
    if (e.shared) shared.emplace_back(e.name);
  EXPECT_EQ(d.at("shared_storages").get<std::vector<std::string>>(), shared);
  EXPECT_EQ(shared, (std::vector<std::string>{"postgresql", "journal"}));
  std::vector<std::string> states, finished;
  for (const TrialStateEntry& e : trial_state_table()) {
    states.emplace_back(e.name);
    if (is_finished(e.state)) finished.emplace_back(e.name);
    EXPECT_EQ(trial_state_from_string(e.name), e.state);
  }
  EXPECT_EQ(d.at("states").get<std::vector<std::string>>(), states);
  EXPECT_EQ(d.at("finished_states").get<std::vector<std::string>>(), finished);
  EXPECT_EQ(finished, (std::vector<std::string>{"COMPLETE", "PRUNED", "FAIL"}));
  // A scheme neither side lists is refused by both (the bridge used to accept mysql://).
  EXPECT_THROW(optuna_storage_kind("mysql://u@h/db"), ConfigError);
  try {
    bridge_->request({{"op", "create_study"}, {"storage", "mysql://u@h/db"}});
    ADD_FAILURE() << "the bridge accepted mysql://";
  } catch (const BridgeError& e) {
    EXPECT_EQ(e.python_type(), "ValueError");
    EXPECT_NE(e.python_message().find("unknown storage URL 'mysql://u@h/db'"), std::string::npos)
        << e.python_message();
  }
}

// A well-formed storage URL whose database cannot be reached (a SQLite file in a directory that
// does not exist) comes back as the database driver's error; the bridge stays usable.
TEST_F(OptunaBridgeTest, UnreachableStorageComesBackWithTheDriversMessage) {
  StudyConfig c;
  c.sampler = "random";
  c.storage = "sqlite:////nonexistent_samplersearch_dir/study.db";
  try {
    bridge_->create_study(c);
    ADD_FAILURE() << "no BridgeError";
  } catch (const BridgeError& e) {
    EXPECT_EQ(e.kind(), BridgeError::Kind::python);
    EXPECT_EQ(e.python_type(), "OperationalError");
    EXPECT_EQ(
        e.python_message().rfind("(sqlite3.OperationalError) unable to open database file", 0), 0u)
        << e.python_message();
  }
  c.storage = "";
  bridge_->create_study(c);
  EXPECT_EQ(bridge_->study_info().n_trials, 0);
}

// Same seed, same draws: the seed reaches the sampler.
TEST_F(OptunaBridgeTest, SeedMakesRandomSamplerRepeatable) {
  std::vector<json> first;
  for (int run = 0; run < 2; ++run) {
    StudyConfig c;
    c.sampler = "random";
    c.sampler_params = {{"seed", 42}};
    bridge_->create_study(c);
    for (int i = 0; i < 3; ++i) {
      const AskedTrial t = bridge_->ask(xy_space());
      if (run == 0)
        first.push_back(t.params);
      else
        EXPECT_EQ(t.params, first[static_cast<size_t>(i)]);
      bridge_->tell(t.number, {1.0});
    }
  }
}

// Enqueued params come back from ask first, exactly and in order, with their user attrs.
TEST_F(OptunaBridgeTest, EnqueuedWarmStartsAreAskedFirst) {
  StudyConfig c;
  c.sampler = "tpe";
  c.sampler_params = {{"seed", 0}};
  bridge_->create_study(c);
  const json a = {{"x", 0.25}, {"y", -0.125}}, b = {{"x", 2.5}, {"y", 1.0}};
  bridge_->enqueue(a, {{"warm_start", "dpm_solver++(2m)"}});
  bridge_->enqueue(b);
  EXPECT_EQ(bridge_->trials({TrialState::waiting}).size(), 2u);
  const AskedTrial ta = bridge_->ask(xy_space());
  const AskedTrial tb = bridge_->ask(xy_space());
  EXPECT_EQ(ta.number, 0);
  EXPECT_EQ(ta.params, a);
  EXPECT_EQ(tb.params, b);
  const FrozenTrial done = bridge_->tell(ta.number, {quadratic(0.25, -0.125)});
  EXPECT_EQ(done.user_attrs.at("warm_start"), "dpm_solver++(2m)");
}

// Median pruner, 2 startup trials, 1 warm-up step: a trial far above the median of the
// completed trials' step-1 values is pruned at step 1, not at step 0, and a good one is not.
TEST_F(OptunaBridgeTest, MedianPrunerPrunesAnObviouslyBadTrial) {
  StudyConfig c;
  c.sampler = "random";
  c.sampler_params = {{"seed", 0}};
  c.pruner = "median";
  c.pruner_params = {{"n_startup_trials", 2}, {"n_warmup_steps", 1}};
  c.storage = storage_url("sqlite", "pruning");
  bridge_->create_study(c);
  // Completed trials report 1.2, 1.1, 1.0 (+ 0.01 step) at steps 0..2, each below the median
  // of those before it, so none is pruned; afterwards the step-1 median is 1.11.
  for (int i = 0; i < 3; ++i) {
    const AskedTrial t = bridge_->ask(xy_space());
    for (int step = 0; step < 3; ++step)
      EXPECT_FALSE(bridge_->report(t.number, step, 1.2 - 0.1 * i + 0.01 * step)) << i << step;
    bridge_->tell(t.number, {1.2 - 0.1 * i});
  }
  const AskedTrial bad = bridge_->ask(xy_space());
  EXPECT_FALSE(bridge_->report(bad.number, 0, 100.0));  // step 0 < n_warmup_steps
  EXPECT_TRUE(bridge_->report(bad.number, 1, 100.0));   // 100 > 1.11
  const FrozenTrial pruned = bridge_->tell_state(bad.number, TrialState::pruned);
  EXPECT_EQ(pruned.state, TrialState::pruned);
  EXPECT_EQ(pruned.values, std::vector<double>{100.0});  // Optuna keeps the last report
  EXPECT_EQ(pruned.intermediate_values, (std::map<int, double>{{0, 100.0}, {1, 100.0}}));

  const AskedTrial good = bridge_->ask(xy_space());
  EXPECT_FALSE(bridge_->report(good.number, 0, 0.5));
  EXPECT_FALSE(bridge_->report(good.number, 1, 0.5));  // 0.5 < 1.11
  bridge_->tell(good.number, {0.5});

  // Round trip through trials(): the states as Optuna stored them.
  std::vector<TrialState> states;
  for (const FrozenTrial& t : bridge_->trials()) states.push_back(t.state);
  EXPECT_EQ(states, (std::vector<TrialState>{TrialState::complete, TrialState::complete,
                                             TrialState::complete, TrialState::pruned,
                                             TrialState::complete}));
}

// FAIL with a reason, non-finite values across JSON, fail_running for resume.
TEST_F(OptunaBridgeTest, FailStatesReasonsAndNonFiniteValues) {
  StudyConfig c;
  c.sampler = "random";
  c.storage = storage_url("journal", "states");
  bridge_->create_study(c);
  const AskedTrial a = bridge_->ask(xy_space());
  bridge_->set_user_attr(a.number, "fail_reason", "NaN in sample 12");
  const FrozenTrial failed = bridge_->tell_state(a.number, TrialState::fail);
  EXPECT_EQ(failed.state, TrialState::fail);
  EXPECT_TRUE(failed.values.empty());
  EXPECT_EQ(failed.user_attrs.at("fail_reason"), "NaN in sample 12");

  const AskedTrial b = bridge_->ask(xy_space());
  EXPECT_FALSE(bridge_->report(b.number, 0, std::numeric_limits<double>::quiet_NaN()));
  const FrozenTrial inf = bridge_->tell(b.number, {std::numeric_limits<double>::infinity()});
  EXPECT_EQ(inf.state, TrialState::complete);
  EXPECT_EQ(inf.values, std::vector<double>{std::numeric_limits<double>::infinity()});
  EXPECT_TRUE(std::isnan(inf.intermediate_values.at(0)));

  const AskedTrial r1 = bridge_->ask(xy_space());
  const AskedTrial r2 = bridge_->ask(xy_space());
  bridge_->tell(r2.number, {1.0});
  EXPECT_EQ(bridge_->fail_running("interrupted"), std::vector<int>{r1.number});
  const FrozenTrial r1_after = bridge_->trials().at(static_cast<size_t>(r1.number));
  EXPECT_EQ(r1_after.state, TrialState::fail);
  EXPECT_EQ(r1_after.user_attrs.at("fail_reason"), "interrupted");
  EXPECT_TRUE(bridge_->trials({TrialState::running}).empty());

  EXPECT_THROW(bridge_->tell_state(r2.number, TrialState::complete), ConfigError);
  for (TrialState s : {TrialState::running, TrialState::complete, TrialState::pruned,
                       TrialState::fail, TrialState::waiting})
    EXPECT_EQ(trial_state_from_string(to_string(s)), s);
  EXPECT_THROW(trial_state_from_string("DONE"), ConfigError);
}

// Python exceptions come back as BridgeError with Optuna's own message; the bridge lives on.
TEST_F(OptunaBridgeTest, PythonErrorsComeBackWithTheirMessage) {
  StudyConfig c;
  c.sampler = "random";
  bridge_->create_study(c);
  const int pid = bridge_->pid();
  const int restarts = bridge_->restarts();
  auto error_of = [](auto&& call) -> BridgeError {
    try {
      call();
    } catch (const BridgeError& e) {
      return e;
    }
    ADD_FAILURE() << "no BridgeError";
    return BridgeError(BridgeError::Kind::protocol, "", "", "");
  };
  BridgeError e = error_of([&] { bridge_->tell(999, {1.0}); });
  EXPECT_EQ(e.kind(), BridgeError::Kind::python);
  EXPECT_EQ(e.python_type(), "ValueError");
  EXPECT_EQ(e.python_message(),
            "Cannot tell for trial with number 999 since it has not been created.");
  EXPECT_NE(std::string(e.what()).find(e.python_message()), std::string::npos);

  const AskedTrial t = bridge_->ask(xy_space());
  bridge_->tell(t.number, {1.0});
  e = error_of([&] { bridge_->tell(t.number, {2.0}); });
  EXPECT_EQ(e.python_message(), "Cannot tell a COMPLETE trial.");

  e = error_of([&] {
    StudyConfig bad;
    bad.sampler_params = {{"n_startup_trial", 3}};  // a typo reaches TPESampler's constructor
    bridge_->create_study(bad);
  });
  EXPECT_EQ(e.python_type(), "TypeError");
  EXPECT_EQ(e.python_message(),
            "TPESampler.__init__() got an unexpected keyword argument 'n_startup_trial'");
  e = error_of([&] {
    StudyConfig missing;
    missing.name = "nope";
    bridge_->load_study(missing);
  });
  EXPECT_EQ(e.python_type(), "KeyError");
  EXPECT_EQ(e.python_message(), "No such study nope.");  // str(), not repr(), of the KeyError
  e = error_of([&] { bridge_->ask({Distribution::floating("x", 1.0, 0.0)}); });
  EXPECT_EQ(e.python_type(), "ValueError");
  EXPECT_EQ(e.python_message(),
            "The `low` value must be smaller than or equal to the `high` "
            "value (low=1.0, high=0.0).");
  e = error_of([&] { bridge_->request({{"op", "frobnicate"}}); });
  EXPECT_EQ(e.python_message().rfind("unknown op 'frobnicate'", 0), 0u) << e.python_message();

  EXPECT_EQ(bridge_->pid(), pid);
  EXPECT_EQ(bridge_->restarts(), restarts);
  EXPECT_EQ(bridge_->study_info().n_trials, 1);
}

class KillBridge : public OptunaBridgeTest, public ::testing::WithParamInterface<std::string> {};

// kill -9 mid-study: the next request restarts the bridge, re-opens the study from storage, and
// every told trial is there; a trial asked before the kill can still be told by number.
TEST_P(KillBridge, RestartKeepsEveryToldTrial) {
  StudyConfig c;
  c.name = "killed-" + GetParam();
  c.sampler = "tpe";
  c.sampler_params = {{"seed", 11}};
  c.storage = storage_url(GetParam(), c.name);
  bridge_->create_study(c);
  const auto told = run_quadratic(*bridge_, 5);
  const AskedTrial in_flight = bridge_->ask(xy_space());
  const int old_pid = bridge_->pid();
  const int restarts = bridge_->restarts();
  ASSERT_EQ(::kill(old_pid, SIGKILL), 0);

  const AskedTrial next = bridge_->ask(xy_space());  // restarts and retries
  EXPECT_NE(bridge_->pid(), old_pid);
  EXPECT_EQ(bridge_->restarts(), restarts + 1);
  EXPECT_EQ(next.number, 6);
  bridge_->tell(in_flight.number, {quadratic(in_flight.params["x"].get<double>(),
                                             in_flight.params["y"].get<double>())});
  const auto trials = bridge_->trials();
  ASSERT_EQ(trials.size(), 7u);
  for (size_t i = 0; i < told.size(); ++i) {
    EXPECT_EQ(trials[i].state, TrialState::complete);
    EXPECT_NEAR(trials[i].values.at(0), told[i], kJsonRoundTrip);
  }
  EXPECT_EQ(trials[5].state, TrialState::complete);
  EXPECT_EQ(trials[6].state, TrialState::running);

  // Loading the study by name (as resume does) sees all 7 and shifts the seed by them.
  const StudyInfo info = bridge_->load_study(c);
  EXPECT_EQ(info.n_trials, 7);
  EXPECT_EQ(info.effective_seed, 11 + 7);
  // A study opened by load_study is re-opened the same way after a second kill.
  ASSERT_EQ(::kill(bridge_->pid(), SIGKILL), 0);
  EXPECT_EQ(bridge_->trials().size(), 7u);
  EXPECT_EQ(bridge_->restarts(), restarts + 2);
}

INSTANTIATE_TEST_SUITE_P(Storages, KillBridge, ::testing::Values("sqlite", "journal"));

// An in-memory study dies with its bridge: say so instead of silently starting an empty one.
TEST_F(OptunaBridgeTest, InMemoryStudyIsReportedLostAfterRestart) {
  StudyConfig c;
  c.name = "ephemeral";
  c.sampler = "random";
  bridge_->create_study(c);
  run_quadratic(*bridge_, 2);
  ASSERT_EQ(::kill(bridge_->pid(), SIGKILL), 0);
  try {
    bridge_->ask(xy_space());
    ADD_FAILURE() << "no BridgeError";
  } catch (const BridgeError& e) {
    EXPECT_EQ(e.kind(), BridgeError::Kind::lost_study);
    EXPECT_NE(std::string(e.what()).find("study 'ephemeral' used in-memory storage"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(bridge_->create_study(c).n_trials, 0);  // the restarted bridge works
}

// The raw protocol, no C++ client: a malformed line gets an error with id null, every stdout
// line is one JSON response with its request's id, and Optuna's warnings (the journal storage
// is experimental) stay on stderr.
TEST(OptunaBridgeProtocol, StdoutCarriesOnlyResponses) {
  char dir[] = "/tmp/samplersearch_protocol_XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const fs::path input = fs::path(dir) / "requests.jsonl";
  {
    std::ofstream out(input);
    out << "this is not json\n"
        << R"({"id": 1, "op": "hello"})"
        << "\n\n"
        << R"({"id": "a", "op": "create_study", "storage": "journal://)" << dir
        << R"(/j.log", "sampler": {"name": "random", "params": {"seed": 1}}})"
        << "\n"
        << R"({"id": 3, "op": "ask", "distributions": [{"name": "k", "type": "int", "low": 1, "high": 9, "step": 2}, {"name": "c", "type": "categorical", "choices": ["a", null, true]}]})"
        << "\n"
        << R"({"id": 4, "op": "tell", "number": 0, "values": ["-Infinity"]})"
        << "\n"
        << R"({"id": 5, "op": "shutdown"})"
        << "\n"
        << R"({"id": 6, "op": "hello"})"
        << "\n";
  }
  const std::string cmd = "'" + default_bridge_python() + "' '" + default_bridge_script() +
                          "' < '" + input.string() + "' 2> /dev/null";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::vector<json> responses;
  char line[1 << 16];
  while (std::fgets(line, sizeof line, pipe)) responses.push_back(json::parse(line));
  EXPECT_EQ(::pclose(pipe), 0);
  fs::remove_all(dir);

  ASSERT_EQ(responses.size(), 6u);  // nothing after shutdown
  EXPECT_EQ(responses[0]["id"], nullptr);
  EXPECT_EQ(responses[0]["ok"], false);
  EXPECT_EQ(responses[0]["error"]["type"], "JSONDecodeError");
  EXPECT_EQ(responses[1]["protocol"], 1);
  EXPECT_EQ(responses[2]["id"], "a");
  EXPECT_EQ(responses[2]["storage_kind"], "journal");
  const json& params = responses[3]["params"];
  const int k = params["k"].get<int>();
  EXPECT_TRUE(k >= 1 && k <= 9 && k % 2 == 1) << k;
  EXPECT_TRUE(params["c"] == "a" || params["c"].is_null() || params["c"] == true) << params;
  EXPECT_EQ(responses[4]["values"], json::array({"-Infinity"}));
  EXPECT_EQ(responses[5], (json{{"id", 5}, {"ok", true}}));
}

// A bridge that does not answer in time is killed, restarted and asked once more; the second
// timeout is reported as a timeout. Its own bridge: the shared one's study must not be reopened.
TEST(OptunaBridgeTimeout, HungBridgeIsReportedAsTimeout) {
  BridgeOptions options;
  options.timeout = std::chrono::milliseconds(700);
  OptunaBridge bridge(options);
  try {
    bridge.request({{"op", "sleep"}, {"seconds", 30}});
    ADD_FAILURE() << "no BridgeError";
  } catch (const BridgeError& e) {
    EXPECT_EQ(e.kind(), BridgeError::Kind::timeout);
    EXPECT_NE(std::string(e.what()).find("timed out: no response to 'sleep' within 700 ms"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(bridge.restarts(), 1);
  // A quick request within the timeout works again (the next request starts a fresh bridge).
  EXPECT_EQ(bridge.request({{"op", "hello"}}).at("protocol"), 1);
}

// Bridges that answer garbage, the wrong id, or crash on every request (scripts standing in for
// optuna_bridge.py that pass the hello): the request is retried once on a fresh bridge and then
// reported with the operation, what came back (or how the process ended) and the retry.
TEST(OptunaBridgeFaults, GarbageWrongIdsAndCrashesAreReportedAfterOneRetry) {
  char dir[] = "/tmp/samplersearch_faulty_XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  auto fake = [&](const std::string& name, const std::string& answer) {
    const std::string path = std::string(dir) + "/" + name + ".py";
    std::ofstream(path) << "import json, sys\n"
                           "for line in sys.stdin:\n"
                           "    req = json.loads(line)\n"
                           "    if req['op'] == 'hello':\n"
                           "        print(json.dumps({'id': req['id'], 'ok': True, 'protocol': 1}),"
                           " flush=True)\n"
                           "        continue\n"
                        << answer;
    BridgeOptions options;
    options.script = path;
    options.timeout = std::chrono::seconds(20);
    return options;
  };
  auto error_of = [](const BridgeOptions& options) -> BridgeError {
    OptunaBridge bridge(options);
    try {
      bridge.request({{"op", "study_info"}});
    } catch (const BridgeError& e) {
      EXPECT_EQ(bridge.restarts(), 1);
      return e;
    }
    ADD_FAILURE() << "no BridgeError";
    return BridgeError(BridgeError::Kind::python, "", "", "");
  };
  BridgeError e =
      error_of(fake("garbage", "    print('<html>502 Bad Gateway</html>', flush=True)\n"));
  EXPECT_EQ(e.kind(), BridgeError::Kind::protocol);
  EXPECT_STREQ(e.what(),
               "optuna bridge: study_info: response to 'study_info' is not JSON: <html>502 Bad "
               "Gateway</html> (also after restarting the bridge)");
  e = error_of(fake("wrong_id", "    print(json.dumps({'id': 999, 'ok': True}), flush=True)\n"));
  EXPECT_EQ(e.kind(), BridgeError::Kind::protocol);
  EXPECT_NE(std::string(e.what()).find("optuna bridge: study_info: response to 'study_info' (id "),
            std::string::npos)
      << e.what();
  EXPECT_NE(std::string(e.what()).find(") has the wrong id: {\"id\": 999, \"ok\": true} (also "
                                       "after restarting the bridge)"),
            std::string::npos)
      << e.what();
  e = error_of(fake("crash", "    sys.exit(7)\n"));
  EXPECT_EQ(e.kind(), BridgeError::Kind::died);
  EXPECT_NE(std::string(e.what()).find("exited with status 7 (also after restarting the bridge)"),
            std::string::npos)
      << e.what();
  // An answer that is JSON but lacks the fields of the operation.
  const BridgeOptions fields =
      fake("no_fields", "    print(json.dumps({'id': req['id'], 'ok': True}), flush=True)\n");
  OptunaBridge bridge(fields);
  try {
    bridge.study_info();
    ADD_FAILURE() << "no BridgeError";
  } catch (const BridgeError& error) {
    EXPECT_EQ(error.kind(), BridgeError::Kind::protocol);
    EXPECT_EQ(std::string(error.what()).rfind("optuna bridge: study_info: malformed response: ", 0),
              0u)
        << error.what();
    EXPECT_NE(std::string(error.what()).find("study_name"), std::string::npos) << error.what();
  }
  // The shared-study ops decode their answers the same way: a missing field is a protocol error
  // naming the op, not a JSON exception.
  const std::vector<std::pair<std::string, std::function<void()>>> shared_ops = {
      {"ask", [&] { ask_within_budget(bridge, {Distribution::floating("x", 0, 1)}, 3); }},
      {"counted", [&] { counted_in_study(bridge); }},
      {"stale_trials", [&] { stale_trials(bridge); }},
      {"fail_trial", [&] { fail_trial(bridge, 1, "interrupted"); }},
      {"claim", [&] { claim(bridge, "baseline:ddim", "host-1"); }},
  };
  for (const auto& [op, call] : shared_ops) {
    try {
      call();
      ADD_FAILURE() << op << ": no BridgeError";
    } catch (const BridgeError& error) {
      EXPECT_EQ(error.kind(), BridgeError::Kind::protocol) << op;
      EXPECT_EQ(
          std::string(error.what()).rfind("optuna bridge: " + op + ": malformed response: ", 0), 0u)
          << error.what();
    }
  }
  fs::remove_all(dir);
}

// A bridge that cannot start at all says how it ended and what was run.
TEST(OptunaBridgeStart, MissingInterpreterOrScript) {
  BridgeOptions options;
  options.python = "/nonexistent/python3";
  try {
    OptunaBridge bridge(options);
    ADD_FAILURE() << "no BridgeError";
  } catch (const BridgeError& e) {
    EXPECT_EQ(e.kind(), BridgeError::Kind::died);
    EXPECT_NE(std::string(e.what()).find("exited with status 127"), std::string::npos) << e.what();
  }
  options.python.clear();
  options.script = "/nonexistent/optuna_bridge.py";
  EXPECT_THROW(OptunaBridge{options}, FileError);
}

// A deferred start returns before Python has answered "hello": a bridge that cannot start
// fails its first request instead, with the same message; a working one answers as usual, and a
// bridge dropped before its first request is killed without waiting for the reply.
TEST(OptunaBridgeStart, DeferredHelloFailsOrAnswersAtTheFirstRequest) {
  BridgeOptions options;
  options.defer_hello = true;
  options.python = "/nonexistent/python3";
  OptunaBridge broken(options);  // no throw: the reply is not awaited yet
  try {
    broken.request({{"op", "hello"}});
    ADD_FAILURE() << "no BridgeError";
  } catch (const BridgeError& e) {
    EXPECT_EQ(e.kind(), BridgeError::Kind::died);
    EXPECT_NE(std::string(e.what()).find("exited with status 127"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("(starting '/nonexistent/python3 "), std::string::npos)
        << e.what();
  }
  options.python.clear();
  OptunaBridge working(options);
  EXPECT_EQ(working.hello().at("protocol"), 1);
  EXPECT_EQ(working.request({{"op", "hello"}}).at("protocol"), 1);
  { OptunaBridge dropped(options); }  // destroyed while Python is still importing Optuna

  // Read long after the start-up timeout has passed, a reply that came in time is still taken
  // (a search loads its data, or trains its classifier, before its first request). The stand-in
  // answers every line at once, so its reply is surely waiting after the sleep.
  char dir[] = "/tmp/samplersearch_deferred_XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string quick = std::string(dir) + "/quick_bridge.py";
  std::ofstream(quick) << "import json, sys\n"
                          "for line in sys.stdin:\n"
                          "    req = json.loads(line)\n"
                          "    print(json.dumps({'id': req['id'], 'ok': True, 'protocol': 1}), "
                          "flush=True)\n";
  options.script = quick;
  options.startup_timeout = std::chrono::milliseconds(1000);
  OptunaBridge late(options);
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  EXPECT_EQ(late.request({{"op", "hello"}}).at("protocol"), 1);
  fs::remove_all(dir);
}

// An sqlite:/// study is kept in write-ahead-log mode (one fsync a commit; search/optuna_bridge.py
// _sqlite_engine_kwargs), read back by Python's own sqlite3 from the file.
TEST_F(OptunaBridgeTest, SqliteStudiesUseTheWriteAheadLog) {
  char dir[] = "/tmp/samplersearch_wal_XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string db = std::string(dir) + "/study.db";
  {
    OptunaBridge bridge;
    StudyConfig config;
    config.storage = "sqlite:///" + db;
    config.sampler = "random";
    bridge.create_study(config);
    const AskedTrial t = bridge.ask({Distribution::floating("x", 0, 1)});
    bridge.tell(t.number, {t.params["x"].get<double>()});
  }
  const std::string cmd = "'" + default_bridge_python() +
                          "' -c \"import sqlite3; print(sqlite3.connect('" + db +
                          "').execute('PRAGMA journal_mode').fetchone()[0])\"";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char line[256] = {};
  ASSERT_NE(std::fgets(line, sizeof line, pipe), nullptr);
  ::pclose(pipe);
  EXPECT_EQ(std::string(line), "wal\n");
  fs::remove_all(dir);
}

// The pure parse step of every response line (also the fuzz target fuzz_bridge_response).
TEST(OptunaBridgeProtocol, ResponseLinesAreCheckedAndDecoded) {
  auto protocol_error = [](auto&& call) -> std::string {
    try {
      call();
    } catch (const BridgeError& e) {
      EXPECT_EQ(e.kind(), BridgeError::Kind::protocol);
      return e.what();
    }
    return "(no error)";
  };
  EXPECT_EQ(protocol_error([] { parse_bridge_response("{\"id\": 3", 3, "ask"); }),
            "optuna bridge: ask: response to 'ask' is not JSON: {\"id\": 3");
  // A number beyond double's range is JSON nlohmann cannot hold (out_of_range 406, found by
  // fuzz_bridge_response): the same protocol error, not an uncaught exception.
  EXPECT_EQ(
      protocol_error([] { parse_bridge_response("{\"id\": 3, \"value\": -1e600}", 3, "ask"); }),
      "optuna bridge: ask: response to 'ask' is not JSON: {\"id\": 3, \"value\": -1e600}");
  EXPECT_EQ(
      protocol_error([] { parse_bridge_response("{\"id\": 4, \"ok\": true}", 3, "ask"); }),
      "optuna bridge: ask: response to 'ask' (id 3) has the wrong id: {\"id\": 4, \"ok\": true}");
  EXPECT_EQ(protocol_error([] { parse_bridge_response("[3]", 3, "ask"); }),
            "optuna bridge: ask: response to 'ask' (id 3) has the wrong id: [3]");

  const json tell = parse_bridge_response(
      R"({"id": 9, "ok": true, "number": 2, "state": "PRUNED", "values": ["-Infinity"],)"
      R"( "intermediate_values": [[0, 1.5], [3, "NaN"]]})",
      9, "tell");
  const FrozenTrial t = frozen_trial_from_response(tell, "tell");
  EXPECT_EQ(t.number, 2);
  EXPECT_EQ(t.state, TrialState::pruned);
  ASSERT_EQ(t.values.size(), 1u);
  EXPECT_EQ(t.values[0], -std::numeric_limits<double>::infinity());
  EXPECT_EQ(t.intermediate_values.at(0), 1.5);
  EXPECT_TRUE(std::isnan(t.intermediate_values.at(3)));

  EXPECT_EQ(protocol_error([] {
              frozen_trials_from_response(json{{"trials", {{{"number", 1}, {"state", "DONE"}}}}},
                                          "trials");
            }),
            "optuna bridge: trials: trial state: unknown state 'DONE' (valid: RUNNING, COMPLETE, "
            "PRUNED, FAIL, WAITING)");
  EXPECT_EQ(protocol_error([] {
              study_info_from_response(json{{"study_name", 5}}, "study_info");
            }),
            "optuna bridge: study_info: malformed response: [json.exception.type_error.302] type "
            "must be string, but is number");
}

}  // namespace
}  // namespace samplersearch
