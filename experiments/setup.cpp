// An experiment made runnable: everything its file describes, built once and shared by commands.
#include "samplersearch/experiments/setup.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <filesystem>
#include <thread>

#include "samplersearch/common/error.hpp"
#include "samplersearch/common/registry.hpp"
#include "samplersearch/experiments/model_registry.hpp"
#include "samplersearch/samplers/discretization.hpp"
#include "samplersearch/samplers/engine.hpp"
#include "samplersearch/samplers/solver.hpp"
#include "samplersearch/search/shared_study.hpp"

namespace samplersearch {
namespace {

GridSpec grid_of(const TimesSpec& times) { return GridSpec{times.t_start, times.t_end}; }

// The reference solution's time grid: the experiment's discretization over its range — for
// explicit times over [t_N, t_0], so a matrix file scores the same as in its search.
TimeGrid reference_grid(const TimesSpec& times) {
  const std::vector<double>& explicit_times = times.explicit_times;
  if (explicit_times.empty()) return TimeGrid(times.discretization, grid_of(times));
  return TimeGrid(times.discretization, GridSpec{explicit_times.front(), explicit_times.back()});
}

// Runs `make`, naming the experiment field a ConfigError from a registry's factory came from
// (e.g. "metric.params: fd.features: unknown name 'pixel' …").
template <class F>
auto in_field(const char* field, F make) {
  try {
    return make();
  } catch (const ConfigError& e) {
    throw ConfigError(field, e.what());
  }
}

}  // namespace

std::string experiment_output(const Experiment& experiment) {
  const std::string& out = experiment.spec.output;
  return out.empty() ? "runs/" + experiment.name() + ".h5" : out;
}

ExperimentRun::ExperimentRun(const Experiment& experiment) : experiment_(experiment) {
  const ExperimentSpec& spec = experiment_.spec;
  const int threads = spec.threads;
  at::set_num_threads(
      threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  schedule_ = in_field("schedule.params",
                       [&] { return make_schedule(spec.schedule.name, spec.schedule.params); });
  const TimesSpec& times = spec.times;
  if (times.explicit_times.empty()) {
    times_ = make_timesteps(times.discretization, *schedule_, spec.steps, grid_of(times));
  } else {
    times_ = times.explicit_times;
  }

  pool_ = in_field("devices", [&] { return std::make_unique<DevicePool>(spec.devices); });
  const ModelSpec& model = spec.model;
  const ModelEntry& entry = find_model(model.kind);
  auto schedule = schedule_;
  model_ = std::make_unique<PerDeviceModel>(
      [&entry, model, schedule](const std::string& device) {
        return entry.make(model, schedule, device);
      },
      pool_->devices().front().str());

  const MetricSpec& metric = spec.metric;
  MetricResources resources = entry.resources(model);
  resources.cache_dir = metric.cache;
  resources.inception_weights = metric.inception_weights;
  resources.statistics_file = metric.statistics;
  if (!resources.cache_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(resources.cache_dir, ec);
    if (ec)
      throw FileError(resources.cache_dir,
                      "metric.cache: cannot create the cache directory: " + ec.message());
  }
  metric_ =
      in_field("metric.params", [&] { return make_metric(metric.name, metric.params, resources); });

  const SpaceSpec& space = spec.space;
  space_ = in_field("space.options", [&] {
    return make_space(space.name, SpaceConfig{schedule_, times_, space.options, space.warm_starts});
  });

  const SampleLayout layout{
      model_->sample_shape(),
      registry_find(dtype_registry(), model.sum_dtype, "model.sum_dtype").kind};
  const uint64_t seed = spec.seed;
  if (metric_->needs_reference_samples()) {
    const ClassicSampler& ref = find_classic(metric.reference_sampler, "metric.reference.sampler");
    Matrices m = in_field("metric.reference.sampler", [&] {
      return classic_matrices(
          ref, SolverPlan{schedule_, reference_grid(times), metric.reference_steps, {}});
    });
    reference_ = std::make_unique<ReferenceSamples>(m, *model_, seed, layout);
    validation_reference_ =
        std::make_unique<ReferenceSamples>(m, *model_, spec.validation.seed, layout);
  }
  objective_ = Objective{model_.get(), metric_.get(),  layout,           seed,
                         metric.chunk, metric.samples, reference_.get(), {}};
}

Matrices ExperimentRun::classic(const std::string& label) const {
  const ClassicSampler& c = find_classic(label, "baselines");
  const TimesSpec& times = experiment_.spec.times;
  const TimeGrid grid = times.explicit_times.empty()
                            ? TimeGrid(times.discretization, grid_of(times))
                            : TimeGrid(times_);
  Matrices m = classic_matrices(c, SolverPlan{schedule_, grid, space_->steps(), {}});
  m.solver = label;
  return m;
}

double ExperimentRun::measure(const Matrices& m) {
  Objective o = objective_;
  o.sample_counts = {objective_.sample_counts.back()};
  return evaluate(m, o, *pool_, nullptr).value;
}

double ExperimentRun::validate(const Matrices& m) {
  Objective o = objective_;
  const ValidationSpec& v = experiment_.spec.validation;
  const int64_t samples = v.samples;
  o.seed = v.seed;
  o.sample_counts = {samples > 0 ? samples : kRescoreFactor * objective_.sample_counts.back()};
  o.reference = validation_reference_.get();
  return evaluate(m, o, *pool_, nullptr).value;
}

at::Tensor ExperimentRun::samples(const Matrices& m, int64_t count) {
  // In chunks on the pool's devices (the noise is per sample, so the result does not depend on it).
  const uint64_t seed = experiment_.spec.validation.seed;
  std::vector<at::Tensor> parts;
  for (int64_t first = 0; first < count; first += objective_.chunk) {
    DevicePool::Lease lease = pool_->acquire();
    SampleLayout layout = objective_.layout;
    layout.device = lease.device();
    parts.push_back(run_engine(m, *model_, seed, first, std::min(objective_.chunk, count - first),
                               layout, objective_.engine)
                        .to(at::kCPU));
  }
  return at::cat(parts, 0);
}

StudyConfig ExperimentRun::study_config() const {
  const StudySpec& o = experiment_.spec.optuna;
  StudyConfig c;
  c.name = o.study;
  if (c.name.empty()) c.name = experiment_.name();
  c.sampler = o.sampler;
  c.sampler_params = o.sampler_params;
  if (!c.sampler_params.contains("seed")) c.sampler_params["seed"] = experiment_.spec.seed;
  const auto warm = space_->warm_starts();
  if (c.sampler == "cmaes" && !warm.empty() && !c.sampler_params.contains("x0")) {
    c.sampler_params["x0"] = warm.front().params;
    if (!c.sampler_params.contains("sigma0")) c.sampler_params["sigma0"] = o.sigma0;
  }
  c.pruner = o.pruner;
  // Optuna's CMA-ES learns only from COMPLETE trials unless told otherwise; with a pruner, the
  // pruned ones (reported at a lower fidelity) carry information too.
  if (c.sampler == "cmaes" && c.pruner != "none" &&
      !c.sampler_params.contains("consider_pruned_trials"))
    c.sampler_params["consider_pruned_trials"] = true;
  c.pruner_params = o.pruner_params;
  c.storage = o.storage;
  if (c.storage.empty()) {
    std::filesystem::path db = std::filesystem::absolute(output());
    db.replace_extension(".optuna.db");
    c.storage = "sqlite:///" + db.string();
  }
  if (is_shared_storage(c.storage)) c.heartbeat = o.heartbeat;
  return c;
}

std::string ExperimentRun::output() const { return experiment_output(experiment_); }

std::string ExperimentRun::metric_description() const {
  const MetricSpec& m = experiment_.spec.metric;
  std::string out = m.name;
  if (!m.params.empty()) out += " " + m.params.dump();
  if (metric_->needs_reference_samples())
    out += " over " + m.reference_sampler + " with " + std::to_string(m.reference_steps) + " steps";
  out += ", " + std::to_string(objective_.sample_counts.back()) + " samples";
  return out;
}

}  // namespace samplersearch
