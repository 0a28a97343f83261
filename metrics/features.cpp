// Feature extractors: pixels, the data set's classifier, FID Inception; their registry table.
#include "samplersearch/metrics/features.hpp"

#include <ATen/ATen.h>

#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "samplersearch/common/error.hpp"
#include "samplersearch/common/registry.hpp"
#include "samplersearch/metrics/classifier.hpp"
#include "samplersearch/metrics/inception.hpp"
#include "samplersearch/metrics/statistics_file.hpp"

namespace samplersearch {
namespace {

constexpr uint64_t kFnvOffset = 14695981039346656037ULL;
constexpr uint64_t kFnvPrime = 1099511628211ULL;

// FNV-1a over 64-bit words (one multiply per word: fast enough for 60,000 images).
uint64_t fnv_mix(uint64_t hash, uint64_t word) { return (hash ^ word) * kFnvPrime; }

void require_data(const MetricResources& resources, const std::string& field) {
  if (!resources.data.defined() || resources.data.dim() < 2 || resources.data.size(0) < 2)
    throw ConfigError(field,
                      "needs the data set's samples (MetricResources::data, [N, ...], N >= 2)");
}

FeatureSpace make_pixels(const nlohmann::json& /*params*/, const MetricResources& resources,
                         const std::string& metric) {
  if (!resources.data.defined() && !resources.statistics_file.empty()) {
    // The data side is a statistics file: its dimension is the number of pixels.
    const auto dim = read_statistics(resources.statistics_file).mu.size(0);
    return {std::make_shared<PixelFeatures>(dim), "pixels"};
  }
  require_data(resources, metric + ".features");
  const int64_t dim = resources.data[0].numel();
  return {std::make_shared<PixelFeatures>(dim), "pixels"};
}

FeatureSpace make_classifier(const nlohmann::json& params, const MetricResources& resources,
                             const std::string& metric) {
  require_data(resources, metric + ".features");
  if (!resources.data_labels.defined())
    throw ConfigError(metric + ".features",
                      "'classifier' needs the data set's labels (MetricResources::data_labels)");
  const nlohmann::json recipe_json =
      params.contains("classifier") ? params.at("classifier") : nlohmann::json::object();
  const ClassifierRecipe recipe = classifier_recipe_from_json(recipe_json, metric + ".classifier");
  std::shared_ptr<const Classifier> classifier = cached_classifier(recipe, resources);
  const std::string key = "classifier-" + hex64(text_hash(classifier->recipe_text()));
  return {std::make_shared<ClassifierFeatures>(std::move(classifier)), key};
}

FeatureSpace make_inception(const nlohmann::json& /*params*/, const MetricResources& resources,
                            const std::string& metric) {
  if (resources.inception_weights.empty())
    throw ConfigError(metric + ".features",
                      "'inception' needs the FID Inception weights file "
                      "(MetricResources::inception_weights). " +
                          inception_weights_howto());
  auto network = std::make_shared<const FidInception>(resources.inception_weights, at::kCPU);
  return {std::make_shared<InceptionFeatures>(std::move(network)), "inception"};
}

constexpr FeatureEntry kFeatures[] = {
    {"pixels", "the samples flattened (C*H*W values)", &make_pixels},
    {"classifier",
     "penultimate layer of a small CNN trained on the data set (cached by its recipe hash)",
     &make_classifier},
    {"inception", "FID Inception v3 pool3 (2048-d) of the 8-bit quantized samples",
     &make_inception},
};

}  // namespace

PixelFeatures::PixelFeatures(int64_t dim) : dim_(dim) {}

at::Tensor PixelFeatures::features(const at::Tensor& samples) const {
  if (!samples.defined() || samples.dim() < 1)
    throw ConfigError("samples", "expected a batch [n, ...]");
  const int64_t n = samples.size(0);
  if (n > 0 && samples.numel() / n != dim_)
    throw ConfigError("samples", "each sample has " + std::to_string(samples.numel() / n) +
                                     " values but the data set's have " + std::to_string(dim_));
  return samples.reshape({n, dim_}).to(at::kCPU, at::kDouble);
}

InceptionFeatures::InceptionFeatures(std::shared_ptr<const FidInception> network)
    : network_(std::move(network)) {}

int64_t InceptionFeatures::dim() const { return kInceptionFeatureDim; }

at::Tensor InceptionFeatures::features(const at::Tensor& samples) const {
  return network_->sample_features(samples).to(at::kCPU, at::kDouble);
}

std::span<const FeatureEntry> feature_registry() { return kFeatures; }

FeatureSpace make_feature_space(std::string_view name, const std::string& metric,
                                const nlohmann::json& params, const MetricResources& resources) {
  return registry_find(feature_registry(), name, metric + ".features")
      .make(params, resources, metric);
}

at::Tensor batched_features(const FeatureExtractor& extractor, const at::Tensor& samples,
                            int64_t batch) {
  const int64_t n = samples.size(0);
  if (n <= batch) return extractor.features(samples);
  std::vector<at::Tensor> parts;
  for (int64_t i = 0; i < n; i += batch)
    parts.push_back(extractor.features(samples.slice(0, i, i + batch)));
  return at::cat(parts, 0);
}

uint64_t tensor_fingerprint(const at::Tensor& tensor) {
  uint64_t hash = kFnvOffset;
  for (const int64_t s : tensor.sizes()) hash = fnv_mix(hash, static_cast<uint64_t>(s));
  const at::Tensor values = tensor.to(at::kCPU, at::kDouble).contiguous();
  const double* p = values.data_ptr<double>();
  for (int64_t i = 0; i < values.numel(); ++i) {
    uint64_t word = 0;
    std::memcpy(&word, p + i, sizeof word);
    hash = fnv_mix(hash, word);
  }
  return hash;
}

uint64_t text_hash(std::string_view text) {
  uint64_t hash = kFnvOffset;
  for (const char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= kFnvPrime;
  }
  return hash;
}

std::string hex64(uint64_t value) {
  char buffer[17];
  std::snprintf(buffer, sizeof buffer, "%016llx", static_cast<unsigned long long>(value));
  return buffer;
}

}  // namespace samplersearch
