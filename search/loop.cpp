#include "samplersearch/search/loop.hpp"

#include <cmath>
#include <csignal>
#include <mutex>
#include <thread>

#include "samplersearch/common/check.hpp"
#include "samplersearch/common/error.hpp"
#include "samplersearch/search/shared_study.hpp"

namespace samplersearch {
namespace {

std::atomic<bool> g_stop{false};

// The first SIGINT/SIGTERM asks the loop to stop; a second one ends the process at once (the
// trial store is safe against that at any moment).
extern "C" void on_stop_signal(int signal) {
  if (g_stop.exchange(true)) {
    std::signal(signal, SIG_DFL);
    std::raise(signal);
  }
}

using Clock = std::chrono::steady_clock;

// Thrown by a worker's ask when a shared study's budget is used up by all its processes.
struct BudgetUsedUp {};

}  // namespace

void request_stop() noexcept { g_stop.store(true); }
void reset_stop() noexcept { g_stop.store(false); }
bool stop_requested() noexcept { return g_stop.load(); }

void install_stop_handlers() {
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
}

bool improves_on(const TrialRecord& r, const TrialRecord* best) {
  if (r.state != TrialState::complete || !r.value) return false;
  return best == nullptr || !best->value || *r.value < *best->value;
}

void tell_record(OptunaBridge& study, const TrialRecord& r, TellMode mode) {
  SS_CHECK(is_finished(r.state)) << "trial " << r.number << " is " << to_string(r.state);
  const bool settle = mode == TellMode::settle;
  switch (r.state) {
    case TrialState::complete:
      study.tell(r.number, {*r.value}, settle);
      break;
    case TrialState::fail:
      if (settle) {
        fail_trial(study, r.number, r.reason);  // reason and FAIL, unless finished meanwhile
      } else {
        study.set_user_attr(r.number, "fail_reason", r.reason);
        study.tell_state(r.number, TrialState::fail);
      }
      break;
    default:
      study.tell_state(r.number, r.state, settle);
  }
}

std::vector<Distribution> distributions_of(const SearchSpace& space) {
  std::vector<Distribution> out;
  for (const ParamSpec& p : space.params())
    out.push_back(Distribution::floating(p.name, p.low, p.high, p.log));
  return out;
}

LoopResult run_search(OptunaBridge& study, const SearchSpace& space, const Objective& objective,
                      DevicePool& pool, TrialSink& sink, const LoopOptions& options) {
  SS_CHECK(options.concurrency >= 1);
  const auto start = Clock::now();
  const std::vector<Distribution> dists = distributions_of(space);
  const std::vector<WarmStart> warm = space.warm_starts();
  if (options.enqueue_warm_starts && study.study_info().n_trials == 0)
    for (const WarmStart& w : warm)
      study.enqueue(w.params, nlohmann::json{{"warm_start", w.label}});
  // The label of the warm start whose params a trial was asked with ("" for a sampled trial).
  auto warm_label = [&](const nlohmann::json& params) -> std::string {
    for (const WarmStart& w : warm) {
      bool same = w.params.size() == params.size();
      for (const auto& [k, v] : w.params.items())
        same = same && params.contains(k) &&
               std::abs(params[k].get<double>() - v.get<double>()) < 1e-12;
      if (same) return w.label;
    }
    return "";
  };

  std::mutex mutex;           // guards the counters, `result`, the sink and the tells
  std::mutex observer_mutex;  // the observer's calls (never held while sampling waits on it)
  LoopResult result;
  int started = 0, finished = 0;
  std::atomic<bool> cancel{false};
  std::atomic<bool> used_up{false};  // a shared study's budget is taken by all its processes
  std::exception_ptr abort_error;    // an error that is not the trial's fault: stops the loop
  auto budget_left = [&] {
    if (g_stop.load() || abort_error || used_up.load()) return false;
    if (options.timeout.count() > 0 && Clock::now() - start >= options.timeout) return false;
    return options.n_trials <= 0 || started < options.n_trials;
  };
  auto observe = [&](auto&& call) {
    if (!options.observer) return;
    std::lock_guard lock(observer_mutex);
    call(*options.observer);
  };

  // Stores the trial, then tells Optuna (a trial the sink could not store is not told).
  auto finish = [&](TrialRecord& r) {
    {
      std::lock_guard lock(mutex);
      sink.write(r);  // on disk before Optuna is told
      tell_record(study, r);
      ++(r.state == TrialState::complete ? result.complete
         : r.state == TrialState::pruned ? result.pruned
                                         : result.failed);
      if (improves_on(r, result.best ? &*result.best : nullptr)) result.best = r;
    }
    observe([&](LoopObserver& o) { o.trial_finished(r); });
  };

  auto worker = [&] {
    for (;;) {
      {
        std::lock_guard lock(mutex);
        if (!budget_left()) return;
        ++started;
      }
      try {
        // The bridge serializes its own requests.
        const AskedTrial asked = [&] {
          if (options.shared_budget <= 0) return study.ask(dists);
          std::optional<AskedTrial> a = ask_within_budget(study, dists, options.shared_budget);
          if (!a) throw BudgetUsedUp{};
          return *a;
        }();
        TrialRecord r;
        r.number = asked.number;
        r.params = asked.params;
        r.warm_start = warm_label(asked.params);
        observe([&](LoopObserver& o) { o.trial_started(r.number, r.warm_start); });
        const auto t0 = Clock::now();
        r.started =
            std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
                .count();
        try {
          r.matrices = space.to_matrices(asked.params);
        } catch (const ConfigError& e) {
          r.state = TrialState::fail;  // parameters the space cannot turn into matrices
          r.reason = e.what();
        } catch (const NumericalError& e) {
          r.state = TrialState::fail;
          r.reason = e.what();
        }
        if (r.matrices) {
          try {
            const Evaluation e = evaluate(
                *r.matrices, objective, pool,
                [&](int64_t n, double v) {
                  if (cancel.load()) throw TrialCancelled();
                  return study.report(r.number, static_cast<int>(n), v);
                },
                [&](int64_t done, int64_t total) {
                  if (cancel.load()) throw TrialCancelled();
                  observe([&](LoopObserver& o) { o.trial_progress(r.number, done, total); });
                });
            r.intermediate = e.intermediate;
            if (e.pruned) {
              r.state = TrialState::pruned;
              r.reason = "pruned at " + std::to_string(e.intermediate.back().first) + " samples";
            } else {
              r.state = TrialState::complete;
              r.value = e.value;
            }
          } catch (const NumericalError& e) {
            r.state = TrialState::fail;  // NaN/Inf samples or metric
            r.reason = e.what();
          } catch (const TrialCancelled& e) {
            r.state = TrialState::fail;  // cut off after a stop's grace period
            r.reason = e.what();
          }
        }
        r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
        r.device = pool.describe();
        finish(r);
      } catch (const BudgetUsedUp&) {
        used_up.store(true);
      } catch (...) {
        // Not the trial's fault (bridge, store, device or configuration): stop asking, cancel the
        // others, and rethrow once every thread has ended.
        std::lock_guard lock(mutex);
        if (!abort_error) abort_error = std::current_exception();
        cancel.store(true);
      }
      std::lock_guard lock(mutex);
      ++finished;
    }
  };

  std::vector<std::thread> threads;
  for (int i = 0; i < options.concurrency; ++i) threads.emplace_back(worker);
  // Watch for a stop: after the grace period, running trials are cancelled at their next report.
  std::thread watchdog([&] {
    while (true) {
      {
        std::lock_guard lock(mutex);
        if (!budget_left() && finished >= started) return;
      }
      if (g_stop.load()) {
        const auto stopped = Clock::now();
        while (Clock::now() - stopped < options.grace) {
          {
            std::lock_guard lock(mutex);
            if (finished >= started || abort_error) return;
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        cancel.store(true);
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  for (auto& t : threads) t.join();
  watchdog.join();
  if (abort_error) std::rethrow_exception(abort_error);
  result.interrupted = g_stop.load();
  return result;
}

}  // namespace samplersearch
