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

using nlohmann::json;

GridSpec grid_of(const json& times) {
  return GridSpec{times.at("t_start").get<double>(), times.at("t_end").get<double>()};
}

// The reference solution's time grid: the experiment's discretization over its range — for
// explicit times over [t_N, t_0], so a matrix file scores the same as in its search.
TimeGrid reference_grid(const json& times) {
  const json& explicit_times = times.at("explicit");
  const std::string discretization = times.at("discretization").get<std::string>();
  if (explicit_times.empty()) return TimeGrid(discretization, grid_of(times));
  return TimeGrid(discretization, GridSpec{explicit_times.front().get<double>(),
                                           explicit_times.back().get<double>()});
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
  const std::string out = experiment.doc.at("output").get<std::string>();
  return out.empty() ? "runs/" + experiment.name() + ".h5" : out;
}

ExperimentRun::ExperimentRun(const Experiment& experiment) : experiment_(experiment) {
  const json& doc = experiment_.doc;
  const int threads = doc.at("threads").get<int>();
  at::set_num_threads(
      threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  const json& sched = doc.at("schedule");
  schedule_ = in_field("schedule.params", [&] {
    return make_schedule(sched.at("name").get<std::string>(), sched.at("params"));
  });
  const json& times = doc.at("times");
  const int steps = doc.at("steps").get<int>();
  if (times.at("explicit").empty()) {
    times_ = make_timesteps(times.at("discretization").get<std::string>(), *schedule_, steps,
                            grid_of(times));
  } else {
    times_ = times.at("explicit").get<std::vector<double>>();
  }

  pool_ = in_field("devices", [&] {
    return std::make_unique<DevicePool>(doc.at("devices").get<std::vector<std::string>>());
  });
  const json& model = doc.at("model");
  const ModelEntry& entry = find_model(model.at("kind").get<std::string>());
  auto schedule = schedule_;
  model_ = std::make_unique<PerDeviceModel>(
      [&entry, model, schedule](const std::string& device) {
        return entry.make(model, schedule, device);
      },
      pool_->devices().front().str());

  const json& metric = doc.at("metric");
  MetricResources resources = entry.resources(model);
  resources.cache_dir = metric.at("cache").get<std::string>();
  resources.inception_weights = metric.at("inception_weights").get<std::string>();
  resources.statistics_file = metric.at("statistics").get<std::string>();
  if (!resources.cache_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(resources.cache_dir, ec);
    if (ec)
      throw FileError(resources.cache_dir,
                      "metric.cache: cannot create the cache directory: " + ec.message());
  }
  metric_ = in_field("metric.params", [&] {
    return make_metric(metric.at("name").get<std::string>(), metric.at("params"), resources);
  });

  const json& space = doc.at("space");
  space_ = in_field("space.options", [&] {
    return make_space(space.at("name").get<std::string>(),
                      SpaceConfig{schedule_, times_, space.at("options"),
                                  space.at("warm_starts").get<std::vector<std::string>>()});
  });

  const SampleLayout layout{
      model_->sample_shape(),
      registry_find(dtype_registry(), doc.at("model").at("sum_dtype").get<std::string>(),
                    "model.sum_dtype")
          .kind};
  const auto seed = doc.at("seed").get<uint64_t>();
  if (metric_->needs_reference_samples()) {
    const ClassicSampler& ref = find_classic(
        metric.at("reference").at("sampler").get<std::string>(), "metric.reference.sampler");
    Matrices m = in_field("metric.reference.sampler", [&] {
      return classic_matrices(
          ref,
          SolverPlan{
              schedule_, reference_grid(times), metric.at("reference").at("steps").get<int>(), {}});
    });
    reference_ = std::make_unique<ReferenceSamples>(m, *model_, seed, layout);
    validation_reference_ = std::make_unique<ReferenceSamples>(
        m, *model_, doc.at("validation").at("seed").get<uint64_t>(), layout);
  }
  objective_ = Objective{model_.get(),
                         metric_.get(),
                         layout,
                         seed,
                         metric.at("chunk").get<int64_t>(),
                         metric.at("samples").get<std::vector<int64_t>>(),
                         reference_.get(),
                         {}};
}

Matrices ExperimentRun::classic(const std::string& label) const {
  const ClassicSampler& c = find_classic(label, "baselines");
  const json& times = experiment_.doc.at("times");
  const TimeGrid grid =
      times.at("explicit").empty()
          ? TimeGrid(times.at("discretization").get<std::string>(), grid_of(times))
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
  const json& v = experiment_.doc.at("validation");
  const auto samples = v.at("samples").get<int64_t>();
  o.seed = v.at("seed").get<uint64_t>();
  o.sample_counts = {samples > 0 ? samples : kRescoreFactor * objective_.sample_counts.back()};
  o.reference = validation_reference_.get();
  return evaluate(m, o, *pool_, nullptr).value;
}

at::Tensor ExperimentRun::samples(const Matrices& m, int64_t count) {
  // In chunks on the pool's devices (the noise is per sample, so the result does not depend on it).
  const auto seed = experiment_.doc.at("validation").at("seed").get<uint64_t>();
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
  const json& o = experiment_.doc.at("optuna");
  StudyConfig c;
  c.name = o.at("study").get<std::string>();
  if (c.name.empty()) c.name = experiment_.name();
  c.sampler = o.at("sampler").get<std::string>();
  c.sampler_params = o.at("sampler_params");
  if (!c.sampler_params.contains("seed")) c.sampler_params["seed"] = experiment_.doc.at("seed");
  const auto warm = space_->warm_starts();
  if (c.sampler == "cmaes" && !warm.empty() && !c.sampler_params.contains("x0")) {
    c.sampler_params["x0"] = warm.front().params;
    if (!c.sampler_params.contains("sigma0")) c.sampler_params["sigma0"] = o.at("sigma0");
  }
  c.pruner = o.at("pruner").get<std::string>();
  // Optuna's CMA-ES learns only from COMPLETE trials unless told otherwise; with a pruner, the
  // pruned ones (reported at a lower fidelity) carry information too.
  if (c.sampler == "cmaes" && c.pruner != "none" &&
      !c.sampler_params.contains("consider_pruned_trials"))
    c.sampler_params["consider_pruned_trials"] = true;
  c.pruner_params = o.at("pruner_params");
  c.storage = o.at("storage").get<std::string>();
  if (c.storage.empty()) {
    std::filesystem::path db = std::filesystem::absolute(output());
    db.replace_extension(".optuna.db");
    c.storage = "sqlite:///" + db.string();
  }
  if (is_shared_storage(c.storage)) c.heartbeat = o.at("heartbeat").get<int>();
  return c;
}

std::string ExperimentRun::output() const { return experiment_output(experiment_); }

std::string ExperimentRun::metric_description() const {
  const json& m = experiment_.doc.at("metric");
  std::string out = m.at("name").get<std::string>();
  if (!m.at("params").empty()) out += " " + m.at("params").dump();
  if (metric_->needs_reference_samples())
    out += " over " + m.at("reference").at("sampler").get<std::string>() + " with " +
           std::to_string(m.at("reference").at("steps").get<int>()) + " steps";
  out += ", " + std::to_string(objective_.sample_counts.back()) + " samples";
  return out;
}

}  // namespace samplersearch
