#include "samplersearch/samplers/model_metadata.hpp"

#include <torch/script.h>

#include <filesystem>

#include "samplersearch/common/error.hpp"
#include "samplersearch/common/registry.hpp"
#include "samplersearch/samplers/schedule.hpp"

namespace samplersearch {
namespace {

using nlohmann::json;

template <class Entry>
std::string names(std::span<const Entry> table) {
  return registry_list(table);
}

template <class Entry>
bool has_name(std::span<const Entry> table, const std::string& name) {
  for (const auto& row : table)
    if (row.name == name) return true;
  return false;
}

// Reads the fields of samplersearch.json, each failure a FileError naming the field.
class FieldReader {
 public:
  FieldReader(const std::string& path, const json& doc) : path_(path), doc_(doc) {}

  [[noreturn]] void fail(const std::string& field, const std::string& reason) const {
    throw FileError(path_, std::string(kModelMetadataFile) + ": field '" + field + "' " + reason);
  }
  const json& get(const std::string& field) const {
    if (!doc_.contains(field)) fail(field, "is missing");
    return doc_.at(field);
  }
  std::string name(const std::string& field, const std::string& valid_names,
                   bool (*valid)(const std::string&)) const {
    const json& v = get(field);
    if (!v.is_string()) fail(field, "must be a string (one of " + valid_names + ")");
    const std::string s = v.get<std::string>();
    if (!valid(s)) fail(field, "'" + s + "' is not one of " + valid_names);
    return s;
  }

 private:
  const std::string& path_;
  const json& doc_;
};

ModelMetadata parse_metadata(const std::string& path, const std::string& text) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    throw FileError(path, std::string(kModelMetadataFile) + ": not valid JSON: " + e.what());
  }
  if (!doc.is_object())
    throw FileError(path, std::string(kModelMetadataFile) + ": not a JSON object");
  const FieldReader r(path, doc);
  const json& format = r.get("format");
  if (!format.is_number_integer() || format.get<int64_t>() != 1)
    r.fail("format", "must be 1 (got " + format.dump() + ")");

  ModelMetadata m;
  m.parameterization =
      r.name("parameterization", names(parameterization_registry()),
             [](const std::string& s) { return has_name(parameterization_registry(), s); });
  m.time_input = r.name("time_input", names(time_input_registry()),
                        [](const std::string& s) { return has_name(time_input_registry(), s); });
  const json& schedule = r.get("schedule");
  if (!schedule.is_object() || !schedule.contains("name") || !schedule.at("name").is_string())
    r.fail("schedule", "must be an object {\"name\": …, \"params\": {…}}");
  m.schedule = schedule.at("name").get<std::string>();
  if (!has_name(schedule_registry(), m.schedule))
    r.fail("schedule.name", "'" + m.schedule + "' is not one of " + names(schedule_registry()));
  if (schedule.contains("params")) {
    if (!schedule.at("params").is_object()) r.fail("schedule.params", "must be an object");
    m.schedule_params = schedule.at("params");
  }
  try {
    make_schedule(m.schedule, m.schedule_params);
  } catch (const ConfigError& e) {
    r.fail("schedule.params", std::string("is not valid: ") + e.what());
  }
  const json& shape = r.get("sample_shape");
  if (!shape.is_array() || shape.empty()) r.fail("sample_shape", "must be a non-empty list");
  for (const json& s : shape) {
    if (!s.is_number_integer() || s.get<int64_t>() < 1)
      r.fail("sample_shape", "must hold positive integers (got " + shape.dump() + ")");
    m.sample_shape.push_back(s.get<int64_t>());
  }
  const json& range = r.get("value_range");
  if (!range.is_array() || range.size() != 2 || !range[0].is_number() || !range[1].is_number() ||
      !(range[0].get<double>() < range[1].get<double>()))
    r.fail("value_range", "must be [low, high] with low < high (got " + range.dump() + ")");
  m.value_low = range[0].get<double>();
  m.value_high = range[1].get<double>();
  const json& classes = r.get("classes");
  if (!classes.is_number_integer() || classes.get<int64_t>() < 0)
    r.fail("classes", "must be an integer >= 0");
  m.classes = classes.get<int64_t>();
  if (doc.contains("class_label") && !doc.at("class_label").is_null()) {
    const json& label = doc.at("class_label");
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
  if (doc.contains("extra")) m.extra = doc.at("extra");
  if (doc.contains("description") && doc.at("description").is_string())
    m.description = doc.at("description").get<std::string>();
  return m;
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
