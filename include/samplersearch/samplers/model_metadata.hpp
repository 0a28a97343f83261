#pragma once
// The metadata scripts/export_model stores in a TorchScript file (the archive's extra file
// samplersearch.json, docs/bring-your-own-model.md): what the network outputs, how t is fed, its
// schedule, one sample's shape and the data's value range, so that the file alone describes it.
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "samplersearch/samplers/model.hpp"
#include "samplersearch/samplers/torchscript_model.hpp"

namespace samplersearch {

// The name of the extra file inside the TorchScript archive.
inline constexpr const char* kModelMetadataFile = "samplersearch.json";

struct ModelMetadata {
  std::string parameterization;  // a parameterization_registry() name (eps, x0, v, score, flow)
  std::string time_input;        // a time_input_registry() name (t, 999t, sigma, edm, step)
  std::string schedule;          // a schedule_registry() name
  nlohmann::json schedule_params = nlohmann::json::object();
  std::vector<int64_t> sample_shape;
  double value_low = -1.0, value_high = 1.0;
  int64_t classes = 0;                 // 0: unconditional
  std::optional<int64_t> class_label;  // the label a class-conditional export is bound to
  nlohmann::json extra = nlohmann::json::object();  // free (training recipe, held-out loss, …)
  std::string description;
};

// The metadata of `path`, or none when the archive has no samplersearch.json; FileError naming
// the path and the field ("samplersearch.json: field 'time_input' …") when a field is missing,
// of the wrong type or not a valid name, or when the file is not a TorchScript archive.
std::optional<ModelMetadata> read_model_metadata(const std::string& path);

// The TorchScriptSpec the metadata describes (the path, parameterization, time input, shape).
TorchScriptSpec spec_of(const std::string& path, const ModelMetadata& metadata);

// The network of an exported file as an x0-model on its own schedule, with its metadata;
// FileError when the file has no metadata or breaks the contract on the probe batch.
struct ExportedModel {
  ModelMetadata metadata;
  std::shared_ptr<const Schedule> schedule;
  std::unique_ptr<X0Model> model;
};
ExportedModel load_exported_model(const std::string& path, const std::string& device = "cpu",
                                  std::optional<at::ScalarType> dtype = std::nullopt);

}  // namespace samplersearch
