#include "samplersearch/search/loop.hpp"

#include <cmath>
#include <csignal>
#include <mutex>
#include <thread>

#include "samplersearch/common/check.hpp"
#include "samplersearch/common/error.hpp"

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

}  // namespace

void request_stop() noexcept { g_stop.store(true); }
void reset_stop() noexcept { g_stop.store(false); }

void install_stop_handlers() {
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
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
    for (const WarmStart& w : warm) study.enqueue(w.params, nlohmann::json{{"warm_start", w.label}});
  // The label of the warm start whose params a trial was asked with ("" for a sampled trial).
  auto warm_label = [&](const nlohmann::json& params) -> std::string {
    for (const WarmStart& w : warm) {
      bool same = w.params.size() == params.size();
      for (const auto& [k, v] : w.params.items())
        same = same && params.contains(k) && std::abs(params[k].get<double>() - v.get<double>()) < 1e-12;
      if (same) return w.label;
    }
    return "";
  };

  std::mutex mutex;  // guards the counters, `result` and the sink
  LoopResult result;
  int started = 0;
  std::atomic<bool> cancel{false};
  auto budget_left = [&] {
    if (g_stop.load()) return false;
    if (options.timeout.count() > 0 && Clock::now() - start >= options.timeout) return false;
    return options.n_trials <= 0 || started < options.n_trials;
  };

  auto finish = [&](TrialRecord& r) {
    std::lock_guard lock(mutex);
    sink.write(r);  // on disk before Optuna is told
    switch (r.state) {
      case TrialState::complete:
        study.tell(r.number, {*r.value});
        ++result.complete;
        if (!result.best || *r.value < *result.best->value) result.best = r;
        break;
      case TrialState::pruned:
        study.tell_state(r.number, TrialState::pruned);
        ++result.pruned;
        break;
      default:
        study.set_user_attr(r.number, "fail_reason", r.reason);
        study.tell_state(r.number, TrialState::fail);
        ++result.failed;
    }
    if (options.observer) options.observer->trial_finished(r);
  };

  auto worker = [&] {
    for (;;) {
      AskedTrial asked;
      {
        std::lock_guard lock(mutex);
        if (!budget_left()) return;
        ++started;
        asked = study.ask(dists);
      }
      TrialRecord r;
      r.number = asked.number;
      r.params = asked.params;
      r.warm_start = warm_label(asked.params);
      if (options.observer) {
        std::lock_guard lock(mutex);
        options.observer->trial_started(r.number, r.warm_start);
      }
      const auto t0 = Clock::now();
      r.started = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
      try {
        r.matrices = space.to_matrices(asked.params);
        const Evaluation e = evaluate(*r.matrices, objective, pool, [&](int64_t n, double v) {
          if (cancel.load()) throw NumericalError("interrupted");
          return study.report(r.number, static_cast<int>(n), v);
        }, [&](int64_t done, int64_t total) {
          if (cancel.load()) throw NumericalError("interrupted");
          if (options.observer) {
            std::lock_guard lock(mutex);
            options.observer->trial_progress(r.number, done, total);
          }
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
        r.state = TrialState::fail;
        r.reason = e.what();
      } catch (const ConfigError& e) {
        r.state = TrialState::fail;
        r.reason = e.what();
      }
      r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
      r.device = pool.size() == 1 ? pool.devices()[0].str()
                                  : std::to_string(pool.size()) + " × " + pool.devices()[0].str();
      if (cancel.load() && r.state != TrialState::complete) {
        r.state = TrialState::fail;
        r.reason = "interrupted";
      }
      finish(r);
    }
  };

  std::vector<std::thread> threads;
  for (int i = 0; i < options.concurrency; ++i) threads.emplace_back(worker);
  // Watch for a stop: after the grace period, running trials are cancelled at their next report.
  std::thread watchdog([&] {
    while (true) {
      {
        std::lock_guard lock(mutex);
        if (!budget_left() && result.complete + result.pruned + result.failed >= started) return;
      }
      if (g_stop.load()) {
        const auto stopped = Clock::now();
        while (Clock::now() - stopped < options.grace) {
          {
            std::lock_guard lock(mutex);
            if (result.complete + result.pruned + result.failed >= started) return;
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
  result.interrupted = g_stop.load();
  return result;
}

}  // namespace samplersearch
