#pragma once
// Timing and the table row shared by the benchmarks.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace samplersearch::bench {

// Median wall-clock seconds of `runs` calls after one warm-up call.
template <class F>
double median_seconds(F fn, int runs) {
  fn();
  std::vector<double> times;
  for (int i = 0; i < runs; ++i) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    times.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

// One row of scripts/bench's table, printed as "ROW {json}" (fields: bench/bench_table.py).
// goal_op is ">=", "<=" or "" (no goal); checks are [label, value, op, bound] conditions.
inline void emit_row(const std::string& name, const std::string& sizes, const std::string& ours,
                     const std::string& baseline, double ratio, const std::string& ratio_of,
                     const std::string& goal_op, double goal,
                     const nlohmann::json& checks = nlohmann::json::array(),
                     const std::string& note = "") {
  nlohmann::json row = {{"name", name},         {"sizes", sizes}, {"ours", ours},
                        {"baseline", baseline}, {"ratio", ratio}, {"ratio_of", ratio_of},
                        {"checks", checks},     {"note", note}};
  row["goal"] = goal_op.empty() ? nlohmann::json(nullptr) : nlohmann::json::array({goal_op, goal});
  std::printf("ROW %s\n", row.dump().c_str());
  std::fflush(stdout);
}

// printf into a std::string.
template <class... A>
std::string format(const char* fmt, A... args) {
  char buffer[512];
  std::snprintf(buffer, sizeof buffer, fmt, args...);
  return buffer;
}

}  // namespace samplersearch::bench
