#pragma once
// An experiment made runnable: the schedule, times, model, metric, search space, reference
// solutions and device pool its file describes, and the measurements every command shares.
#include <memory>
#include <string>
#include <vector>

#include "samplersearch/experiments/experiment.hpp"
#include "samplersearch/metrics/metric.hpp"
#include "samplersearch/samplers/model.hpp"
#include "samplersearch/search/evaluate.hpp"
#include "samplersearch/search/optuna_bridge.hpp"
#include "samplersearch/search/space.hpp"

namespace samplersearch {

// Re-scoring uses this many times the search's full sample count unless validation.samples says
// otherwise: the in-sample best is selected on its own noise, so it needs a larger, fresh sample
// to be compared fairly (the winner's curse; Thaler 1988, J. Econ. Perspectives 2(1)).
inline constexpr int64_t kRescoreFactor = 4;

class ExperimentRun {
 public:
  // Builds everything (loads the model and data, trains or loads the cached classifier).
  explicit ExperimentRun(const Experiment& experiment);
  ExperimentRun(const ExperimentRun&) = delete;
  ExperimentRun& operator=(const ExperimentRun&) = delete;

  const Experiment& experiment() const { return experiment_; }
  const std::shared_ptr<const Schedule>& schedule() const { return schedule_; }
  const std::vector<double>& times() const { return times_; }
  const SearchSpace& space() const { return *space_; }
  const X0Model& model() const { return *model_; }
  const Metric& metric() const { return *metric_; }
  DevicePool& pool() { return *pool_; }
  // The search's objective (noise stream `seed`, the metric's sample counts).
  const Objective& objective() const { return objective_; }

  // The classic sampler `label` (classic_catalogue) at this experiment's times.
  Matrices classic(const std::string& label) const;
  // The value of `m` on the unseen validation stream (validation.seed): validation.samples
  // samples, or kRescoreFactor × the full count when that is 0.
  double validate(const Matrices& m);
  // The value of `m` at full fidelity on the search's own noise (seed).
  double measure(const Matrices& m);
  // Samples [0, count) of `m` on the validation stream (for pictures), float [count, c, h, w].
  at::Tensor samples(const Matrices& m, int64_t count);
  // Optuna study settings: name, sampler (CMA-ES centred on the first warm start), pruner,
  // storage (default: sqlite beside the output file).
  StudyConfig study_config() const;
  // The HDF5 trial store's path.
  std::string output() const;
  // One line describing the objective, e.g. "excess fd/classifier over dpmsolver++(3M) 100 steps,
  // 1000 samples".
  std::string metric_description() const;

 private:
  Experiment experiment_;
  std::shared_ptr<const Schedule> schedule_;
  std::vector<double> times_;
  std::unique_ptr<X0Model> model_;
  std::unique_ptr<Metric> metric_;
  std::unique_ptr<SearchSpace> space_;
  std::unique_ptr<DevicePool> pool_;
  std::unique_ptr<ReferenceSamples> reference_, validation_reference_;
  Objective objective_;
};

// The experiment's output path: `output`, or runs/<name>.h5.
std::string experiment_output(const Experiment& experiment);

}  // namespace samplersearch
