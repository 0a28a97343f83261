// The Fashion-MNIST classifier of the offline metric (metrics/classifier.cpp), trained with the
// default recipe on all 60,000 training images and scored on the 10,000 test images: prints the
// training wall and CPU time and the test accuracy, and exits with status 1 below 90 %. First, one
// epoch on a 6,000-image subset with 1 and with 2 intra-op threads side by side (the ratio behind
// the default of two threads; run with GOMP_SPINCOUNT=10000 on a busy machine).
//   bench_classifier [--threads N] [--cache DIR]   (DIR: also write the trained network's cache)
#include <ATen/ATen.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "samplersearch/common/cpu_kernels.hpp"
#include "samplersearch/metrics/classifier.hpp"
#include "samplersearch/samplers/datasets.hpp"

namespace {

constexpr double kRequiredAccuracy = 0.90;
constexpr int64_t kSubset = 6000;

}  // namespace

int main(int argc, char** argv) {
  samplersearch::start_with_fast_kernels(argv, /*bounded_omp_spin=*/false);
  using namespace samplersearch;
  int threads = 2;
  std::string cache;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--threads") {
      threads = std::atoi(argv[i + 1]);
    } else if (flag == "--cache") {
      cache = argv[i + 1];
    } else {
      std::fprintf(stderr, "usage: bench_classifier [--threads N] [--cache DIR]\n");
      return 2;
    }
  }
  MetricResources r;
  r.data = fashion_mnist_images("train");
  r.data_labels = fashion_mnist_labels("train");
  r.test_data = fashion_mnist_images("test");
  r.test_labels = fashion_mnist_labels("test");

  ClassifierRecipe one_epoch;
  one_epoch.epochs = 1;
  const at::Tensor subset = r.data.slice(0, 0, kSubset);
  const at::Tensor subset_labels = r.data_labels.slice(0, 0, kSubset);
  double wall[3] = {0, 0, 0};
  double cpu[3] = {0, 0, 0};
  for (int t = 1; t <= 2; ++t) {
    const Classifier c = Classifier::train(one_epoch, subset, subset_labels, {}, {}, t);
    wall[t] = c.report().train_seconds;
    cpu[t] = c.report().train_cpu_seconds;
  }
  std::printf(
      "1 epoch on %lld images: 1 thread %.2f s wall (%.2f s CPU), 2 threads %.2f s wall "
      "(%.2f s CPU): 2 threads take %.2fx the wall time of 1\n",
      static_cast<long long>(kSubset), wall[1], cpu[1], wall[2], cpu[2], wall[2] / wall[1]);

  const ClassifierRecipe recipe;
  const Classifier c =
      Classifier::train(recipe, r.data, r.data_labels, r.test_data, r.test_labels, threads);
  std::printf(
      "full training (%lld images, %lld epochs, %d thread(s)): %.1f s wall, %.1f s CPU, "
      "test accuracy %.2f %% (required >= %.0f %%)\n",
      static_cast<long long>(r.data.size(0)), static_cast<long long>(recipe.epochs), threads,
      c.report().train_seconds, c.report().train_cpu_seconds, 100.0 * c.report().test_accuracy,
      100.0 * kRequiredAccuracy);
  if (!cache.empty()) {
    std::filesystem::create_directories(cache);
    const std::string path = classifier_cache_path(cache, c.recipe_text());
    c.save(path);
    std::printf("cached as %s\n", path.c_str());
  }
  return c.report().test_accuracy >= kRequiredAccuracy ? 0 : 1;
}
