#pragma once
// Timing shared by the benchmarks.
#include <algorithm>
#include <chrono>
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

}  // namespace samplersearch::bench
