#pragma once
// The one reader of a JSON object of options (schedule parameters, space options, metric
// parameters, a classifier recipe, model metadata): typed getters with defaults and bounds, and
// finish(), which rejects every key nobody asked for and lists the valid ones from what was read.
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace samplersearch {

// Bounds of a number, integer or list of numbers; an open end excludes its bound.
struct Bounds {
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  bool open_min = false;
  bool open_max = false;
};

// Reads the options of one object; every ConfigError names "<origin>.<key>" and the reason.
class OptionReader {
 public:
  // `options` null reads as {}; anything but an object is ConfigError(origin, "must be a JSON
  // object").
  OptionReader(const nlohmann::json& options, std::string origin);

  // "<origin>.<key>": the field an error about `key` names.
  std::string field(std::string_view key) const;
  // Whether `key` is present; the key becomes valid here.
  bool has(std::string_view key);
  // A number in `bounds` (integers accepted), or `fallback` when absent.
  double number(std::string_view key, double fallback, Bounds bounds = {});
  // An integer in `bounds`, or `fallback` when absent.
  int64_t integer(std::string_view key, int64_t fallback, Bounds bounds = {});
  // A string, or `fallback` when absent.
  std::string string(std::string_view key, std::string fallback);
  // One of `names`, or `fallback` when absent.
  std::string choice(std::string_view key, std::string fallback,
                     const std::vector<std::string>& names);
  // true or false, or `fallback` when absent.
  bool flag(std::string_view key, bool fallback = false);
  // A list of numbers each in `bounds`, or `fallback` when absent.
  std::vector<double> list(std::string_view key, std::vector<double> fallback, Bounds bounds = {});
  // A list of strings, or `fallback` when absent.
  std::vector<std::string> strings(std::string_view key, std::vector<std::string> fallback);
  // The value as it is (read by its owner), or `fallback` when absent.
  nlohmann::json value(std::string_view key, nlohmann::json fallback = nullptr);
  // Makes `key` valid here without reading it (another reader handles it).
  void accept(std::string_view key);
  // The keys asked for so far, in order, joined by ", " ("none" when there are none).
  std::string valid() const;
  // Throws ConfigError(field(key), reason).
  [[noreturn]] void fail(std::string_view key, const std::string& reason) const;
  // ConfigError(field(key), "unknown field (valid here: <valid()>)") for the first key never asked
  // for, in the object's order.
  void finish() const;

 private:
  const nlohmann::json* find(std::string_view key);
  nlohmann::json options_;
  std::string origin_;
  std::vector<std::string> known_;
};

}  // namespace samplersearch
