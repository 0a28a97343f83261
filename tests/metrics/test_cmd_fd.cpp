// `samplersearch fd A.h5 B.h5` (experiments/cli/cmd_fd.cpp), run as a process: the printed
// number against the closed form for diagonal covariances, and the exit codes of bad calls.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "samplersearch/metrics/statistics.hpp"
#include "samplersearch/metrics/statistics_file.hpp"
#include "statistics_test_support.hpp"

namespace samplersearch {
namespace {

using testing_support::env_or_fail;
using testing_support::quoted;
using testing_support::relative_error;
using testing_support::run_command;
using testing_support::TempDir;

// The closed form against LAPACK and a 15-digit printout of an O(10) number.
constexpr double kPrintedTol = 1e-12;

std::string last_line(const std::string& text) {
  std::string t = text;
  while (!t.empty() && t.back() == '\n') t.pop_back();
  const size_t nl = t.rfind('\n');
  return nl == std::string::npos ? t : t.substr(nl + 1);
}

std::string cli() { return quoted(env_or_fail("SAMPLERSEARCH_CLI")); }

TEST(CmdFd, PrintsTheDistanceOnTheLastLine) {
  TempDir dir;
  // Diagonal Σ's: FD = ‖μ₁ − μ₂‖² + Σ (√a_i − √b_i)² = (1 + 4) + (1 + 1 + 0) = 7.
  Statistics a{at::tensor({0.0, 0.0, 1.0}, at::kDouble),
               at::diag(at::tensor({1.0, 4.0, 9.0}, at::kDouble)), 10, "a"};
  Statistics b{at::tensor({1.0, 2.0, 1.0}, at::kDouble),
               at::diag(at::tensor({4.0, 1.0, 9.0}, at::kDouble)), 10, "b"};
  write_statistics(dir.file("a.h5"), a);
  write_statistics(dir.file("b.h5"), b);
  const auto result =
      run_command(cli() + " fd " + quoted(dir.file("a.h5")) + " " + quoted(dir.file("b.h5")));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const double printed = std::stod(last_line(result.output));
  EXPECT_LE(relative_error(printed, 7.0), kPrintedTol) << result.output;
}

TEST(CmdFd, BadCallsExitWithTheDocumentedCodes) {
  TempDir dir;
  write_statistics(dir.file("a.h5"),
                   Statistics{at::zeros({2}, at::kDouble), at::eye(2, at::kDouble), 0, ""});
  write_statistics(dir.file("c.h5"),
                   Statistics{at::zeros({3}, at::kDouble), at::eye(3, at::kDouble), 0, ""});
  auto one = run_command(cli() + " fd " + quoted(dir.file("a.h5")));
  EXPECT_EQ(one.exit_code, 2) << one.output;
  EXPECT_NE(one.output.find("fd: expects exactly two statistics files (fd A.h5 B.h5), got 1"),
            std::string::npos)
      << one.output;
  auto missing =
      run_command(cli() + " fd " + quoted(dir.file("a.h5")) + " " + quoted(dir.file("missing.h5")));
  EXPECT_EQ(missing.exit_code, 3) << missing.output;
  EXPECT_NE(missing.output.find(dir.file("missing.h5") + ": no such file"), std::string::npos)
      << missing.output;
  auto mismatch =
      run_command(cli() + " fd " + quoted(dir.file("a.h5")) + " " + quoted(dir.file("c.h5")));
  EXPECT_EQ(mismatch.exit_code, 2) << mismatch.output;
  EXPECT_NE(mismatch.output.find("has d = 3 but"), std::string::npos) << mismatch.output;
  auto flag = run_command(cli() + " fd --bogus 1 " + quoted(dir.file("a.h5")) + " " +
                          quoted(dir.file("a.h5")));
  EXPECT_EQ(flag.exit_code, 2) << flag.output;
  auto help = run_command(cli() + " fd --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.output.find("usage: samplersearch fd A.h5 B.h5"), std::string::npos);
}

}  // namespace
}  // namespace samplersearch
