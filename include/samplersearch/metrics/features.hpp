#pragma once
// The feature extractors a metric compares samples in, as one registry table:
// `pixels` (the samples flattened), `classifier` (the penultimate layer of a small CNN trained on
// the data set, classifier.hpp) and `inception` (FID Inception pool3, inception.hpp).
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <span>
#include <string>
#include <string_view>

#include "samplersearch/metrics/metric.hpp"

namespace samplersearch {

// Pixels: x ↦ x flattened, float64 [n, C·H·W]; `dim` is C·H·W of the data set.
class PixelFeatures final : public FeatureExtractor {
 public:
  explicit PixelFeatures(int64_t dim);
  std::string_view name() const override { return "pixels"; }
  int64_t dim() const override { return dim_; }
  // Samples [n, …] flattened to float64 [n, dim]; ConfigError when a sample has another size.
  at::Tensor features(const at::Tensor& samples) const override;

 private:
  int64_t dim_;
};

class FidInception;

// FID Inception pool3 of samples in [−1, 1] (quantized to 8 bits first), float64 [n, 2048].
class InceptionFeatures final : public FeatureExtractor {
 public:
  explicit InceptionFeatures(std::shared_ptr<const FidInception> network);
  std::string_view name() const override { return "inception"; }
  int64_t dim() const override;
  // pool3 features of samples [n, C, H, W] in [−1, 1].
  at::Tensor features(const at::Tensor& samples) const override;

 private:
  std::shared_ptr<const FidInception> network_;
};

// A feature extractor with what identifies it in caches (its name plus, for the classifier, its
// recipe hash: statistics cached under one key are never reused for another network).
struct FeatureSpace {
  std::shared_ptr<const FeatureExtractor> extractor;
  std::string key;
};

// One row of the feature-extractor registry; `params` are the metric's params (the extractor reads
// its own keys, e.g. `classifier` for the classifier recipe) and `metric` the metric's name, which
// ConfigError fields start with ("fd.classifier.epochs").
struct FeatureEntry {
  std::string_view name;
  std::string_view summary;
  FeatureSpace (*make)(const nlohmann::json& params, const MetricResources& resources,
                       const std::string& metric);
};

std::span<const FeatureEntry> feature_registry();

// The extractor `name` for metric `metric` (ConfigError naming `<metric>.features` and the valid
// names otherwise).
FeatureSpace make_feature_space(std::string_view name, const std::string& metric,
                                const nlohmann::json& params, const MetricResources& resources);

// features(samples) of a large tensor, `batch` rows at a time, concatenated (float64 [n, d]).
at::Tensor batched_features(const FeatureExtractor& extractor, const at::Tensor& samples,
                            int64_t batch = 1000);

// FNV-1a over the tensor's shape and its values as float64 words (a word at a time): a cheap
// identity of a data set for cache keys (equal tensors give equal fingerprints).
uint64_t tensor_fingerprint(const at::Tensor& tensor);

// 64-bit FNV-1a of a string (byte by byte).
uint64_t text_hash(std::string_view text);

// "0123456789abcdef": a hash as 16 hex digits, for file names.
std::string hex64(uint64_t value);

}  // namespace samplersearch
