// The bridge's process and line channel: spawning the Python program on a socket pair, one
// request line out and one response line back with a deadline, and the retry policy (a dead,
// stuck or garbled bridge is restarted, its study re-opened from storage, the request retried
// once).
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

#include "bridge_codec.hpp"
#include "samplersearch/common/check.hpp"
#include "samplersearch/search/optuna_bridge.hpp"

#ifndef SAMPLERSEARCH_OPTUNA_BRIDGE_SCRIPT
#error "SAMPLERSEARCH_OPTUNA_BRIDGE_SCRIPT must be defined by search/CMakeLists.txt"
#endif
#ifndef SAMPLERSEARCH_DEFAULT_PYTHON
#define SAMPLERSEARCH_DEFAULT_PYTHON "/usr/bin/python3"
#endif

namespace samplersearch {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

using namespace bridge_detail;

namespace {

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "stopped (status " + std::to_string(status) + ")";
}

// Why the channel failed, from the process's exit status when it has exited (reaping it: *pid
// becomes −1), else `how`.
ChannelFailure bridge_died(int* pid, const std::string& how) {
  int status = 0;
  pid_t r = ::waitpid(*pid, &status, WNOHANG);
  if (r == 0) {  // EOF but not yet gone: give it a moment to finish dying
    for (int i = 0; i < 100 && r == 0; ++i) {
      ::usleep(10000);
      r = ::waitpid(*pid, &status, WNOHANG);
    }
  }
  std::string what =
      "bridge process " + std::to_string(*pid) + " " + (r == *pid ? describe_exit(status) : how);
  if (r == *pid) *pid = -1;  // reaped: stop_process must not wait for it again
  return ChannelFailure{BridgeError::Kind::died, what};
}

// A failed start, naming the program that was started.
BridgeError start_failure(const BridgeOptions& o, const ChannelFailure& f) {
  return BridgeError(f.kind, "hello", "",
                     f.message + " (starting '" + o.python + " " + o.script + "')");
}

}  // namespace

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
  start(options_.defer_hello);
}

OptunaBridge::~OptunaBridge() {
  std::lock_guard lock(mutex_);
  stop_process(true);
}

void OptunaBridge::start(bool defer_hello) {
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
    const long id = send({{"op", "hello"}});
    pending_hello_ = PendingHello{id, Clock::now() + options_.startup_timeout};
  } catch (const ChannelFailure& f) {
    stop_process(false);
    throw start_failure(options_, f);
  }
  if (!defer_hello) finish_hello();
}

void OptunaBridge::finish_hello() {
  SS_CHECK(pending_hello_.has_value());
  const PendingHello pending = *pending_hello_;
  pending_hello_.reset();
  try {
    hello_ = receive(pending.id, "hello", pending.deadline, options_.startup_timeout);
  } catch (const ChannelFailure& f) {
    stop_process(false);
    throw start_failure(options_, f);
  }
  if (!is_ok(hello_) || !hello_.contains("protocol") || hello_["protocol"] != kProtocol) {
    const std::string got = hello_.dump();
    stop_process(false);
    throw BridgeError(BridgeError::Kind::protocol, "hello", "",
                      "expected protocol " + std::to_string(kProtocol) + ", got " + got);
  }
}

void OptunaBridge::stop_process(bool graceful) {
  if (pending_hello_) {  // never answered: nothing to shut down gracefully
    pending_hello_.reset();
    graceful = false;
  }
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

json OptunaBridge::exchange(const json& req, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  const long id = send(req);
  return receive(id, string_field(req, "op"), deadline, timeout);
}

long OptunaBridge::send(const json& req_without_id) {
  json req = req_without_id;
  const long id = next_id_++;
  req["id"] = id;
  const std::string line = req.dump() + "\n";
  size_t sent = 0;
  while (sent < line.size()) {
    const ssize_t n = ::send(fd_, line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw bridge_died(&pid_, std::string("closed its input (") + std::strerror(errno) + ")");
    }
    sent += static_cast<size_t>(n);
  }
  return id;
}

json OptunaBridge::receive(long id, const std::string& op, Clock::time_point deadline,
                           std::chrono::milliseconds timeout) {
  auto died = [&](const std::string& how) { return bridge_died(&pid_, how); };

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
    // Past the deadline, what has arrived is still read (poll with 0 ms) before a timeout is
    // declared: a deferred "hello" is read long after Python sent it.
    const auto left = std::max<long long>(
        0, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    pollfd p{fd_, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1 << 30)));
    if (r < 0) {
      if (errno == EINTR) continue;
      throw died(std::string("poll failed: ") + std::strerror(errno));
    }
    if (r == 0 && left == 0)
      throw ChannelFailure{BridgeError::Kind::timeout, "timed out: no response to '" + op +
                                                           "' within " +
                                                           std::to_string(timeout.count()) + " ms"};
    if (r == 0) continue;
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
  if (pending_hello_) finish_hello();  // a deferred start: Python has been importing meanwhile
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

}  // namespace samplersearch
