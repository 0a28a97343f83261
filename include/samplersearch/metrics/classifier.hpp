#pragma once
// The offline metric's feature network: a small CNN trained by our own code on the
// data set (Fashion-MNIST by default: 60,000 images [1, 28, 28] in [−1, 1], 10 classes), whose
// penultimate layer is the feature space. Architecture (any C×H×W input, K classes):
//   conv3×3(C→c1, pad 1) → BatchNorm → ReLU → maxpool 2 → conv3×3(c1→c2, pad 1) → BatchNorm → ReLU
//   → maxpool 2 → flatten → linear(c2·⌊H/4⌋·⌊W/4⌋ → hidden) → ReLU [features] → linear(hidden → K)
// trained with Adam on the cross-entropy (learning rate decayed linearly to 0 over all steps),
// shuffled mini-batches, all randomness (initialization, shuffling) from one generator seeded by
// the recipe, on the CPU. Defaults: 16/32 channels, 128 features, 3 epochs of batches of 128 at
// lr 2e-3: 91 % test accuracy on Fashion-MNIST in about a CPU-minute (bench_classifier). The
// trained network is cached in an HDF5 file named by the hash of its recipe text (architecture,
// hyperparameters, seed, the data's shape and fingerprint), so a changed recipe or data set
// retrains and an unchanged one loads.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "samplersearch/metrics/metric.hpp"

namespace samplersearch {

// Everything that determines the trained network (besides the data, which the key adds).
struct ClassifierRecipe {
  int64_t conv1_channels = 16;
  int64_t conv2_channels = 32;
  int64_t hidden = 128;  // the feature dimension
  int64_t epochs = 3;
  int64_t batch_size = 128;
  double learning_rate = 2e-3;  // at the first step; decays linearly to 0 at the last
  uint64_t seed = 0;
  int64_t train_size = -1;  // the first train_size data samples; −1: all of them
};

// The recipe with the keys of a JSON object overriding its fields (conv1_channels, conv2_channels,
// hidden, epochs, batch_size, learning_rate, seed, train_size); ConfigError naming
// `field`.<key> on an unknown key, a wrong type or an out-of-range value.
ClassifierRecipe classifier_recipe_from_json(const nlohmann::json& object,
                                             const std::string& field);

// The canonical text the cache key hashes: architecture, hyperparameters, seed, the training
// data's shape, class count and fingerprint (tensor_fingerprint).
std::string classifier_recipe_text(const ClassifierRecipe& recipe, const at::Tensor& data,
                                   const at::Tensor& labels);

// <cache_dir>/classifier_<16 hex digits of text_hash(recipe_text)>.h5: where a network is cached.
std::string classifier_cache_path(const std::string& cache_dir, const std::string& recipe_text);

// How a classifier was obtained.
struct ClassifierReport {
  bool loaded = false;           // true: read from the cache; false: trained now
  std::string path;              // its cache file ("" when no cache folder was given)
  double test_accuracy = -1;     // on the held-out set, measured after training (−1: no test set)
  double train_seconds = 0;      // wall time of the training (as recorded when it was trained)
  double train_cpu_seconds = 0;  // process CPU time of the training
};

// A trained classifier; inference is thread-safe (eval mode, no autograd).
class Classifier {
 public:
  ~Classifier();
  Classifier(Classifier&&) noexcept;
  Classifier& operator=(Classifier&&) noexcept;
  Classifier(const Classifier&) = delete;
  Classifier& operator=(const Classifier&) = delete;

  // Trains on data [N, C, H, W] (any float dtype, in [−1, 1]) with int64 labels [N] in [0, K),
  // using `threads` intra-op threads (restored afterwards; ≤ 0 keeps the current count). Prints
  // the test accuracy when `test_data` is defined. ConfigError on mismatched shapes or labels.
  // Two threads: 1.6× the speed of one on an idle 2-core machine (bench_classifier). On a busy
  // one, OpenMP threads spinning at libgomp's default made two threads 1.6× slower than one: the
  // CLI and scripts bound the spin (GOMP_SPINCOUNT, kOmpSpinCount in common/cpu_kernels.hpp).
  static Classifier train(const ClassifierRecipe& recipe, const at::Tensor& data,
                          const at::Tensor& labels, const at::Tensor& test_data,
                          const at::Tensor& test_labels, int threads = 2);
  // Reads a network written by save(); FileError when it is missing, unreadable or its recipe
  // text differs from `recipe_text`.
  static Classifier load(const std::string& path, const std::string& recipe_text);
  // Writes the weights, the recipe text and the report fields to `path` (atomically).
  void save(const std::string& path) const;

  // Penultimate-layer features, float64 [n, hidden], of samples [n, C, H, W].
  at::Tensor features(const at::Tensor& samples) const;
  // Class scores, float64 [n, K] (inference runs in float64 on the float32-trained weights).
  at::Tensor logits(const at::Tensor& samples) const;
  // Fraction of samples whose arg-max class equals the label.
  double accuracy(const at::Tensor& samples, const at::Tensor& labels) const;

  int64_t feature_dim() const;
  const std::string& recipe_text() const;
  const ClassifierReport& report() const;

 private:
  friend std::shared_ptr<const Classifier> cached_classifier(const ClassifierRecipe& recipe,
                                                             const MetricResources& resources);
  struct Impl;
  explicit Classifier(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The classifier of `recipe` on resources.data/data_labels: loaded from
// <resources.cache_dir>/classifier_<hash of the recipe text>.h5 when that file holds the same
// recipe text, otherwise trained (test accuracy on resources.test_data, printed) and saved there.
// No cache folder: trained every time. ConfigError when the data or labels are missing.
std::shared_ptr<const Classifier> cached_classifier(const ClassifierRecipe& recipe,
                                                    const MetricResources& resources);

// Classifier features as a FeatureExtractor (`classifier`).
class ClassifierFeatures final : public FeatureExtractor {
 public:
  explicit ClassifierFeatures(std::shared_ptr<const Classifier> classifier);
  std::string_view name() const override { return "classifier"; }
  int64_t dim() const override;
  // Penultimate-layer features, float64 [n, hidden].
  at::Tensor features(const at::Tensor& samples) const override;

 private:
  std::shared_ptr<const Classifier> classifier_;
};

}  // namespace samplersearch
