// samplersearch search: a search on the embedded default (the exact Fashion-MNIST denoiser), set
// up from flags. Experiment files, the HDF5 trial store and resume come with issue 5; this command
// already runs the whole loop and re-measures the result on noise the search never saw.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <thread>

#include "commands.hpp"
#include "samplersearch/common/registry.hpp"
#include "samplersearch/metrics/metric.hpp"
#include "samplersearch/samplers/datasets.hpp"
#include "samplersearch/samplers/discretization.hpp"
#include "samplersearch/samplers/exact_models.hpp"
#include "samplersearch/samplers/matrix_io.hpp"
#include "samplersearch/samplers/solver.hpp"
#include "samplersearch/search/loop.hpp"

namespace samplersearch::cli {
namespace {

using nlohmann::json;

json parse_json_flag(Args& args, const std::string& name) {
  const auto v = args.get(name);
  if (!v) return json::object();
  try {
    return json::parse(*v);
  } catch (const json::exception& e) {
    throw ConfigError("--" + name, std::string("not valid JSON: ") + e.what());
  }
}

std::vector<int64_t> parse_counts(const std::string& text) {
  std::vector<int64_t> out;
  size_t start = 0;
  while (start < text.size()) {
    const size_t comma = text.find(',', start);
    out.push_back(std::stoll(text.substr(start, comma - start)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// Prints one line per finished trial (the HDF5 store replaces this sink in issue 5).
class PrintingSink final : public TrialSink {
 public:
  explicit PrintingSink(bool quiet) : quiet_(quiet) {}
  void write(const TrialRecord& r) override {
    if (r.state == TrialState::complete && (!best_ || *r.value < *best_)) best_ = r.value;
    if (quiet_) return;
    std::printf("trial %4d %-8s %-14s value %-12s best %-12s %.1f s%s%s\n", r.number,
                r.state == TrialState::complete ? "COMPLETE"
                : r.state == TrialState::pruned ? "PRUNED"
                                                : "FAIL",
                r.warm_start.empty() ? "" : r.warm_start.c_str(),
                r.value ? std::to_string(*r.value).c_str() : "-",
                best_ ? std::to_string(*best_).c_str() : "-", r.seconds,
                r.reason.empty() ? "" : "  ", r.reason.c_str());
    std::fflush(stdout);
  }

 private:
  bool quiet_;
  std::optional<double> best_;
};

// The value of `m` on `count` samples of the noise stream `seed`, at full fidelity.
double measure(const Matrices& m, const Objective& base, uint64_t seed, int64_t count,
               DevicePool& pool) {
  Objective o = base;
  o.seed = seed;
  o.sample_counts = {count};
  return evaluate(m, o, pool, nullptr).value;
}

}  // namespace

std::string search_help() {
  return "samplersearch search [flags]\n"
         "Searches sampler matrices on the exact Fashion-MNIST denoiser with Optuna, then re-measures\n"
         "the best against every classic sampler on noise the search never saw.\n"
         "  --space NAME            one of:\n" + registry_help(space_registry()) +
         "  --space-options JSON    e.g. '{\"tail\": 3, \"low\": -2, \"high\": 2}'\n"
         "  --steps N               NFE (default 10)\n"
         "  --schedule NAME         (default vp-linear)   --discretization NAME (default time-quadratic)\n"
         "  --t-start T --t-end E   (default 1 and 1e-3)\n"
         "  --metric NAME           one of (default excess):\n" + registry_help(metric_registry()) +
         "  --metric-params JSON    (default '{\"metric\": \"fd\", \"features\": \"classifier\"}')\n"
         "  --samples N[,N…]        sample counts: growing fidelities, the last is the full count\n"
         "                          (default 1000)\n"
         "  --chunk N               samples per chunk (default 250)\n"
         "  --reference-steps N     steps of the DPM-Solver++(3M) reference solution (default 100)\n"
         "  --data-size N           training images the exact denoiser is built on (default 10000)\n"
         "  --sampler NAME          tpe, cmaes, random, qmc, nsga2, grid (default cmaes, centred on\n"
         "                          the first warm start, DPM-Solver++(2M))\n"
         "  --sigma0 S              CMA-ES step size (default 0.1)\n"
         "  --pruner NAME           none, median, successive_halving, hyperband (default none)\n"
         "  --storage URL           sqlite:///path, journal:///path, postgresql://… (default memory)\n"
         "  --study NAME            (default samplersearch)\n"
         "  --trials N              (default 100)      --timeout SECONDS (default none)\n"
         "  --concurrency K         trials in flight (default 1)\n"
         "  --devices LIST          cpu, cpu:N, cuda:0,cuda:1 … (default cpu)\n"
         "  --threads T             intra-op threads (default: all cores)\n"
         "  --seed S                noise seed of the search; unseen noise is S + 1000 (default 0)\n"
         "  --validate N            samples for the final re-measurement (default: the full count)\n"
         "  --cache DIR             statistics and classifier cache (default .samplersearch-cache)\n"
         "  --out FILE              write the best matrices (.json, .h5, .txt table)\n"
         "  --quiet                 no per-trial lines\n";
}

int run_search(Args& args) {
  using Clock = std::chrono::steady_clock;
  const auto t_begin = Clock::now();
  const int steps = args.get_int("steps").value_or(10);
  auto schedule = make_schedule(args.get("schedule").value_or("vp-linear"));
  const GridSpec grid{args.get_double("t-start").value_or(1.0), args.get_double("t-end").value_or(1e-3)};
  const std::string disc = args.get("discretization").value_or("time-quadratic");
  const std::string space_name = args.get("space").value_or("matrix");
  const json space_options = parse_json_flag(args, "space-options");
  const std::string metric_name = args.get("metric").value_or("excess");
  json metric_params = parse_json_flag(args, "metric-params");
  if (metric_params.empty() && metric_name == "excess")
    metric_params = {{"metric", "fd"}, {"features", "classifier"}};
  const std::vector<int64_t> counts = parse_counts(args.get("samples").value_or("1000"));
  const int64_t chunk = args.get_int("chunk").value_or(250);
  const int reference_steps = args.get_int("reference-steps").value_or(100);
  const int64_t data_size = args.get_int("data-size").value_or(10000);
  const std::string sampler = args.get("sampler").value_or("cmaes");
  const double sigma0 = args.get_double("sigma0").value_or(0.1);
  const std::string pruner = args.get("pruner").value_or("none");
  const std::string storage = args.get("storage").value_or("");
  const std::string study_name = args.get("study").value_or("samplersearch");
  const int trials = args.get_int("trials").value_or(100);
  const auto timeout = args.get_double("timeout");
  const int concurrency = args.get_int("concurrency").value_or(1);
  const std::string devices = args.get("devices").value_or("cpu");
  const auto threads = args.get_int("threads");
  const auto seed = static_cast<uint64_t>(args.get_int("seed").value_or(0));
  const std::string cache = args.get("cache").value_or(".samplersearch-cache");
  const auto out = args.get("out");
  const bool quiet = args.flag("quiet");
  const int64_t validate = args.get_int("validate").value_or(counts.back());
  args.finish();
  if (threads) at::set_num_threads(*threads);
  else at::set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));

  std::vector<std::string> device_names;
  for (size_t s = 0; s <= devices.size();) {
    const size_t c = devices.find(',', s);
    device_names.push_back(devices.substr(s, c == std::string::npos ? std::string::npos : c - s));
    if (c == std::string::npos) break;
    s = c + 1;
  }
  DevicePool pool(device_names);

  // The embedded default: the exact denoiser of `data_size` Fashion-MNIST training images.
  const at::Tensor train = fashion_mnist_images("train", -1);
  const at::Tensor data = train.slice(0, 0, data_size);
  EmpiricalDenoiser model(data, schedule);
  // The metrics' data set (statistics, classifier training) is all 60,000 training images.
  MetricResources resources{train.to(at::kFloat), fashion_mnist_labels("train", -1),
                            fashion_mnist_images("test", -1).to(at::kFloat),
                            fashion_mnist_labels("test", -1), cache, ""};
  std::filesystem::create_directories(cache);
  auto metric = make_metric(metric_name, metric_params, resources);

  const std::vector<double> times = make_timesteps(disc, *schedule, steps, grid);
  auto space = make_space(space_name, SpaceConfig{schedule, times, space_options});
  const SampleLayout layout{{1, 28, 28}, at::kFloat};
  SolverOptions ref_options;
  ref_options.order = 3;
  ReferenceSamples reference(
      solver_matrices("dpmsolver++", SolverPlan{schedule, TimeGrid(disc, grid), reference_steps, ref_options}),
      model, seed, layout);
  ReferenceSamples unseen_reference(reference.matrices(), model, seed + 1000, layout);
  Objective objective{&model, metric.get(), layout, seed, chunk, counts,
                      metric->needs_reference_samples() ? &reference : nullptr, {}};

  OptunaBridge study;
  StudyConfig config;
  config.name = study_name;
  config.sampler = sampler;
  config.sampler_params = {{"seed", seed}};
  const auto warm = space->warm_starts();
  if (sampler == "cmaes" && !warm.empty()) {
    config.sampler_params["x0"] = warm.front().params;
    config.sampler_params["sigma0"] = sigma0;
  }
  config.pruner = pruner;
  config.storage = storage;
  config.load_if_exists = true;
  study.create_study(config);

  PrintingSink sink(quiet);
  LoopOptions options;
  options.n_trials = trials;
  options.concurrency = concurrency;
  if (timeout) options.timeout = std::chrono::seconds(static_cast<long>(*timeout));
  install_stop_handlers();
  const LoopResult result = run_search(study, *space, objective, pool, sink, options);
  std::printf("\n%d COMPLETE, %d PRUNED, %d FAIL in %.0f s%s\n", result.complete, result.pruned,
              result.failed, std::chrono::duration<double>(Clock::now() - t_begin).count(),
              result.interrupted ? " (interrupted)" : "");
  if (!result.best) {
    std::printf("no trial completed\n");
    return kFailure;
  }

  // Re-measure on noise the search never saw: every warm start (classic sampler) and the best.
  Objective unseen = objective;
  unseen.reference = metric->needs_reference_samples() ? &unseen_reference : nullptr;
  std::printf("\n%s on %lld unseen samples (seed %llu), %d steps, %s / %s:\n", metric_name.c_str(),
              static_cast<long long>(validate), static_cast<unsigned long long>(seed + 1000), steps,
              std::string(schedule->name()).c_str(), disc.c_str());
  std::printf("  %-22s %14s %10s\n", "sampler", "value", "ratio");
  double baseline = 0;
  for (size_t i = 0; i < warm.size(); ++i) {
    const double v = measure(space->to_matrices(warm[i].params), unseen, seed + 1000, validate, pool);
    if (i == 0) baseline = v;
    std::printf("  %-22s %14.6f %10.3f\n", warm[i].label.c_str(), v, v / baseline);
  }
  const double best = measure(*result.best->matrices, unseen, seed + 1000, validate, pool);
  std::printf("  %-22s %14.6f %10.3f   (trial %d)\n", "searched", best, best / baseline,
              result.best->number);
  if (out) {
    write_matrices(*result.best->matrices, *out);
    std::printf("best matrices written to %s\n", out->c_str());
  }
  return result.interrupted ? kInterrupted : kOk;
}

}  // namespace samplersearch::cli
