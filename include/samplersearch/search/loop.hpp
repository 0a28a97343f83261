#pragma once
// The parallel search loop: up to K trials in flight, each asked from
// Optuna, turned into matrices by the search space, scored on the device pool, written to the
// trial sink, then told — in that order, so a finished trial is stored before Optuna hears of it.
#include <atomic>
#include <chrono>
#include <exception>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "samplersearch/samplers/matrices.hpp"
#include "samplersearch/search/evaluate.hpp"
#include "samplersearch/search/optuna_bridge.hpp"
#include "samplersearch/search/space.hpp"

namespace samplersearch {

// Everything the store keeps of one trial (the trial store writes it to HDF5).
struct TrialRecord {
  int number = -1;
  TrialState state = TrialState::running;
  nlohmann::json params = nlohmann::json::object();
  std::optional<Matrices> matrices;                      // absent when params were invalid
  std::vector<std::pair<int64_t, double>> intermediate;  // (sample count, value)
  std::optional<double> value;                           // COMPLETE only
  double started = 0;  // wall-clock start, seconds since the Unix epoch
  double seconds = 0;  // duration
  std::string device;
  std::string host;        // the shard (host-pid) that ran it, filled when shards are merged
  std::string reason;      // FAIL: why; PRUNED: at which count
  std::string warm_start;  // label of the warm start this trial was enqueued from, if any
};

// The reason stored for trials cut off by a stop (after the grace period) or a crash.
inline constexpr const char* kInterruptedReason = "interrupted";

// Thrown from a trial's report or progress callback to abandon it after a stop: the trial ends
// FAIL (kInterruptedReason). Not a NumericalError: nothing about the trial's numbers was wrong.
class TrialCancelled : public std::exception {
 public:
  const char* what() const noexcept override { return kInterruptedReason; }
};

// The in-sample order of trials: true when `r` is COMPLETE and beats `best` (a lower value than
// `best`'s, or `best` is nullptr). The one definition of "best" for the loop, status and ranking.
bool improves_on(const TrialRecord& r, const TrialRecord* best);

// How a record is told: by the process that ran the trial (once), or while settling a trial of
// another process that may have finished it meanwhile (then left as it is).
enum class TellMode { owner, settle };

// Tells Optuna a finished record: COMPLETE with its value, PRUNED, or FAIL with the user attr
// fail_reason = r.reason. The record must be finished (is_finished(r.state)).
void tell_record(OptunaBridge& study, const TrialRecord& r, TellMode mode = TellMode::owner);

// Where finished trials go before they are told (the HDF5 trial store implements it).
class TrialSink {
 public:
  virtual ~TrialSink() = default;
  // Called from worker threads, one finished trial at a time (the loop serializes calls).
  virtual void write(const TrialRecord& record) = 0;
};

// Watches the loop (progress display); called from worker threads, one call at a time.
class LoopObserver {
 public:
  virtual ~LoopObserver() = default;
  virtual void trial_started(int /*number*/, const std::string& /*warm_start*/) {}
  // `done` of `total` samples of the trial's current fidelity level are drawn and scored.
  virtual void trial_progress(int /*number*/, int64_t /*done*/, int64_t /*total*/) {}
  // After the sink has the record and Optuna was told.
  virtual void trial_finished(const TrialRecord& /*record*/) {}
};

struct LoopOptions {
  int n_trials = 100;               // trials to finish in this run (0: no limit)
  std::chrono::seconds timeout{0};  // wall-clock budget (0: none)
  int concurrency = 1;              // trials in flight
  std::chrono::seconds grace{60};   // after a stop: how long running trials may finish
  bool enqueue_warm_starts = true;  // enqueue the space's warm starts first
  int shared_budget = 0;  // > 0: a budget counted over every process on the study (n_trials 0)
  LoopObserver* observer = nullptr;  // progress display (optional)
};

struct LoopResult {
  int complete = 0, pruned = 0, failed = 0;
  bool interrupted = false;  // stopped by a signal or request_stop()
  std::optional<TrialRecord> best;
};

// Asks the loop to stop: no new trials; running ones get the grace period, then FAIL
// ("interrupted"). Safe to call from a signal handler.
void request_stop() noexcept;
// Installs SIGINT/SIGTERM handlers: the first calls request_stop(), a second ends the process.
void install_stop_handlers();
// True once a stop was requested (a signal or request_stop()).
bool stop_requested() noexcept;
// Clears a previous stop request (for a new run in the same process).
void reset_stop() noexcept;

// Runs the loop on an open study.
LoopResult run_search(OptunaBridge& study, const SearchSpace& space, const Objective& objective,
                      DevicePool& pool, TrialSink& sink, const LoopOptions& options);

// The Optuna distributions of a space's parameters.
std::vector<Distribution> distributions_of(const SearchSpace& space);

}  // namespace samplersearch
