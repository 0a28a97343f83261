// The metric registry (fd, kid, fd_inf from metric_distances.cpp; trajectory_mse and the
// `excess` wrapper here) and make_metric.
#include "samplersearch/metrics/metric.hpp"

#include <ATen/ATen.h>

#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "metric_params.hpp"
#include "metric_parts.hpp"
#include "samplersearch/common/check.hpp"
#include "samplersearch/common/error.hpp"
#include "samplersearch/common/registry.hpp"
#include "samplersearch/metrics/features.hpp"

namespace samplersearch {
namespace {

using namespace metric_detail;  // NOLINT: the registry lists the metric parts' factories

// ---- trajectory_mse ----------------------------------------------------------------------------

// Σ_i ‖x_i − r_i‖² / D over the samples seen, and their count; value = that sum / n.
class TrajectoryState final : public MetricState {
 public:
  void add(const at::Tensor& samples, const at::Tensor& reference) override {
    if (!reference.defined())
      throw ConfigError("trajectory_mse",
                        "needs the reference sampler's samples on the same noise");
    if (samples.sizes() != reference.sizes())
      throw ConfigError("trajectory_mse", "samples and reference samples differ in shape");
    check_finite(samples, "trajectory_mse", "samples");
    check_finite(reference, "trajectory_mse", "reference samples");
    const int64_t n = samples.size(0);
    if (n == 0) return;
    const at::Tensor diff =
        (samples.to(at::kCPU, at::kDouble) - reference.to(at::kCPU, at::kDouble)).reshape({n, -1});
    sum_ += diff.pow(2).mean(1).sum().item<double>();
    count_ += n;
  }
  void merge(const MetricState& other) override {
    const auto& o = same_kind<TrajectoryState>(other);
    sum_ += o.sum_;
    count_ += o.count_;
  }
  int64_t count() const override { return count_; }
  double value() const override {
    if (count_ == 0) throw ConfigError("trajectory_mse", "needs at least 1 sample, got 0");
    return finite_value(sum_ / static_cast<double>(count_), "trajectory_mse");
  }

 private:
  double sum_ = 0;
  int64_t count_ = 0;
};

class TrajectoryMetric final : public Metric {
 public:
  explicit TrajectoryMetric(const json& params) { OptionReader(params, "trajectory_mse").finish(); }
  std::string_view name() const override { return "trajectory_mse"; }
  bool needs_reference_samples() const override { return true; }
  std::unique_ptr<MetricState> start() const override {
    return std::make_unique<TrajectoryState>();
  }
};

// ---- excess ------------------------------------------------------------------------------------

// The reference side's state of each reference chunk already seen, by the chunk's fingerprint: a
// search scores every trial against the same reference samples, so their features and statistics
// are computed once. Holds at most kMaxCachedReferenceChunks states (the first ones seen, which
// include the low-fidelity chunks every trial draws; an FID Inception state is 2048² doubles).
class ReferenceStateCache {
 public:
  static constexpr size_t kMaxCachedReferenceChunks = 8;
  // The cached state for `key`, or nullptr.
  std::shared_ptr<const MetricState> find(uint64_t key) const {
    std::lock_guard lock(mutex_);
    const auto it = states_.find(key);
    return it == states_.end() ? nullptr : it->second;
  }
  void insert(uint64_t key, std::shared_ptr<const MetricState> state) {
    std::lock_guard lock(mutex_);
    if (states_.size() < kMaxCachedReferenceChunks) states_.emplace(key, std::move(state));
  }

 private:
  mutable std::mutex mutex_;
  std::map<uint64_t, std::shared_ptr<const MetricState>> states_;
};

// The wrapped metric once on the samples and once on the reference samples (the latter from the
// cache when this reference chunk was seen before).
class ExcessState final : public MetricState {
 public:
  ExcessState(std::shared_ptr<const Metric> inner, std::shared_ptr<ReferenceStateCache> cache)
      : inner_(std::move(inner)),
        cache_(std::move(cache)),
        samples_(inner_->start()),
        reference_(inner_->start()) {}
  void add(const at::Tensor& samples, const at::Tensor& reference) override {
    if (!reference.defined())
      throw ConfigError("excess", "needs the reference sampler's samples on the same noise");
    if (samples.size(0) != reference.size(0))
      throw ConfigError("excess", "samples and reference samples differ in count");
    check_finite(reference, "excess", "reference samples");
    samples_->add(samples, reference);
    const uint64_t key = tensor_fingerprint(reference);
    std::shared_ptr<const MetricState> cached = cache_->find(key);
    if (cached == nullptr) {
      auto fresh = inner_->start();
      fresh->add(reference, inner_->needs_reference_samples() ? reference : at::Tensor());
      cached = std::move(fresh);
      cache_->insert(key, cached);
    }
    reference_->merge(*cached);
  }
  void merge(const MetricState& other) override {
    const auto& o = same_kind<ExcessState>(other);
    samples_->merge(*o.samples_);
    reference_->merge(*o.reference_);
  }
  int64_t count() const override { return samples_->count(); }
  double value() const override {
    return finite_value(samples_->value() - reference_->value(), "excess");
  }

 private:
  std::shared_ptr<const Metric> inner_;
  std::shared_ptr<ReferenceStateCache> cache_;
  std::unique_ptr<MetricState> samples_;
  std::unique_ptr<MetricState> reference_;
};

class ExcessMetric final : public Metric {
 public:
  ExcessMetric(const json& params, const MetricResources& resources) {
    if (!params.is_object() || !params.contains("metric"))
      throw ConfigError("excess.metric", "missing: the metric to take the excess of");
    const json& name = params.at("metric");
    if (!name.is_string()) throw ConfigError("excess.metric", "must be a metric name");
    if (name.get<std::string>() == "excess")
      throw ConfigError("excess.metric", "cannot be 'excess' itself");
    json inner_params = params;
    inner_params.erase("metric");
    const MetricEntry& entry =
        registry_find(metric_registry(), name.get<std::string>(), "excess.metric");
    inner_ = entry.make(inner_params, resources);
  }
  std::string_view name() const override { return "excess"; }
  bool needs_reference_samples() const override { return true; }
  std::unique_ptr<MetricState> start() const override {
    return std::make_unique<ExcessState>(inner_, cache_);
  }

 private:
  std::shared_ptr<const Metric> inner_;
  std::shared_ptr<ReferenceStateCache> cache_ = std::make_shared<ReferenceStateCache>();
};

template <class M>
std::unique_ptr<Metric> make_with_resources(const json& params, const MetricResources& resources) {
  return std::make_unique<M>(params, resources);
}

std::unique_ptr<Metric> make_trajectory(const json& params, const MetricResources& /*resources*/) {
  return std::make_unique<TrajectoryMetric>(params);
}

constexpr MetricEntry kMetrics[] = {
    {"fd",
     "Frechet distance of the samples' features to the data set's "
     "(params: features = pixels | classifier | inception)",
     &make_fd},
    {"kid",
     "kernel inception distance: unbiased MMD^2, kernel (x.y/d + 1)^3, against data_size data "
     "samples (params: features, data_size = 10000)",
     &make_kid},
    {"fd_inf",
     "FD extrapolated to infinitely many samples by a line in 1/n through FD of nested subsets "
     "(params: features, points = 15, min_fraction = 0.1)",
     &make_fd_inf},
    {"trajectory_mse",
     "mean squared distance per dimension to the reference sampler's samples on the same noise",
     &make_trajectory},
    {"excess",
     "a metric's value on the samples minus its value on the reference samples of the same "
     "noise (params: metric, then that metric's params)",
     &make_with_resources<ExcessMetric>},
};

}  // namespace

std::span<const MetricEntry> metric_registry() { return kMetrics; }

std::unique_ptr<Metric> make_metric(std::string_view name, const nlohmann::json& params,
                                    const MetricResources& resources) {
  return registry_find(metric_registry(), name, "metric").make(params, resources);
}

}  // namespace samplersearch
