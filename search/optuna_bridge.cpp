#include "samplersearch/search/optuna_bridge.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>

#include "samplersearch/common/check.hpp"
#include "samplersearch/common/registry.hpp"

#ifndef SAMPLERSEARCH_OPTUNA_BRIDGE_SCRIPT
#error "SAMPLERSEARCH_OPTUNA_BRIDGE_SCRIPT must be defined by search/CMakeLists.txt"
#endif
#ifndef SAMPLERSEARCH_DEFAULT_PYTHON
#define SAMPLERSEARCH_DEFAULT_PYTHON "/usr/bin/python3"
#endif

namespace samplersearch {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kProtocol = 1;

// A failure of the channel (not of Python): the bridge is restarted and the request retried.
struct ChannelFailure {
  BridgeError::Kind kind;
  std::string message;
};

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "stopped (status " + std::to_string(status) + ")";
}

// JSON has no NaN/Inf: the protocol sends them as the strings NaN, Infinity, -Infinity.
json number_to_json(double x) {
  if (std::isnan(x)) return "NaN";
  if (std::isinf(x)) return x > 0 ? "Infinity" : "-Infinity";
  return x;
}

double number_from_json(const json& j, const char* field) {
  if (j.is_number()) return j.get<double>();
  if (j.is_string()) {
    const auto& s = j.get_ref<const std::string&>();
    if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
    if (s == "Infinity") return std::numeric_limits<double>::infinity();
    if (s == "-Infinity") return -std::numeric_limits<double>::infinity();
  }
  throw ChannelFailure{BridgeError::Kind::protocol,
                       std::string("field '") + field + "' is not a number: " + j.dump()};
}

FrozenTrial frozen_from_json(const json& j) {
  FrozenTrial t;
  t.number = j.at("number").get<int>();
  t.state = trial_state_from_string(j.at("state").get<std::string>());
  t.params = j.value("params", json::object());
  if (j.contains("values") && j["values"].is_array())
    for (const json& v : j["values"]) t.values.push_back(number_from_json(v, "values"));
  if (j.contains("intermediate_values"))
    for (const json& sv : j["intermediate_values"])
      t.intermediate_values[sv.at(0).get<int>()] =
          number_from_json(sv.at(1), "intermediate_values");
  t.user_attrs = j.value("user_attrs", json::object());
  if (j.contains("datetime_start") && j["datetime_start"].is_string())
    t.datetime_start = j["datetime_start"].get<std::string>();
  if (j.contains("datetime_complete") && j["datetime_complete"].is_string())
    t.datetime_complete = j["datetime_complete"].get<std::string>();
  return t;
}

// Runs `read` on an ok response; a missing or mistyped field is a protocol error of `op`.
template <class Read>
auto parsed(const std::string& op, Read&& read) {
  try {
    return read();
  } catch (const ChannelFailure& f) {
    throw BridgeError(f.kind, op, "", f.message);
  } catch (const json::exception& e) {
    throw BridgeError(BridgeError::Kind::protocol, op, "",
                      std::string("malformed response: ") + e.what());
  } catch (const ConfigError& e) {  // an unknown trial state
    throw BridgeError(BridgeError::Kind::protocol, op, "", e.what());
  }
}

StudyInfo study_info_from_json(const json& resp) {
  StudyInfo info;
  info.name = resp.at("study_name").get<std::string>();
  info.directions = resp.at("directions").get<std::vector<std::string>>();
  info.n_trials = resp.at("n_trials").get<int>();
  info.storage_kind = resp.at("storage_kind").get<std::string>();
  if (resp.contains("effective_seed") && resp["effective_seed"].is_number_integer())
    info.effective_seed = resp["effective_seed"].get<long>();
  if (resp.contains("grid_exhausted") && resp["grid_exhausted"].is_boolean())
    info.grid_exhausted = resp["grid_exhausted"].get<bool>();
  return info;
}

// j[key] if it is a string, else "".
std::string string_field(const json& j, const char* key) {
  if (!j.is_object()) return "";
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get_ref<const std::string&>() : std::string();
}

bool is_ok(const json& resp) {
  return resp.is_object() && resp.contains("ok") && resp["ok"] == true;
}

// error.type / error.message of a failed response, "" where missing.
std::string error_field(const json& resp, const char* key) {
  const auto it = resp.find("error");
  return it == resp.end() ? std::string() : string_field(*it, key);
}

}  // namespace

json parse_bridge_response(std::string_view line, long id, const std::string& op) {
  const std::string head(line.substr(0, 200));
  json resp;
  try {
    resp = json::parse(line);
  } catch (const json::parse_error&) {
    throw BridgeError(BridgeError::Kind::protocol, op, "",
                      "response to '" + op + "' is not JSON: " + head);
  }
  if (!resp.is_object() || !resp.contains("id") || resp["id"] != id)
    throw BridgeError(
        BridgeError::Kind::protocol, op, "",
        "response to '" + op + "' (id " + std::to_string(id) + ") has the wrong id: " + head);
  return resp;
}

FrozenTrial frozen_trial_from_response(const json& resp, const std::string& op) {
  return parsed(op, [&] { return frozen_from_json(resp); });
}

std::vector<FrozenTrial> frozen_trials_from_response(const json& resp, const std::string& op) {
  return parsed(op, [&] {
    std::vector<FrozenTrial> out;
    for (const json& t : resp.at("trials")) out.push_back(frozen_from_json(t));
    return out;
  });
}

StudyInfo study_info_from_response(const json& resp, const std::string& op) {
  return parsed(op, [&] { return study_info_from_json(resp); });
}

BridgeError::BridgeError(Kind kind, const std::string& op, const std::string& python_type,
                         const std::string& message)
    : Error("optuna bridge: " + op + ": " +
            (python_type.empty() ? std::string() : python_type + ": ") + message),
      kind_(kind),
      op_(op),
      python_type_(python_type),
      message_(message) {}

std::string_view to_string(TrialState state) {
  switch (state) {
    case TrialState::running:
      return "RUNNING";
    case TrialState::complete:
      return "COMPLETE";
    case TrialState::pruned:
      return "PRUNED";
    case TrialState::fail:
      return "FAIL";
    case TrialState::waiting:
      return "WAITING";
  }
  SS_CHECK(false) << "unhandled TrialState " << static_cast<int>(state);
  return {};
}

TrialState trial_state_from_string(std::string_view name) {
  for (TrialState s : {TrialState::running, TrialState::complete, TrialState::pruned,
                       TrialState::fail, TrialState::waiting})
    if (to_string(s) == name) return s;
  throw ConfigError("trial state", "unknown state '" + std::string(name) +
                                       "' (valid: RUNNING, COMPLETE, PRUNED, FAIL, WAITING)");
}

Distribution Distribution::floating(std::string name, double low, double high, bool log,
                                    std::optional<double> step) {
  Distribution d;
  d.name = std::move(name);
  d.low = low;
  d.high = high;
  d.log = log;
  d.step = step;
  return d;
}

json Distribution::to_json() const {
  return {{"name", name}, {"type", "float"}, {"low", low},
          {"high", high}, {"log", log},      {"step", step ? json(*step) : json(nullptr)}};
}

namespace {

constexpr OptunaEntry kSamplers[] = {
    {"tpe", "tree-structured Parzen estimator (seed, n_startup_trials, multivariate, ...)"},
    {"cmaes", "CMA-ES (seed, x0 warm-start mean, sigma0, restart_strategy, ...)"},
    {"random", "independent uniform draws (seed)"},
    {"qmc", "quasi-Monte Carlo: Sobol or Halton (qmc_type, scramble, seed)"},
    {"nsga2", "NSGA-II for one or several objectives (population_size, seed, ...)"},
    {"grid", "every point of search_space {name: [values]} once"},
};
constexpr OptunaEntry kPruners[] = {
    {"none", "never prune"},
    {"median", "prune below the median of earlier trials at the same step"},
    {"successive_halving", "asynchronous successive halving"},
    {"hyperband", "Hyperband over successive-halving brackets"},
};
constexpr OptunaEntry kStorages[] = {
    {"memory", "in the bridge process only (\"\"): lost when it restarts"},
    {"sqlite", "sqlite:///path/to/study.db"},
    {"postgresql", "postgresql://user:password@host/database"},
    {"journal", "journal:///path/to/study.log (Optuna JournalFileStorage)"},
};

}  // namespace

std::span<const OptunaEntry> optuna_sampler_registry() { return kSamplers; }
std::span<const OptunaEntry> optuna_pruner_registry() { return kPruners; }
std::span<const OptunaEntry> optuna_storage_registry() { return kStorages; }

std::string_view optuna_storage_kind(std::string_view url) {
  if (url.empty() || url == "memory" || url == ":memory:") return "memory";
  const std::string_view scheme = url.substr(0, url.find(':'));
  for (const OptunaEntry& e : kStorages)
    // sqlite:..., postgresql:... or postgresql+psycopg2:..., journal:...
    if (e.name != "memory" && scheme.substr(0, scheme.find('+')) == e.name &&
        url.find(':') != std::string_view::npos)
      return e.name;
  throw ConfigError("storage", "unknown storage URL '" + std::string(url) +
                                   "' (valid: \"\" for in-memory, sqlite:///PATH, "
                                   "postgresql://..., journal:///PATH)");
}

std::string default_bridge_python() {
  if (const char* env = std::getenv("SAMPLERSEARCH_PYTHON"); env && *env) return env;
  return SAMPLERSEARCH_DEFAULT_PYTHON;
}

std::string default_bridge_script() {
  if (const char* env = std::getenv("SAMPLERSEARCH_OPTUNA_BRIDGE"); env && *env) return env;
  return SAMPLERSEARCH_OPTUNA_BRIDGE_SCRIPT;
}

OptunaBridge::OptunaBridge(BridgeOptions options) : options_(std::move(options)) {
  if (options_.python.empty()) options_.python = default_bridge_python();
  if (options_.script.empty()) options_.script = default_bridge_script();
  if (!std::filesystem::exists(options_.script))
    throw FileError(options_.script,
                    "Optuna bridge program not found (set SAMPLERSEARCH_OPTUNA_BRIDGE)");
  std::lock_guard lock(mutex_);
  start();
}

OptunaBridge::~OptunaBridge() {
  std::lock_guard lock(mutex_);
  stop_process(true);
}

void OptunaBridge::start() {
  SS_CHECK(pid_ < 0 && fd_ < 0) << "bridge started twice";
  // One socket pair is the child's stdin and stdout; unlike a pipe, writing to a dead peer
  // returns EPIPE (MSG_NOSIGNAL) instead of raising SIGPIPE in the whole program.
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
    throw BridgeError(BridgeError::Kind::died, "start", "",
                      std::string("socketpair failed: ") + std::strerror(errno));
  // Everything the child needs is built before fork: after it, only async-signal-safe calls.
  std::vector<std::string> args{options_.python, options_.script};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    throw BridgeError(BridgeError::Kind::died, "start", "",
                      std::string("fork failed: ") + std::strerror(errno));
  }
  if (pid == 0) {
    // Own process group: a Ctrl-C meant for the search loop does not kill the bridge.
    ::setpgid(0, 0);
    if (::dup2(fds[1], STDIN_FILENO) < 0 || ::dup2(fds[1], STDOUT_FILENO) < 0) ::_exit(126);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  pid_ = pid;
  fd_ = fds[0];
  buffer_.clear();
  try {
    hello_ = exchange({{"op", "hello"}}, options_.startup_timeout);
  } catch (const ChannelFailure& f) {
    stop_process(false);
    throw BridgeError(f.kind, "hello", "",
                      f.message + " (starting '" + options_.python + " " + options_.script + "')");
  }
  if (!is_ok(hello_) || !hello_.contains("protocol") || hello_["protocol"] != kProtocol) {
    const std::string got = hello_.dump();
    stop_process(false);
    throw BridgeError(BridgeError::Kind::protocol, "hello", "",
                      "expected protocol " + std::to_string(kProtocol) + ", got " + got);
  }
}

void OptunaBridge::stop_process(bool graceful) {
  if (graceful && pid_ >= 0 && fd_ >= 0) {
    try {
      exchange({{"op", "shutdown"}}, std::chrono::seconds(5));
    } catch (const ChannelFailure&) {
    }
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (pid_ < 0) return;
  int status = 0;
  bool reaped = false;
  if (graceful) {  // the bridge exits on shutdown or on EOF; give it a moment
    const auto deadline = Clock::now() + std::chrono::seconds(3);
    while (!reaped && Clock::now() < deadline) {
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      reaped = r == pid_ || (r < 0 && errno == ECHILD);
      if (!reaped) ::usleep(10000);
    }
  }
  if (!reaped) {
    ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  pid_ = -1;
}

json OptunaBridge::exchange(const json& req_without_id, std::chrono::milliseconds timeout) {
  json req = req_without_id;
  const long id = next_id_++;
  req["id"] = id;
  const std::string op = string_field(req, "op");
  const std::string line = req.dump() + "\n";
  const auto deadline = Clock::now() + timeout;

  auto died = [&](const std::string& how) -> ChannelFailure {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == 0) {  // EOF but not yet gone: give it a moment to finish dying
      for (int i = 0; i < 100 && r == 0; ++i) {
        ::usleep(10000);
        r = ::waitpid(pid_, &status, WNOHANG);
      }
    }
    std::string what =
        "bridge process " + std::to_string(pid_) + " " + (r == pid_ ? describe_exit(status) : how);
    if (r == pid_) pid_ = -1;  // reaped: stop_process must not wait for it again
    return ChannelFailure{BridgeError::Kind::died, what};
  };

  size_t sent = 0;
  while (sent < line.size()) {
    const ssize_t n = ::send(fd_, line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw died(std::string("closed its input (") + std::strerror(errno) + ")");
    }
    sent += static_cast<size_t>(n);
  }

  for (;;) {
    if (const auto nl = buffer_.find('\n'); nl != std::string::npos) {
      const std::string text = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      try {
        return parse_bridge_response(text, id, op);
      } catch (const BridgeError& e) {
        throw ChannelFailure{e.kind(), e.python_message()};
      }
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0)
      throw ChannelFailure{BridgeError::Kind::timeout, "timed out: no response to '" + op +
                                                           "' within " +
                                                           std::to_string(timeout.count()) + " ms"};
    pollfd p{fd_, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1 << 30)));
    if (r < 0) {
      if (errno == EINTR) continue;
      throw died(std::string("poll failed: ") + std::strerror(errno));
    }
    if (r == 0) continue;  // the deadline check above reports the timeout
    char chunk[65536];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      throw died(std::string("read failed: ") + std::strerror(errno));
    }
    if (n == 0) throw died("closed its output");
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

void OptunaBridge::reopen_study(const std::string& why) {
  if (!study_request_) return;
  const std::string name = string_field(*study_request_, "study_name");
  if (study_in_memory_) {
    study_request_.reset();
    throw BridgeError(BridgeError::Kind::lost_study, "restart", "",
                      "the bridge was restarted (" + why + ") and study '" + name +
                          "' used in-memory storage, so its trials are lost; use sqlite:///, "
                          "journal:/// or postgresql:// storage to survive a restart");
  }
  json req = *study_request_;  // load_study as it was, or create_study that now loads
  if (req["op"] == "create_study") req["load_if_exists"] = true;
  json resp;
  try {
    resp = exchange(req, options_.timeout);
  } catch (const ChannelFailure& f) {
    stop_process(false);
    throw BridgeError(f.kind, "restart", "", "re-opening study '" + name + "': " + f.message);
  }
  if (!is_ok(resp))
    throw BridgeError(BridgeError::Kind::python, "restart", error_field(resp, "type"),
                      "re-opening study '" + name + "': " + error_field(resp, "message"));
}

json OptunaBridge::request_locked(json req, std::chrono::milliseconds timeout) {
  const std::string op = string_field(req, "op");
  for (int attempt = 0;; ++attempt) {
    if (pid_ < 0) {  // a previous restart failed part-way: try once more now
      start();
      reopen_study("it was down");
    }
    json resp;
    try {
      resp = exchange(req, timeout);
    } catch (const ChannelFailure& f) {
      stop_process(false);
      if (attempt >= 1)
        throw BridgeError(f.kind, op, "", f.message + " (also after restarting the bridge)");
      ++restarts_;
      if (options_.on_restart) options_.on_restart(op + ": " + f.message);
      start();
      reopen_study(f.message);
      req["retry"] = true;  // lets tell/enqueue skip work the dead bridge already stored
      continue;
    }
    if (!is_ok(resp))
      throw BridgeError(BridgeError::Kind::python, op, error_field(resp, "type"),
                        error_field(resp, "message"));
    return resp;
  }
}

json OptunaBridge::request(json req) { return request(std::move(req), options_.timeout); }

json OptunaBridge::request(json req, std::chrono::milliseconds timeout) {
  std::lock_guard lock(mutex_);
  return request_locked(std::move(req), timeout);
}

StudyInfo OptunaBridge::open_study(const StudyConfig& config, bool create) {
  registry_find(optuna_sampler_registry(), config.sampler, "sampler");
  registry_find(optuna_pruner_registry(), config.pruner, "pruner");
  optuna_storage_kind(config.storage);
  json req = {{"op", create ? "create_study" : "load_study"},
              {"sampler", {{"name", config.sampler}, {"params", config.sampler_params}}},
              {"pruner", {{"name", config.pruner}, {"params", config.pruner_params}}},
              {"storage", config.storage.empty() ? json(nullptr) : json(config.storage)}};
  if (!config.name.empty()) req["study_name"] = config.name;
  if (config.heartbeat > 0) req["heartbeat"] = config.heartbeat;
  if (!config.owner.empty()) req["owner"] = config.owner;
  if (create) {
    req["directions"] = config.directions;
    req["load_if_exists"] = config.load_if_exists;
  }
  std::lock_guard lock(mutex_);
  const json resp = request_locked(req, options_.timeout);
  const StudyInfo info = study_info_from_response(resp, "open study");
  req["study_name"] = info.name;  // a reload needs the name Optuna picked
  study_request_ = req;
  study_in_memory_ = optuna_storage_kind(config.storage) == "memory";
  return info;
}

StudyInfo OptunaBridge::study_info() {
  const json resp = request({{"op", "study_info"}});
  return study_info_from_response(resp, "study_info");
}

StudyInfo OptunaBridge::create_study(const StudyConfig& config) { return open_study(config, true); }

StudyInfo OptunaBridge::load_study(const StudyConfig& config) {
  if (config.name.empty()) throw ConfigError("study name", "load_study needs a study name");
  return open_study(config, false);
}

AskedTrial OptunaBridge::ask(const std::vector<Distribution>& distributions) {
  json dists = json::array();
  for (const Distribution& d : distributions) dists.push_back(d.to_json());
  const json resp = request({{"op", "ask"}, {"distributions", dists}});
  return parsed("ask", [&] { return AskedTrial{resp.at("number").get<int>(), resp.at("params")}; });
}

FrozenTrial OptunaBridge::tell(int number, const std::vector<double>& values) {
  json vs = json::array();
  for (double v : values) vs.push_back(number_to_json(v));
  return frozen_trial_from_response(request({{"op", "tell"}, {"number", number}, {"values", vs}}),
                                    "tell");
}

FrozenTrial OptunaBridge::tell_state(int number, TrialState state) {
  if (state != TrialState::pruned && state != TrialState::fail)
    throw ConfigError("trial state", "tell_state takes PRUNED or FAIL, not " +
                                         std::string(to_string(state)) +
                                         " (tell values to COMPLETE a trial)");
  return frozen_trial_from_response(
      request({{"op", "tell"}, {"number", number}, {"state", std::string(to_string(state))}}),
      "tell");
}

bool OptunaBridge::report(int number, int step, double value) {
  const json resp = request(
      {{"op", "report"}, {"number", number}, {"step", step}, {"value", number_to_json(value)}});
  return parsed("report", [&] { return resp.at("should_prune").get<bool>(); });
}

void OptunaBridge::enqueue(const json& params, const json& user_attrs) {
  json req = {{"op", "enqueue"}, {"params", params}};
  if (!user_attrs.is_null()) req["user_attrs"] = user_attrs;
  request(std::move(req));
}

std::vector<FrozenTrial> OptunaBridge::trials(const std::vector<TrialState>& states) {
  json req = {{"op", "trials"}};
  if (!states.empty()) {
    json names = json::array();
    for (TrialState s : states) names.push_back(std::string(to_string(s)));
    req["states"] = names;
  }
  return frozen_trials_from_response(request(std::move(req)), "trials");
}

std::vector<FrozenTrial> OptunaBridge::best_trials() {
  return frozen_trials_from_response(request({{"op", "best_trials"}}), "best_trials");
}

void OptunaBridge::set_user_attr(int number, const std::string& key, const json& value) {
  request({{"op", "set_user_attr"}, {"number", number}, {"key", key}, {"value", value}});
}

std::vector<int> OptunaBridge::fail_running(const std::string& reason) {
  const json resp = request({{"op", "fail_running"}, {"reason", reason}});
  return parsed("fail_running", [&] { return resp.at("failed").get<std::vector<int>>(); });
}

int OptunaBridge::pid() const {
  std::lock_guard lock(mutex_);
  return pid_;
}

int OptunaBridge::restarts() const {
  std::lock_guard lock(mutex_);
  return restarts_;
}

json OptunaBridge::hello() const {
  std::lock_guard lock(mutex_);
  return hello_;
}

}  // namespace samplersearch
