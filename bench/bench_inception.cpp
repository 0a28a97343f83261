// FID Inception throughput (images/s, uint8 images → pool3 features, preprocessing included) of our
// LibTorch network with and without channels-last, side by side with PyTorch eager on the same
// network, random weights and images, all on 2 threads in one run. The network and PyTorch's timing
// come from tests/metrics/inception_reference.py (the agreement test's reference).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <H5Cpp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "bench_timing.hpp"
#include "samplersearch/common/cpu_kernels.hpp"
#include "samplersearch/metrics/inception.hpp"

namespace {

namespace fs = std::filesystem;

constexpr int kThreads = 2;
constexpr int64_t kImages = 8;  // one batch of 32×32 RGB images (CIFAR-10's size)
constexpr int64_t kSide = 32;
constexpr int kRuns = 2;

using samplersearch::bench::median_seconds;

void write_images(const fs::path& path, const at::Tensor& images) {
  H5::H5File file(path.string(), H5F_ACC_TRUNC);
  std::vector<hsize_t> dims(images.sizes().begin(), images.sizes().end());
  const H5::DataSpace space(static_cast<int>(dims.size()), dims.data());
  file.createDataSet("images", H5::PredType::NATIVE_UINT8, space)
      .write(images.contiguous().data_ptr<uint8_t>(), H5::PredType::NATIVE_UINT8);
}

std::string python() {
  const char* v = std::getenv("SAMPLERSEARCH_PYTHON");
  return v != nullptr ? v : SAMPLERSEARCH_DEFAULT_PYTHON;
}

int run(const std::string& cmd) {
  const int status = std::system(cmd.c_str());
  if (status != 0) std::cerr << "bench_inception: failed: " << cmd << "\n";
  return status;
}

}  // namespace

int main(int /*argc*/, char** argv) {
  samplersearch::start_with_fast_kernels(argv, /*bounded_omp_spin=*/false);
  at::set_num_threads(kThreads);
  const fs::path dir =
      fs::temp_directory_path() / ("samplersearch_bench_inception_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string script = SAMPLERSEARCH_INCEPTION_REFERENCE_SCRIPT;
  if (run("'" + python() + "' '" + script + "' --converter '" + SAMPLERSEARCH_INCEPTION_CONVERTER +
          "' --out '" + dir.string() + "' --keep-pth > /dev/null") != 0)
    return 1;

  at::manual_seed(0);
  const at::Tensor images = at::randint(0, 256, {kImages, kSide, kSide, 3}, at::kByte);
  write_images(dir / "bench_images.h5", images);

  std::map<std::string, double> rate;
  at::Tensor reference;
  double max_layout_diff = 0;
  for (const bool channels_last : {false, true}) {
    samplersearch::InceptionOptions options;
    options.batch_size = kImages;
    options.channels_last = channels_last;
    const samplersearch::FidInception net((dir / "weights.h5").string(), at::kCPU, options);
    at::Tensor features;
    const double seconds = median_seconds([&] { features = net.features(images); }, kRuns);
    rate[channels_last ? "ours_channels_last" : "ours_nchw"] =
        static_cast<double>(kImages) / seconds;
    if (!reference.defined()) reference = features;
    max_layout_diff =
        (features - reference).abs().max().item<double>() / reference.abs().max().item<double>();
  }

  const std::string cmd = "'" + python() + "' '" + script + "' --weights '" +
                          (dir / "weights.pth").string() + "' --time '" +
                          (dir / "bench_images.h5").string() + "' --threads " +
                          std::to_string(kThreads) + " --repeats " + std::to_string(kRuns);
  FILE* pipe = ::popen(cmd.c_str(), "r");
  char line[256];
  while (pipe != nullptr && std::fgets(line, sizeof line, pipe) != nullptr) {
    std::istringstream in(line);
    std::string label;
    double value = 0;
    if (in >> label >> value) rate[label] = value;
  }
  if (pipe == nullptr || ::pclose(pipe) != 0 || !rate.count("pytorch_nchw")) {
    std::cerr << "bench_inception: PyTorch timing failed: " << cmd << "\n";
    fs::remove_all(dir);
    return 1;
  }
  fs::remove_all(dir);

  std::printf(
      "FID Inception pool3, %lld RGB images %lldx%lld (resized to 299), batch %lld, "
      "%d threads, median of %d\n",
      static_cast<long long>(kImages), static_cast<long long>(kSide), static_cast<long long>(kSide),
      static_cast<long long>(kImages), kThreads, kRuns);
  for (const char* k : {"ours_nchw", "ours_channels_last", "pytorch_nchw", "pytorch_channels_last"})
    std::printf("  %-22s %8.2f images/s\n", k, rate[k]);
  const double pt = rate["pytorch_nchw"];
  std::printf("ratio ours_channels_last / ours_nchw      %.2f\n",
              rate["ours_channels_last"] / rate["ours_nchw"]);
  std::printf("ratio ours_nchw / pytorch_nchw            %.2f\n", rate["ours_nchw"] / pt);
  std::printf("ratio ours_channels_last / pytorch_nchw   %.2f\n", rate["ours_channels_last"] / pt);
  std::printf("ratio ours_best / pytorch_best            %.2f\n",
              std::max(rate["ours_nchw"], rate["ours_channels_last"]) /
                  std::max(pt, rate["pytorch_channels_last"]));
  std::printf("(layouts agree: max relative difference %.2e)\n", max_layout_diff);
  const double ours_best = std::max(rate["ours_nchw"], rate["ours_channels_last"]);
  const double pytorch_best = std::max(pt, rate["pytorch_channels_last"]);
  namespace b = samplersearch::bench;
  b::emit_row("Inception pool3 features",
              b::format("%lld uint8 images %lldx%lld -> 299, random weights, %d threads",
                        static_cast<long long>(kImages), static_cast<long long>(kSide),
                        static_cast<long long>(kSide), kThreads),
              b::format("%.2f images/s", ours_best),
              b::format("PyTorch eager %.2f images/s", pytorch_best), ours_best / pytorch_best,
              "ours / PyTorch, best layouts", ">=", 1.2);
  return 0;
}
