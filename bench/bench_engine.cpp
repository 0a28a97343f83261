// The engine's overhead (docs/equations.md §4): deterministic DDIM (Song et al. 2021, eq. 12 with
// σ_t = 0) run through run_engine on its exact matrices C, B, side by side with the same DDIM
// written by hand as a plain loop on the same model, noise and times, at N = 5, 10, 50, 200 on a
// cheap model (a Gaussian mixture) and N = 5, 10, 50 on the exact Fashion-MNIST denoiser; then the
// engine's peak memory for a banded C (the matrix space, 3 columns) against the dense C of unrolled
// DDIM.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "bench_timing.hpp"
#include "samplersearch/common/cpu_kernels.hpp"
#include "samplersearch/samplers/datasets.hpp"
#include "samplersearch/samplers/engine.hpp"
#include "samplersearch/samplers/exact_models.hpp"
#include "samplersearch/samplers/schedule.hpp"
#include "samplersearch/samplers/solver.hpp"

namespace {

using namespace samplersearch;
namespace b = samplersearch::bench;

constexpr int kRuns = 5;
constexpr uint64_t kSeed = 7;
const GridSpec kGrid{1.0, 1e-3};

// The hand-written loop: x_0 = σ_0 ε, then x_{k+1} = α_{k+1} y_k + σ_{k+1} (x_k − α_k y_k)/σ_k
// with y_k = f(x_k, t_k); returns x_N.
at::Tensor ddim_by_hand(const X0Model& model, const Schedule& s, const std::vector<double>& t,
                        int64_t count, const SampleLayout& layout) {
  at::Tensor x = noise_batch(kSeed, 0, count, 0, layout) * s.prior_std(t[0]);
  for (size_t k = 0; k + 1 < t.size(); ++k) {
    const at::Tensor y = model.predict_x0(x, t[k]);
    const at::Tensor eps = (x - s.alpha(t[k]) * y) / s.sigma(t[k]);
    x = s.alpha(t[k + 1]) * y + s.sigma(t[k + 1]) * eps;
  }
  return x;
}

// Median seconds of engine and hand loop, timed alternately (one warm-up each) so that load from
// other processes falls on both; also the largest difference of their outputs.
struct Timing {
  double engine, hand, max_diff;
};
Timing time_both(const X0Model& model, const std::shared_ptr<const Schedule>& schedule, int n,
                 int64_t count, int runs) {
  const Matrices m = solver_matrices(
      "ddim", SolverPlan{schedule, TimeGrid("time-quadratic", kGrid), n, SolverOptions{}});
  SampleLayout layout;
  layout.shape = model.sample_shape();
  at::Tensor a = run_engine(m, model, kSeed, 0, count, layout);
  at::Tensor h = ddim_by_hand(model, *schedule, m.times, count, layout);
  const double diff = (a - h).abs().max().item<double>();
  std::vector<double> te, th;
  for (int r = 0; r < runs; ++r) {
    auto start = std::chrono::steady_clock::now();
    a = run_engine(m, model, kSeed, 0, count, layout);
    te.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    start = std::chrono::steady_clock::now();
    h = ddim_by_hand(model, *schedule, m.times, count, layout);
    th.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(te.begin(), te.end());
  std::sort(th.begin(), th.end());
  return {te[te.size() / 2], th[th.size() / 2], diff};
}

void overhead_rows(const char* model_name, const std::string& sizes, const X0Model& model,
                   const std::shared_ptr<const Schedule>& schedule, const std::vector<int>& ns,
                   int64_t count, int goal_n, int runs_large_n) {
  for (const int n : ns) {
    const int runs = n < 50 ? kRuns : runs_large_n;
    const Timing t = time_both(model, schedule, n, count, runs);
    std::printf("%-28s N=%3d: engine %.4f s, hand-written DDIM %.4f s, ratio %.4f, max diff %.2e\n",
                model_name, n, t.engine, t.hand, t.engine / t.hand, t.max_diff);
    b::emit_row(b::format("Engine overhead, %s, N=%d", model_name, n), sizes,
                b::format("%.4f s", t.engine), b::format("hand-written DDIM %.4f s", t.hand),
                t.engine / t.hand, "engine s / hand s", n == goal_n ? "<=" : "", 1.02,
                nlohmann::json::array(),
                b::format("same output to %.1e; median of %d", t.max_diff, runs));
  }
}

}  // namespace

int main(int /*argc*/, char** argv) {
  samplersearch::start_with_fast_kernels(argv, /*bounded_omp_spin=*/false);
  at::set_num_threads(2);
  const auto schedule = make_schedule("vp-linear");

  // Cheap model: 8 Gaussians in 64 dimensions, 2,000 samples (a model call costs ~ the engine's
  // own tensor operations, so this shows the engine's overhead at its largest).
  at::manual_seed(0);
  GaussianMixture g{at::full({8}, 1.0 / 8, at::kDouble), at::randn({8, 64}, at::kDouble),
                    at::full({8}, 0.3, at::kDouble)};
  const GaussianMixtureModel cheap(g, schedule, {64});
  overhead_rows("cheap model", "8-Gaussian mixture, D=64, 2000 samples, float32, 2 threads", cheap,
                schedule, {5, 10, 50, 200}, 2000, -1, 3);

  // The exact denoiser on 10,000 Fashion-MNIST images, 200 samples.
  const EmpiricalDenoiser denoiser(fashion_mnist_images("train", 10000), schedule);
  overhead_rows("exact denoiser", "10k Fashion-MNIST images, 200 samples, float32, 2 threads",
                denoiser, schedule, {5, 10, 50}, 200, 10, 1);

  // Peak memory at N = 200: unrolled DDIM's C is dense (every y_j feeds every later row), the
  // matrix space's C keeps 3 columns below the diagonal.
  const int n = 200;
  const int64_t count = 1000;
  Matrices dense = solver_matrices(
      "ddim", SolverPlan{schedule, TimeGrid("time-quadratic", kGrid), n, SolverOptions{}});
  Matrices banded = dense;
  for (Eigen::Index k = 0; k < banded.signal.rows(); ++k)
    for (Eigen::Index j = 0; j < std::max<Eigen::Index>(0, k - 3); ++j) banded.signal(k, j) = 0;
  const double bytes = static_cast<double>(count) * 784 * 4;
  // The tensors the engine held at once, as run_engine counts them (on the cheap model: the
  // count depends on the matrices only, the bytes below are for 784-d Fashion-MNIST samples).
  auto peak_held = [&](const Matrices& m) {
    int64_t peak = 0;
    EngineOptions options;
    options.peak_held = &peak;
    run_engine(m, cheap, 0, 0, 2, SampleLayout{{64}, at::kFloat}, options);
    return peak;
  };
  const int64_t live_dense = peak_held(dense);
  const int64_t live_banded = peak_held(banded);
  std::printf("peak live tensors at N=%d: dense %lld (%.0f MB), banded %lld (%.0f MB)\n", n,
              static_cast<long long>(live_dense), live_dense * bytes / 1e6,
              static_cast<long long>(live_banded), live_banded * bytes / 1e6);
  b::emit_row("Engine peak memory, banded vs dense C",
              b::format("N=%d, %lld samples x 784 float32", n, static_cast<long long>(count)),
              b::format("banded (3 columns) %.1f MB", live_banded * bytes / 1e6),
              b::format("dense (unrolled DDIM) %.1f MB", live_dense * bytes / 1e6),
              static_cast<double>(live_banded) / static_cast<double>(live_dense), "banded / dense",
              "", 0, nlohmann::json::array(),
              b::format("%lld vs %lld tensors held (run_engine's count)",
                        static_cast<long long>(live_banded), static_cast<long long>(live_dense)));
  return 0;
}
