// The HDF5 trial store: exact round trips, h5py reading what C++ wrote (and the README example),
// kill -9 of a writer at many moments, a reader running beside a writer, and bad files.
// One file of ~850 lines on purpose: the store's format is one contract, and these suites share
// its fixtures (a child writer killed on a signal, the h5py reader) that no other test needs.
#include <H5Cpp.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "samplersearch/common/error.hpp"
#include "samplersearch/experiments/trial_store.hpp"
#include "samplersearch/samplers/schedule.hpp"

// Deterministic store content: every trial is a function of its number, so a reader can check any
// trial it sees without knowing how far the writer got.
namespace samplersearch::test {

inline std::vector<int64_t> fixture_counts() { return {64, 256, 1024}; }

// The experiment text the fixture stores (not a real experiment; any text is stored verbatim).
inline std::string fixture_experiment() {
  return "{\n  \"name\": \"trial-store-fixture\",\n  \"nfe\": 10,\n  \"note\": \"ünïcode ✓\"\n}";
}

inline StoreLayout fixture_layout(int steps) {
  StoreLayout l;
  l.experiment = fixture_experiment();
  l.experiment_hash = sha256_hex(l.experiment);
  l.schedule = make_schedule("vp-linear");
  l.steps = steps;
  l.sample_counts = fixture_counts();
  return l;
}

// Matrices with values that exercise every bit of a double: strictly lower-triangular C,
// lower-triangular B, decreasing times; `seed` makes them differ per record.
inline Matrices fixture_matrices(int steps, double seed) {
  Matrices m;
  m.schedule = make_schedule("vp-linear");
  const int n = steps;
  for (int k = 0; k <= n; ++k) m.times.push_back(1.0 - (1.0 - 1e-3) * k / n + seed * 1e-9);
  m.signal = RowMatrix::Zero(n + 1, n);
  m.noise = RowMatrix::Zero(n + 1, n + 1);
  for (int k = 0; k <= n; ++k)
    for (int j = 0; j <= k; ++j) {
      if (j < k) m.signal(k, j) = std::sin(seed + 7.0 * k + j) / 3.0;
      m.noise(k, j) = std::cos(seed * 0.5 + k - 2.0 * j) * std::exp(-j) + 1e-17 * seed;
    }
  m.solver = "searched";
  m.options = {{"seed", seed}, {"order", static_cast<int>(seed) % 3}};
  return m;
}

// A reason longer than 1000 bytes (the store must not truncate it).
inline std::string fixture_long_reason(int number) {
  std::string r = "NumericalError: non-finite sample at step " + std::to_string(number) + ":";
  for (int i = 0; r.size() <= 1500; ++i) r += " x[" + std::to_string(i) + "]=nan";
  return r;
}

// Trial `number`: 4 kinds in turn — COMPLETE (value, all intermediates, warm start), PRUNED
// (first intermediate only), FAIL (long reason, no matrices), COMPLETE (no warm start).
inline TrialRecord fixture_trial(int number, int steps) {
  TrialRecord r;
  r.number = number;
  const std::vector<int64_t> counts = fixture_counts();
  const double x = number * 0.1 + 1.0 / 3.0;
  r.params = {{"x", x}, {"order", number % 3}, {"solver", number % 2 ? "a" : "b"}};
  r.started = 1.7e9 + number * 1.25 + 1.0 / 7.0;
  r.seconds = 0.5 + number / 7.0;
  r.device = number % 2 ? "cuda:1" : "cpu";
  switch (number % 4) {
    case 0:
    case 3:
      r.state = TrialState::complete;
      r.matrices = fixture_matrices(steps, number);
      for (size_t k = 0; k < counts.size(); ++k)
        r.intermediate.emplace_back(counts[k], 10.0 / (1.0 + number + k) + 1e-12 * k);
      r.value = r.intermediate.back().second;
      if (number % 4 == 0) r.warm_start = "ddim";
      break;
    case 1:
      r.state = TrialState::pruned;
      r.matrices = fixture_matrices(steps, number);
      r.intermediate.emplace_back(counts[0], 100.0 + number / 3.0);
      r.reason = "pruned at " + std::to_string(counts[0]) + " samples";
      break;
    default:
      r.state = TrialState::fail;
      r.reason = fixture_long_reason(number);
      break;
  }
  return r;
}

inline Baseline fixture_baseline(int k, int steps) {
  Baseline b;
  b.label = k == 0 ? "dpmsolver++(2M)" : "ddim";
  b.value = 3.25 + k / 3.0;
  if (k == 0) b.validation = 3.5 + 1e-13;  // the second keeps NaN (not measured)
  b.matrices = fixture_matrices(steps, -1.0 - k);
  b.matrices.solver = b.label;
  return b;
}

}  // namespace samplersearch::test

namespace {

using namespace samplersearch;
using nlohmann::json;
namespace fs = std::filesystem;

// A fresh directory, removed at the end of the test.
struct TempDir {
  fs::path dir;
  TempDir() {
    dir = fs::temp_directory_path() /
          ("ss_trial_store_" + std::to_string(::getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~TempDir() { fs::remove_all(dir); }
  std::string operator/(const std::string& name) const { return (dir / name).string(); }
};

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v ? v : fallback;
}

// Runs `cmd` through the shell; returns its stdout (and its exit status in `status`).
std::string run(const std::string& cmd, int& status) {
  FILE* pipe = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf{};
  while (size_t n = fread(buf.data(), 1, buf.size(), pipe)) out.append(buf.data(), n);
  const int st = pclose(pipe);
  status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

std::string python() { return env_or("SAMPLERSEARCH_PYTHON", "/usr/bin/python3"); }
std::string source_dir() { return env_or("SAMPLERSEARCH_SOURCE_DIR", "."); }

// h5py's view of the given stores (tests/experiments/dump_trial_store.py).
json h5py_dump(const std::vector<std::string>& paths) {
  std::string cmd = python() + " " + source_dir() + "/tests/experiments/dump_trial_store.py";
  for (const std::string& p : paths) cmd += " '" + p + "'";
  int status = 0;
  const std::string out = run(cmd + " 2>&1", status);
  EXPECT_EQ(status, 0) << cmd << "\n" << out;
  return json::parse(out);
}

void expect_same_matrices(const Matrices& a, const Matrices& b, const std::string& who) {
  EXPECT_EQ(a.times, b.times) << who;
  EXPECT_EQ(a.signal.rows(), b.signal.rows()) << who;
  EXPECT_EQ(a.signal.cols(), b.signal.cols()) << who;
  EXPECT_TRUE(a.signal == b.signal) << who;  // bit-identical
  EXPECT_TRUE(a.noise == b.noise) << who;
  EXPECT_EQ(a.solver, b.solver) << who;
  EXPECT_EQ(a.options, b.options) << who;
  ASSERT_TRUE(a.schedule && b.schedule) << who;
  EXPECT_EQ(a.schedule->name(), b.schedule->name()) << who;
  EXPECT_EQ(a.schedule->params(), b.schedule->params()) << who;
}

void expect_same_trial(const TrialRecord& want, const TrialRecord& got) {
  const std::string who = "trial " + std::to_string(want.number);
  EXPECT_EQ(got.number, want.number);
  EXPECT_EQ(got.state, want.state) << who;
  EXPECT_EQ(got.params, want.params) << who;
  EXPECT_EQ(got.params.dump(), want.params.dump()) << who;
  ASSERT_EQ(got.matrices.has_value(), want.matrices.has_value()) << who;
  if (want.matrices) expect_same_matrices(*want.matrices, *got.matrices, who);
  EXPECT_EQ(got.intermediate, want.intermediate) << who;
  EXPECT_EQ(got.value, want.value) << who;
  EXPECT_EQ(got.started, want.started) << who;
  EXPECT_EQ(got.seconds, want.seconds) << who;
  EXPECT_EQ(got.device, want.device) << who;
  EXPECT_EQ(got.reason, want.reason) << who;
  EXPECT_EQ(got.warm_start, want.warm_start) << who;
}

void expect_same_baseline(const Baseline& want, const Baseline& got) {
  EXPECT_EQ(got.label, want.label);
  EXPECT_EQ(got.value, want.value);
  if (std::isnan(want.validation))
    EXPECT_TRUE(std::isnan(got.validation)) << want.label;
  else
    EXPECT_EQ(got.validation, want.validation) << want.label;
  expect_same_matrices(want.matrices, got.matrices, "baseline " + want.label);
}

// Rows of a JSON matrix dumped by h5py against an Eigen matrix (exact), or all-NaN (null).
void expect_json_matrix(const json& j, const RowMatrix* m, const std::string& who) {
  if (!m) {
    for (const json& row : j)
      for (const json& v : row) ASSERT_TRUE(v.is_null()) << who;
    return;
  }
  ASSERT_EQ(j.size(), static_cast<size_t>(m->rows())) << who;
  for (Eigen::Index k = 0; k < m->rows(); ++k) {
    ASSERT_EQ(j[k].size(), static_cast<size_t>(m->cols())) << who;
    for (Eigen::Index c = 0; c < m->cols(); ++c)
      ASSERT_EQ(j[k][c].get<double>(), (*m)(k, c)) << who << " [" << k << "][" << c << "]";
  }
}

void expect_json_trial(const json& j, const TrialRecord& want) {
  const std::string who = "h5py trial " + std::to_string(want.number);
  EXPECT_EQ(j["number"], want.number);
  EXPECT_EQ(j["state"], std::string(to_string(want.state))) << who;
  EXPECT_EQ(j["params"], want.params) << who;
  if (want.value)
    EXPECT_EQ(j["value"].get<double>(), *want.value) << who;
  else
    EXPECT_TRUE(j["value"].is_null()) << who;
  json inter = json::array();
  for (const auto& [c, v] : want.intermediate) inter.push_back({c, v});
  EXPECT_EQ(j["intermediate"], inter) << who;
  EXPECT_EQ(j["started"].get<double>(), want.started) << who;
  EXPECT_EQ(j["seconds"].get<double>(), want.seconds) << who;
  EXPECT_EQ(j["device"], want.device) << who;
  EXPECT_EQ(j["reason"], want.reason) << who;
  EXPECT_EQ(j["warm_start"], want.warm_start) << who;
  const Matrices* m = want.matrices ? &*want.matrices : nullptr;
  EXPECT_EQ(j["solver"], m ? m->solver : "") << who;
  EXPECT_EQ(j["options"], m ? m->options.dump() : "") << who;
  expect_json_matrix(j["C"], m ? &m->signal : nullptr, who + " C");
  expect_json_matrix(j["B"], m ? &m->noise : nullptr, who + " B");
  if (m) {
    ASSERT_EQ(j["timesteps"].size(), m->times.size());
    for (size_t k = 0; k < m->times.size(); ++k)
      EXPECT_EQ(j["timesteps"][k].get<double>(), m->times[k]) << who;
  }
}

// The fixture's store header as h5py sees it.
void expect_json_header(const json& j, int steps) {
  EXPECT_EQ(j["format"], "samplersearch-trial-store");
  EXPECT_EQ(j["format_version"], 1);
  EXPECT_EQ(j["experiment"], test::fixture_experiment());
  EXPECT_EQ(j["experiment_hash"], sha256_hex(test::fixture_experiment()));
  EXPECT_EQ(j["experiment_sha256"], j["experiment_hash"]);  // Python's hashlib agrees
  EXPECT_EQ(j["steps"], steps);
  EXPECT_EQ(j["schedule"], "vp-linear");
  EXPECT_EQ(j["schedule_params"], make_schedule("vp-linear")->params());
  EXPECT_EQ(j["sample_counts"], json(test::fixture_counts()));
  ASSERT_EQ(j["baselines"].size(), 2u);
  for (int k = 0; k < 2; ++k) {
    const Baseline b = test::fixture_baseline(k, steps);
    EXPECT_EQ(j["baselines"][k]["label"], b.label);
    EXPECT_EQ(j["baselines"][k]["value"].get<double>(), b.value);
    if (std::isnan(b.validation))
      EXPECT_TRUE(j["baselines"][k]["validation"].is_null());
    else
      EXPECT_EQ(j["baselines"][k]["validation"].get<double>(), b.validation);
    EXPECT_EQ(j["baselines"][k]["solver"], b.matrices.solver);
    expect_json_matrix(j["baselines"][k]["C"], &b.matrices.signal, "baseline C");
    expect_json_matrix(j["baselines"][k]["B"], &b.matrices.noise, "baseline B");
  }
}

// A forked writer process: creates (or resumes) a store and writes fixture trials first, first+1,
// ... (count of them; 0 = until killed) as fast as it can, printing each trial's number on a pipe
// once write() returned ("ready" before the first). The test reads the pipe and kills it.
class Writer {
 public:
  Writer(const std::string& path, const std::string& mode, int first, int count, int steps) {
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("pipe");
    std::fflush(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(fds[0]);
      auto say = [&](const std::string& s) {
        const std::string l = s + "\n";
        if (::write(fds[1], l.data(), l.size()) != static_cast<ssize_t>(l.size())) ::_exit(3);
      };
      try {
        std::unique_ptr<TrialStore> store;
        if (mode == "create") {
          store = TrialStore::create(path, test::fixture_layout(steps));
          for (int k = 0; k < 2; ++k) store->write_baseline(test::fixture_baseline(k, steps));
        } else {
          store = TrialStore::open(path);
        }
        say("ready");
        for (int i = first; count == 0 || i < first + count; ++i) {
          store->write(test::fixture_trial(i, steps));
          say(std::to_string(i));
        }
      } catch (const std::exception& e) {
        say(std::string("error: ") + e.what());
        ::_exit(1);
      }
      ::_exit(0);  // the store was closed above; skip the parent's atexit handlers
    }
    ::close(fds[1]);
    fd_ = fds[0];
  }
  ~Writer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) ::close(fd_);
  }
  // The next line, or "" at end of output / after `timeout_ms`.
  std::string line(int timeout_ms = 20000) {
    for (;;) {
      const auto nl = buffer_.find('\n');
      if (nl != std::string::npos) {
        std::string l = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        if (l.rfind("error", 0) == 0)
          error_ = l;
        else if (l != "ready")
          last_ = std::stoi(l);
        return l;
      }
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, timeout_ms) <= 0) return "";
      char buf[4096];
      const ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n <= 0) return "";
      buffer_.append(buf, static_cast<size_t>(n));
    }
  }
  // SIGKILL; then reads what it printed before it died. Returns the last trial it reported.
  int kill_now() {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    while (!line(1000).empty()) {
    }
    return last_;
  }
  // Waits for a normal exit; returns the exit code.
  int wait() {
    while (!line().empty()) {
    }
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  // The writer's "error: ..." line, if it failed.
  const std::string& error() const { return error_; }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string buffer_;
  int last_ = -1;
  std::string error_;
};

// Writes the fixture's baselines and trials [0, n) into a new store at `path`, and validations of
// trials 3 and 0 (n > 3).
void write_fixture(const std::string& path, int steps, int n) {
  auto store = TrialStore::create(path, test::fixture_layout(steps));
  for (int k = 0; k < 2; ++k) store->write_baseline(test::fixture_baseline(k, steps));
  for (int i = 0; i < n; ++i) store->write(test::fixture_trial(i, steps));
  if (n > 3) {
    store->write_validation(3, 0.75);
    store->write_validation(0, 1.0 / 3.0);
  }
}

// Checks that `s` holds the fixture header, baselines and exactly trials [0, n).
void expect_fixture(const StoreContents& s, int steps, size_t n) {
  EXPECT_EQ(s.experiment, test::fixture_experiment());
  EXPECT_EQ(s.experiment_hash, sha256_hex(test::fixture_experiment()));
  EXPECT_EQ(s.steps, steps);
  EXPECT_EQ(s.sample_counts, test::fixture_counts());
  ASSERT_EQ(s.baselines.size(), 2u);
  for (int k = 0; k < 2; ++k)
    expect_same_baseline(test::fixture_baseline(k, steps), s.baselines[k]);
  ASSERT_EQ(s.trials.size(), n);
  for (size_t i = 0; i < n; ++i)
    expect_same_trial(test::fixture_trial(static_cast<int>(i), steps), s.trials[i]);
}

// Message of the FileError `f` throws (or "" and a failure when it throws nothing or else).
template <class F>
std::string file_error(F f) {
  try {
    f();
  } catch (const FileError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not a FileError: " << e.what();
    return "";
  }
  ADD_FAILURE() << "no error";
  return "";
}

template <class F>
std::string config_error(F f, const std::string& field) {
  try {
    f();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.field(), field);
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not a ConfigError: " << e.what();
    return "";
  }
  ADD_FAILURE() << "no error";
  return "";
}

TEST(TrialStore, Sha256MatchesTheFipsVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(TrialStore, RoundTripIsExactForEveryState) {
  TempDir tmp;
  const std::string path = tmp / "store.h5";
  const int steps = 6;
  std::vector<TrialRecord> trials;
  for (int i = 0; i < 8; ++i) trials.push_back(test::fixture_trial(i, steps));
  TrialRecord running = test::fixture_trial(100, steps);  // RUNNING/WAITING, empty strings
  running.state = TrialState::running;
  running.params = json::object();
  running.device = running.reason = running.warm_start = "";
  running.intermediate.clear();
  running.value.reset();
  running.matrices->options = nullptr;
  running.matrices->solver = "";
  trials.push_back(running);
  TrialRecord waiting = test::fixture_trial(102, steps);
  waiting.state = TrialState::waiting;
  trials.push_back(waiting);
  ASSERT_GT(trials[2].reason.size(), 1000u);
  ASSERT_FALSE(trials[2].matrices.has_value());
  ASSERT_EQ(trials[1].intermediate.size(), 1u);  // PRUNED: partial intermediates
  {
    auto store = TrialStore::create(path, test::fixture_layout(steps));
    EXPECT_EQ(store->path(), path);
    for (int k = 0; k < 2; ++k) store->write_baseline(test::fixture_baseline(k, steps));
    for (size_t i = 0; i < 5; ++i) store->write(trials[i]);
    // Read in the same process while the store is open for writing.
    const StoreContents mid = read_store(path);
    ASSERT_EQ(mid.trials.size(), 5u);
    for (size_t i = 0; i < 5; ++i) expect_same_trial(trials[i], mid.trials[i]);
    for (size_t i = 5; i < trials.size(); ++i) store->write(trials[i]);
    store->write_validation(0, 1.5);
    store->write_validation(3, std::nan(""));  // a validation that failed numerically
    store->write_validation(0, 1.75);          // measured again: the later one counts
    EXPECT_EQ(config_error([&] { store->write_validation(999, 1.0); }, "trial number"),
              "trial number: trial 999 is not in " + path);
  }
  const StoreContents s = read_store(path);
  EXPECT_EQ(s.experiment, test::fixture_experiment());
  EXPECT_EQ(s.experiment_hash, sha256_hex(s.experiment));
  EXPECT_EQ(s.steps, steps);
  EXPECT_EQ(s.sample_counts, test::fixture_counts());
  ASSERT_EQ(s.baselines.size(), 2u);
  for (int k = 0; k < 2; ++k)
    expect_same_baseline(test::fixture_baseline(k, steps), s.baselines[k]);
  ASSERT_EQ(s.trials.size(), trials.size());
  for (size_t i = 0; i < trials.size(); ++i) expect_same_trial(trials[i], s.trials[i]);
  ASSERT_EQ(s.validations.size(), 2u);
  EXPECT_EQ(s.validations.at(0), 1.75);
  EXPECT_TRUE(std::isnan(s.validations.at(3)));

  // Resume a cleanly closed store: appends after what is there.
  {
    auto store = TrialStore::open(path);
    store->write(test::fixture_trial(8, steps));
    EXPECT_THROW(store->write(test::fixture_trial(3, steps)), ConfigError);  // number taken
  }
  const StoreContents again = read_store(path);
  ASSERT_EQ(again.trials.size(), trials.size() + 1);
  expect_same_trial(test::fixture_trial(8, steps), again.trials.back());
}

TEST(TrialStore, H5pyReadsWhatWasWrittenAndTheReadmeExampleRuns) {
  TempDir tmp;
  const std::string path = tmp / "store.h5";
  const int steps = 5;
  write_fixture(path, steps, 8);
  const json dump = h5py_dump({path})[0];
  EXPECT_TRUE(dump["plain_open"].get<bool>());  // cleanly closed: plain h5py.File(path, "r") works
  expect_json_header(dump, steps);
  ASSERT_EQ(dump["trials"].size(), 8u);
  for (int i = 0; i < 8; ++i) expect_json_trial(dump["trials"][i], test::fixture_trial(i, steps));
  EXPECT_EQ(dump["validations"], json::parse("[[3, 0.75], [0, 0.3333333333333333]]"));

  // The README's h5py example, taken from experiments/README.md, on the same file.
  std::ifstream readme(source_dir() + "/experiments/README.md");
  ASSERT_TRUE(readme) << "experiments/README.md";
  std::stringstream all;
  all << readme.rdbuf();
  const std::string text = all.str();
  const auto section = text.find("## The trial store (HDF5)");
  ASSERT_NE(section, std::string::npos);
  const auto begin = text.find("```python\n", section);
  ASSERT_NE(begin, std::string::npos);
  const auto end = text.find("```", begin + 10);
  const std::string code = text.substr(begin + 10, end - begin - 10);
  EXPECT_LE(std::count(code.begin(), code.end(), '\n'), 10) << "a ten-line example";
  const std::string script = tmp / "example.py";
  std::ofstream(script) << code;
  int status = 0;
  const std::string out = run(python() + " " + script + " " + path, status);
  ASSERT_EQ(status, 0) << out;
  std::istringstream lines(out);
  int i = 0;
  for (std::string line; std::getline(lines, line); ++i) {
    const TrialRecord want = test::fixture_trial(i, steps);
    std::istringstream in(line);
    int number;
    std::string state, value;
    in >> number >> state >> value;
    std::string params;
    std::getline(in, params);
    EXPECT_EQ(number, i);
    EXPECT_EQ(state, std::string(to_string(want.state)));
    if (want.value)
      EXPECT_EQ(std::strtod(value.c_str(), nullptr), *want.value) << line;
    else
      EXPECT_EQ(value, "nan");
    EXPECT_EQ(params, " " + want.params.dump());
  }
  EXPECT_EQ(i, 8);
}

TEST(TrialStore, KillNineAtManyMomentsLosesNoCommittedTrial) {
  TempDir tmp;
  const std::string path = tmp / "store.h5";
  const int steps = 4;
  std::mt19937 rng(20240611);
  // Trials reported before the kill; -1: while the writer opens the store (after round 3 it is a
  // crashed store, so the kill lands around the recovery) without waiting for it.
  const std::vector<int> kill_after = {1, 7, 40, 0, -1, 3, 15};
  std::vector<std::string> snapshots;
  std::vector<size_t> snapshot_sizes;
  std::map<int, double> validations;  // written by the test's resumes; must survive every crash
  size_t next = 0;
  for (size_t round = 0; round < kill_after.size(); ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    Writer w(path, round == 0 ? "create" : "open", static_cast<int>(next), 0, steps);
    if (kill_after[round] >= 0) {
      ASSERT_EQ(w.line(), "ready");
    }
    if (round == 0) {  // one writer at a time
      try {
        TrialStore::open(path);
        ADD_FAILURE() << "a second writer opened the store";
      } catch (const FileError& e) {
        EXPECT_EQ(std::string(e.what()),
                  path + ": is open for writing by another process (a search is running on it)");
      }
    }
    for (int k = 0; k < kill_after[round];) {
      const std::string l = w.line();
      ASSERT_FALSE(l.empty() || l.rfind("error", 0) == 0) << l;
      ++k;
    }
    // A random moment inside the next write (a write takes ~0.1–10 ms) or the open.
    const int max_us = kill_after[round] >= 0 ? 3000 : 20000;
    const auto until =
        std::chrono::steady_clock::now() +
        std::chrono::microseconds(std::uniform_int_distribution<int>(0, max_us)(rng));
    while (std::chrono::steady_clock::now() < until) {
    }
    const int reported = w.kill_now();
    EXPECT_EQ(w.error(), "");
    const size_t at_least = reported < 0 ? next : static_cast<size_t>(reported) + 1;

    snapshots.push_back(tmp / ("killed" + std::to_string(round) + ".h5"));
    fs::copy_file(path, snapshots.back());
    // (b) read_store sees every reported trial, each complete and as written.
    const StoreContents s = read_store(path);
    EXPECT_GE(s.trials.size(), at_least);
    EXPECT_LE(s.trials.size(), at_least + 1);  // at most the one being written when killed
    expect_fixture(s, steps, s.trials.size());
    snapshot_sizes.push_back(s.trials.size());
    EXPECT_EQ(s.validations, validations);
    next = s.trials.size();
    // (c) every other round the test resumes and appends; in the others the next writer does.
    if (round % 2 == 0) {
      {
        auto store = TrialStore::open(path);
        store->write(test::fixture_trial(static_cast<int>(next), steps));
        store->write(test::fixture_trial(static_cast<int>(next) + 1, steps));
        store->write_validation(static_cast<int>(next), next + 0.5);
        validations[static_cast<int>(next)] = next + 0.5;
      }
      next += 2;
      const StoreContents resumed = read_store(path);
      expect_fixture(resumed, steps, next);
      EXPECT_EQ(resumed.validations, validations);
    }
  }
  {
    auto store = TrialStore::open(path);
    store->write(test::fixture_trial(static_cast<int>(next), steps));
  }
  ++next;
  const StoreContents final_contents = read_store(path);
  expect_fixture(final_contents, steps, next);
  EXPECT_EQ(final_contents.validations, validations);
  EXPECT_FALSE(fs::exists(path + ".recovering"));

  // (a) h5py reads every killed snapshot (with swmr=True) and the final file (also plainly).
  snapshots.push_back(path);
  snapshot_sizes.push_back(next);
  const json dumps = h5py_dump(snapshots);
  ASSERT_EQ(dumps.size(), snapshots.size());
  for (size_t r = 0; r < snapshots.size(); ++r) {
    SCOPED_TRACE(snapshots[r]);
    expect_json_header(dumps[r], steps);
    ASSERT_EQ(dumps[r]["trials"].size(), snapshot_sizes[r]);
    for (size_t i = 0; i < snapshot_sizes[r]; ++i)
      expect_json_trial(dumps[r]["trials"][i], test::fixture_trial(static_cast<int>(i), steps));
  }
  EXPECT_TRUE(dumps.back()["plain_open"].get<bool>());
  json want = json::array();
  for (const auto& [t, v] : validations) want.push_back({t, v});
  EXPECT_EQ(dumps.back()["validations"], want);
}

TEST(TrialStore, ReadersBesideAWriterAlwaysSeeACompletePrefix) {
  TempDir tmp;
  const std::string path = tmp / "store.h5";
  const int steps = 10, total = 300;
  Writer w(path, "create", 0, total, steps);
  ASSERT_EQ(w.line(), "ready");
  size_t last = 0;
  int reads = 0, partial = 0;
  bool python_done = false;
  for (;;) {
    const StoreContents s = read_store(path);
    ++reads;
    EXPECT_GE(s.trials.size(), last);
    last = s.trials.size();
    expect_fixture(s, steps, s.trials.size());
    if (last > 0 && last < static_cast<size_t>(total)) {
      ++partial;
      if (partial == 3 && !python_done) {  // h5py beside the writer too
        const json dump = h5py_dump({path})[0];
        EXPECT_GE(dump["trials"].size(), last);
        for (size_t i = 0; i < dump["trials"].size(); ++i)
          expect_json_trial(dump["trials"][i], test::fixture_trial(static_cast<int>(i), steps));
        python_done = true;
      }
    }
    if (last == static_cast<size_t>(total) || ::testing::Test::HasFailure()) break;
  }
  EXPECT_EQ(w.wait(), 0);
  EXPECT_GE(partial, 3) << reads << " reads";
  expect_fixture(read_store(path), steps, total);
}

TEST(TrialStore, RowsBeyondTheCommitAreIgnoredAndOverwritten) {
  TempDir tmp;
  const std::string path = tmp / "store.h5";
  const int steps = 3;
  write_fixture(path, steps, 4);
  // What a killed writer can leave: every column grown past the commit, with junk, and a commit
  // column grown by one row it never filled (-1).
  const std::string script = R"(
import sys, h5py
with h5py.File(sys.argv[1], "a") as f:
    for g, commit in (("trials", "number"), ("baselines", "label"), ("validations", "trial")):
        n = len(f[g][commit])
        for name, ds in f[g].items():
            if name == "text":
                ds.resize((len(ds) + 5,)); ds[-5:] = list(b"junk!")
            elif name == commit:
                ds.resize(n + 1, axis=0)
            else:  # floats, spans, states
                ds.resize(n + 2, axis=0); ds[n:] = 1
)";
  std::ofstream(tmp / "junk.py") << script;
  int status = 0;
  const std::string out = run(python() + " " + (tmp / "junk.py") + " " + path + " 2>&1", status);
  ASSERT_EQ(status, 0) << out;

  const StoreContents s = read_store(path);
  expect_fixture(s, steps, 4);
  EXPECT_EQ(s.validations, (std::map<int, double>{{0, 1.0 / 3.0}, {3, 0.75}}));
  const json dump = h5py_dump({path})[0];
  EXPECT_EQ(dump["trials"].size(), 4u);
  EXPECT_EQ(dump["baselines"].size(), 2u);
  EXPECT_EQ(dump["validations"].size(), 2u);
  {
    auto store = TrialStore::open(path);
    store->write(test::fixture_trial(4, steps));
    store->write(test::fixture_trial(5, steps));
    store->write_validation(5, 2.0);
  }
  const StoreContents after = read_store(path);
  expect_fixture(after, steps, 6);
  EXPECT_EQ(after.validations, (std::map<int, double>{{0, 1.0 / 3.0}, {3, 0.75}, {5, 2.0}}));
}

TEST(TrialStore, BadFilesAreFileErrorsNamingPathAndReason) {
  TempDir tmp;
  const std::string missing = tmp / "missing.h5";
  EXPECT_EQ(file_error([&] { read_store(missing); }), missing + ": does not exist");
  EXPECT_EQ(file_error([&] { TrialStore::open(missing); }), missing + ": does not exist");

  const std::string text = tmp / "text.h5";
  std::ofstream(text) << "not hdf5\n";
  EXPECT_EQ(file_error([&] { read_store(text); }), text + ": is not an HDF5 file");
  EXPECT_EQ(file_error([&] { TrialStore::open(text); }), text + ": is not an HDF5 file");

  const std::string other = tmp / "other.h5";
  {
    H5::H5File f(other, H5F_ACC_TRUNC);
    const hsize_t n = 3;
    f.createDataSet("x", H5::PredType::NATIVE_DOUBLE, H5::DataSpace(1, &n));
  }
  const std::string not_store =
      ": is an HDF5 file but not a samplersearch trial store (no 'format' attribute)";
  EXPECT_EQ(file_error([&] { read_store(other); }), other + not_store);
  EXPECT_EQ(file_error([&] { TrialStore::open(other); }), other + not_store);

  // A store with a dataset removed (by h5py) is damaged, and says which dataset.
  const std::string damaged = tmp / "damaged.h5";
  write_fixture(damaged, 3, 2);
  int status = 0;
  const std::string out = run(python() + " -c \"import h5py; f = h5py.File('" + damaged +
                                  "', 'a'); del f['trials/C']; f.close()\" 2>&1",
                              status);
  ASSERT_EQ(status, 0) << out;
  EXPECT_EQ(file_error([&] { read_store(damaged); }),
            damaged + ": damaged trial store: dataset '/trials/C' is missing");
  EXPECT_EQ(file_error([&] { TrialStore::open(damaged); }),
            damaged + ": damaged trial store: dataset '/trials/C' is missing");

  // Never overwritten.
  const std::string store = tmp / "store.h5";
  write_fixture(store, 3, 1);
  EXPECT_EQ(file_error([&] { TrialStore::create(store, test::fixture_layout(3)); }),
            store + ": already exists (a trial store is never overwritten; resume it instead)");
  EXPECT_EQ(file_error([&] { TrialStore::create(text, test::fixture_layout(3)); }),
            text + ": already exists (a trial store is never overwritten; resume it instead)");
  expect_fixture(read_store(store), 3, 1);
  for (const auto& e : fs::directory_iterator(tmp.dir))  // no temporary files left behind
    EXPECT_EQ(e.path().string().find(".creating"), std::string::npos) << e.path();
}

TEST(TrialStore, RecordsThatDoNotFitAreConfigErrors) {
  TempDir tmp;
  const std::string path = tmp / "store.h5";
  auto store = TrialStore::create(path, test::fixture_layout(4));
  EXPECT_EQ(config_error([&] { store->write(test::fixture_trial(0, 5)); }, "matrices"),
            "matrices: trial 0 has N = 5 (C 6×5, B 6×6, 6 times), the store holds N = 4");
  Baseline b = test::fixture_baseline(0, 3);
  EXPECT_EQ(config_error([&] { store->write_baseline(b); }, "matrices"),
            "matrices: baseline 'dpmsolver++(2M)' has N = 3 (C 4×3, B 4×4, 4 times), the store "
            "holds N = 4");
  TrialRecord t = test::fixture_trial(0, 4);
  t.matrices->schedule = make_schedule("vp-cosine");
  EXPECT_NE(config_error([&] { store->write(t); }, "matrices").find("uses schedule vp-cosine"),
            std::string::npos);
  t = test::fixture_trial(0, 4);
  t.intermediate.emplace_back(100, 1.0);
  EXPECT_EQ(config_error([&] { store->write(t); }, "intermediate"),
            "intermediate: trial 0 reports at 100 samples, which is not one of the store's sample "
            "counts");
  StoreLayout bad_hash = test::fixture_layout(4);
  bad_hash.experiment_hash = std::string(64, '0');
  EXPECT_NE(config_error([&] { TrialStore::create(tmp / "x.h5", bad_hash); }, "experiment_hash")
                .find("is not the SHA-256 of the experiment text"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(tmp / "x.h5"));
  // Nothing was stored by the rejected writes; a good one still goes in.
  store->write(test::fixture_trial(0, 4));
  store.reset();
  const StoreContents s = read_store(path);
  ASSERT_EQ(s.trials.size(), 1u);
  expect_same_trial(test::fixture_trial(0, 4), s.trials[0]);
}

TEST(TrialStore, AStoreWithoutSampleCountsHoldsNoIntermediates) {
  TempDir tmp;
  const std::string path = tmp / "store.h5";
  StoreLayout layout = test::fixture_layout(2);
  layout.sample_counts.clear();
  layout.experiment_hash.clear();  // filled in
  TrialRecord t = test::fixture_trial(0, 2);
  t.intermediate.clear();
  {
    auto store = TrialStore::create(path, layout);
    store->write(t);
  }
  const StoreContents s = read_store(path);
  EXPECT_EQ(s.experiment_hash, sha256_hex(layout.experiment));
  EXPECT_TRUE(s.sample_counts.empty());
  ASSERT_EQ(s.trials.size(), 1u);
  expect_same_trial(t, s.trials[0]);
}

TEST(TrialStore, OneWriteIsFastComparedToATrial) {
  TempDir tmp;
  const int steps = 10, n = 200;
  auto store = TrialStore::create(tmp / "store.h5", test::fixture_layout(steps));
  std::vector<TrialRecord> trials;
  for (int i = 0; i < n; ++i) {
    trials.push_back(test::fixture_trial(i, steps));
    trials.back().state = TrialState::complete;  // all with matrices
    trials.back().matrices = test::fixture_matrices(steps, i);
  }
  std::vector<double> ms;
  for (const TrialRecord& t : trials) {
    const auto t0 = std::chrono::steady_clock::now();
    store->write(t);
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  const double median = ms[ms.size() / 2];
  std::printf("trial store write, N=%d: median %.3f ms, max %.3f ms over %d writes\n", steps,
              median, ms.back(), n);
  RecordProperty("median_write_ms", std::to_string(median));
  EXPECT_LT(median, 50.0);  // a trial takes about a second
}

}  // namespace
