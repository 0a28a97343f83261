#pragma once
// Running an experiment end to end: a new search creates the HDF5 store and
// the Optuna study, measures the classic baselines, runs the loop with the store as its sink, and
// re-measures the best trials on unseen noise; a resume reconciles the study with the store
// (trials RUNNING at a crash become FAIL "interrupted", or get the state the store already has)
// and runs exactly the budget that is left.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "samplersearch/experiments/setup.hpp"
#include "samplersearch/experiments/trial_store.hpp"
#include "samplersearch/search/loop.hpp"

namespace samplersearch {

struct DriverOptions {
  LoopObserver* observer = nullptr;
  std::function<void(const std::string&)> log;  // progress messages ("baseline ddim: 12.3")
  std::chrono::seconds grace{60};
  // A shared study's shard directory when it is not the experiment's output without .h5 (resume
  // DIR run from another working directory than the search was).
  std::string shard_directory;
  // The Optuna bridge to use, started by start_bridge() before the experiment loaded its data
  // (so Python imports Optuna meanwhile); null: the search starts its own.
  std::shared_ptr<OptunaBridge> bridge;
};

// A search's Optuna bridge, started now and answering from its first request (BridgeOptions::
// defer_hello); a restarted bridge is reported on stderr.
std::shared_ptr<OptunaBridge> start_bridge();

struct DriverResult {
  std::string store;         // the trial store written (a shared study: this process's shard)
  LoopResult loop;           // this run's loop
  int counted = 0;           // finished trials that count toward the budget (all runs)
  int budget = 0;            // budget.trials (0: none)
  bool interrupted = false;  // stopped by a signal before the budget was used
};

// The experiment a store runs under now: the revision a forced resume saved beside the store
// (<store>.experiment.json), else the experiment the store was created with.
std::string current_experiment(const std::string& store_path, const StoreContents& contents);
// Saves a revision accepted with `resume --force` (atomically: a temporary file, then a rename).
void save_experiment_revision(const std::string& store_path, const Experiment& experiment);
// Fields a resume may never change, even with --force: they define what the stored trials mean.
// Returns the first changed one ("" when none).
std::string immutable_change(const nlohmann::json& before, const nlohmann::json& after);

// The experiment a store runs under now (current_experiment, parsed), made runnable from where the
// store is now: its output is `store_path`, so the Optuna study beside it is the one opened.
Experiment stored_experiment(const std::string& store_path, const StoreContents& contents);

// The experiment diff (experiment_diff) as "  field: before → after" lines.
std::string experiment_changes(const Experiment& before, const Experiment& after);

// What a resume continues with.
struct ResumeDecision {
  Experiment experiment;  // runnable from the store (output = the store's path)
  std::string changes;    // experiment_changes from the stored one; "" when unchanged
};

// The resume policy. The candidate -- the experiment stored at `store_path`, or the file
// `experiment_file` -- with the FIELD=VALUE `assignments` (--set) applied, is compared with the
// stored one. Unchanged: continue. Changed: ConfigError("experiment", the difference and the
// reason) when a field that defines the stored trials changed (immutable_change), or when `force`
// is false; with `force` the changed experiment is saved beside the store
// (save_experiment_revision) and later commands use it.
ResumeDecision decide_resume(const std::string& store_path, const StoreContents& contents,
                             const std::optional<std::string>& experiment_file,
                             const std::vector<std::string>& assignments, bool force);

// A search into a store that exists (a --seeds spread run again continues its unfinished seeds):
// the store must hold this very experiment, else ConfigError(field, the difference).
void require_same_experiment(const std::string& store_path, const StoreContents& contents,
                             const Experiment& experiment, const std::string& field);

// Trials that count toward the budget: every finished one except FAIL "interrupted".
int counted_trials(const StoreContents& contents);

// Starts a new experiment; FileError when its store exists (use resume) and ConfigError when its
// Optuna study exists already. A stop during the baselines or the final re-measurement returns
// `interrupted`; resume measures what is missing.
DriverResult start_experiment(ExperimentRun& run, const DriverOptions& options);

// Continues the experiment stored at `store_path` with `run` (built from the stored experiment,
// or from a changed one the user forced).
DriverResult resume_experiment(ExperimentRun& run, const std::string& store_path,
                               const DriverOptions& options);

// Re-scoring before a winner is named: the `top` best COMPLETE trials by in-sample value (on the
// search's own noise) are measured again with `rescore` (unseen noise, more samples) and the values
// stored; trials re-scored already are skipped, so a resume finishes a re-scoring a stop or a kill
// cut short. A NumericalError stores NaN. False when a stop was requested first.
bool rescore_best(const StoreContents& contents, int top, TrialStore& store,
                  const std::function<double(const Matrices&)>& rescore,
                  const DriverOptions& options);

// rescore_best with the experiment's `validation.top` and ExperimentRun::validate (the unseen
// `validation.seed` stream at `validation.samples`).
bool validate_best(ExperimentRun& run, TrialStore& store, const DriverOptions& options);

}  // namespace samplersearch
