// One trial of the embedded default experiment (experiments/fashion-mnist-default.json: 5 steps x
// 1,000 samples on the exact Fashion-MNIST denoiser, excess FD in the classifier's features)
// broken into its parts, each timed (median of a few repeats) and printed beside its floor: its
// floating-point operations divided by the rate of a GEMM of the same shape measured in the same
// run. The whole trial is measured as a real search (ask, evaluate, store write, tell) and
// compared with the sum of the floors (goal: within 1.5x).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "bench_timing.hpp"
#include "samplersearch/common/check.hpp"
#include "samplersearch/common/cpu_kernels.hpp"
#include "samplersearch/experiments/driver.hpp"
#include "samplersearch/experiments/model_registry.hpp"
#include "samplersearch/experiments/setup.hpp"
#include "samplersearch/experiments/trial_store.hpp"
#include "samplersearch/metrics/classifier.hpp"
#include "samplersearch/metrics/features.hpp"
#include "samplersearch/metrics/frechet.hpp"
#include "samplersearch/metrics/statistics.hpp"
#include "samplersearch/samplers/engine.hpp"
#include "samplersearch/search/evaluate.hpp"
#include "samplersearch/search/loop.hpp"
#include "samplersearch/search/optuna_bridge.hpp"

namespace {

using namespace samplersearch;
using bench::median_seconds;
using nlohmann::json;
namespace fs = std::filesystem;

constexpr int kRuns = 3;
// Trials of the search that times the whole trial; the first is left out (start-up).
constexpr int kTrials = 6;

// FLOP/s of C = A B with A [m, k], B [k, n] in `type` (median of kRuns after a warm-up).
double gemm_rate(int64_t m, int64_t k, int64_t n, at::ScalarType type) {
  const at::Tensor a = at::randn({m, k}, at::TensorOptions().dtype(type));
  const at::Tensor b = at::randn({k, n}, at::TensorOptions().dtype(type));
  const double s = median_seconds([&] { (void)at::mm(a, b); }, kRuns);
  return 2.0 * static_cast<double>(m * k * n) / s;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

struct Part {
  std::string name;
  double seconds;
  double floor;  // seconds; 0 when the part has no arithmetic floor
  std::string how;
};

}  // namespace

int main(int /*argc*/, char** argv) {
  start_with_fast_kernels(argv, /*bounded_omp_spin=*/false);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // each line as it is measured, also into a file
  const fs::path source = SAMPLERSEARCH_SOURCE_DIR;
  const fs::path dir = fs::temp_directory_path() / "samplersearch_bench_trial";
  fs::remove_all(dir);
  fs::create_directories(dir);
  json doc = load_experiment((source / "experiments/fashion-mnist-default.json").string()).doc;
  doc["metric"]["cache"] = (source / ".samplersearch-cache").string();
  // The run is also searched at the end (kTrials trials, no baselines, no validation), after its
  // reference samples have been computed for the parts below: they are computed once per search.
  doc["baselines"] = json::array();
  doc["validation"]["top"] = 0;
  doc["budget"]["trials"] = kTrials;

  auto t0 = std::chrono::steady_clock::now();
  doc["output"] = (dir / "setup.h5").string();
  ExperimentRun run(make_experiment(doc, "bench_trial"));
  const double setup_seconds = seconds_since(t0);
  const Objective& o = run.objective();
  const Matrices m = run.classic("dpmsolver++(2M)");
  const int64_t n = o.sample_counts.back(), chunk = o.chunk;
  const int steps = static_cast<int>(run.times().size()) - 1;
  const auto cpu = c10::Device(c10::kCPU);
  std::printf("bench_trial: %s, %d steps x %lld samples in chunks of %lld, %d intra-op threads\n",
              run.metric_description().c_str(), steps, static_cast<long long>(n),
              static_cast<long long>(chunk), at::get_num_threads());
  std::printf("setup (data, classifier from cache or trained, data statistics): %.2f s\n",
              setup_seconds);

  // Rates of GEMMs shaped as the trial's: the denoiser's two products per chunk (float32) and the
  // classifier's largest layer as im2col (float64: it runs in float64).
  const int64_t data_n = 10000, dim = 784;
  const double rate_logits = gemm_rate(chunk, dim, data_n, at::kFloat);
  const double rate_mix = gemm_rate(chunk, data_n, dim, at::kFloat);
  const ClassifierRecipe recipe;
  const int64_t c1 = recipe.conv1_channels, c2 = recipe.conv2_channels, h = recipe.hidden;
  const double rate_conv = gemm_rate(chunk * 14 * 14, c1 * 9, c2, at::kDouble);
  const double rate_f64 = gemm_rate(n, h, h, at::kDouble);
  std::printf(
      "GEMM rates here: %.1f and %.1f GFLOP/s (float32 [%lld,%lld]x[%lld,%lld] and back), "
      "%.1f GFLOP/s (float64 conv2 im2col), %.1f GFLOP/s (float64 [%lld,%lld]x[%lld,%lld])\n",
      rate_logits / 1e9, rate_mix / 1e9, static_cast<long long>(chunk), static_cast<long long>(dim),
      static_cast<long long>(dim), static_cast<long long>(data_n), rate_conv / 1e9, rate_f64 / 1e9,
      static_cast<long long>(n), static_cast<long long>(h), static_cast<long long>(h),
      static_cast<long long>(h));

  std::vector<Part> parts;
  // Reference samples: computed once per search (cached), looked up in every trial.
  t0 = std::chrono::steady_clock::now();
  std::vector<at::Tensor> refs;
  for (int64_t first = 0; first < n; first += chunk)
    refs.push_back(o.reference->chunk(first, chunk, cpu));
  const double reference_once = seconds_since(t0);
  const int ref_steps = run.experiment().spec.metric.reference_steps;
  const double call_flops = 2.0 * 2.0 * static_cast<double>(n * dim * data_n);
  const double call_floor = call_flops / 2 / rate_logits + call_flops / 2 / rate_mix;
  std::printf("reference samples, once per search: %.2f s (%d model calls, floor %.2f s)\n",
              reference_once, ref_steps, ref_steps * call_floor);
  parts.push_back({"reference lookup",
                   median_seconds(
                       [&] {
                         for (int64_t first = 0; first < n; first += chunk)
                           (void)o.reference->chunk(first, chunk, cpu);
                       },
                       kRuns),
                   0, "cached"});

  // Model calls: the engine on the trial's chunks (its linear combinations and noise included).
  std::vector<at::Tensor> samples(refs.size());
  parts.push_back({"model calls",
                   median_seconds(
                       [&] {
                         for (size_t c = 0; c < refs.size(); ++c)
                           samples[c] =
                               run_engine(m, run.model(), o.seed, static_cast<int64_t>(c) * chunk,
                                          chunk, o.layout, o.engine);
                       },
                       kRuns),
                   steps * call_floor, std::to_string(steps) + " x 2 GEMMs [n,784]x[784,10000]"});

  // Classifier features of the samples and of the reference samples.
  const ModelSpec& model_spec = run.experiment().spec.model;
  MetricResources resources = find_model(model_spec.kind).resources(model_spec);
  resources.cache_dir = doc["metric"]["cache"].get<std::string>();
  const FeatureSpace space = make_feature_space("classifier", "fd", json::object(), resources);
  const at::Tensor all_samples = at::cat(samples, 0), all_refs = at::cat(refs, 0);
  at::Tensor f_samples, f_refs;
  const double conv_flops_per_image =
      2.0 * static_cast<double>(c1 * 9 * 28 * 28 + c2 * c1 * 9 * 14 * 14 + c2 * 7 * 7 * h);
  parts.push_back({"classifier features",
                   median_seconds(
                       [&] {
                         f_samples = batched_features(*space.extractor, all_samples);
                         f_refs = batched_features(*space.extractor, all_refs);
                       },
                       kRuns),
                   2.0 * static_cast<double>(n) * conv_flops_per_image / rate_conv,
                   "2 x " + std::to_string(n) + " images, conv + linear layers"});

  // Statistics: running mean/covariance of both feature sets and two Fréchet distances.
  const Statistics data_stats = compute_statistics(f_refs);
  parts.push_back(
      {"statistics",
       median_seconds(
           [&] {
             RunningStats a(h), b(h);
             a.add(f_samples);
             b.add(f_refs);
             (void)frechet_distance(a.statistics(), data_stats);
             (void)frechet_distance(b.statistics(), data_stats);
           },
           kRuns),
       2.0 * (2.0 * static_cast<double>(n * h * h) + 20.0 * static_cast<double>(h * h * h)) /
           rate_f64,
       "covariances + 2 eigendecompositions"});

  // The whole evaluation as the loop runs it (parallel chunks, metric states merged).
  const double evaluate_seconds =
      median_seconds([&] { (void)evaluate(m, o, run.pool(), nullptr); }, kRuns);

  // Optuna round trip: ask + tell through the Python bridge with the experiment's sampler.
  {
    OptunaBridge bridge;
    StudyConfig config = run.study_config();
    config.storage = "sqlite:///" + (dir / "bridge.db").string();
    bridge.create_study(config);
    const std::vector<Distribution> dists = distributions_of(run.space());
    parts.push_back({"Optuna round trip",
                     median_seconds(
                         [&] {
                           const AskedTrial t = bridge.ask(dists);
                           bridge.tell(t.number, {1.0});
                         },
                         kRuns + 2),
                     0, "ask + tell, CMA-ES, SQLite"});
  }

  // The whole trial in a real search on this run: from the start of trial 1 to the start of the
  // last, per trial (ask, evaluate, store write, tell: the loop in steady state; start-up and
  // trial 0 left out).
  start_experiment(run, DriverOptions{});
  std::vector<double> starts;
  for (const TrialRecord& r : read_store(run.output()).trials) starts.push_back(r.started);
  std::sort(starts.begin(), starts.end());
  SS_CHECK(starts.size() == static_cast<size_t>(kTrials)) << "the search ran " << starts.size();
  const double trial = (starts.back() - starts[1]) / static_cast<double>(kTrials - 2);
  double parts_sum = 0, floor_sum = 0;
  for (const Part& p : parts) parts_sum += p.seconds, floor_sum += p.floor;
  parts.push_back({"store write + loop (rest)",
                   std::max(0.0, trial - evaluate_seconds - parts[parts.size() - 1].seconds), 0,
                   "trial - evaluate - Optuna"});

  std::printf("\n%-28s %10s %10s %8s  %s\n", "part", "seconds", "floor s", "ratio", "floor from");
  for (const Part& p : parts)
    std::printf(
        "%-28s %10.3f %10.3f %8s  %s\n", p.name.c_str(), p.seconds, p.floor,
        p.floor > 0 ? (std::to_string(p.seconds / p.floor).substr(0, 5) + "x").c_str() : "-",
        p.how.c_str());
  std::printf("%-28s %10.3f %10s %8s  %s\n", "evaluate (parallel chunks)", evaluate_seconds, "", "",
              "model calls + lookup + features + statistics, as the loop runs them");
  std::printf("%-28s %10.3f %10.3f %7.2fx  (goal <= 1.50x; trials 1 to %d of a search)\n",
              "whole trial", trial, floor_sum, trial / floor_sum, kTrials - 1);
  std::string largest;
  double largest_seconds = 0;
  for (const Part& p : parts)
    if (p.seconds - p.floor > largest_seconds)
      largest_seconds = p.seconds - p.floor, largest = p.name;
  bench::emit_row(
      "One trial of the default experiment vs its floors",
      bench::format("experiments/fashion-mnist-default.json: 5 steps x 1000 samples, excess FD in "
                    "classifier features, %d threads",
                    at::get_num_threads()),
      bench::format("trial %.3f s", trial), bench::format("floors %.3f s", floor_sum),
      trial / floor_sum, "trial s / sum of floors s", "<=", 1.5, json::array(),
      bench::format("largest excess: %s (%.3f s above its floor)", largest.c_str(),
                    largest_seconds));
  fs::remove_all(dir);
  return 0;
}
