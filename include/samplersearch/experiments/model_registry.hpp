#pragma once
// The model registry of experiment files: how `model.kind` becomes an x0-model on each device of
// the pool, and where the metric's data side comes from.
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "samplersearch/experiments/experiment.hpp"
#include "samplersearch/metrics/metric.hpp"
#include "samplersearch/samplers/model.hpp"

namespace samplersearch {

struct ModelEntry {
  std::string_view name;
  std::string_view summary;
  // The x0-model described by the experiment's `model` object, on `device`.
  std::unique_ptr<X0Model> (*make)(const ModelSpec& model, std::shared_ptr<const Schedule> schedule,
                                   const std::string& device);
  // Data samples (and labels, test split when the kind has them) for the metric's data side.
  MetricResources (*resources)(const ModelSpec& model);
};

std::span<const ModelEntry> model_registry();

// model.data naming the embedded Fashion-MNIST test split as the metric's data side.
inline constexpr const char* kFashionMnistTestData = "fashion-mnist-test";

// For model.kind torchscript whose model.path file carries scripts/export_model's metadata
// (docs/bring-your-own-model.md): model.parameterization, model.time_input, model.shape,
// schedule.name and schedule.params are filled in from it when absent; ConfigError naming the
// field when one is given and differs from the file's.
void apply_model_metadata(nlohmann::json& doc);
// The entry `name`; ConfigError("model.kind", …) listing the valid names otherwise.
const ModelEntry& find_model(std::string_view name);

// One x0-model per device: calls go to the copy on the device of x (made on first use), so a pool
// of cuda:0…n runs one module per GPU.
class PerDeviceModel final : public X0Model {
 public:
  using Factory = std::function<std::unique_ptr<X0Model>(const std::string& device)>;
  PerDeviceModel(Factory factory, const std::string& first_device);
  at::Tensor predict_x0(const at::Tensor& x, double t) const override;
  std::vector<int64_t> sample_shape() const override { return shape_; }

 private:
  Factory factory_;
  std::vector<int64_t> shape_;
  mutable std::mutex mutex_;
  mutable std::vector<std::pair<std::string, std::unique_ptr<X0Model>>> models_;
};

}  // namespace samplersearch
