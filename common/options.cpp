// The one reader of a JSON object of options (see options.hpp).
#include "samplersearch/common/options.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

#include "samplersearch/common/error.hpp"
#include "samplersearch/common/format.hpp"

namespace samplersearch {
namespace {

using nlohmann::json;

// " in [a, b]", " >= a", " < b" or "": the bounds as the reason of an error states them.
std::string bounds_text(const Bounds& b) {
  const bool low = std::isfinite(b.min), high = std::isfinite(b.max);
  if (low && high)
    return std::string(" in ") + (b.open_min ? "(" : "[") + format_number(b.min) + ", " +
           format_number(b.max) + (b.open_max ? ")" : "]");
  if (low) return std::string(b.open_min ? " > " : " >= ") + format_number(b.min);
  if (high) return std::string(b.open_max ? " < " : " <= ") + format_number(b.max);
  return "";
}

bool within(double v, const Bounds& b) {
  const bool above = b.open_min ? v > b.min : v >= b.min;
  const bool below = b.open_max ? v < b.max : v <= b.max;
  return above && below;
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

OptionReader::OptionReader(const json& options, std::string origin)
    : options_(options.is_null() ? json::object() : options), origin_(std::move(origin)) {
  if (!options_.is_object()) throw ConfigError(origin_, "must be a JSON object");
}

std::string OptionReader::field(std::string_view key) const {
  return origin_ + "." + std::string(key);
}

void OptionReader::accept(std::string_view key) {
  if (std::find(known_.begin(), known_.end(), key) == known_.end()) known_.emplace_back(key);
}

const json* OptionReader::find(std::string_view key) {
  accept(key);
  const auto it = options_.find(std::string(key));
  return it == options_.end() ? nullptr : &*it;
}

bool OptionReader::has(std::string_view key) { return find(key) != nullptr; }

double OptionReader::number(std::string_view key, double fallback, Bounds bounds) {
  const json* v = find(key);
  if (!v) return fallback;
  if (!v->is_number() || !within(v->get<double>(), bounds))
    fail(key, "must be a number" + bounds_text(bounds));
  return v->get<double>();
}

int64_t OptionReader::integer(std::string_view key, int64_t fallback, Bounds bounds) {
  const json* v = find(key);
  if (!v) return fallback;
  if (!v->is_number_integer() || !within(static_cast<double>(v->get<int64_t>()), bounds))
    fail(key, "must be an integer" + bounds_text(bounds));
  return v->get<int64_t>();
}

std::string OptionReader::string(std::string_view key, std::string fallback) {
  const json* v = find(key);
  if (!v) return fallback;
  if (!v->is_string()) fail(key, "must be a string");
  return v->get<std::string>();
}

std::string OptionReader::choice(std::string_view key, std::string fallback,
                                 const std::vector<std::string>& names) {
  std::string s = string(key, std::move(fallback));
  if (std::find(names.begin(), names.end(), s) == names.end())
    fail(key, "unknown name '" + s + "' (valid: " + join(names) + ")");
  return s;
}

bool OptionReader::flag(std::string_view key, bool fallback) {
  const json* v = find(key);
  if (!v) return fallback;
  if (!v->is_boolean()) fail(key, "must be true or false");
  return v->get<bool>();
}

std::vector<double> OptionReader::list(std::string_view key, std::vector<double> fallback,
                                       Bounds bounds) {
  const json* v = find(key);
  if (!v) return fallback;
  const std::string reason = "must be a list of numbers" + bounds_text(bounds);
  if (!v->is_array()) fail(key, reason);
  std::vector<double> out;
  for (const json& e : *v) {
    if (!e.is_number() || !within(e.get<double>(), bounds)) fail(key, reason);
    out.push_back(e.get<double>());
  }
  return out;
}

std::vector<std::string> OptionReader::strings(std::string_view key,
                                               std::vector<std::string> fallback) {
  const json* v = find(key);
  if (!v) return fallback;
  if (!v->is_array()) fail(key, "must be a list of strings");
  std::vector<std::string> out;
  for (const json& e : *v) {
    if (!e.is_string()) fail(key, "must be a list of strings");
    out.push_back(e.get<std::string>());
  }
  return out;
}

json OptionReader::value(std::string_view key, json fallback) {
  const json* v = find(key);
  return v ? *v : fallback;
}

std::string OptionReader::valid() const { return known_.empty() ? "none" : join(known_); }

void OptionReader::fail(std::string_view key, const std::string& reason) const {
  throw ConfigError(field(key), reason);
}

void OptionReader::finish() const {
  for (const auto& item : options_.items())
    if (std::find(known_.begin(), known_.end(), item.key()) == known_.end())
      fail(item.key(), "unknown field (valid here: " + valid() + ")");
}

}  // namespace samplersearch
