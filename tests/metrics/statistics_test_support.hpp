#pragma once
// Helpers shared by the statistics / Fréchet-distance tests: environment, temporary folders,
// running the Python references and the CLI, relative errors.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace samplersearch::testing_support {

inline std::string env_or_fail(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr) ADD_FAILURE() << name << " is not set (run through ctest)";
  return value == nullptr ? std::string() : std::string(value);
}

// A fresh folder under the system temp folder, removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = std::filesystem::temp_directory_path() /
            ("ss_statistics_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Single-quoted for /bin/sh.
inline std::string quoted(const std::string& s) { return "'" + s + "'"; }

// One OpenMP/OpenBLAS thread for the Python side: ctest runs two tests at once on two cores, and
// spinning OpenMP threads on an oversubscribed machine made SciPy's 2048-d sqrtm 10× slower.
inline const std::string kPythonEnvironment = "OMP_NUM_THREADS=1 ";

// Runs a script of tests/metrics/ with the project's Python; returns the exit status.
inline int run_python(const std::string& script, const std::string& arguments) {
  const std::string command =
      kPythonEnvironment + quoted(env_or_fail("SAMPLERSEARCH_PYTHON")) + " " +
      quoted(env_or_fail("SAMPLERSEARCH_SOURCE_DIR") + "/tests/metrics/" + script) + " " +
      arguments;
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Runs inline Python code (passed through a file); returns the exit status.
inline int run_python_code(const TempDir& dir, const std::string& code) {
  const std::string script = dir.file("snippet.py");
  FILE* f = std::fopen(script.c_str(), "w");
  if (f == nullptr) return -1;
  std::fputs(code.c_str(), f);
  std::fclose(f);
  const std::string command =
      kPythonEnvironment + quoted(env_or_fail("SAMPLERSEARCH_PYTHON")) + " " + quoted(script);
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Output (stdout and stderr together) and exit code of a shell command.
struct CommandResult {
  std::string output;
  int exit_code = -1;
};

inline CommandResult run_command(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer{};
  size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
    result.output.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// max |a − b| / max |b| (b the reference), for tensors of the same shape.
inline double relative_error(const at::Tensor& a, const at::Tensor& b) {
  const double scale = b.abs().max().item<double>();
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>() /
         std::max(scale, 1e-300);
}

inline double relative_error(double a, double b) {
  return std::abs(a - b) / std::max(std::abs(b), 1e-300);
}

}  // namespace samplersearch::testing_support
