// `samplersearch features`: FID Inception pool3 features of a uint8 image file, with their mean and
// unbiased covariance.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <iostream>
#include <thread>

#include "commands.hpp"
#include "samplersearch/common/error.hpp"
#include "samplersearch/metrics/inception.hpp"
#include "samplersearch/metrics/statistics.hpp"

namespace samplersearch::cli {
namespace {

constexpr int kDefaultBatchSize = 32;

at::Device parse_device(const std::string& text) {
  at::Device device(at::kCPU);
  try {
    device = at::Device(text);
  } catch (const c10::Error&) {
    throw ConfigError("--device", "unknown device '" + text + "' (e.g. cpu, cuda, cuda:1)");
  }
  if (device.is_cuda() && !at::hasCUDA())
    throw ConfigError("--device", "'" + text + "' requested but this LibTorch has no CUDA device");
  if (!device.is_cpu() && !device.is_cuda())
    throw ConfigError("--device", "only cpu and cuda devices are supported, got '" + text + "'");
  return device;
}

}  // namespace

void declare_features(CLI::App& app) {
  app.description(
      "FID Inception v3 pool3 features (Heusel et al. 2017; pytorch-fid's network) of the uint8\n"
      "dataset `images` [N, H, W, C] (C = 1 or 3) of X.h5. F.h5 gets `features` (float32\n"
      "[N, 2048]), `mu` (float64 [2048]) and `sigma` (float64 [2048, 2048], unbiased n−1\n"
      "covariance), so it is also a statistics file for `samplersearch fd`.\n");
  add_text(app, "--inception", "W.h5",
           "the weights, converted from pt_inception-2015-12-05-6726825d.pth\n"
           "by scripts/convert_inception_weights (nothing is downloaded)");
  add_text(app, "--images", "X.h5", "uint8 images [N, H, W, C]; N ≥ 2");
  add_text(app, "--out", "F.h5", "the feature file to write (replaced)");
  add_integer(app, "--batch-size", "B",
              "images per forward pass (default " + std::to_string(kDefaultBatchSize) + ")");
  add_text(app, "--device", "D", "cpu (default), cuda or cuda:K");
  add_integer(app, "--threads", "T", "CPU threads (default: all cores)");
}

int run_features(const Args& args) {
  const std::string weights = args.require("inception");
  const std::string images = args.require("images");
  const std::string out = args.require("out");
  const int batch_size = args.get_int("batch-size").value_or(kDefaultBatchSize);
  const at::Device device = parse_device(args.get("device").value_or("cpu"));
  const int threads = args.get_int("threads").value_or(
      static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  if (batch_size < 1) throw ConfigError("--batch-size", "must be at least 1");
  if (threads < 1) throw ConfigError("--threads", "must be at least 1");
  at::set_num_threads(threads);

  const std::vector<int64_t> shape = image_file_shape(images);
  if (shape[0] < 2)
    throw FileError(images,
                    "holds " + std::to_string(shape[0]) + " images; a covariance needs at least 2");
  InceptionOptions options;
  options.batch_size = batch_size;
  const FidInception net(weights, device, options);

  const int64_t n = shape[0];
  at::Tensor features = at::empty({n, kInceptionFeatureDim}, at::kFloat);
  RunningStats stats(kInceptionFeatureDim);
  // Read a few batches at a time so the images never need to fit in memory at once.
  const int64_t chunk = static_cast<int64_t>(batch_size) * 8;
  for (int64_t start = 0; start < n; start += chunk) {
    const int64_t count = std::min(chunk, n - start);
    const at::Tensor f = net.features(read_image_file(images, start, count));
    features.narrow(0, start, count).copy_(f);
    stats.add(f);
  }
  write_feature_file(out, features, stats.statistics("inception-pool3:" + images));
  std::cout << "wrote " << out << ": features [" << n << ", " << kInceptionFeatureDim
            << "], mu, sigma\n";
  return kOk;
}

}  // namespace samplersearch::cli
