// Running an experiment end to end: new searches and resumes.
#include "samplersearch/experiments/driver.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "samplersearch/common/error.hpp"
#include "samplersearch/common/files.hpp"
#include "samplersearch/experiments/results.hpp"
#include "samplersearch/experiments/shards.hpp"
#include "samplersearch/search/shared_study.hpp"

namespace samplersearch {
namespace {

using nlohmann::json;

void say(const DriverOptions& o, const std::string& line) {
  if (o.log) o.log(line);
}

LoopOptions loop_options(const ExperimentRun& run, int trials, const DriverOptions& o) {
  LoopOptions l;
  l.n_trials = trials;
  l.concurrency = run.experiment().spec.concurrency;
  l.timeout = std::chrono::seconds(static_cast<long>(run.experiment().spec.budget.timeout));
  l.grace = o.grace;
  l.observer = o.observer;
  return l;
}

// Measures every listed classic sampler the store does not have yet, on the search noise and on
// the unseen validation noise. A sampler that cannot run at this NFE (e.g. an order above N) is
// skipped with a message; a numerical failure is stored as NaN.
// Returns false when a stop was requested (the rest are measured on resume).
// On a shared study (`shared` with this shard's name `owner`) each baseline is measured by the
// first process that claims it and stored in that one's shard.
bool measure_baselines(ExperimentRun& run, TrialStore& store, const StoreContents* existing,
                       const DriverOptions& o, OptunaBridge* shared = nullptr,
                       const std::string& owner = "") {
  for (const std::string& label : run.experiment().spec.baselines) {
    if (stop_requested()) return false;
    if (existing && find_baseline(*existing, label)) continue;
    if (shared && !owner.empty()) {
      if (const std::string holder = claim(*shared, "baseline:" + label, owner); holder != owner) {
        say(o, "baseline " + label + ": measured by " + holder);
        continue;
      }
    }
    Baseline b;
    b.label = label;
    try {
      b.matrices = run.classic(label);
    } catch (const ConfigError& e) {
      say(o, "baseline " + label + ": skipped (" + e.what() + ")");
      continue;
    }
    try {
      b.value = run.measure(b.matrices);
      // validation.top = 0 re-scores nothing: the baselines' unseen-noise values (4× a trial's
      // samples each by default) would have nothing to be compared with.
      b.validation =
          run.experiment().spec.validation.top > 0 ? run.validate(b.matrices) : std::nan("");
    } catch (const NumericalError& e) {
      say(o, "baseline " + label + ": " + e.what());
      b.value = b.validation = std::nan("");
    }
    store.write_baseline(b);
    char buf[160];
    std::snprintf(buf, sizeof buf, "baseline %-16s %12.6g", label.c_str(), b.value);
    std::string line = buf;
    if (run.experiment().spec.validation.top > 0) {
      std::snprintf(buf, sizeof buf, "  (unseen noise %.6g)", b.validation);
      line += buf;
    }
    say(o, line);
  }
  return true;
}

// Reconciles the study with the store: a trial RUNNING in Optuna was either stored before a
// crash (Optuna is told what the store has) or cut off (FAIL "interrupted" in both). Also run
// after a loop, where an `ask` retried on a restarted bridge may have left an orphan RUNNING.
// On a shared study only the trials of this shard (`owner`) are reconciled; other processes' are
// theirs (or settle_stale_trials' once their heartbeat stops).
void reconcile_running(ExperimentRun& run, OptunaBridge& study, TrialStore& store,
                       const StoreContents& contents, const DriverOptions& o,
                       const std::string& owner = "") {
  std::map<int, const TrialRecord*> stored;
  for (const TrialRecord& r : contents.trials) stored[r.number] = &r;
  for (const FrozenTrial& t : study.trials({TrialState::running})) {
    if (!owner.empty() && t.user_attrs.value("shard", std::string()) != owner) continue;
    const auto it = stored.find(t.number);
    if (it != stored.end()) {
      tell_record(study, *it->second);
      say(o, "trial " + std::to_string(t.number) + ": told Optuna the stored result");
      continue;
    }
    TrialRecord r;
    r.number = t.number;
    r.params = t.params;
    r.state = TrialState::fail;
    r.reason = kInterruptedReason;
    try {
      r.matrices = run.space().to_matrices(t.params);
    } catch (const ConfigError&) {
    }
    store.write(r);
    tell_record(study, r);
    say(o, "trial " + std::to_string(t.number) +
               ": was running when the search or its Optuna bridge died, now FAIL (interrupted)");
  }
}

int budget_of(const ExperimentRun& run) { return run.experiment().spec.budget.trials; }

// A shared study (`owner` = this shard): the budget is counted over every process, stale trials
// of dead processes are settled first, and the warm starts are enqueued by one process only.
DriverResult run_loop(ExperimentRun& run, OptunaBridge& study, TrialStore& store, int counted,
                      const DriverOptions& o, const std::string& owner = "") {
  DriverResult result;
  result.store = store.path();
  result.budget = budget_of(run);
  if (!owner.empty()) {
    for (const std::string& line : settle_stale_trials(
             study, std::filesystem::path(store.path()).parent_path().string(), owner))
      say(o, line);
    counted = counted_in_study(study);
  }
  const int left = result.budget > 0 ? std::max(0, result.budget - counted) : 0;
  result.counted = counted;
  if (result.budget > 0 && left == 0) {
    say(o, "the budget of " + std::to_string(result.budget) + " trials is used up");
    return result;
  }
  LoopOptions options = loop_options(run, left, o);
  if (!owner.empty()) {
    options.n_trials = 0;
    options.shared_budget = result.budget;
    options.enqueue_warm_starts = claim(study, "warm_starts", owner) == owner;
  }
  try {
    result.loop = run_search(study, run.space(), run.objective(), run.pool(), store, options);
  } catch (const BridgeError& e) {
    // The database stopped answering (or refused a connection): say so, and how to go on.
    // SQLAlchemy's OperationalError / InterfaceError / DatabaseError, or Optuna's
    // StorageInternalError, which wraps them when the failure comes during a commit.
    const std::string& type = e.python_type();
    const bool storage_failed = std::ranges::any_of(
        std::array{"OperationalError", "InterfaceError", "DatabaseError", "StorageInternalError"},
        [&](const char* name) { return type.find(name) != std::string::npos; });
    if (e.kind() != BridgeError::Kind::python || !storage_failed) throw;
    throw FileError(run.study_config().storage,
                    "the Optuna storage failed during the search (" + type + ": " +
                        e.python_message() + "); every finished trial is in " + store.path() +
                        "; 'samplersearch resume " + store.path() +
                        "' continues once the storage answers again");
  }
  StoreContents contents = read_store(store.path());
  if (!study.trials({TrialState::running}).empty()) {  // none unless a bridge died mid-ask
    reconcile_running(run, study, store, contents, o, owner);
    contents = read_store(store.path());
  }
  // Interrupted trials do not count; a shared study counts every process's.
  result.counted = owner.empty() ? counted_trials(contents) : counted_in_study(study);
  result.interrupted = result.loop.interrupted;
  if (!result.interrupted && result.budget > 0 && result.counted < result.budget)
    say(o, "stopped by budget.timeout after " + std::to_string(result.counted) + " of " +
               std::to_string(result.budget) + " trials; 'samplersearch resume " + store.path() +
               "' continues");
  return result;
}

// The bridge options of a search: a restarted bridge is reported on stderr (from whichever
// thread saw it die), so a user sees why a request was retried.
BridgeOptions bridge_options() {
  BridgeOptions b;
  b.on_restart = [](const std::string& why) {
    std::fprintf(stderr,
                 "samplersearch: warning: the Optuna bridge failed (%s); restarted it, re-opened "
                 "the study from its storage and retried the request\n",
                 why.c_str());
  };
  return b;
}

// The bridge a search talks to: the one the caller started early, else a new one.
std::shared_ptr<OptunaBridge> bridge_for(const DriverOptions& o) {
  return o.bridge ? o.bridge : std::make_shared<OptunaBridge>(bridge_options());
}

std::string revision_path(const std::string& store_path) { return store_path + ".experiment.json"; }

}  // namespace

std::shared_ptr<OptunaBridge> start_bridge() {
  BridgeOptions b = bridge_options();
  b.defer_hello = true;
  return std::make_shared<OptunaBridge>(std::move(b));
}

std::string current_experiment(const std::string& store_path, const StoreContents& contents) {
  std::ifstream in(revision_path(store_path), std::ios::binary);
  if (!in) return contents.experiment;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void save_experiment_revision(const std::string& store_path, const Experiment& experiment) {
  write_file_atomically(revision_path(store_path), [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << experiment.text();
    if (!out.flush()) throw FileError(tmp, "cannot be written");
  });
}

std::string immutable_change(const json& before, const json& after) {
  static constexpr const char* kFixed[] = {"name",
                                           "steps",
                                           "schedule",
                                           "times",
                                           "space",
                                           "metric.name",
                                           "metric.params",
                                           "metric.samples",
                                           "metric.chunk",
                                           "metric.reference",
                                           "seed",
                                           "model.kind",
                                           "model.data_size",
                                           "model.parameterization",
                                           "model.time_input",
                                           "model.shape",
                                           "optuna.storage",
                                           "optuna.study",
                                           "output"};
  for (const char* path : kFixed) {
    std::string slashed(path);
    std::replace(slashed.begin(), slashed.end(), '.', '/');
    const json::json_pointer pointer("/" + slashed);
    const bool in_before = before.contains(pointer), in_after = after.contains(pointer);
    if (in_before != in_after || (in_before && before.at(pointer) != after.at(pointer)))
      return path;
  }
  return "";
}

Experiment stored_experiment(const std::string& store_path, const StoreContents& contents) {
  json doc = parse_experiment(current_experiment(store_path, contents),
                              store_path + " (stored experiment)")
                 .doc;
  doc["output"] = store_path;
  return make_experiment(std::move(doc), store_path);
}

std::string experiment_changes(const Experiment& before, const Experiment& after) {
  std::string out;
  for (const std::string& line : experiment_diff(before.doc, after.doc)) out += "  " + line + "\n";
  return out;
}

ResumeDecision decide_resume(const std::string& store_path, const StoreContents& contents,
                             const std::optional<std::string>& experiment_file,
                             const std::vector<std::string>& assignments, bool force) {
  const Experiment stored = parse_experiment(current_experiment(store_path, contents),
                                             store_path + " (stored experiment)");
  json doc = experiment_file ? load_experiment(*experiment_file).doc : stored.doc;
  apply_assignments(doc, assignments, "--set");
  const Experiment candidate =
      make_experiment(std::move(doc), experiment_file ? *experiment_file : store_path);
  ResumeDecision decision{candidate, ""};
  if (candidate.hash() != stored.hash()) {
    decision.changes = experiment_changes(stored, candidate);
    if (const std::string fixed = immutable_change(stored.doc, candidate.doc); !fixed.empty())
      throw ConfigError("experiment", "differs from the one stored in " + store_path + ":\n" +
                                          decision.changes + fixed +
                                          " cannot change on resume (the stored trials were "
                                          "made with it); start a new experiment instead");
    if (!force)
      throw ConfigError("experiment", "differs from the one stored in " + store_path + ":\n" +
                                          decision.changes +
                                          "resume with --force to continue with the changed one");
    save_experiment_revision(store_path, candidate);
  }
  // The study lives beside the store actually given, wherever the experiment was started from.
  json located = candidate.doc;
  located["output"] = store_path;
  decision.experiment = make_experiment(std::move(located), store_path);
  return decision;
}

void require_same_experiment(const std::string& store_path, const StoreContents& contents,
                             const Experiment& experiment, const std::string& field) {
  const Experiment stored = parse_experiment(current_experiment(store_path, contents),
                                             store_path + " (stored experiment)");
  if (stored.hash() != experiment.hash())
    throw ConfigError(field, store_path + " holds another experiment:\n" +
                                 experiment_changes(stored, experiment) +
                                 "move it away or continue it with 'samplersearch resume " +
                                 store_path + "'");
}

int counted_trials(const StoreContents& contents) {
  return static_cast<int>(
      std::count_if(contents.trials.begin(), contents.trials.end(), [](const TrialRecord& r) {
        return r.state != TrialState::running &&
               !(r.state == TrialState::fail && r.reason == kInterruptedReason);
      }));
}

DriverResult start_experiment(ExperimentRun& run, const DriverOptions& o) {
  StudyConfig config = run.study_config();
  check_storage_placement(config.storage);
  // A shared study: this process's own store, <output without .h5>/<host>-<pid>.h5.
  const bool shared = is_shared_storage(config.storage);
  if (shared) config.owner = shard_name();
  const std::string path =
      shared ? (std::filesystem::path(o.shard_directory.empty() ? shard_directory(run.output())
                                                                : o.shard_directory) /
                (config.owner + ".h5"))
                   .string()
             : run.output();
  if (std::filesystem::exists(path))
    throw FileError(path, "exists already: continue it with 'samplersearch resume " + path +
                              "' or choose another output");
  if (const auto parent = std::filesystem::path(path).parent_path(); !parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec)
      throw FileError(parent.string(),
                      "output: cannot create the store's directory: " + ec.message());
  }
  // The store first: a study without a store could be neither started again nor resumed.
  StoreLayout layout{run.experiment().text(), run.experiment().hash(), run.schedule(),
                     run.space().steps(), run.objective().sample_counts};
  auto store = TrialStore::create(path, layout);
  const std::shared_ptr<OptunaBridge> bridge = bridge_for(o);
  OptunaBridge& study = *bridge;
  config.load_if_exists = shared;  // the processes of a shared study join it
  try {
    study.create_study(config);
  } catch (const BridgeError& e) {
    store.reset();
    std::filesystem::remove(path);
    if (e.python_type().find("DuplicatedStudyError") != std::string::npos)
      throw ConfigError("optuna.study", "study '" + config.name + "' exists already in " +
                                            config.storage + " but " + path +
                                            " did not; delete the storage or pick another name");
    if (e.kind() == BridgeError::Kind::python)  // the storage cannot be opened or written
      throw FileError(config.storage, "cannot create study '" + config.name +
                                          "': " + e.python_type() + ": " + e.python_message());
    throw;
  }
  DriverResult result;
  result.store = path;
  result.budget = budget_of(run);
  if (!measure_baselines(run, *store, nullptr, o, &study, config.owner)) {
    result.interrupted = true;
    return result;
  }
  result = run_loop(run, study, *store, 0, o, config.owner);
  if (!result.interrupted) result.interrupted = !validate_best(run, *store, o);
  return result;
}

DriverResult resume_experiment(ExperimentRun& run, const std::string& store_path,
                               const DriverOptions& o) {
  StoreContents contents = read_store(store_path);
  if (contents.steps != run.space().steps() ||
      contents.sample_counts != run.objective().sample_counts)
    throw ConfigError("experiment",
                      "the store holds " + std::to_string(contents.steps) +
                          "-step trials at other sample counts; steps and metric.samples "
                          "cannot change on resume");
  StudyConfig config = run.study_config();
  check_storage_placement(config.storage);
  if (is_shared_storage(config.storage)) config.owner = shard_of(store_path);
  if (config.storage.empty())
    throw ConfigError("optuna.storage",
                      "the study was kept in memory and is gone; nothing to resume "
                      "(use an sqlite or journal storage to make searches resumable)");
  const std::shared_ptr<OptunaBridge> bridge = bridge_for(o);
  OptunaBridge& study = *bridge;
  try {
    // A search killed between creating its store and its study left a store with no trials and
    // no study: the study is created now (loaded if it was made after all).
    if (contents.trials.empty()) {
      config.load_if_exists = true;
      study.create_study(config);
    } else {
      study.load_study(config);
    }
  } catch (const BridgeError& e) {
    throw FileError(config.storage,
                    "cannot load study '" + config.name + "': " + e.python_message());
  }
  auto store = TrialStore::open(store_path);

  reconcile_running(run, study, *store, contents, o, config.owner);
  contents = read_store(store_path);
  const int counted = config.owner.empty() ? counted_trials(contents) : counted_in_study(study);
  if (!measure_baselines(run, *store, &contents, o, &study, config.owner)) {
    DriverResult stopped;
    stopped.store = store_path;
    stopped.budget = budget_of(run);
    stopped.counted = counted;
    stopped.interrupted = true;
    return stopped;
  }
  say(o, "resuming: " + std::to_string(counted) + " of " + std::to_string(budget_of(run)) +
             " trials done");
  DriverResult result = run_loop(run, study, *store, counted, o, config.owner);
  if (!result.interrupted) result.interrupted = !validate_best(run, *store, o);
  return result;
}

bool rescore_best(const StoreContents& contents, int top, TrialStore& store,
                  const std::function<double(const Matrices&)>& rescore, const DriverOptions& o) {
  const std::vector<const TrialRecord*> ranking = in_sample_ranking(contents);
  const size_t k = std::min(ranking.size(), static_cast<size_t>(std::max(top, 0)));
  for (size_t i = 0; i < k; ++i) {
    const TrialRecord& r = *ranking[i];
    if (contents.validations.count(r.number)) continue;  // re-scored before a stop or a kill
    if (stop_requested()) return false;
    double v = std::nan("");
    try {
      v = rescore(*r.matrices);
    } catch (const NumericalError& error) {
      say(o, "trial " + std::to_string(r.number) + " re-scored: " + error.what());
    }
    store.write_validation(r.number, v);
    char buf[160];
    std::snprintf(buf, sizeof buf,
                  "re-scored %zu/%zu: trial %d %.6g on unseen noise (in-sample %.6g)", i + 1, k,
                  r.number, v, *r.value);
    say(o, buf);
  }
  return true;
}

bool validate_best(ExperimentRun& run, TrialStore& store, const DriverOptions& o) {
  return rescore_best(
      read_store(store.path()), run.experiment().spec.validation.top, store,
      [&run](const Matrices& m) { return run.validate(m); }, o);
}

}  // namespace samplersearch
