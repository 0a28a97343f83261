#include <cmath>
#include <cstdlib>

#include "samplersearch/common/error.hpp"
#include "samplersearch/experiments/cli.hpp"

namespace samplersearch::cli {
namespace {

// Boolean switches that take no value.
bool is_switch(const std::string& name) {
  return name == "help" || name == "quiet" || name == "json" || name == "force" || name == "batch";
}

double parse_double(const std::string& flag, const std::string& text) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(v))
    throw ConfigError(flag, "expected a finite number, got '" + text + "'");
  return v;
}

}  // namespace

Args::Args(std::string command, std::span<const std::string> argv) : command_(std::move(command)) {
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a.rfind("--", 0) == 0 && a.size() > 2) {
      std::string name = a.substr(2);
      std::string value;
      if (const auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      } else if (is_switch(name)) {
        value = "true";
      } else {
        if (i + 1 >= argv.size()) throw ConfigError("--" + name, "needs a value");
        value = argv[++i];
      }
      if (name == "set") {  // may repeat: --set a=1 --set b=2
        multi_[name].push_back(value);
        used_[name] = false;
        continue;
      }
      if (values_.count(name)) throw ConfigError("--" + name, "given twice");
      values_[name] = value;
      used_[name] = false;
    } else {
      positional_.push_back(a);
    }
  }
}

std::optional<std::string> Args::get(const std::string& name) {
  const auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  used_[name] = true;
  return it->second;
}

std::string Args::require(const std::string& name) {
  auto v = get(name);
  if (!v) throw ConfigError("--" + name, "is required (see '" + command_ + " --help')");
  return *v;
}

std::optional<double> Args::get_double(const std::string& name) {
  auto v = get(name);
  if (!v) return std::nullopt;
  return parse_double("--" + name, *v);
}

std::optional<int> Args::get_int(const std::string& name) {
  auto v = get(name);
  if (!v) return std::nullopt;
  char* end = nullptr;
  const long n = std::strtol(v->c_str(), &end, 10);
  if (v->empty() || end != v->c_str() + v->size() || n < -1000000000 || n > 1000000000)
    throw ConfigError("--" + name, "expected an integer, got '" + *v + "'");
  return static_cast<int>(n);
}

std::optional<bool> Args::get_bool(const std::string& name) {
  auto v = get(name);
  if (!v) return std::nullopt;
  if (*v == "true" || *v == "1") return true;
  if (*v == "false" || *v == "0") return false;
  throw ConfigError("--" + name, "expected true or false, got '" + *v + "'");
}

std::optional<std::vector<std::string>> Args::get_strings(const std::string& name) {
  auto v = get(name);
  if (!v) return std::nullopt;
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t comma = v->find(',', start);
    out.push_back(v->substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

std::optional<std::vector<double>> Args::get_doubles(const std::string& name) {
  auto items = get_strings(name);
  if (!items) return std::nullopt;
  std::vector<double> out;
  for (const std::string& item : *items) out.push_back(parse_double("--" + name, item));
  return out;
}

bool Args::flag(const std::string& name) { return get(name).has_value(); }

std::vector<std::string> Args::get_all(const std::string& name) {
  const auto it = multi_.find(name);
  if (it == multi_.end()) return {};
  used_[name] = true;
  return it->second;
}

void Args::finish() const {
  for (const auto& [name, used] : used_)
    if (!used) throw ConfigError("--" + name, "is not a flag of '" + command_ + "'");
  (void)positional_;
}

}  // namespace samplersearch::cli
