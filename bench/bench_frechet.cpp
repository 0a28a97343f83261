// The Fréchet distance on 2048-d covariances (docs/equations.md §6): ours (pivoted Cholesky +
// eigenvalues only, LAPACK through OpenBLAS) against pytorch-fid's formula with scipy.linalg.sqrtm
// (bench/bench_frechet.py), on the same two statistics files, in one run. Prints the times, the
// speed ratio and the relative difference of the two values, for a full-rank pair and a
// near-singular pair (500 samples of 2048-d features).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench_timing.hpp"
#include "samplersearch/common/cpu_kernels.hpp"
#include "samplersearch/metrics/frechet.hpp"
#include "samplersearch/metrics/statistics.hpp"
#include "samplersearch/metrics/statistics_file.hpp"

namespace {

namespace fs = std::filesystem;

constexpr int64_t kDim = 2048;
constexpr int kRuns = 3;

using samplersearch::bench::median_seconds;

// Statistics of n samples from N(m, AᵀA), A with a decaying spectrum (like pool3 features).
samplersearch::Statistics sample_statistics(int64_t n, uint64_t seed, double& seconds) {
  at::manual_seed(seed);
  const at::Tensor q1 = std::get<0>(at::linalg_qr(at::randn({kDim, kDim}, at::kDouble)));
  const at::Tensor q2 = std::get<0>(at::linalg_qr(at::randn({kDim, kDim}, at::kDouble)));
  const at::Tensor spectrum =
      at::exp(-at::arange(kDim, at::kDouble) / (0.3 * static_cast<double>(kDim)));
  const at::Tensor mixing = (q1 * spectrum).mm(q2);
  const at::Tensor x =
      (at::randn({n, kDim}, at::kDouble).mm(mixing) + at::randn({kDim}, at::kDouble) * 0.5)
          .to(at::kFloat);
  samplersearch::RunningStats stats;
  const auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < n; i += 500) stats.add(x.slice(0, i, std::min(n, i + 500)));
  seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return stats.statistics("bench n=" + std::to_string(n));
}

std::string run(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  std::array<char, 4096> buffer{};
  size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) out.append(buffer.data(), n);
  ::pclose(pipe);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  samplersearch::start_with_fast_kernels(argv, /*bounded_omp_spin=*/false);
  // Default (scripts/bench's table): the full-rank pair on 2 threads; --all also times 1 thread
  // and the near-singular pair.
  const bool all = argc > 1 && std::string(argv[1]) == "--all";
  const std::vector<int> thread_counts = all ? std::vector<int>{1, 2} : std::vector<int>{2};
  const char* python_env = std::getenv("SAMPLERSEARCH_PYTHON");
  const std::string python = python_env != nullptr ? python_env : SAMPLERSEARCH_DEFAULT_PYTHON;
  const fs::path dir =
      fs::temp_directory_path() / ("ss_bench_frechet_" + std::to_string(::getpid()));
  fs::create_directories(dir);

  std::printf(
      "bench_frechet: d = %lld; ours = median of %d runs after a warm-up, SciPy = one run "
      "(a Python subprocess on the same statistics files)\n",
      static_cast<long long>(kDim), kRuns);
  struct Case {
    const char* name;
    int64_t n1, n2;
  };
  const std::array cases{Case{"full rank (n 4096 vs 3000)", 4096, 3000},
                         Case{"near-singular (n 500 vs 3000)", 500, 3000}};
  uint64_t seed = 1;
  for (const Case& c : cases) {
    if (!all && c.n1 <= kDim) continue;
    at::set_num_threads(2);
    double stats_seconds1 = 0;
    double stats_seconds2 = 0;
    const samplersearch::Statistics a = sample_statistics(c.n1, seed++, stats_seconds1);
    const samplersearch::Statistics b = sample_statistics(c.n2, seed++, stats_seconds2);
    const std::string path_a = (dir / "a.h5").string();
    const std::string path_b = (dir / "b.h5").string();
    samplersearch::write_statistics(path_a, a);
    samplersearch::write_statistics(path_b, b);
    std::printf("\n%s\n", c.name);
    std::printf(
        "  RunningStats (float32 features, batches of 500, 2 threads): %.0f and %.0f "
        "samples/s\n",
        static_cast<double>(c.n1) / stats_seconds1, static_cast<double>(c.n2) / stats_seconds2);
    for (const int threads : thread_counts) {
      // OpenBLAS (OpenMP build) follows the process's OpenMP thread count, which
      // at::set_num_threads sets; the SciPy side gets the same count through OMP_NUM_THREADS.
      at::set_num_threads(threads);
      samplersearch::FrechetTerms terms;
      const double ours = median_seconds(
          [&] { terms = samplersearch::frechet_terms(a.mu, a.sigma, b.mu, b.sigma); }, kRuns);
      const std::string output =
          run("OMP_NUM_THREADS=" + std::to_string(threads) + " '" + python + "' '" +
              SAMPLERSEARCH_BENCH_FRECHET_SCRIPT + "' '" + path_a + "' '" + path_b + "'");
      const auto last = output.find_last_of('{');
      if (last == std::string::npos) {
        std::fprintf(stderr, "bench_frechet: the SciPy side failed:\n%s\n", output.c_str());
        return 1;
      }
      const nlohmann::json scipy = nlohmann::json::parse(output.substr(last));
      const double scipy_fd = scipy.at("fd").get<double>();
      const double scipy_seconds = scipy.at("seconds").get<double>();
      std::printf(
          "  %d thread%s: ours %.3f s (ranks %lld/%lld), SciPy sqrtm %.3f s%s -> "
          "SciPy/ours %.1fx;  FD ours %.12g, SciPy %.12g, relative difference %.2e\n",
          threads, threads == 1 ? " " : "s", ours, static_cast<long long>(terms.rank1),
          static_cast<long long>(terms.rank2), scipy_seconds,
          scipy.at("retried").get<bool>() ? " (offset retry)" : "", scipy_seconds / ours,
          terms.value(), scipy_fd, std::abs(terms.value() - scipy_fd) / std::abs(scipy_fd));
      if (threads != 2) continue;
      const double rel = std::abs(terms.value() - scipy_fd) / std::abs(scipy_fd);
      const bool full_rank = c.n1 > kDim;
      samplersearch::bench::emit_row(
          full_rank ? "Frechet distance, full rank" : "Frechet distance, near-singular",
          samplersearch::bench::format("d=2048, n=%lld vs %lld, 2 threads",
                                       static_cast<long long>(c.n1), static_cast<long long>(c.n2)),
          samplersearch::bench::format("%.3f s", ours),
          samplersearch::bench::format("SciPy sqrtm (pytorch-fid) %.3f s", scipy_seconds),
          scipy_seconds / ours, "SciPy s / ours s", full_rank ? ">=" : "", 10.0,
          full_rank ? nlohmann::json::array({nlohmann::json::array({"rel. diff", rel, "<=", 1e-6})})
                    : nlohmann::json::array(),
          full_rank ? ""
                    : samplersearch::bench::format("rel. diff %.2e (SciPy's sqrtm of a "
                                                   "singular product)",
                                                   rel));
    }
  }
  std::error_code ignored;
  fs::remove_all(dir, ignored);
  return 0;
}
