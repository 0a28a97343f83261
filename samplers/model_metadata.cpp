#include "samplersearch/samplers/model_metadata.hpp"

#include <torch/script.h>

#include <filesystem>

#include "samplersearch/common/error.hpp"
#include "samplersearch/common/options.hpp"
#include "samplersearch/common/registry.hpp"
#include "samplersearch/samplers/schedule.hpp"

namespace samplersearch {
namespace {

using nlohmann::json;

// The fields of samplersearch.json; a ConfigError names "samplersearch.json.<field>". Keys it
// does not read are left alone (an exporter may add fields a reader does not know yet).
ModelMetadata read_fields(const json& doc) {
  OptionReader r(doc, kModelMetadataFile);
  const auto require = [&](OptionReader& reader, const char* key) {
    if (!reader.has(key)) reader.fail(key, "is missing");
  };
  require(r, "format");
  if (const json format = r.value("format"); !format.is_number_integer() || format != 1)
    r.fail("format", "must be 1 (got " + format.dump() + ")");

  ModelMetadata m;
  require(r, "parameterization");
  m.parameterization =
      r.choice("parameterization", "", registry_names(parameterization_registry()));
  require(r, "time_input");
  m.time_input = r.choice("time_input", "", registry_names(time_input_registry()));
  require(r, "schedule");
  OptionReader schedule(r.value("schedule"), r.field("schedule"));
  require(schedule, "name");
  m.schedule = schedule.choice("name", "", registry_names(schedule_registry()));
  if (schedule.has("params")) {
    m.schedule_params = schedule.value("params");
    if (!m.schedule_params.is_object()) schedule.fail("params", "must be a JSON object");
  }
  try {
    make_schedule(m.schedule, m.schedule_params);
  } catch (const ConfigError& e) {
    schedule.fail("params", std::string("is not valid: ") + e.what());
  }
  require(r, "sample_shape");
  const json shape = r.value("sample_shape");
  if (!shape.is_array() || shape.empty()) r.fail("sample_shape", "must be a non-empty list");
  for (const json& s : shape) {
    if (!s.is_number_integer() || s.get<int64_t>() < 1)
      r.fail("sample_shape", "must hold positive integers (got " + shape.dump() + ")");
    m.sample_shape.push_back(s.get<int64_t>());
  }
  require(r, "value_range");
  const json range = r.value("value_range");
  if (!range.is_array() || range.size() != 2 || !range[0].is_number() || !range[1].is_number() ||
      !(range[0].get<double>() < range[1].get<double>()))
    r.fail("value_range", "must be [low, high] with low < high (got " + range.dump() + ")");
  m.value_low = range[0].get<double>();
  m.value_high = range[1].get<double>();
  require(r, "classes");
  m.classes = r.integer("classes", 0, {.min = 0});
  if (const json label = r.value("class_label"); !label.is_null()) {
    if (!label.is_number_integer() || label.get<int64_t>() < 0 || label.get<int64_t>() >= m.classes)
      r.fail("class_label", "must be an integer in [0, classes)");
    m.class_label = label.get<int64_t>();
  }
  if (m.classes > 0 && !m.class_label)
    r.fail("class_label",
           "is missing: a class-conditional network is exported bound to one label "
           "(scripts/export_model class_label=…)");
  if (m.parameterization == "flow" && m.schedule != "flow")
    r.fail("parameterization",
           "flow is defined on the flow schedule only (schedule is '" + m.schedule + "')");
  if (r.has("extra")) m.extra = r.value("extra");
  if (const json d = r.value("description"); d.is_string()) m.description = d.get<std::string>();
  return m;
}

ModelMetadata parse_metadata(const std::string& path, const std::string& text) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for numbers beyond double
    throw FileError(path, std::string(kModelMetadataFile) + ": not valid JSON: " + e.what());
  }
  if (!doc.is_object())
    throw FileError(path, std::string(kModelMetadataFile) + ": not a JSON object");
  try {
    return read_fields(doc);
  } catch (const ConfigError& e) {
    throw FileError(path, e.what());
  }
}

}  // namespace

std::optional<ModelMetadata> read_model_metadata(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw FileError(path, "no such file");
  torch::jit::ExtraFilesMap files{{kModelMetadataFile, ""}};
  try {
    torch::jit::load(path, at::Device("cpu"), files);
  } catch (const std::exception&) {
    throw FileError(path, "not a TorchScript module (torch.jit.load failed)");
  }
  const std::string& text = files.at(kModelMetadataFile);
  if (text.empty()) return std::nullopt;
  return parse_metadata(path, text);
}

TorchScriptSpec spec_of(const std::string& path, const ModelMetadata& metadata) {
  TorchScriptSpec spec;
  spec.path = path;
  spec.parameterization =
      registry_find(parameterization_registry(), metadata.parameterization, "parameterization")
          .kind;
  spec.time_input = registry_find(time_input_registry(), metadata.time_input, "time_input").kind;
  spec.sample_shape = metadata.sample_shape;
  return spec;
}

ExportedModel load_exported_model(const std::string& path, const std::string& device,
                                  std::optional<at::ScalarType> dtype) {
  std::optional<ModelMetadata> metadata = read_model_metadata(path);
  if (!metadata)
    throw FileError(path, std::string("has no ") + kModelMetadataFile +
                              " (export it with scripts/export_model)");
  ExportedModel out;
  out.schedule = make_schedule(metadata->schedule, metadata->schedule_params);
  TorchScriptSpec spec = spec_of(path, *metadata);
  spec.dtype = dtype;
  out.model = load_torchscript_model(spec, out.schedule, device);
  out.metadata = std::move(*metadata);
  return out;
}

}  // namespace samplersearch
