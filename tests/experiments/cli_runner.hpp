#pragma once
// Running commands from the experiments tests: a shell command with its output and exit status,
// and the built samplersearch CLI (SAMPLERSEARCH_CLI, set by ctest) run as a user would.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace samplersearch::test {

// A finished command: its exit status (-1 when it did not exit normally) and what it printed.
struct CliRun {
  int status;
  std::string out;
};

// Runs `cmd` through the shell, capturing its stdout.
inline CliRun run_shell(const std::string& cmd) {
  FILE* pipe = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 65536> buf{};
  while (size_t n = fread(buf.data(), 1, buf.size(), pipe)) out.append(buf.data(), n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// Runs the CLI with `args`, capturing stdout and stderr together. The start-up "blas: ..." line
// on stderr (tested in tests/common) is not the command's output and is dropped.
inline CliRun cli(const std::string& args) {
  const char* exe = std::getenv("SAMPLERSEARCH_CLI");
  EXPECT_NE(exe, nullptr) << "SAMPLERSEARCH_CLI is not set (run through ctest)";
  CliRun r = run_shell(std::string(exe ? exe : "samplersearch") + " " + args + " 2>&1");
  if (r.out.rfind("blas: ", 0) == 0) r.out.erase(0, r.out.find('\n') + 1);
  return r;
}

// The Python with h5py and Optuna (SAMPLERSEARCH_PYTHON, set by ctest).
inline std::string python() {
  const char* p = std::getenv("SAMPLERSEARCH_PYTHON");
  return p && *p ? p : "/usr/bin/python3";
}

}  // namespace samplersearch::test
