// The model registry: the embedded Fashion-MNIST exact denoiser and TorchScript networks.
#include "samplersearch/experiments/model_registry.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <filesystem>
#include <optional>

#include "samplersearch/common/error.hpp"
#include "samplersearch/common/registry.hpp"
#include "samplersearch/metrics/inception.hpp"
#include "samplersearch/samplers/datasets.hpp"
#include "samplersearch/samplers/exact_models.hpp"
#include "samplersearch/samplers/model_metadata.hpp"
#include "samplersearch/samplers/torchscript_model.hpp"

namespace samplersearch {
namespace {

using nlohmann::json;

// E[x0 | x_t] over the first `model.data_size` Fashion-MNIST training images (docs/equations.md
// §3).
std::unique_ptr<X0Model> make_fashion_mnist(const ModelSpec& model,
                                            std::shared_ptr<const Schedule> schedule,
                                            const std::string& device) {
  const at::Tensor data = fashion_mnist_images("train", model.data_size).to(c10::Device(device));
  return std::make_unique<EmpiricalDenoiser>(data, std::move(schedule));
}

// The metric's data side: all 60,000 training images (statistics, classifier), the test split.
MetricResources fashion_mnist_resources(const ModelSpec& /*model*/) {
  return {fashion_mnist_images("train", -1).to(at::kFloat),
          fashion_mnist_labels("train", -1),
          fashion_mnist_images("test", -1).to(at::kFloat),
          fashion_mnist_labels("test", -1),
          "",
          "",
          "",
          {}};
}

template <class Entry>
auto kind_of(std::span<const Entry> table, const std::string& name, const char* field) {
  return registry_find(table, name, field).kind;
}

std::unique_ptr<X0Model> make_torchscript(const ModelSpec& model,
                                          std::shared_ptr<const Schedule> schedule,
                                          const std::string& device) {
  TorchScriptSpec spec;
  spec.path = model.path;
  spec.parameterization =
      kind_of(parameterization_registry(), model.parameterization, "model.parameterization");
  spec.time_input = kind_of(time_input_registry(), model.time_input, "model.time_input");
  spec.sample_shape = model.shape;
  spec.dtype = kind_of(dtype_registry(), model.dtype, "model.dtype");
  return load_torchscript_model(spec, std::move(schedule), device);
}

// model.data: uint8 images [n, h, w, c] (the `features` command's format) → float [n, c, h, w] in
// [−1, 1]; or "fashion-mnist-test": the embedded Fashion-MNIST test split is the data side (the
// classifier is still trained on the training split, as for the exact denoiser).
MetricResources torchscript_resources(const ModelSpec& model) {
  MetricResources r;
  const std::string& path = model.data;
  if (path.empty()) return r;
  if (path == kFashionMnistTestData) {
    r = fashion_mnist_resources(model);
    r.reference_data = r.test_data;
    return r;
  }
  const std::vector<int64_t> shape = image_file_shape(path);
  r.data = read_image_file(path, 0, shape[0])
               .permute({0, 3, 1, 2})
               .to(at::kFloat)
               .div(127.5)
               .sub(1.0)
               .contiguous();
  return r;
}

constexpr ModelEntry kModels[] = {
    {"fashion-mnist",
     "exact denoiser E[x0|x_t] over Fashion-MNIST training images (embedded, no download)",
     make_fashion_mnist, fashion_mnist_resources},
    {"torchscript",
     "a TorchScript network (model.path, model.parameterization, model.time_input, "
     "model.shape)",
     make_torchscript, torchscript_resources},
};

// The node at a dotted path of doc ("model.shape"), nullptr when absent.
const json* find_dotted(const json& doc, const std::string& path) {
  const json* node = &doc;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string key = path.substr(start, dot == std::string::npos ? path.npos : dot - start);
    if (!node->is_object() || !node->contains(key)) return nullptr;
    node = &node->at(key);
    if (dot == std::string::npos) return node;
    start = dot + 1;
  }
}

}  // namespace

void apply_model_metadata(json& doc) {
  const json* kind = find_dotted(doc, "model.kind");
  const json* path = find_dotted(doc, "model.path");
  if (kind == nullptr || *kind != "torchscript" || path == nullptr || !path->is_string()) return;
  const std::string file = path->get<std::string>();
  std::error_code ec;
  if (file.empty() || !std::filesystem::is_regular_file(file, ec)) return;  // loading says why
  const std::optional<ModelMetadata> m = read_model_metadata(file);
  if (!m) return;
  const auto differs = [&](const std::string& field, const json& given, const json& declared) {
    throw ConfigError(field, given.dump() + " given, but " + file + " was exported with " +
                                 declared.dump() + " (leave the field out to use the file's)");
  };
  const std::pair<const char*, json> declared[] = {
      {"model.parameterization", m->parameterization},
      {"model.time_input", m->time_input},
      {"model.shape", m->sample_shape},
      {"schedule.name", m->schedule},
  };
  for (const auto& [field, value] : declared) {
    if (const json* given = find_dotted(doc, field)) {
      if (*given != value) differs(field, *given, value);
    } else {
      std::string pointer = "/" + std::string(field);
      std::replace(pointer.begin(), pointer.end(), '.', '/');
      doc[json::json_pointer(pointer)] = value;
    }
  }
  json params = m->schedule_params;
  if (const json* given = find_dotted(doc, "schedule.params"); given && given->is_object())
    for (const auto& [key, value] : given->items())
      if (!params.contains(key) || params.at(key) != value)
        differs("schedule.params." + key, value,
                params.contains(key) ? params.at(key) : json("no such parameter"));
  doc["schedule"]["params"] = params;
}

std::span<const ModelEntry> model_registry() { return kModels; }

const ModelEntry& find_model(std::string_view name) {
  return registry_find(model_registry(), name, "model.kind");
}

PerDeviceModel::PerDeviceModel(Factory factory, const std::string& first_device)
    : factory_(std::move(factory)) {
  auto model = factory_(first_device);
  shape_ = model->sample_shape();
  models_.emplace_back(first_device, std::move(model));
}

at::Tensor PerDeviceModel::predict_x0(const at::Tensor& x, double t) const {
  const std::string device = x.device().str();
  const X0Model* model = nullptr;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [name, m] : models_)
      if (name == device) model = m.get();
    if (model == nullptr) {
      models_.emplace_back(device, factory_(device));
      model = models_.back().second.get();
    }
  }
  return model->predict_x0(x, t);
}

}  // namespace samplersearch
