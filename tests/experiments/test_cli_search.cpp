// The experiment commands end to end through the real CLI: search into a store, kill -9 and
// resume to exactly the budget, refusing a changed experiment, Ctrl-C with the resume command,
// status, export and sample.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "samplersearch/experiments/driver.hpp"
#include "samplersearch/experiments/trial_store.hpp"
#include "samplersearch/samplers/matrix_io.hpp"
#include "samplersearch/search/optuna_bridge.hpp"

namespace samplersearch {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string cli() {
  const char* p = std::getenv("SAMPLERSEARCH_CLI");
  return p ? p : "build/samplersearch";
}
std::string python() {
  const char* p = std::getenv("SAMPLERSEARCH_PYTHON");
  return p ? p : "/usr/bin/python3";
}

struct Child {
  pid_t pid = -1;
  int out = -1;  // read end of the child's stdout
  std::string err_path;
};

// Starts the CLI with `args`; stdout to a pipe, stderr to a file.
Child spawn(const std::vector<std::string>& args, const fs::path& dir) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  Child c;
  c.err_path = (dir / ("stderr_" + std::to_string(std::rand()) + ".txt")).string();
  c.pid = fork();
  if (c.pid == 0) {
    setpgid(0, 0);  // its own group, so kill -9 reaches the Optuna bridge too
    dup2(fds[1], STDOUT_FILENO);
    const int err = open(c.err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(err, STDERR_FILENO);
    close(fds[0]);
    std::vector<char*> argv;
    std::string exe = cli();
    argv.push_back(exe.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(exe.c_str(), argv.data());
    _exit(127);
  }
  close(fds[1]);
  c.out = fds[0];
  return c;
}

// Reads the child's stdout line by line until `stop` says so or the pipe closes.
std::string read_until(Child& c, const std::function<bool(const std::string& line)>& stop) {
  std::string all, line;
  char ch;
  while (read(c.out, &ch, 1) == 1) {
    all += ch;
    if (ch != '\n') {
      line += ch;
      continue;
    }
    if (stop && stop(line)) return all;
    line.clear();
  }
  return all;
}

struct Result {
  int code = -1;
  std::string out, err;
};

Result wait_for(Child& c) {
  Result r;
  r.out = read_until(c, nullptr);
  close(c.out);
  int status = 0;
  waitpid(c.pid, &status, 0);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::ifstream err(c.err_path);
  std::stringstream s;
  s << err.rdbuf();
  r.err = s.str();
  return r;
}

Result run(const std::vector<std::string>& args, const fs::path& dir) {
  Child c = spawn(args, dir);
  return wait_for(c);
}

class CliSearch : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("ss_cli_search_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }
  // A small fast experiment: trajectory MSE against a 20-step reference on 1,000 samples of a
  // 2,000-image exact denoiser, 5 steps, random sampler, two trials in flight.
  std::string write_experiment(int trials) {
    const json doc = {
        {"name", "tiny"},
        {"model", {{"data_size", 2000}}},
        {"steps", 5},
        {"metric",
         {{"name", "trajectory_mse"},
          {"params", json::object()},
          {"samples", {500, 1000}},
          {"chunk", 250},
          {"reference", {{"steps", 20}}},
          {"cache", (dir_ / "cache").string()}}},
        {"baselines", {"ddim", "dpmsolver++(2M)", "dpmsolver++(3M)"}},
        {"validation", {{"top", 2}, {"samples", 1000}}},
        {"optuna", {{"sampler", "random"}}},
        {"concurrency", 2},
        {"threads", 1},
        {"budget", {{"trials", trials}}},
        {"output", (dir_ / "tiny.h5").string()},
    };
    const fs::path path = dir_ / "tiny.json";
    std::ofstream(path) << doc.dump(2);
    return path.string();
  }
  std::string store() const { return (dir_ / "tiny.h5").string(); }
  fs::path dir_;
};

// Trials per state in the Optuna study (read with Optuna itself).
json optuna_states(const std::string& db, const std::string& study) {
  const std::string script =
      "import json, optuna, sys\n"
      "optuna.logging.set_verbosity(optuna.logging.ERROR)\n"
      "s = optuna.load_study(study_name=sys.argv[2], storage='sqlite:///' + sys.argv[1])\n"
      "out = {}\n"
      "for t in s.trials:\n"
      "    k = t.state.name + ('/' + t.user_attrs['fail_reason'] if 'fail_reason' in t.user_attrs "
      "else '')\n"
      "    out[k] = out.get(k, 0) + 1\n"
      "print(json.dumps(out))\n";
  const std::string cmd = python() + " -c \"$S\" " + db + " " + study;
  setenv("S", script.c_str(), 1);
  FILE* p = popen(cmd.c_str(), "r");
  std::string text;
  char buf[256];
  while (fgets(buf, sizeof buf, p)) text += buf;
  pclose(p);
  return json::parse(text);
}

TEST_F(CliSearch, KillNineThenResumeEndsExactlyAtTheBudget) {
  const std::string exp = write_experiment(14);
  for (int round = 0; round < 2; ++round) {
    // Kill the search (round 0) and the first resume (round 1) after a few more finished trials.
    const std::vector<std::string> args =
        round == 0 ? std::vector<std::string>{"search", exp, "--json"}
                   : std::vector<std::string>{"resume", store(), "--json"};
    Child c = spawn(args, dir_);
    int seen = 0;
    read_until(c, [&](const std::string& line) {
      return json::parse(line).value("event", "") == "trial" && ++seen == 4;
    });
    kill(-c.pid, SIGKILL);
    const Result killed = wait_for(c);
    ASSERT_EQ(killed.code, 128 + SIGKILL) << killed.err;
    // The file is intact and holds at least the trials reported before the kill.
    const StoreContents after_kill = read_store(store());
    EXPECT_GE(counted_trials(after_kill), 4 * (round + 1));
    EXPECT_LT(counted_trials(after_kill), 14);
  }
  const Result resumed = run({"resume", store(), "--json"}, dir_);
  ASSERT_EQ(resumed.code, 0) << resumed.out << resumed.err;

  const StoreContents c = read_store(store());
  EXPECT_EQ(counted_trials(c), 14);
  std::set<int> numbers;
  int interrupted = 0;
  for (const TrialRecord& r : c.trials) {
    EXPECT_TRUE(numbers.insert(r.number).second) << "trial " << r.number << " stored twice";
    if (r.state == TrialState::fail) {
      EXPECT_EQ(r.reason, kInterruptedReason);
      ++interrupted;
    } else {
      EXPECT_EQ(r.state, TrialState::complete);
      ASSERT_TRUE(r.matrices.has_value());
      EXPECT_EQ(r.intermediate.size(), 2u);
    }
  }
  EXPECT_EQ(static_cast<int>(c.trials.size()), 14 + interrupted);
  EXPECT_EQ(*std::max_element(numbers.begin(), numbers.end()), static_cast<int>(numbers.size()) - 1)
      << "trial numbers are 0…n−1 without gaps";
  // Optuna agrees: 14 COMPLETE, the interrupted ones FAIL with the reason, nothing RUNNING.
  const json states = optuna_states((dir_ / "tiny.optuna.db").string(), "tiny");
  EXPECT_EQ(states.value("COMPLETE", 0), 14) << states.dump();
  EXPECT_EQ(states.value("FAIL/interrupted", 0), interrupted) << states.dump();
  EXPECT_FALSE(states.contains("RUNNING")) << states.dump();
  // The baselines were measured once each, and the two best trials re-measured on unseen noise.
  EXPECT_EQ(c.baselines.size(), 3u);
  EXPECT_EQ(c.validations.size(), 2u);

  // Resuming a finished experiment runs nothing more.
  const Result again = run({"resume", store(), "--quiet"}, dir_);
  EXPECT_EQ(again.code, 0) << again.err;
  EXPECT_EQ(read_store(store()).trials.size(), c.trials.size());
}

// A bridge that dies after Optuna created a trial but before answering `ask` (here: a wrapper
// around the real bridge that exits at its third ask) is restarted and the ask retried, which
// leaves the first trial RUNNING in the study and in no store row. The search says so on stderr,
// finishes at exactly the budget, and ends with that orphan FAIL "interrupted" in both the study
// and the store: nothing RUNNING, numbers 0…n−1.
TEST_F(CliSearch, BridgeDyingBeforeAnsweringAskLeavesNothingRunning) {
  const std::string exp = write_experiment(5);
  const fs::path wrapper = dir_ / "dying_bridge.py";
  std::ofstream(wrapper) << "import json, os, subprocess, sys\n"
                            "p = subprocess.Popen([sys.executable, os.environ['REAL_BRIDGE']],\n"
                            "                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)\n"
                            "asks = 0\n"
                            "for line in sys.stdin.buffer:\n"
                            "    p.stdin.write(line)\n"
                            "    p.stdin.flush()\n"
                            "    answer = p.stdout.readline()\n"
                            "    if json.loads(line).get('op') == 'ask':\n"
                            "        asks += 1\n"
                            "        if asks == 3 and not os.path.exists(os.environ['DIED']):\n"
                            "            open(os.environ['DIED'], 'w').close()\n"
                            "            p.kill()\n"
                            "            os._exit(3)\n"
                            "    sys.stdout.buffer.write(answer)\n"
                            "    sys.stdout.buffer.flush()\n";
  setenv("REAL_BRIDGE", default_bridge_script().c_str(), 1);
  setenv("DIED", (dir_ / "died").c_str(), 1);
  setenv("SAMPLERSEARCH_OPTUNA_BRIDGE", wrapper.c_str(), 1);
  const Result r = run({"search", exp, "--json"}, dir_);
  unsetenv("SAMPLERSEARCH_OPTUNA_BRIDGE");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  ASSERT_TRUE(fs::exists(dir_ / "died")) << "the wrapper never died";
  EXPECT_NE(r.err.find("samplersearch: warning: the Optuna bridge failed (ask: bridge process"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("exited with status 3); restarted it, re-opened the study from its "
                       "storage and retried the request"),
            std::string::npos)
      << r.err;

  const json states = optuna_states((dir_ / "tiny.optuna.db").string(), "tiny");
  EXPECT_EQ(states.value("COMPLETE", 0), 5) << states.dump();
  EXPECT_EQ(states.value("FAIL/interrupted", 0), 1) << states.dump();
  EXPECT_FALSE(states.contains("RUNNING")) << states.dump();
  const StoreContents c = read_store(store());
  EXPECT_EQ(counted_trials(c), 5);
  ASSERT_EQ(c.trials.size(), 6u);
  std::set<int> numbers;
  for (const TrialRecord& t : c.trials) {
    numbers.insert(t.number);
    if (t.state == TrialState::fail) {
      EXPECT_EQ(t.reason, kInterruptedReason);
    }
  }
  EXPECT_EQ(numbers, (std::set<int>{0, 1, 2, 3, 4, 5}));
}

// A missing bridge program is found before anything is written: exit 3 naming it, no store.
// A search killed between creating its store and its Optuna study (here: a stand-in bridge that
// answers "hello" and then never answers create_study, and kill -9 once the store exists) leaves a
// store without trials or study; `resume` creates the study and runs the whole budget.
TEST_F(CliSearch, ResumeOfAStoreWhoseStudyWasNeverCreated) {
  const std::string exp = write_experiment(3);
  setenv("SAMPLERSEARCH_OPTUNA_BRIDGE", "/nonexistent/optuna_bridge.py", 1);
  const Result missing = run({"search", exp, "--quiet"}, dir_);
  unsetenv("SAMPLERSEARCH_OPTUNA_BRIDGE");
  EXPECT_EQ(missing.code, 3);
  EXPECT_NE(missing.err.find("samplersearch: error: /nonexistent/optuna_bridge.py: Optuna bridge "
                             "program not found (set SAMPLERSEARCH_OPTUNA_BRIDGE)"),
            std::string::npos)
      << missing.err;
  EXPECT_FALSE(fs::exists(store()));

  const fs::path silent = dir_ / "silent_bridge.py";
  std::ofstream(silent) << "import json, sys\n"
                           "req = json.loads(sys.stdin.readline())\n"
                           "print(json.dumps({'id': req['id'], 'ok': True, 'protocol': 1}), "
                           "flush=True)\n"
                           "sys.stdin.read()  # until the search is gone\n";
  setenv("SAMPLERSEARCH_OPTUNA_BRIDGE", silent.c_str(), 1);
  Child c = spawn({"search", exp, "--quiet"}, dir_);
  unsetenv("SAMPLERSEARCH_OPTUNA_BRIDGE");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!fs::exists(store()) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // past the store's first flush
  kill(c.pid, SIGKILL);
  wait_for(c);
  ASSERT_TRUE(fs::exists(store()));
  EXPECT_TRUE(read_store(store()).trials.empty());
  EXPECT_FALSE(fs::exists(dir_ / "tiny.optuna.db"));

  const Result resumed = run({"resume", store(), "--quiet"}, dir_);
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_EQ(counted_trials(read_store(store())), 3);
  EXPECT_EQ(optuna_states((dir_ / "tiny.optuna.db").string(), "tiny").value("COMPLETE", 0), 3);
}

// validation.top = 0 re-measures nothing on the unseen noise, the baselines neither: their
// unseen-noise values are stored as NaN and not printed.
TEST_F(CliSearch, TopZeroReMeasuresNothing) {
  const std::string exp = write_experiment(2);
  const Result r = run({"search", exp, "--set", "validation.top=0"}, dir_);
  ASSERT_EQ(r.code, 0) << r.err;
  const StoreContents c = read_store(store());
  ASSERT_EQ(c.baselines.size(), 3u);
  for (const Baseline& b : c.baselines) {
    EXPECT_TRUE(std::isfinite(b.value)) << b.label;
    EXPECT_TRUE(std::isnan(b.validation)) << b.label << ": " << b.validation;
  }
  EXPECT_TRUE(c.validations.empty());
  EXPECT_NE(r.out.find("baseline ddim"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("unseen noise"), std::string::npos) << r.out;
}

TEST_F(CliSearch, ResumeRefusesAChangedExperimentUnlessForced) {
  const std::string exp = write_experiment(3);
  ASSERT_EQ(run({"search", exp, "--quiet"}, dir_).code, 0);
  const Result refused = run({"resume", store(), "--set", "budget.trials=5"}, dir_);
  EXPECT_EQ(refused.code, 2);
  EXPECT_NE(refused.err.find("budget.trials: 3 → 5"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("--force"), std::string::npos) << refused.err;
  EXPECT_EQ(read_store(store()).trials.size(), 3u);  // nothing touched

  // The same through an edited file.
  json doc = json::parse(std::ifstream(exp));
  doc["optuna"]["sigma0"] = 0.3;
  std::ofstream((dir_ / "edited.json")) << doc.dump();
  const Result refused_file =
      run({"resume", store(), "--experiment", (dir_ / "edited.json").string()}, dir_);
  EXPECT_EQ(refused_file.code, 2);
  EXPECT_NE(refused_file.err.find("optuna.sigma0: 0.1 → 0.3"), std::string::npos)
      << refused_file.err;

  const Result forced =
      run({"resume", store(), "--set", "budget.trials=5", "--force", "--quiet"}, dir_);
  EXPECT_EQ(forced.code, 0) << forced.err;
  EXPECT_EQ(counted_trials(read_store(store())), 5);
  // The forced revision is kept: a plain resume neither reverts to 3 nor refuses, status shows 5.
  const Result plain = run({"resume", store(), "--quiet"}, dir_);
  EXPECT_EQ(plain.code, 0) << plain.err;
  EXPECT_EQ(counted_trials(read_store(store())), 5);
  EXPECT_EQ(json::parse(run({"status", store(), "--json"}, dir_).out)["budget"], 5);

  // Steps cannot change even with --force.
  const Result steps = run({"resume", store(), "--set", "steps=6", "--force"}, dir_);
  EXPECT_EQ(steps.code, 2);
  EXPECT_NE(steps.err.find("cannot change on resume"), std::string::npos) << steps.err;
}

TEST_F(CliSearch, InterruptPrintsTheResumeCommand) {
  const std::string exp = write_experiment(1000);
  Child c = spawn({"search", exp, "--json"}, dir_);
  int seen = 0;
  read_until(c, [&](const std::string& line) {
    return json::parse(line).value("event", "") == "trial" && ++seen == 2;
  });
  kill(c.pid, SIGINT);
  const Result r = wait_for(c);
  EXPECT_EQ(r.code, 130) << r.err;
  EXPECT_NE(r.out.find("\"resume\":\"samplersearch resume " + store() + "\""), std::string::npos)
      << r.out;
  const StoreContents contents = read_store(store());
  EXPECT_GE(counted_trials(contents), 2);
  EXPECT_LT(counted_trials(contents), 1000);
}

TEST_F(CliSearch, StatusExportAndSample) {
  const std::string exp = write_experiment(4);
  const Result searched = run({"search", exp}, dir_);  // plain output (not a terminal)
  ASSERT_EQ(searched.code, 0) << searched.err;
  EXPECT_NE(searched.out.find("trial    0 COMPLETE dpmsolver++(2M)"), std::string::npos)
      << searched.out;
  EXPECT_NE(searched.out.find("samplersearch report " + store()), std::string::npos)
      << searched.out;

  const StoreContents c = read_store(store());
  const Result status = run({"status", store(), "--json"}, dir_);
  ASSERT_EQ(status.code, 0) << status.err;
  const json s = json::parse(status.out);
  EXPECT_EQ(s["counted"], 4);
  EXPECT_EQ(s["budget"], 4);
  EXPECT_EQ(s["by_state"]["COMPLETE"], 4);
  double best = 1e300;
  int best_trial = -1;
  for (const TrialRecord& r : c.trials)
    if (r.value && *r.value < best) best = *r.value, best_trial = r.number;
  EXPECT_EQ(s["best"]["trial"], best_trial);
  EXPECT_DOUBLE_EQ(s["best"]["value"].get<double>(), best);
  // The winner: the best re-scored of the two best in-sample trials (validation.top = 2).
  ASSERT_EQ(c.validations.size(), 2u);
  int winner = -1;
  for (const auto& [trial, v] : c.validations)
    if (winner < 0 || v < c.validations.at(winner)) winner = trial;
  EXPECT_EQ(s["rescored"], 2);
  EXPECT_EQ(s["winner"]["trial"], winner);
  EXPECT_DOUBLE_EQ(s["winner"]["rescored"].get<double>(), c.validations.at(winner));

  const Result text = run({"status", store()}, dir_);
  EXPECT_NE(text.out.find("4 of 4 (100%) counted"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("winner      trial " + std::to_string(winner)), std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("(unseen noise; best of 2 re-scored; in-sample"), std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("marginal coeff"), std::string::npos) << text.out;

  // export json: the winner's matrices and every baseline's, loadable unchanged.
  const Result exported =
      run({"export", store(), "--format", "json", "--out", (dir_ / "export").string()}, dir_);
  ASSERT_EQ(exported.code, 0) << exported.err;
  std::vector<std::string> files;
  std::istringstream lines(exported.out);
  for (std::string line; std::getline(lines, line);) files.push_back(line);
  ASSERT_EQ(files.size(), 1u + c.baselines.size()) << exported.out;
  const Matrices first = read_matrices(files[0]);
  for (const TrialRecord& r : c.trials)
    if (r.number == winner) {
      EXPECT_EQ(first.signal, r.matrices->signal);
      EXPECT_EQ(first.noise, r.matrices->noise);
      EXPECT_EQ(first.times, r.matrices->times);
    }

  const Result md = run({"export", store(), "--format", "markdown"}, dir_);
  EXPECT_EQ(md.code, 0) << md.err;
  EXPECT_NE(md.out.find("dpmsolver++(3M)"), std::string::npos) << md.out;
  const Result bad = run({"export", store(), "--format", "docx"}, dir_);
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("unknown name 'docx'"), std::string::npos) << bad.err;

  // sample: the exported file drives the engine; a PNG grid and uint8 images come out.
  const Result png =
      run({"sample", "--matrix", files[0], "--samples", "16", "--out", (dir_ / "g.png").string()},
          dir_);
  ASSERT_EQ(png.code, 0) << png.err;
  EXPECT_GT(fs::file_size(dir_ / "g.png"), 100u);
  const Result h5 = run(
      {"sample", "--matrix", files[0], "--samples", "8", "--out", (dir_ / "s.h5").string()}, dir_);
  ASSERT_EQ(h5.code, 0) << h5.err;

  // report: the page and both sample grids (rendering is checked in test_report).
  const Result report =
      run({"report", store(), "--out", (dir_ / "report").string(), "--samples", "9"}, dir_);
  ASSERT_EQ(report.code, 0) << report.err;
  EXPECT_EQ(report.out, (dir_ / "report" / "index.html").string() + "\n");
  std::ifstream html(dir_ / "report" / "index.html");
  std::stringstream page;
  page << html.rdbuf();
  EXPECT_NE(page.str().find("tiny"), std::string::npos);
  EXPECT_NE(page.str().find("<th>re-scored (unseen)</th>"), std::string::npos);
  EXPECT_NE(page.str().find("<th>winner</th>"), std::string::npos);
  int pngs = 0;
  for (const auto& f : fs::directory_iterator(dir_ / "report"))
    pngs += f.path().extension() == ".png";
  EXPECT_EQ(pngs, 2);

  // A second search into the same store is refused and loses nothing.
  const Result twice = run({"search", exp}, dir_);
  EXPECT_EQ(twice.code, 3);
  EXPECT_NE(twice.err.find("exists already: continue it with 'samplersearch resume"),
            std::string::npos)
      << twice.err;
  EXPECT_EQ(read_store(store()).trials.size(), c.trials.size());
}

// --seeds: one store per search seed, the spread of the winners' re-scored ratios, and the same
// command again resumes (here: finds every seed finished and runs nothing more).
TEST_F(CliSearch, SeedsRunOneStorePerSeedAndReportTheSpread) {
  const std::string exp = write_experiment(2);
  const Result r = run({"search", exp, "--seeds", "2", "--set", "seed=5", "--json"}, dir_);
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  json spread;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);)
    if (json j = json::parse(line); j.value("event", "") == "spread") spread = j;
  ASSERT_TRUE(spread.is_object()) << r.out;
  ASSERT_EQ(spread["runs"].size(), 2u);
  std::vector<double> ratios;
  for (int k = 0; k < 2; ++k) {
    const std::string path = (dir_ / ("tiny-seed" + std::to_string(5 + k) + ".h5")).string();
    const StoreContents c = read_store(path);
    const json stored = json::parse(c.experiment);
    EXPECT_EQ(stored["seed"], 5 + k);
    EXPECT_EQ(stored["name"], "tiny-seed" + std::to_string(5 + k));
    EXPECT_EQ(counted_trials(c), 2);
    // The ratio from the store by hand: best re-scored trial over dpmsolver++(2M) on unseen noise.
    double best = 1e300;
    int winner = -1;
    for (const auto& [trial, v] : c.validations)
      if (v < best) best = v, winner = trial;
    double dpm = 0;
    for (const Baseline& b : c.baselines)
      if (b.label == "dpmsolver++(2M)") dpm = b.validation;
    const json& row = spread["runs"][static_cast<size_t>(k)];
    EXPECT_EQ(row["seed"], 5 + k);
    EXPECT_EQ(row["store"], path);
    EXPECT_EQ(row["winner"], winner);
    EXPECT_DOUBLE_EQ(row["ratio"].get<double>(), best / dpm);
    ratios.push_back(best / dpm);
  }
  EXPECT_DOUBLE_EQ(spread["median"].get<double>(), 0.5 * (ratios[0] + ratios[1]));
  EXPECT_DOUBLE_EQ(spread["min"].get<double>(), std::min(ratios[0], ratios[1]));
  EXPECT_DOUBLE_EQ(spread["max"].get<double>(), std::max(ratios[0], ratios[1]));
  // The two searches draw their own noise: the same warm start (trial 0) scores differently.
  const StoreContents s5 = read_store((dir_ / "tiny-seed5.h5").string()),
                      s6 = read_store((dir_ / "tiny-seed6.h5").string());
  const auto trial0 = [](const StoreContents& c) {
    return *std::find_if(c.trials.begin(), c.trials.end(),
                         [](const TrialRecord& t) { return t.number == 0; });
  };
  EXPECT_EQ(trial0(s5).warm_start, "dpmsolver++(2M)");
  EXPECT_EQ(trial0(s6).warm_start, "dpmsolver++(2M)");
  EXPECT_NE(*trial0(s5).value, *trial0(s6).value);

  const Result again = run({"search", exp, "--seeds", "2", "--set", "seed=5"}, dir_);
  EXPECT_EQ(again.code, 0) << again.err;
  EXPECT_NE(again.out.find("median"), std::string::npos) << again.out;
  EXPECT_EQ(read_store((dir_ / "tiny-seed5.h5").string()).trials.size(), 2u);
  // A seed store holding another experiment is refused, naming it.
  const Result other =
      run({"search", exp, "--seeds", "1", "--set", "seed=5", "--trials", "3"}, dir_);
  EXPECT_EQ(other.code, 2);
  EXPECT_NE(other.err.find("tiny-seed5.h5 holds another experiment"), std::string::npos)
      << other.err;
  EXPECT_NE(other.err.find("budget.trials: 2 → 3"), std::string::npos) << other.err;
  const Result zero = run({"search", exp, "--seeds", "0"}, dir_);
  EXPECT_EQ(zero.code, 2);
  EXPECT_NE(zero.err.find("--seeds: must be >= 1, got 0"), std::string::npos) << zero.err;
}

TEST_F(CliSearch, BadExperimentFileNamesTheField) {
  std::ofstream(dir_ / "bad.json") << R"({"metric": {"samples": [1000, 1100]}})";
  const Result r = run({"search", (dir_ / "bad.json").string()}, dir_);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find((dir_ / "bad.json").string() +
                       ": metric.samples: sample counts must be whole multiples"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(store()));
}

}  // namespace
}  // namespace samplersearch
