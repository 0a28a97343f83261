// The empirical Fashion-MNIST denoiser (docs/equations.md §3): 10,000 training images × a batch of
// 500 queries of dimension 784, timed in float32 and float64 at two t on 2 threads (and all 60,000
// images in float32 at one t), side by side with the same computation in NumPy
// (bench/bench_denoiser.py) run in the same process tree.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench_timing.hpp"
#include "samplersearch/common/cpu_kernels.hpp"
#include "samplersearch/samplers/datasets.hpp"
#include "samplersearch/samplers/exact_models.hpp"
#include "samplersearch/samplers/schedule.hpp"

namespace {

using nlohmann::json;
namespace fs = std::filesystem;
using samplersearch::EmpiricalDenoiser;

constexpr int64_t kDataSize = 10000;
constexpr int64_t kBatch = 500;
constexpr int kRuns = 3;

using samplersearch::bench::median_seconds;

// Writes a tensor as raw float64, row-major.
void write_f64(const fs::path& path, const at::Tensor& t) {
  const at::Tensor c = t.to(at::kDouble).contiguous();
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(c.data_ptr<double>()),
             static_cast<std::streamsize>(c.numel() * static_cast<int64_t>(sizeof(double))));
}

// The "BLAS_INFO=..." entry of LibTorch's build configuration.
std::string blas_info() {
  const std::string config = at::show_config();
  const auto pos = config.find("BLAS_INFO=");
  if (pos == std::string::npos) return "unknown";
  return config.substr(pos + 10, config.find_first_of(",\n", pos) - pos - 10);
}

// Times our denoiser on the first n training images at the times ts (float64 too if `f64`),
// then the NumPy side on the same queries; prints the comparison and one table row per dtype.
// Returns false when the NumPy side failed.
bool run_size(int64_t n, const std::vector<double>& ts, bool f64, int runs,
              const std::string& python, const fs::path& script) {
  namespace b = samplersearch::bench;
  std::printf("\n%lld Fashion-MNIST training images x %lld queries of dimension 784\n",
              static_cast<long long>(n), static_cast<long long>(kBatch));
  const at::Tensor data = samplersearch::fashion_mnist_images("train", n);
  const at::Tensor base = samplersearch::fashion_mnist_images("test", kBatch);
  const auto schedule = samplersearch::make_schedule("vp-linear");
  const EmpiricalDenoiser model(data, schedule);

  const fs::path dir = fs::temp_directory_path() /
                       ("ss_bench_denoiser_" + std::to_string(getpid()) + "_" + std::to_string(n));
  fs::create_directories(dir);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1234);
  json manifest = {{"data_dir", samplersearch::fashion_mnist_dir()},
                   {"n", n},
                   {"runs", runs},
                   {"float64", f64},
                   {"cases", json::array()}};
  struct Row {
    double t, ours32, ours64, err32;  // err32: max |float32 − float64| of our own outputs
  };
  std::vector<Row> rows;
  for (double t : ts) {
    const double a = schedule->alpha(t), s = schedule->sigma(t);
    const at::Tensor x64 = a * base + s * at::randn(base.sizes(), gen, at::kDouble);
    const at::Tensor x32 = x64.to(at::kFloat);
    const double ours32 = median_seconds([&] { (void)model.predict_x0(x32, t); }, runs);
    const double ours64 = f64 ? median_seconds([&] { (void)model.predict_x0(x64, t); }, runs) : 0;
    const at::Tensor out32 = model.predict_x0(x32, t).reshape({kBatch, -1});
    // Without float64, "ours64" holds the float32 result (the NumPy side does not read it).
    const at::Tensor out64 =
        f64 ? model.predict_x0(x64, t).reshape({kBatch, -1}) : out32.to(at::kDouble);
    const double err32 =
        f64 ? (out32.to(at::kDouble) - out64).abs().max().item<double>() : std::nan("");
    rows.push_back({t, ours32, ours64, err32});
    const std::string tag = std::to_string(rows.size());
    write_f64(dir / ("queries" + tag), x64.reshape({kBatch, -1}));
    write_f64(dir / ("ours64_" + tag), out64);
    write_f64(dir / ("ours32_" + tag), out32);
    manifest["cases"].push_back({{"t", t},
                                 {"alpha", a},
                                 {"sigma", s},
                                 {"queries", (dir / ("queries" + tag)).string()},
                                 {"ours64", (dir / ("ours64_" + tag)).string()},
                                 {"ours32", (dir / ("ours32_" + tag)).string()}});
  }
  std::ofstream(dir / "manifest.json") << manifest.dump();

  // NumPy on the same 2 cores (OpenBLAS through OpenMP), same data, same queries.
  const std::string command = "OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 '" + python + "' '" +
                              script.string() + "' '" + (dir / "manifest.json").string() + "'";
  std::string out;
  if (FILE* pipe = popen(command.c_str(), "r")) {
    char buffer[4096];
    size_t got = 0;
    while ((got = fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, got);
    if (pclose(pipe) != 0) out.clear();
  }
  fs::remove_all(dir);
  if (out.empty()) {
    std::fprintf(stderr, "bench_denoiser: the NumPy side failed: %s\n", command.c_str());
    return false;
  }
  const json numpy = json::parse(out);

  const double pairs = static_cast<double>(n * kBatch);
  // max |ours − numpy| compares the same dtype; "f32 − f64" is our float32 error.
  std::printf("%6s %6s %10s %14s %10s %14s %12s %16s %12s\n", "t", "dtype", "ours s", "img*query/s",
              "numpy s", "img*query/s", "numpy/ours", "max|ours-numpy|", "f32 - f64");
  double sum_ours32 = 0, sum_np32 = 0, sum_ours64 = 0, sum_np64 = 0, diff32 = 0, diff64 = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const json& np = numpy.at(i);
    const double np32 = np.at("seconds32");
    sum_ours32 += rows[i].ours32, sum_np32 += np32;
    diff32 = std::max(diff32, np.at("max_diff32").get<double>());
    std::printf("%6.2f %6s %10.4f %14.3e %10.4f %14.3e %12.2f %16.2e %12.2e\n", rows[i].t, "f32",
                rows[i].ours32, pairs / rows[i].ours32, np32, pairs / np32, np32 / rows[i].ours32,
                np.at("max_diff32").get<double>(), rows[i].err32);
    if (!f64) continue;
    const double np64 = np.at("seconds64");
    sum_ours64 += rows[i].ours64, sum_np64 += np64;
    diff64 = std::max(diff64, np.at("max_diff64").get<double>());
    std::printf("%6.2f %6s %10.4f %14.3e %10.4f %14.3e %12.2f %16.2e\n", rows[i].t, "f64",
                rows[i].ours64, pairs / rows[i].ours64, np64, pairs / np64, np64 / rows[i].ours64,
                np.at("max_diff64").get<double>());
  }
  std::string times;
  for (double t : ts) times += (times.empty() ? "" : ",") + b::format("%g", t);
  const auto row = [&](const char* dtype, double ours, double np, double diff) {
    b::emit_row(b::format("Exact denoiser %lldk, %s", static_cast<long long>(n / 1000), dtype),
                b::format("%lld images x %lld queries x 784, t=%s, 2 threads",
                          static_cast<long long>(n), static_cast<long long>(kBatch), times.c_str()),
                b::format("%.3f s", ours), b::format("NumPy %.3f s", np), np / ours,
                "NumPy s / ours s", ">=", 1.0, json::array(),
                b::format("largest abs. difference %.1e", diff));
  };
  row("float32", sum_ours32, sum_np32, diff32);
  if (f64) row("float64", sum_ours64, sum_np64, diff64);
  return true;
}

}  // namespace

int main(int /*argc*/, char** argv) {
  samplersearch::start_with_fast_kernels(argv, /*bounded_omp_spin=*/false);
  at::set_num_threads(2);
  const char* python_env = std::getenv("SAMPLERSEARCH_PYTHON");
  const std::string python = python_env != nullptr ? python_env : SAMPLERSEARCH_DEFAULT_PYTHON;
  const fs::path script = SAMPLERSEARCH_BENCH_DENOISER_SCRIPT;
  std::printf("bench_denoiser: LibTorch intra-op threads: %d, BLAS: %s\n", at::get_num_threads(),
              blas_info().c_str());
  // 10k: two times in float32 and float64; 60k (the whole training set): one time, float32.
  if (!run_size(kDataSize, {0.05, 0.7}, true, kRuns, python, script)) return 1;
  if (!run_size(60000, {0.3}, false, 2, python, script)) return 1;
  return 0;
}
