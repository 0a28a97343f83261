#pragma once
// Private to metrics/: the feature-space params every feature-based metric shares, read with the
// one option reader (common/options.hpp), kept apart from the metrics themselves.
#include <nlohmann/json.hpp>
#include <string>

#include "samplersearch/common/options.hpp"
#include "samplersearch/metrics/features.hpp"
#include "samplersearch/metrics/metric.hpp"

namespace samplersearch::metric_detail {

using nlohmann::json;

// The feature space a metric's `features` (and `classifier`) params select.
// `params` is the metric's whole params object; `reader` reads it and names "<metric>.<key>".
inline FeatureSpace read_feature_space(OptionReader& reader, const json& params,
                                       const MetricResources& resources,
                                       const std::string& metric) {
  const std::string features = reader.string("features", "pixels");
  if (reader.has("classifier") && features != "classifier")
    reader.fail("classifier", "only used with features = classifier");
  return make_feature_space(features, metric, params, resources);
}

}  // namespace samplersearch::metric_detail
