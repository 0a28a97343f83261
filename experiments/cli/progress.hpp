#pragma once
// What a running search shows: on a terminal one live line per running trial (samples drawn, time)
// under a status line (trials done, best value so far, ETA); otherwise one plain log line per
// finished trial; with --json one JSON object per line; with --quiet nothing.
#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <string>

#include "samplersearch/search/loop.hpp"

namespace samplersearch::cli {

enum class OutputMode { terminal, plain, json, quiet };

// terminal when stdout is a TTY (and TERM is not "dumb"), plain otherwise; --json / --quiet win.
OutputMode output_mode(bool json, bool quiet);

class Progress final : public LoopObserver {
 public:
  // `budget`: trials this run will finish (0: unknown); `done_before`/`best_before`: from earlier
  // runs of the experiment (resume).
  Progress(OutputMode mode, int budget, std::chrono::seconds timeout, int done_before,
           std::optional<double> best_before, std::optional<int> best_trial_before);
  ~Progress() override;
  void trial_started(int number, const std::string& warm_start) override;
  void trial_progress(int number, int64_t done, int64_t total) override;
  void trial_finished(const TrialRecord& record) override;
  // Removes the live lines (before printing something else).
  void clear();
  // Writes one log line (above the live lines on a terminal).
  void log(const std::string& line);

 private:
  struct Running {
    std::chrono::steady_clock::time_point start;
    int64_t done = 0, total = 0;
    std::string warm_start;
  };
  std::string status_line() const;
  void redraw(bool force);

  OutputMode mode_;
  int budget_;
  std::chrono::seconds timeout_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_{};
  int finished_ = 0, done_before_ = 0;
  bool loop_started_ = false;
  std::optional<double> best_;
  std::optional<int> best_trial_;
  std::map<int, Running> running_;
  int drawn_lines_ = 0;
};

// "1h02m", "4m10s", "12s".
std::string format_duration(double seconds);

}  // namespace samplersearch::cli
