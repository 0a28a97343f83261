#pragma once
// Scoring one trial's matrices: samples are drawn in fixed-size chunks
// (chunk c holds noise indices [c·chunk, (c+1)·chunk)), spread over the device pool, scored per
// chunk and merged in chunk order — so the value is bit-identical for 1 or several workers. The
// metric is read at growing sample counts (multi-fidelity), each reported as an intermediate value
// that may prune the trial; the final value always uses the full count.
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <vector>

#include "samplersearch/metrics/metric.hpp"
#include "samplersearch/samplers/engine.hpp"
#include "samplersearch/samplers/matrices.hpp"
#include "samplersearch/samplers/model.hpp"
#include "samplersearch/search/device_pool.hpp"

namespace samplersearch {

// The reference sampler's samples per chunk, computed once and shared by every trial that needs
// them (metrics comparing with a reference solution on the same noise).
class ReferenceSamples {
 public:
  ReferenceSamples(Matrices matrices, const X0Model& model, uint64_t seed, SampleLayout layout);
  // Samples of chunk [first, first+count) on the CPU (computed on `device` the first time).
  at::Tensor chunk(int64_t first, int64_t count, c10::Device device);
  const Matrices& matrices() const { return matrices_; }

 private:
  Matrices matrices_;
  const X0Model& model_;
  uint64_t seed_;
  SampleLayout layout_;
  std::mutex mutex_;
  std::map<std::pair<int64_t, int64_t>, at::Tensor> cache_;
};

// What a trial is scored with.
struct Objective {
  const X0Model* model = nullptr;
  const Metric* metric = nullptr;
  SampleLayout layout;                    // shape and dtype of samples (device comes from the pool)
  uint64_t seed = 0;                      // noise stream
  int64_t chunk = 250;                    // samples per chunk
  std::vector<int64_t> sample_counts;     // increasing fidelities; the last is the full count
  ReferenceSamples* reference = nullptr;  // required when metric->needs_reference_samples()
  EngineOptions engine;
};

struct Evaluation {
  bool pruned = false;
  double value = 0;                                      // at the last count reached
  std::vector<std::pair<int64_t, double>> intermediate;  // (sample count, value)
};

// Reports (count, value) after each fidelity but the last; returning true prunes the trial.
using ReportFn = std::function<bool(int64_t count, double value)>;

// Called after each chunk with the samples done so far (of the whole trial) and the full count;
// may throw to abandon the trial (the loop throws TrialCancelled after a stop).
using ProgressFn = std::function<void(int64_t done, int64_t total)>;

// Scores `m`; NumericalError on NaN/Inf samples or metric values (the trial then FAILs).
Evaluation evaluate(const Matrices& m, const Objective& objective, DevicePool& pool,
                    const ReportFn& report, const ProgressFn& progress = nullptr);

}  // namespace samplersearch
