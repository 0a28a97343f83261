// The search loop (search/README.md), measured on the exact Fashion-MNIST denoiser over 2,000
// images, 5 steps, CMA-ES on the matrix space, Fréchet distance on pixels at 1,000 samples:
//  1. trials per hour with 1 and with 2 CPU workers (one intra-op thread each; 2 trials in flight);
//  2. the Optuna bridge's cost per trial (ask + tell over the JSON pipe) against the same ask +
//     tell inside Python (bench/bench_search.py), both on the search's distributions;
//  3. multi-fidelity: the same search scored at 1,000 samples only and at 250 → 1,000 with Optuna's
//     median pruner and with successive halving; model calls (samples × steps, summed over trials
//     in order) until each run first reaches the worse of the two runs' best values.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "bench_timing.hpp"
#include "samplersearch/common/cpu_kernels.hpp"
#include "samplersearch/experiments/driver.hpp"
#include "samplersearch/search/optuna_bridge.hpp"

namespace {

using namespace samplersearch;
using nlohmann::json;
namespace b = samplersearch::bench;

constexpr int kSteps = 5;
constexpr int64_t kDataSize = 2000;
const char* const kSizes = "2k Fashion-MNIST images, 5 steps, FD on pixels at 1000 samples";

struct Outcome {
  double seconds = 0;        // the whole run: set-up (data, statistics, bridge), trials, report
  double trial_seconds = 0;  // first trial's start to last trial's end: the loop in steady state
  int trials = 0, pruned = 0;
  std::vector<std::pair<int64_t, double>> calls_value;  // per trial in order: model calls, value
  double best = INFINITY;
};

Outcome run(const json& overrides, const std::filesystem::path& dir, const std::string& name) {
  json doc = {
      {"name", name},
      {"model", {{"kind", "fashion-mnist"}, {"data_size", kDataSize}}},
      {"steps", kSteps},
      {"metric", {{"name", "fd"}, {"params", {{"features", "pixels"}}}, {"samples", {1000}}}},
      {"baselines", json::array()},
      {"validation", {{"top", 0}}},
      {"output", (dir / (name + ".h5")).string()}};
  doc.merge_patch(overrides);
  ExperimentRun run(make_experiment(doc, name));
  const auto start = std::chrono::steady_clock::now();
  start_experiment(run, DriverOptions{});
  Outcome o;
  o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  StoreContents c = read_store(run.output());
  std::sort(c.trials.begin(), c.trials.end(),
            [](const TrialRecord& x, const TrialRecord& y) { return x.number < y.number; });
  double first = INFINITY, last = -INFINITY;
  for (const TrialRecord& r : c.trials) {
    first = std::min(first, r.started);
    last = std::max(last, r.started + r.seconds);
    const int64_t samples = r.intermediate.empty() ? 0 : r.intermediate.back().first;
    o.calls_value.emplace_back(samples * kSteps, r.value ? *r.value : INFINITY);
    o.pruned += r.state == TrialState::pruned;
    ++o.trials;
    if (r.value) o.best = std::min(o.best, *r.value);
  }
  o.trial_seconds = last - first;
  return o;
}

// Model calls (summed over trials in order) until the first value ≤ target.
int64_t calls_to(const Outcome& o, double target) {
  int64_t calls = 0;
  for (const auto& [c, v] : o.calls_value) {
    calls += c;
    if (v <= target) return calls;
  }
  return calls;
}

// Seconds per trial of `trials` ask + tell round trips through the bridge (CMA-ES, `dims` floats)
// on `storage` ("" in memory).
double bridge_seconds_per_trial(int trials, int dims, const std::string& storage) {
  OptunaBridge bridge;
  StudyConfig config;
  config.storage = storage;
  config.sampler = "cmaes";
  config.sampler_params = {{"seed", 0}};
  bridge.create_study(config);
  std::vector<Distribution> d;
  for (int i = 0; i < dims; ++i) {
    std::string name = "p";  // (not "p" + …: GCC 12's -Wrestrict false positive)
    name += std::to_string(i);
    d.push_back(Distribution::floating(name, -2, 2));
  }
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < trials; ++i) {
    const AskedTrial t = bridge.ask(d);
    double v = 0;
    for (const auto& [k, x] : t.params.items()) v += x.get<double>() * x.get<double>();
    bridge.tell(t.number, {v});
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / trials;
}

}  // namespace

int main(int /*argc*/, char** argv) {
  samplersearch::start_with_fast_kernels(argv, /*bounded_omp_spin=*/false);
  const auto dir = std::filesystem::temp_directory_path() / "samplersearch_bench_search";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);

  // 1. Workers. Each worker draws and scores whole 250-sample chunks of a trial. The ratio is of
  // the loop in steady state (first trial's start to last trial's end): what an overnight search
  // sees. The set-up before the first trial (data statistics, bridge start) runs once and is
  // printed beside it.
  const int trials = 8;
  const json budget = {{"budget", {{"trials", trials}}}, {"threads", 1}};
  json one = budget, two = budget;
  one["devices"] = {"cpu"};
  two["devices"] = {"cpu:2"};
  two["concurrency"] = 2;  // a trial on each worker (docs/cluster.md: --devices, --concurrency)
  const Outcome w1 = run(one, dir, "workers1");
  const Outcome w2 = run(two, dir, "workers2");
  const double rate1 = 3600.0 * w1.trials / w1.trial_seconds,
               rate2 = 3600.0 * w2.trials / w2.trial_seconds;
  std::printf(
      "trials/hour in the loop: 1 worker %.0f (%d trials in %.1f s of %.1f s), 2 workers %.0f "
      "(%.1f s of %.1f s)\n",
      rate1, w1.trials, w1.trial_seconds, w1.seconds, rate2, w2.trial_seconds, w2.seconds);
  b::emit_row(
      "Search loop, 2 workers vs 1", b::format("%s, %d trials, 1 thread a worker", kSizes, trials),
      b::format("2 workers %.0f trials/h", rate2), b::format("1 worker %.0f trials/h", rate1),
      rate2 / rate1, "trials/h 2 / 1", ">=", 1.8, json::array(),
      b::format("first trial to last; whole runs %.1f s vs %.1f s (set-up included)", w2.seconds,
                w1.seconds));

  // 2. The bridge per trial, against Optuna's own ask + tell in Python: in memory (the protocol's
  // cost), and on SQLite, the storage a search keeps its study in (Optuna's defaults in Python).
  const int dims = 15, asks = 40;
  auto python_seconds = [&](int count, const std::string& storage) {
    const std::string cmd = "'" + default_bridge_python() + "' '" +
                            SAMPLERSEARCH_BENCH_SEARCH_SCRIPT + "' " + std::to_string(count) + " " +
                            std::to_string(dims) + " " + storage;
    double seconds = NAN;
    if (FILE* pipe = ::popen(cmd.c_str(), "r")) {
      if (std::fscanf(pipe, "%lf", &seconds) != 1) seconds = NAN;
      ::pclose(pipe);
    }
    return seconds;
  };
  const double bridge = bridge_seconds_per_trial(asks, dims, "");
  const double python = python_seconds(asks, "");
  const double per_trial = w2.trial_seconds / w2.trials;
  std::printf("bridge ask+tell %.2f ms a trial, in-process Optuna %.2f ms, a trial %.2f s\n",
              1e3 * bridge, 1e3 * python, per_trial);
  b::emit_row("Optuna bridge overhead per trial",
              b::format("CMA-ES, %d floats, %d ask+tell, in memory", dims, asks),
              b::format("bridge %.2f ms", 1e3 * bridge),
              b::format("Optuna in Python %.2f ms", 1e3 * python), (bridge - python) / per_trial,
              "(bridge - Python) / trial s", "", 0, json::array(),
              b::format("a trial: %.2f s (2 workers)", per_trial));
  const int sqlite_asks = 20;
  const std::string ours_db = "sqlite:///" + (dir / "bridge.db").string();
  const std::string python_db = "sqlite:///" + (dir / "python.db").string();
  const double bridge_sqlite = bridge_seconds_per_trial(sqlite_asks, dims, ours_db);
  const double python_sqlite = python_seconds(sqlite_asks, python_db);
  std::printf("on SQLite: bridge %.1f ms a trial, Optuna with its defaults %.1f ms\n",
              1e3 * bridge_sqlite, 1e3 * python_sqlite);
  b::emit_row("Optuna study on SQLite per trial",
              b::format("CMA-ES, %d floats, %d ask+tell, sqlite:/// file", dims, sqlite_asks),
              b::format("bridge %.1f ms (WAL, pooled)", 1e3 * bridge_sqlite),
              b::format("Optuna's defaults %.1f ms", 1e3 * python_sqlite),
              python_sqlite / bridge_sqlite, "Python s / bridge s", "", 0, json::array(),
              b::format("%.0f%% of a %.2f s trial", 100 * bridge_sqlite / per_trial, per_trial));

  // 3. Multi-fidelity: each pruner against the same search at full fidelity.
  const int mf_trials = 20;
  const Outcome full = run({{"budget", {{"trials", mf_trials}}}}, dir, "full");
  struct PrunerCase {
    const char* name;      // of the run's store
    const char* fidelity;  // the sample counts, as printed
    const char* label;
    json metric, optuna;
  };
  const json two_rungs = {{"samples", {250, 1000}}};
  const PrunerCase pruners[] = {
      {"median",
       "250 -> 1000",
       "median pruner",
       two_rungs,
       {{"pruner", "median"}, {"pruner_params", {{"n_startup_trials", 5}}}}},
      // Asynchronous successive halving (Li et al. 2020, "A System for Massively Parallel
      // Hyperparameter Tuning"): a trial goes on past a rung only when its value there is in the
      // best 1/η of the values reported there so far.
      {"halving",
       "250 -> 1000",
       "successive halving (1/4 go on)",
       two_rungs,
       {{"pruner", "successive_halving"},
        {"pruner_params", {{"min_resource", 250}, {"reduction_factor", 4}}}}},
      {"halving3",
       "100 -> 300 -> 1000",
       "successive halving (1/3 go on)",
       {{"samples", {100, 300, 1000}}, {"chunk", 100}},
       {{"pruner", "successive_halving"},
        {"pruner_params", {{"min_resource", 100}, {"reduction_factor", 3}}}}},
  };
  for (const PrunerCase& p : pruners) {
    const Outcome multi =
        run({{"budget", {{"trials", mf_trials}}}, {"metric", p.metric}, {"optuna", p.optuna}}, dir,
            p.name);
    const double target = std::max(full.best, multi.best);
    const int64_t c_full = calls_to(full, target), c_multi = calls_to(multi, target);
    std::printf(
        "full fidelity: best %.5g in %.1f s; %s, %s: best %.5g in %.1f s (%d pruned); "
        "model calls to %.5g: %lld vs %lld\n",
        full.best, full.seconds, p.fidelity, p.label, multi.best, multi.seconds, multi.pruned,
        target, static_cast<long long>(c_full), static_cast<long long>(c_multi));
    b::emit_row(
        b::format("Multi-fidelity model calls to the same best, %s", p.label),
        b::format("%s, %d trials, %s", kSizes, mf_trials, p.fidelity),
        b::format("%lld calls (%.1f s, %d pruned)", static_cast<long long>(c_multi), multi.seconds,
                  multi.pruned),
        b::format("full fidelity %lld calls (%.1f s)", static_cast<long long>(c_full),
                  full.seconds),
        static_cast<double>(c_multi) / static_cast<double>(c_full), "multi / full", "<=", 0.3,
        json::array(),
        b::format("target FD %.4g (bests: full %.4g, multi %.4g)", target, full.best, multi.best));
  }
  std::filesystem::remove_all(dir);
  return 0;
}
