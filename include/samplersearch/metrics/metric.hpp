#pragma once
// The metric interface and registry. A metric scores a set of samples; it is
// fed in chunks (any number, from any worker) through a MetricState that merges, so a value never
// depends on how samples were split, and it can be read at any count (multi-fidelity). Metrics know
// nothing of samplers: the caller passes samples (and, for metrics that compare with a reference
// sampler on the same noise, the reference samples of the same noise indices).
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <span>
#include <string>
#include <string_view>

#include "samplersearch/metrics/statistics.hpp"

namespace samplersearch {

// Turns samples [n, C, H, W] in [−1, 1] into features [n, d] (pixels, a classifier's penultimate
// layer, FID Inception pool3).
class FeatureExtractor {
 public:
  virtual ~FeatureExtractor() = default;
  virtual std::string_view name() const = 0;
  virtual int64_t dim() const = 0;
  // Features of a batch, float64 [n, d], on the CPU.
  virtual at::Tensor features(const at::Tensor& samples) const = 0;
};

// What a metric accumulates; add() chunks in any order and merge() other workers' states.
class MetricState {
 public:
  virtual ~MetricState() = default;
  // Adds a chunk of samples [n, …]; `reference` is the reference sampler's samples for the same
  // noise indices (undefined tensor when the metric does not need them).
  virtual void add(const at::Tensor& samples, const at::Tensor& reference) = 0;
  // Combines another state of the same metric (from another worker).
  virtual void merge(const MetricState& other) = 0;
  // Samples seen so far.
  virtual int64_t count() const = 0;
  // The metric's value at the current count (lower is better); NumericalError on NaN/Inf.
  virtual double value() const = 0;
};

// A named metric: makes fresh states.
class Metric {
 public:
  virtual ~Metric() = default;
  virtual std::string_view name() const = 0;
  // True when add() needs the reference sampler's samples on the same noise.
  virtual bool needs_reference_samples() const = 0;
  virtual std::unique_ptr<MetricState> start() const = 0;
};

// What metrics may be built from, supplied by the caller (the experiments layer): the data set's
// samples in [−1, 1] (e.g. Fashion-MNIST [N, 1, 28, 28]), a cache folder, and the FID Inception
// weights file when Inception features are asked for. The registry (metrics/metric.cpp): fd, kid,
// fd_inf, trajectory_mse, excess; feature spaces in features.hpp, the classifier in classifier.hpp.
struct MetricResources {
  at::Tensor data;         // reference data set samples (for statistics and the classifier)
  at::Tensor data_labels;  // its labels (to train the classifier), int64 [N]
  at::Tensor test_data;    // held-out samples (classifier accuracy)
  at::Tensor test_labels;
  std::string cache_dir;          // where statistics and the trained classifier are cached
  std::string inception_weights;  // HDF5 weights for the `inception` features (FID = fd on them)
  std::string statistics_file;    // when set: the data side's statistics (e.g. the CIFAR-10
                                  // training set's FID statistics) instead of computing them
  at::Tensor reference_data;      // when defined: the data side of fd/kid/fd_inf (e.g. the held-out
                              // test split) instead of `data`, which still trains the classifier
};

// One row of the metric registry: `params` are the metric's own options (JSON object).
struct MetricEntry {
  std::string_view name;
  std::string_view summary;
  std::unique_ptr<Metric> (*make)(const nlohmann::json& params, const MetricResources& resources);
};

std::span<const MetricEntry> metric_registry();

// The metric `name` built from `params`; ConfigError listing valid names or naming a bad param.
std::unique_ptr<Metric> make_metric(std::string_view name, const nlohmann::json& params,
                                    const MetricResources& resources);

}  // namespace samplersearch
