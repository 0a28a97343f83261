// The feature-distance metrics: Fréchet distance (fd), kernel inception distance (kid) and FD
// extrapolated to infinitely many samples (fd_inf), each a running state over sample chunks.
#include <ATen/ATen.h>

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "metric_params.hpp"
#include "metric_parts.hpp"
#include "samplersearch/common/check.hpp"
#include "samplersearch/common/error.hpp"
#include "samplersearch/metrics/bias.hpp"
#include "samplersearch/metrics/frechet.hpp"

namespace samplersearch::metric_detail {
namespace {

// The part fd, kid and fd_inf share: the name, the feature extractor the samples go through and
// the data side `Data` computed once in that feature space; none needs reference samples.
template <class Data>
class FeatureMetric : public Metric {
 public:
  std::string_view name() const override { return name_; }
  bool needs_reference_samples() const override { return false; }

 protected:
  explicit FeatureMetric(std::string_view name) : name_(name) {}
  // Reads `params` as "<name>.<key>": the feature space, the metric's own keys (`read_own(p)`),
  // rejects any other key, then keeps the extractor and the data side `make_data(space)`.
  // Called from the derived constructor's body, so `read_own` may set the derived members.
  template <class ReadOwn, class MakeData>
  void read_params(const json& params, const MetricResources& resources, ReadOwn&& read_own,
                   MakeData&& make_data) {
    OptionReader p(params, std::string(name_));
    FeatureSpace space = read_feature_space(p, params, resources, std::string(name_));
    read_own(p);
    p.finish();
    data_ = make_data(space);
    extractor_ = std::move(space.extractor);
  }

  std::shared_ptr<const FeatureExtractor> extractor_;
  std::shared_ptr<const Data> data_;

 private:
  std::string_view name_;
};

// ---- fd ----------------------------------------------------------------------------------------

class FdState final : public MetricState {
 public:
  FdState(std::shared_ptr<const FeatureExtractor> extractor, std::shared_ptr<const Statistics> data)
      : extractor_(std::move(extractor)), data_(std::move(data)), stats_(extractor_->dim()) {}
  void add(const at::Tensor& samples, const at::Tensor& /*reference*/) override {
    check_finite(samples, "fd", "samples");
    stats_.add(batched_features(*extractor_, samples));
  }
  void merge(const MetricState& other) override {
    const auto& o = same_kind<FdState>(other);
    SS_CHECK(o.data_ == data_) << "merging states of two fd metrics";
    stats_.merge(o.stats_);
  }
  int64_t count() const override { return stats_.count(); }
  double value() const override {
    return finite_value(frechet_distance(stats_.statistics(), *data_), "fd");
  }

 private:
  std::shared_ptr<const FeatureExtractor> extractor_;
  std::shared_ptr<const Statistics> data_;
  RunningStats stats_;
};

class FdMetric final : public FeatureMetric<Statistics> {
 public:
  FdMetric(const json& params, const MetricResources& resources) : FeatureMetric("fd") {
    read_params(
        params, resources, [](OptionReader& /*p*/) {},
        [&](const FeatureSpace& space) { return data_statistics(resources, space); });
  }
  std::unique_ptr<MetricState> start() const override {
    return std::make_unique<FdState>(extractor_, data_);
  }
};

// Keeps the features (for the cross terms with later chunks and merged states) and the sums
//   S_xx = Σ_{i≠j} k(x_i, x_j),  S_xy = Σ_{i,j} k(x_i, y_j),
// which a new chunk or a merged state extends by its own sums plus the cross terms.
class KidState final : public MetricState {
 public:
  KidState(std::shared_ptr<const FeatureExtractor> extractor, std::shared_ptr<const KidData> data)
      : extractor_(std::move(extractor)), data_(std::move(data)) {}
  void add(const at::Tensor& samples, const at::Tensor& /*reference*/) override {
    check_finite(samples, "kid", "samples");
    const at::Tensor f = batched_features(*extractor_, samples);
    if (f.size(0) == 0) return;
    double cross = 0;
    for (const at::Tensor& previous : features_) cross += kernel_sum(previous, f);
    sum_xx_ += kernel_sum_offdiagonal(f) + 2.0 * cross;
    sum_xy_ += kernel_sum(f, data_->features);
    count_ += f.size(0);
    features_.push_back(f);
  }
  void merge(const MetricState& other) override {
    const auto& o = same_kind<KidState>(other);
    SS_CHECK(o.data_ == data_) << "merging states of two kid metrics";
    if (o.count_ == 0) return;
    const double cross = count_ == 0 ? 0.0
                                     : kernel_sum(concatenated(features_, extractor_->dim()),
                                                  concatenated(o.features_, extractor_->dim()));
    sum_xx_ += o.sum_xx_ + 2.0 * cross;
    sum_xy_ += o.sum_xy_;
    count_ += o.count_;
    features_.insert(features_.end(), o.features_.begin(), o.features_.end());
  }
  int64_t count() const override { return count_; }
  double value() const override {
    if (count_ < 2)
      throw ConfigError("kid", "needs at least 2 samples, got " + std::to_string(count_));
    const auto n = static_cast<double>(count_);
    const auto m = static_cast<double>(data_->features.size(0));
    return finite_value(sum_xx_ / (n * (n - 1)) + data_->mean_term() - 2.0 * sum_xy_ / (n * m),
                        "kid");
  }

 private:
  std::shared_ptr<const FeatureExtractor> extractor_;
  std::shared_ptr<const KidData> data_;
  std::vector<at::Tensor> features_;
  int64_t count_ = 0;
  double sum_xx_ = 0;
  double sum_xy_ = 0;
};

class KidMetric final : public FeatureMetric<KidData> {
 public:
  KidMetric(const json& params, const MetricResources& resources) : FeatureMetric("kid") {
    int64_t data_size = kKidDefaultDataSize;
    read_params(
        params, resources,
        [&](OptionReader& p) {
          data_size = p.integer("data_size", kKidDefaultDataSize, {.min = -1});
          if (data_size >= 0 && data_size < 2)
            p.fail("data_size", "must be -1 (all) or an integer >= 2");
        },
        [&](const FeatureSpace& space) { return kid_data(resources, space, data_size); });
  }
  std::unique_ptr<MetricState> start() const override {
    return std::make_unique<KidState>(extractor_, data_);
  }
};

// ---- fd_inf ------------------------------------------------------------------------------------

// Keeps the features in the order added (merged states follow); the subsets are the first n_i.
class FdInfState final : public MetricState {
 public:
  FdInfState(std::shared_ptr<const FeatureExtractor> extractor,
             std::shared_ptr<const Statistics> data, int64_t points, double min_fraction)
      : extractor_(std::move(extractor)),
        data_(std::move(data)),
        points_(points),
        min_fraction_(min_fraction) {}
  void add(const at::Tensor& samples, const at::Tensor& /*reference*/) override {
    check_finite(samples, "fd_inf", "samples");
    const at::Tensor f = batched_features(*extractor_, samples);
    count_ += f.size(0);
    if (f.size(0) > 0) features_.push_back(f);
  }
  void merge(const MetricState& other) override {
    const auto& o = same_kind<FdInfState>(other);
    SS_CHECK(o.data_ == data_) << "merging states of two fd_inf metrics";
    features_.insert(features_.end(), o.features_.begin(), o.features_.end());
    count_ += o.count_;
  }
  int64_t count() const override { return count_; }
  double value() const override {
    return finite_value(
        fd_infinity(concatenated(features_, extractor_->dim()), *data_, points_, min_fraction_)
            .intercept,
        "fd_inf");
  }

 private:
  std::shared_ptr<const FeatureExtractor> extractor_;
  std::shared_ptr<const Statistics> data_;
  int64_t points_;
  double min_fraction_;
  std::vector<at::Tensor> features_;
  int64_t count_ = 0;
};

class FdInfMetric final : public FeatureMetric<Statistics> {
 public:
  FdInfMetric(const json& params, const MetricResources& resources) : FeatureMetric("fd_inf") {
    read_params(
        params, resources,
        [&](OptionReader& p) {
          points_ = p.integer("points", kFdInfDefaultPoints, {.min = 2});
          min_fraction_ = p.number("min_fraction", kFdInfDefaultMinFraction,
                                   {.min = 0, .max = 1, .open_min = true, .open_max = true});
        },
        [&](const FeatureSpace& space) { return data_statistics(resources, space); });
  }
  std::unique_ptr<MetricState> start() const override {
    return std::make_unique<FdInfState>(extractor_, data_, points_, min_fraction_);
  }

 private:
  int64_t points_ = kFdInfDefaultPoints;
  double min_fraction_ = kFdInfDefaultMinFraction;
};

}  // namespace

std::unique_ptr<Metric> make_fd(const json& params, const MetricResources& resources) {
  return std::make_unique<FdMetric>(params, resources);
}
std::unique_ptr<Metric> make_kid(const json& params, const MetricResources& resources) {
  return std::make_unique<KidMetric>(params, resources);
}
std::unique_ptr<Metric> make_fd_inf(const json& params, const MetricResources& resources) {
  return std::make_unique<FdInfMetric>(params, resources);
}

}  // namespace samplersearch::metric_detail
