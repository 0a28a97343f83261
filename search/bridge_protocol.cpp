// The bridge's protocol codec (search/README.md): response lines to JSON, JSON to the value
// types (FrozenTrial, StudyInfo), numbers with NaN/Inf spelled as strings, and BridgeError.
#include <cmath>
#include <limits>

#include "bridge_codec.hpp"
#include "samplersearch/search/optuna_bridge.hpp"

namespace samplersearch {

using nlohmann::json;

namespace bridge_detail {

// JSON has no NaN/Inf: the protocol sends them as the strings NaN, Infinity, -Infinity.
json number_to_json(double x) {
  if (std::isnan(x)) return "NaN";
  if (std::isinf(x)) return x > 0 ? "Infinity" : "-Infinity";
  return x;
}

double number_from_json(const json& j, const char* field) {
  if (j.is_number()) return j.get<double>();
  if (j.is_string()) {
    const auto& s = j.get_ref<const std::string&>();
    if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
    if (s == "Infinity") return std::numeric_limits<double>::infinity();
    if (s == "-Infinity") return -std::numeric_limits<double>::infinity();
  }
  throw ChannelFailure{BridgeError::Kind::protocol,
                       std::string("field '") + field + "' is not a number: " + j.dump()};
}

// j[key] if it is a string, else "".
std::string string_field(const json& j, const char* key) {
  if (!j.is_object()) return "";
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get_ref<const std::string&>() : std::string();
}

bool is_ok(const json& resp) {
  return resp.is_object() && resp.contains("ok") && resp["ok"] == true;
}

// error.type / error.message of a failed response, "" where missing.
std::string error_field(const json& resp, const char* key) {
  const auto it = resp.find("error");
  return it == resp.end() ? std::string() : string_field(*it, key);
}

}  // namespace bridge_detail

namespace {

using namespace bridge_detail;

FrozenTrial frozen_from_json(const json& j) {
  FrozenTrial t;
  t.number = j.at("number").get<int>();
  t.state = trial_state_from_string(j.at("state").get<std::string>());
  t.params = j.value("params", json::object());
  if (j.contains("values") && j["values"].is_array())
    for (const json& v : j["values"]) t.values.push_back(number_from_json(v, "values"));
  if (j.contains("intermediate_values"))
    for (const json& sv : j["intermediate_values"])
      t.intermediate_values[sv.at(0).get<int>()] =
          number_from_json(sv.at(1), "intermediate_values");
  t.user_attrs = j.value("user_attrs", json::object());
  if (j.contains("datetime_start") && j["datetime_start"].is_string())
    t.datetime_start = j["datetime_start"].get<std::string>();
  if (j.contains("datetime_complete") && j["datetime_complete"].is_string())
    t.datetime_complete = j["datetime_complete"].get<std::string>();
  return t;
}

StudyInfo study_info_from_json(const json& resp) {
  StudyInfo info;
  info.name = resp.at("study_name").get<std::string>();
  info.directions = resp.at("directions").get<std::vector<std::string>>();
  info.n_trials = resp.at("n_trials").get<int>();
  info.storage_kind = resp.at("storage_kind").get<std::string>();
  if (resp.contains("effective_seed") && resp["effective_seed"].is_number_integer())
    info.effective_seed = resp["effective_seed"].get<long>();
  if (resp.contains("grid_exhausted") && resp["grid_exhausted"].is_boolean())
    info.grid_exhausted = resp["grid_exhausted"].get<bool>();
  return info;
}

}  // namespace

json parse_bridge_response(std::string_view line, long id, const std::string& op) {
  const std::string head(line.substr(0, 200));
  json resp;
  try {
    resp = json::parse(line);
  } catch (const json::exception&) {
    // parse_error, and also out_of_range 406 for a number beyond double (e.g. -1e600).
    throw BridgeError(BridgeError::Kind::protocol, op, "",
                      "response to '" + op + "' is not JSON: " + head);
  }
  if (!resp.is_object() || !resp.contains("id") || resp["id"] != id)
    throw BridgeError(
        BridgeError::Kind::protocol, op, "",
        "response to '" + op + "' (id " + std::to_string(id) + ") has the wrong id: " + head);
  return resp;
}

FrozenTrial frozen_trial_from_response(const json& resp, const std::string& op) {
  return parsed(op, [&] { return frozen_from_json(resp); });
}

std::vector<FrozenTrial> frozen_trials_from_response(const json& resp, const std::string& op) {
  return parsed(op, [&] {
    std::vector<FrozenTrial> out;
    for (const json& t : resp.at("trials")) out.push_back(frozen_from_json(t));
    return out;
  });
}

StudyInfo study_info_from_response(const json& resp, const std::string& op) {
  return parsed(op, [&] { return study_info_from_json(resp); });
}

BridgeError::BridgeError(Kind kind, const std::string& op, const std::string& python_type,
                         const std::string& message)
    : Error("optuna bridge: " + op + ": " +
            (python_type.empty() ? std::string() : python_type + ": ") + message),
      kind_(kind),
      op_(op),
      python_type_(python_type),
      message_(message) {}

}  // namespace samplersearch
