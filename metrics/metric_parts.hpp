#pragma once
// Private to metrics/: what the metric files share -- finiteness checks, the data side's cached
// statistics and KID kernel sums, state merging -- and the factories the registry (metric.cpp)
// lists.
#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "samplersearch/common/check.hpp"
#include "samplersearch/metrics/features.hpp"
#include "samplersearch/metrics/metric.hpp"
#include "samplersearch/metrics/statistics_file.hpp"

namespace samplersearch::metric_detail {

// Default data-set subset KID compares with (the kernel over m data points costs m²·d/2).
constexpr int64_t kKidDefaultDataSize = 10000;
// Chong & Forsyth's defaults: 15 subset sizes from a tenth of the samples to all of them.
constexpr int64_t kFdInfDefaultPoints = 15;
constexpr double kFdInfDefaultMinFraction = 0.1;

// NumericalError("<metric>: NaN or Inf in the <what>") when t holds a non-finite value.
void check_finite(const at::Tensor& t, const std::string& metric, const char* what);
// `value`, or NumericalError when it is not finite.
double finite_value(double value, const std::string& metric);

// The data set's feature statistics, cached in <cache_dir>/statistics_<hash>.h5 when a cache
// folder is given.
std::shared_ptr<const Statistics> data_statistics(const MetricResources& resources,
                                                  const FeatureSpace& space);

// The data side of KID: features Y of m data samples and Σ_{i≠j} k(y_i, y_j).
struct KidData {
  at::Tensor features;
  double offdiagonal_sum = 0;
  double mean_term() const {
    const auto m = static_cast<double>(features.size(0));
    return offdiagonal_sum / (m * (m - 1));
  }
};

// Y = the data rows ⌊i·N/m⌋, i = 0…m−1 (evenly spread, no random choice), and their kernel sum;
// cached in <cache_dir>/kid_<hash>.h5 when a cache folder is given.
std::shared_ptr<const KidData> kid_data(const MetricResources& resources, const FeatureSpace& space,
                                        int64_t data_size);

template <class State>
const State& same_kind(const MetricState& other) {
  const auto* cast = dynamic_cast<const State*>(&other);
  SS_CHECK(cast != nullptr) << "merging the states of two different metrics";
  return *cast;
}

// The parts stacked along rows; an empty [0, dim] tensor when there are none.
inline at::Tensor concatenated(const std::vector<at::Tensor>& parts, int64_t dim) {
  if (parts.empty()) return at::empty({0, dim}, at::kDouble);
  return parts.size() == 1 ? parts[0] : at::cat(parts, 0);
}

// The feature-distance metrics (metric_distances.cpp): Fréchet distance, KID and FD-infinity.
std::unique_ptr<Metric> make_fd(const nlohmann::json& params, const MetricResources& resources);
std::unique_ptr<Metric> make_kid(const nlohmann::json& params, const MetricResources& resources);
std::unique_ptr<Metric> make_fd_inf(const nlohmann::json& params, const MetricResources& resources);

}  // namespace samplersearch::metric_detail
