#include "progress.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>

#include "samplersearch/common/format.hpp"

namespace samplersearch::cli {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

OutputMode output_mode(bool json, bool quiet) {
  if (quiet) return OutputMode::quiet;
  if (json) return OutputMode::json;
  const char* term = std::getenv("TERM");
  if (isatty(STDOUT_FILENO) && !(term && std::strcmp(term, "dumb") == 0))
    return OutputMode::terminal;
  return OutputMode::plain;
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long s = std::lround(seconds);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
  else if (s >= 60)
    std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%lds", s);
  return buf;
}

Progress::Progress(OutputMode mode, int budget, std::chrono::seconds timeout, int done_before,
                   std::optional<double> best_before, std::optional<int> best_trial_before)
    : mode_(mode),
      budget_(budget),
      timeout_(timeout),
      start_(Clock::now()),
      done_before_(done_before),
      best_(best_before),
      best_trial_(best_trial_before) {}

Progress::~Progress() { clear(); }

void Progress::trial_started(int number, const std::string& warm_start) {
  if (!loop_started_) {  // the ETA counts from the first trial, not from the baselines
    loop_started_ = true;
    start_ = Clock::now();
  }
  running_[number] = Running{Clock::now(), 0, 0, warm_start};
  redraw(true);
}

void Progress::trial_progress(int number, int64_t done, int64_t total) {
  auto it = running_.find(number);
  if (it == running_.end()) return;
  it->second.done = done;
  it->second.total = total;
  redraw(false);
}

// ETA: wall time per finished trial since the first trial started (concurrency included) times
// the trials left; capped by what remains of the wall-clock budget.
std::string Progress::status_line() const {
  const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  std::string line = "trials " + std::to_string(done_before_ + finished_);
  if (budget_ > 0) line += "/" + std::to_string(done_before_ + budget_);
  line += "  best " +
          (best_ ? format_number(*best_) + " (trial " + std::to_string(*best_trial_) + ")" : "-");
  double eta = NAN;
  if (budget_ > 0 && finished_ > 0) {
    const double per_trial =
        elapsed / finished_;  // wall time per finished trial, concurrency included
    eta = per_trial * (budget_ - finished_);
  }
  if (timeout_.count() > 0) {
    const double left = static_cast<double>(timeout_.count()) - elapsed;
    eta = std::isfinite(eta) ? std::min(eta, left) : left;
  }
  line += "  elapsed " + format_duration(elapsed) + "  ETA " +
          (std::isfinite(eta) ? format_duration(eta) : "?");
  return line;
}

void Progress::trial_finished(const TrialRecord& r) {
  running_.erase(r.number);
  ++finished_;
  if (r.state == TrialState::complete && (!best_ || *r.value < *best_)) {
    best_ = r.value;
    best_trial_ = r.number;
  }
  if (mode_ == OutputMode::quiet) return;
  if (mode_ == OutputMode::json) {
    nlohmann::json j = {
        {"event", "trial"},     {"number", r.number}, {"state", std::string(to_string(r.state))},
        {"seconds", r.seconds}, {"device", r.device}, {"warm_start", r.warm_start}};
    j["value"] = r.value ? nlohmann::json(*r.value) : nlohmann::json();
    if (!r.reason.empty()) j["reason"] = r.reason;
    j["best"] = best_ ? nlohmann::json(*best_) : nlohmann::json();
    j["finished"] = done_before_ + finished_;
    std::printf("%s\n", j.dump().c_str());
    std::fflush(stdout);
    return;
  }
  char buf[512];
  std::snprintf(buf, sizeof buf, "trial %4d %-8s %-16s value %-12s %5.1f s%s%s", r.number,
                std::string(to_string(r.state)).c_str(), r.warm_start.c_str(),
                r.value ? format_number(*r.value).c_str() : "-", r.seconds,
                r.reason.empty() ? "" : "  ", r.reason.c_str());
  log(std::string(buf) + "   | " + status_line());
}

void Progress::clear() {
  if (mode_ != OutputMode::terminal || drawn_lines_ == 0) return;
  std::printf("\033[%dA\r\033[J", drawn_lines_);  // up, then erase everything below
  drawn_lines_ = 0;
  std::fflush(stdout);
}

void Progress::log(const std::string& line) {
  if (mode_ == OutputMode::quiet || mode_ == OutputMode::json) return;
  clear();
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
  redraw(true);
}

// Terminal only: one line per running trial and the status line, at most 5 times a second.
void Progress::redraw(bool force) {
  if (mode_ != OutputMode::terminal) return;
  const auto now = Clock::now();
  if (!force && now - last_draw_ < std::chrono::milliseconds(200)) return;
  last_draw_ = now;
  clear();
  winsize ws{};
  const size_t columns =
      ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 10 ? ws.ws_col : 80;
  // One terminal row per line, or the cursor arithmetic of clear() breaks.
  auto put = [&](std::string line) {
    if (line.size() >= columns) line.resize(columns - 1);
    std::printf("%s\n", line.c_str());
    ++drawn_lines_;
  };
  for (const auto& [number, run] : running_) {
    const double secs = std::chrono::duration<double>(now - run.start).count();
    const int width = 12;
    const int filled = run.total > 0 ? static_cast<int>(width * run.done / run.total) : 0;
    char buf[256];
    std::snprintf(buf, sizeof buf, "  trial %4d [%s%s] %lld/%lld samples %5.1f s %s", number,
                  std::string(static_cast<size_t>(filled), '#').c_str(),
                  std::string(static_cast<size_t>(width - filled), '.').c_str(),
                  static_cast<long long>(run.done), static_cast<long long>(run.total), secs,
                  run.warm_start.c_str());
    put(buf);
  }
  put("  " + status_line());
  std::fflush(stdout);
}

}  // namespace samplersearch::cli
