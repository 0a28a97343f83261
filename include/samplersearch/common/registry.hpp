#pragma once
// One registry table per family (schedules, discretizations, solvers, metrics, ...). Names, CLI
// help, config validation and Optuna choices are all derived from the table, never from a list
// kept beside it.
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "samplersearch/common/error.hpp"

namespace samplersearch {

// Names of the entries, in table order.
template <class Entry>
std::vector<std::string> registry_names(std::span<const Entry> table) {
  std::vector<std::string> names;
  names.reserve(table.size());
  for (const Entry& e : table) names.emplace_back(e.name);
  return names;
}

// "a, b, c": the valid names, for error messages and help.
template <class Entry>
std::string registry_list(std::span<const Entry> table) {
  std::string out;
  for (const Entry& e : table) {
    if (!out.empty()) out += ", ";
    out += e.name;
  }
  return out;
}

// The entry called `name`; ConfigError naming `field` and every valid name otherwise.
template <class Entry>
const Entry& registry_find(std::span<const Entry> table, std::string_view name,
                           const std::string& field) {
  for (const Entry& e : table)
    if (e.name == name) return e;
  throw ConfigError(
      field, "unknown name '" + std::string(name) + "' (valid: " + registry_list(table) + ")");
}

// "  name  summary" lines for --help.
template <class Entry>
std::string registry_help(std::span<const Entry> table) {
  std::string out;
  for (const Entry& e : table) {
    std::string line = "  " + std::string(e.name);
    if (line.size() < 18) line.resize(18, ' ');
    out += line + " " + std::string(e.summary) + "\n";
  }
  return out;
}

}  // namespace samplersearch
