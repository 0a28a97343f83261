// The metric registry: fd, kid, fd_inf, trajectory_mse and the `excess` wrapper.
#include "samplersearch/metrics/metric.hpp"

#include <ATen/ATen.h>
#include <H5Cpp.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "samplersearch/common/check.hpp"
#include "samplersearch/common/error.hpp"
#include "samplersearch/common/files.hpp"
#include "samplersearch/common/options.hpp"
#include "samplersearch/common/registry.hpp"
#include "samplersearch/metrics/bias.hpp"
#include "samplersearch/metrics/features.hpp"
#include "samplersearch/metrics/frechet.hpp"
#include "samplersearch/metrics/statistics_file.hpp"

namespace samplersearch {
namespace {

using nlohmann::json;

// Default data-set subset KID compares with (the kernel over m data points costs m²·d/2).
constexpr int64_t kKidDefaultDataSize = 10000;
// Chong & Forsyth's defaults: 15 subset sizes from a tenth of the samples to all of them.
constexpr int64_t kFdInfDefaultPoints = 15;
constexpr double kFdInfDefaultMinFraction = 0.1;

// The feature space a metric's `features` (and `classifier`) params select.
// `params` is the metric's whole params object; `reader` reads it and names "<metric>.<key>".
FeatureSpace read_feature_space(OptionReader& reader, const json& params,
                                const MetricResources& resources, const std::string& metric) {
  const std::string features = reader.string("features", "pixels");
  if (reader.has("classifier") && features != "classifier")
    reader.fail("classifier", "only used with features = classifier");
  return make_feature_space(features, metric, params, resources);
}

void check_finite(const at::Tensor& t, const std::string& metric, const char* what) {
  if (t.defined() && t.numel() > 0 && !at::isfinite(t).all().item<bool>())
    throw NumericalError(metric + ": NaN or Inf in the " + what);
}

double finite_value(double value, const std::string& metric) {
  if (!std::isfinite(value)) throw NumericalError(metric + ": the value is not finite");
  return value;
}

// The samples of the data side: reference_data when given, data otherwise.
const at::Tensor& side_data(const MetricResources& resources) {
  return resources.reference_data.defined() ? resources.reference_data : resources.data;
}

// "data[N, C, H, W]#fingerprint:features-key": what cached data-side quantities were made from.
std::string data_source(const MetricResources& resources, const FeatureSpace& space, int64_t rows) {
  std::string shape;
  for (const int64_t s : side_data(resources).sizes()) {
    if (!shape.empty()) shape += ',';
    shape += std::to_string(s);
  }
  return "data[" + shape + "]#" + hex64(tensor_fingerprint(side_data(resources))) +
         ":rows=" + std::to_string(rows) + ":" + space.key;
}

std::string cache_path(const MetricResources& resources, const std::string& prefix,
                       const std::string& source) {
  return (std::filesystem::path(resources.cache_dir) / (prefix + hex64(text_hash(source)) + ".h5"))
      .string();
}

// The data set's feature statistics, cached in <cache_dir>/statistics_<hash>.h5 when a cache
// folder is given.
std::shared_ptr<const Statistics> data_statistics(const MetricResources& resources,
                                                  const FeatureSpace& space) {
  if (!resources.statistics_file.empty())
    return std::make_shared<const Statistics>(read_statistics(resources.statistics_file));
  const std::string source = data_source(resources, space, side_data(resources).size(0));
  auto features = [&] { return batched_features(*space.extractor, side_data(resources)); };
  if (resources.cache_dir.empty())
    return std::make_shared<const Statistics>(compute_statistics(features(), source));
  return std::make_shared<const Statistics>(
      reference_statistics(cache_path(resources, "statistics_", source), source, features));
}

template <class State>
const State& same_kind(const MetricState& other) {
  const auto* cast = dynamic_cast<const State*>(&other);
  SS_CHECK(cast != nullptr) << "merging the states of two different metrics";
  return *cast;
}

at::Tensor concatenated(const std::vector<at::Tensor>& parts, int64_t dim) {
  if (parts.empty()) return at::empty({0, dim}, at::kDouble);
  return parts.size() == 1 ? parts[0] : at::cat(parts, 0);
}

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

class FdMetric final : public Metric {
 public:
  FdMetric(const json& params, const MetricResources& resources) {
    OptionReader p(params, "fd");
    FeatureSpace space = read_feature_space(p, params, resources, "fd");
    p.finish();
    data_ = data_statistics(resources, space);
    extractor_ = std::move(space.extractor);
  }
  std::string_view name() const override { return "fd"; }
  bool needs_reference_samples() const override { return false; }
  std::unique_ptr<MetricState> start() const override {
    return std::make_unique<FdState>(extractor_, data_);
  }

 private:
  std::shared_ptr<const FeatureExtractor> extractor_;
  std::shared_ptr<const Statistics> data_;
};

// ---- kid ---------------------------------------------------------------------------------------

// The data side of KID: features Y of m data samples and Σ_{i≠j} k(y_i, y_j).
struct KidData {
  at::Tensor features;
  double offdiagonal_sum = 0;
  double mean_term() const {
    const auto m = static_cast<double>(features.size(0));
    return offdiagonal_sum / (m * (m - 1));
  }
};

// Reads a KID data cache written by write_kid_data; false when absent, stale or unreadable.
bool read_kid_data(const std::string& path, const std::string& source, KidData& out) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return false;
  H5::Exception::dontPrint();
  try {
    const H5::H5File file(path, H5F_ACC_RDONLY);
    if (!file.attrExists("source") || !file.attrExists("offdiagonal_sum") ||
        !file.nameExists("features"))
      return false;
    const H5::Attribute source_attribute = file.openAttribute("source");
    H5std_string stored;
    source_attribute.read(source_attribute.getStrType(), stored);
    if (stored != source) return false;
    file.openAttribute("offdiagonal_sum").read(H5::PredType::NATIVE_DOUBLE, &out.offdiagonal_sum);
    const H5::DataSet ds = file.openDataSet("features");
    const H5::DataSpace space = ds.getSpace();
    if (space.getSimpleExtentNdims() != 2) return false;
    hsize_t dims[2] = {0, 0};
    space.getSimpleExtentDims(dims);
    out.features =
        at::empty({static_cast<int64_t>(dims[0]), static_cast<int64_t>(dims[1])}, at::kDouble);
    ds.read(out.features.data_ptr<double>(), H5::PredType::NATIVE_DOUBLE);
    return true;
  } catch (const H5::Exception&) {
    return false;
  }
}

void write_kid_data(const std::string& path, const std::string& source, const KidData& data) {
  H5::Exception::dontPrint();
  try {
    write_file_atomically(path, [&](const std::string& tmp) {
      H5::H5File file(tmp, H5F_ACC_TRUNC);
      const at::Tensor f = data.features.contiguous();
      const hsize_t dims[2] = {static_cast<hsize_t>(f.size(0)), static_cast<hsize_t>(f.size(1))};
      const H5::DataSpace space(2, dims);
      file.createDataSet("features", H5::PredType::IEEE_F64LE, space)
          .write(f.data_ptr<double>(), H5::PredType::NATIVE_DOUBLE);
      const H5::DataSpace scalar(H5S_SCALAR);
      file.createAttribute("offdiagonal_sum", H5::PredType::IEEE_F64LE, scalar)
          .write(H5::PredType::NATIVE_DOUBLE, &data.offdiagonal_sum);
      const H5::StrType type(H5::PredType::C_S1, H5T_VARIABLE);
      file.createAttribute("source", type, scalar).write(type, H5std_string(source));
    });
  } catch (const std::exception& e) {
    throw FileError(path, std::string("cannot write the KID data cache: ") + e.what());
  }
}

// Y = the data rows ⌊i·N/m⌋, i = 0…m−1 (evenly spread, no random choice), and their kernel sum;
// cached in <cache_dir>/kid_<hash>.h5 when a cache folder is given.
std::shared_ptr<const KidData> kid_data(const MetricResources& resources, const FeatureSpace& space,
                                        int64_t data_size) {
  const int64_t n = side_data(resources).size(0);
  const int64_t m = data_size < 0 ? n : std::min(n, data_size);
  const std::string source = data_source(resources, space, m);
  auto data = std::make_shared<KidData>();
  const std::string path = resources.cache_dir.empty() ? "" : cache_path(resources, "kid_", source);
  if (!path.empty() && read_kid_data(path, source, *data)) return data;
  const at::Tensor rows = at::div(at::arange(m, at::kLong) * n, m, /*rounding_mode=*/"floor");
  data->features = batched_features(*space.extractor, side_data(resources).index_select(0, rows));
  data->offdiagonal_sum = kernel_sum_offdiagonal(data->features);
  if (!path.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(resources.cache_dir, ec);
    write_kid_data(path, source, *data);
  }
  return data;
}

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

class KidMetric final : public Metric {
 public:
  KidMetric(const json& params, const MetricResources& resources) {
    OptionReader p(params, "kid");
    FeatureSpace space = read_feature_space(p, params, resources, "kid");
    const int64_t data_size = p.integer("data_size", kKidDefaultDataSize, {.min = -1});
    if (data_size >= 0 && data_size < 2) p.fail("data_size", "must be -1 (all) or an integer >= 2");
    p.finish();
    data_ = kid_data(resources, space, data_size);
    extractor_ = std::move(space.extractor);
  }
  std::string_view name() const override { return "kid"; }
  bool needs_reference_samples() const override { return false; }
  std::unique_ptr<MetricState> start() const override {
    return std::make_unique<KidState>(extractor_, data_);
  }

 private:
  std::shared_ptr<const FeatureExtractor> extractor_;
  std::shared_ptr<const KidData> data_;
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

class FdInfMetric final : public Metric {
 public:
  FdInfMetric(const json& params, const MetricResources& resources) {
    OptionReader p(params, "fd_inf");
    FeatureSpace space = read_feature_space(p, params, resources, "fd_inf");
    points_ = p.integer("points", kFdInfDefaultPoints, {.min = 2});
    min_fraction_ = p.number("min_fraction", kFdInfDefaultMinFraction,
                             {.min = 0, .max = 1, .open_min = true, .open_max = true});
    p.finish();
    data_ = data_statistics(resources, space);
    extractor_ = std::move(space.extractor);
  }
  std::string_view name() const override { return "fd_inf"; }
  bool needs_reference_samples() const override { return false; }
  std::unique_ptr<MetricState> start() const override {
    return std::make_unique<FdInfState>(extractor_, data_, points_, min_fraction_);
  }

 private:
  std::shared_ptr<const FeatureExtractor> extractor_;
  std::shared_ptr<const Statistics> data_;
  int64_t points_ = kFdInfDefaultPoints;
  double min_fraction_ = kFdInfDefaultMinFraction;
};

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
     &make_with_resources<FdMetric>},
    {"kid",
     "kernel inception distance: unbiased MMD^2, kernel (x.y/d + 1)^3, against data_size data "
     "samples (params: features, data_size = 10000)",
     &make_with_resources<KidMetric>},
    {"fd_inf",
     "FD extrapolated to infinitely many samples by a line in 1/n through FD of nested subsets "
     "(params: features, points = 15, min_fraction = 0.1)",
     &make_with_resources<FdInfMetric>},
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
