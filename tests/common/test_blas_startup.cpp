// End to end: the CLI's one "blas:" line names the core OpenBLAS really runs, as a fresh process
// that only loads OpenBLAS (openblas_core) reports for the same OPENBLAS_CORETYPE.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <regex>
#include <string>

#include "samplersearch/common/cpu_kernels.hpp"

namespace samplersearch {
namespace {

struct Shell {
  int code = -1;
  std::string out;
};

// `command` through /bin/sh; stdout (and whatever the command redirects there) captured.
Shell run(const std::string& command) {
  Shell r;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return r;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) r.out.append(buffer, n);
  const int status = ::pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// A clean environment for the start-up variables plus `assignments` ("A=1 B=2").
std::string env_prefix(const std::string& assignments) {
  return "env -u OPENBLAS_CORETYPE -u SAMPLERSEARCH_BLAS_CORETYPE -u SAMPLERSEARCH_BLAS_RESTART "
         "-u OMP_WAIT_POLICY -u GOMP_SPINCOUNT " +
         assignments + " ";
}

// The CLI's stderr lines starting with "blas:" and the core named in the first one.
struct BlasLine {
  int count = 0;
  std::string line, core;
};
BlasLine cli_blas_line(const std::string& assignments) {
  const char* cli = std::getenv("SAMPLERSEARCH_CLI");
  const Shell r = run(env_prefix(assignments) + "'" +
                      std::string(cli ? cli : "build/samplersearch") + "' --help 2>&1 >/dev/null");
  EXPECT_EQ(r.code, 0) << r.out;
  BlasLine b;
  size_t start = 0;
  while (start < r.out.size()) {
    const size_t end = r.out.find('\n', start);
    const std::string line = r.out.substr(start, end - start);
    if (line.rfind("blas:", 0) == 0 && b.count++ == 0) b.line = line;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  std::smatch m;
  if (std::regex_search(b.line, m, std::regex("^blas: OpenBLAS core (\\S+)"))) b.core = m[1];
  return b;
}

std::string fresh_core(const std::string& assignments) {
  std::string out = run(env_prefix(assignments) + SAMPLERSEARCH_OPENBLAS_CORE).out;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

TEST(BlasStartup, LineNamesTheCoreOpenblasRuns) {
  const std::string detected = fresh_core("");
  if (detected == "none") GTEST_SKIP() << "libopenblas.so.0 not loadable";
  const BlasLine b = cli_blas_line("");
  EXPECT_EQ(b.count, 1) << b.line;
  ASSERT_FALSE(b.core.empty()) << b.line;
  // A fresh process told to run that core runs it: the name is one OpenBLAS itself reports.
  EXPECT_EQ(fresh_core("OPENBLAS_CORETYPE=" + b.core), b.core);
  // And it is the tier this CPU supports: changed only when OpenBLAS detected a lower one.
  const KernelTier best = best_kernel_tier(read_cpu_features());
  const OpenblasCore* d = find_openblas_core(detected);
  if (d != nullptr && d->tier < best) {
    EXPECT_EQ(b.core, core_for_tier(best)) << b.line;
    EXPECT_NE(b.line.find("detected " + detected), std::string::npos) << b.line;
    EXPECT_NE(b.line.find("start-up GEMM checked"), std::string::npos) << b.line;
  } else {
    EXPECT_EQ(b.core, detected) << b.line;
  }
}

TEST(BlasStartup, OffKeepsTheDetectedCore) {
  const std::string detected = fresh_core("");
  if (detected == "none") GTEST_SKIP() << "libopenblas.so.0 not loadable";
  const BlasLine b = cli_blas_line("SAMPLERSEARCH_BLAS_CORETYPE=off");
  EXPECT_EQ(b.count, 1);
  EXPECT_EQ(b.line,
            "blas: OpenBLAS core " + detected + " (as detected; SAMPLERSEARCH_BLAS_CORETYPE=off)");
}

TEST(BlasStartup, UserValueIsKept) {
  if (fresh_core("") == "none") GTEST_SKIP() << "libopenblas.so.0 not loadable";
  const std::string prescott = fresh_core("OPENBLAS_CORETYPE=Prescott");
  ASSERT_EQ(prescott, "Prescott");
  const BlasLine b = cli_blas_line("OPENBLAS_CORETYPE=Prescott");
  const std::string best(core_for_tier(best_kernel_tier(read_cpu_features())));
  std::string expected =
      "blas: OpenBLAS core Prescott (OPENBLAS_CORETYPE=Prescott set by the user, left as is";
  expected += best.empty() ? ")" : "; unset it for " + best;
  EXPECT_EQ(b.line.substr(0, expected.size()), expected) << b.line;
}

TEST(BlasStartup, NamedCoreIsUsedAndChecked) {
  const std::string detected = fresh_core("");
  if (detected == "none") GTEST_SKIP() << "libopenblas.so.0 not loadable";
  // Prescott runs on every x86-64 CPU; ask for it by name unless it is what runs anyway.
  if (detected == "Prescott") GTEST_SKIP() << "OpenBLAS already runs Prescott";
  const BlasLine b = cli_blas_line("SAMPLERSEARCH_BLAS_CORETYPE=prescott");
  EXPECT_EQ(b.line, "blas: OpenBLAS core Prescott (detected " + detected +
                        "; SAMPLERSEARCH_BLAS_CORETYPE=prescott; SAMPLERSEARCH_BLAS_CORETYPE=off "
                        "to keep " +
                        detected + "; start-up GEMM checked)");
}

TEST(BlasStartup, BadChoiceExitsWithUsageStatus) {
  const char* cli = std::getenv("SAMPLERSEARCH_CLI");
  const Shell r = run(env_prefix("SAMPLERSEARCH_BLAS_CORETYPE=fastest") + "'" +
                      std::string(cli ? cli : "build/samplersearch") + "' --help 2>&1 >/dev/null");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.out.rfind("samplersearch: error: SAMPLERSEARCH_BLAS_CORETYPE: 'fastest' is not "
                        "auto, off or an OpenBLAS core name (",
                        0),
            0u)
      << r.out;
}

}  // namespace
}  // namespace samplersearch
