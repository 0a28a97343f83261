// Multi-fidelity savings: the same CMA-ES search (embedded default, 5 steps, excess FD in the
// classifier's feature space) scored at the full 1,000 samples only, and at 250 → 1,000 samples
// with Optuna's median pruner stopping trials that look bad at 250. Prints, side by side, the wall
// time, the samples drawn, trials pruned, and the best trial's value re-measured on unseen noise.
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "samplersearch/common/cpu_kernels.hpp"
#include "samplersearch/experiments/driver.hpp"

namespace {

using namespace samplersearch;
using nlohmann::json;

struct Outcome {
  double seconds = 0;
  int64_t samples = 0;
  int pruned = 0, complete = 0;
  double best_unseen = 0;
};

Outcome run(const json& overrides, const std::filesystem::path& dir, const std::string& name) {
  json doc = {{"name", name},
              {"steps", 5},
              {"baselines", json::array()},
              {"validation", {{"top", 1}}},
              {"budget", {{"trials", 60}}},
              {"output", (dir / (name + ".h5")).string()}};
  doc.merge_patch(overrides);
  ExperimentRun run(make_experiment(doc, name));
  const auto start = std::chrono::steady_clock::now();
  start_experiment(run, DriverOptions{});
  Outcome o;
  o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const StoreContents c = read_store(run.output());
  double best = 1e300;
  int best_number = -1;
  for (const TrialRecord& r : c.trials) {
    if (!r.intermediate.empty()) o.samples += r.intermediate.back().first;
    o.pruned += r.state == TrialState::pruned;
    o.complete += r.state == TrialState::complete;
    if (r.value && *r.value < best) best = *r.value, best_number = r.number;
  }
  o.best_unseen = c.validations.count(best_number) ? c.validations.at(best_number) : NAN;
  return o;
}

}  // namespace

int main(int /*argc*/, char** argv) {
  samplersearch::start_with_fast_kernels(argv, /*passive_omp_wait=*/false);
  const auto dir = std::filesystem::temp_directory_path() / "samplersearch_bench_multifidelity";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const Outcome full = run({{"metric", {{"samples", {1000}}}}}, dir, "full");
  const Outcome multi =
      run({{"metric", {{"samples", {250, 1000}}}},
           {"optuna", {{"pruner", "median"}, {"pruner_params", {{"n_startup_trials", 5}}}}}},
          dir, "pruned");
  std::printf("%-28s %10s %10s %8s %9s %14s\n", "", "seconds", "samples", "pruned", "complete",
              "best (unseen)");
  for (const auto& [label, o] :
       {std::pair<const char*, const Outcome&>{"1000 samples, no pruner", full},
        {"250 -> 1000, median pruner", multi}})
    std::printf("%-28s %10.1f %10lld %8d %9d %14.4f\n", label, o.seconds,
                static_cast<long long>(o.samples), o.pruned, o.complete, o.best_unseen);
  std::printf("time ratio (no pruner / pruner): %.2f   samples ratio: %.2f\n",
              full.seconds / multi.seconds, static_cast<double>(full.samples) / multi.samples);
  std::filesystem::remove_all(dir);
  return 0;
}
