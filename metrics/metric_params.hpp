#pragma once
// Private to metrics/: how a metric reads its JSON params (the `Params` reader and the
// feature-space params every feature-based metric shares), kept apart from the metrics themselves.
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>

#include "samplersearch/common/error.hpp"
#include "samplersearch/metrics/features.hpp"
#include "samplersearch/metrics/metric.hpp"

namespace samplersearch::metric_detail {

using nlohmann::json;

// Reads a metric's params and names the offending one (<metric>.<key>) in every ConfigError.
class Params {
 public:
  Params(const json& params, std::string metric) : params_(params), metric_(std::move(metric)) {
    if (!params_.is_null() && !params_.is_object())
      throw ConfigError(metric_, "params must be a JSON object");
  }
  std::string field(const std::string& key) const { return metric_ + "." + key; }
  bool has(const std::string& key) const { return params_.is_object() && params_.contains(key); }
  const json& raw(const std::string& key) {
    used_.insert(key);
    return params_.at(key);
  }
  std::string string(const std::string& key, const std::string& fallback) {
    if (!has(key)) return fallback;
    const json& v = raw(key);
    if (!v.is_string()) throw ConfigError(field(key), "must be a string");
    return v.get<std::string>();
  }
  int64_t integer(const std::string& key, int64_t fallback, int64_t minimum) {
    if (!has(key)) return fallback;
    const json& v = raw(key);
    if (!v.is_number_integer() || v.get<int64_t>() < minimum)
      throw ConfigError(field(key), "must be an integer >= " + std::to_string(minimum));
    return v.get<int64_t>();
  }
  double open_unit(const std::string& key, double fallback) {
    if (!has(key)) return fallback;
    const json& v = raw(key);
    if (!v.is_number() || !(v.get<double>() > 0 && v.get<double>() < 1))
      throw ConfigError(field(key), "must be a number in (0, 1)");
    return v.get<double>();
  }
  // Marks a key as read without reading it (handled elsewhere).
  void accept(const std::string& key) { used_.insert(key); }
  // ConfigError on the first key nobody read.
  void finish(const std::string& valid) const {
    if (!params_.is_object()) return;
    for (const auto& item : params_.items())
      if (used_.count(item.key()) == 0)
        throw ConfigError(field(item.key()),
                          "unknown parameter of metric '" + metric_ + "' (valid: " + valid + ")");
  }
  const json& all() const { return params_; }

 private:
  const json& params_;
  std::string metric_;
  std::set<std::string> used_;
};

// The feature space a metric's `features` (and `classifier`) params select.
inline FeatureSpace read_feature_space(Params& params, const MetricResources& resources,
                                       const std::string& metric) {
  const std::string features = params.string("features", "pixels");
  if (params.has("classifier")) {
    if (features != "classifier")
      throw ConfigError(params.field("classifier"), "only used with features = classifier");
    params.accept("classifier");
  }
  return make_feature_space(features, metric, params.all(), resources);
}

}  // namespace samplersearch::metric_detail
