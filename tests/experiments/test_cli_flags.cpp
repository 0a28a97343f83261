// Every command's flags come from its CLI11 declarations (experiments/cli/): --help lists them,
// an unknown flag is an error naming it, and a bad value is an error naming the flag -- all before
// the command does any work. Run as a user would (the built samplersearch).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "cli_runner.hpp"
#include "samplersearch/experiments/cli.hpp"

namespace {

using samplersearch::test::cli;
using samplersearch::test::CliRun;

// The flags each command is used with (README.md and the other CLI tests), written out here
// independently of the declarations.
const std::map<std::string, std::vector<std::string>> kDocumentedFlags = {
    {"matrices",
     {"--solver", "--steps", "--schedule", "--order", "--method", "--lower-order-final",
      "--variant", "--predict", "--eta", "--gamma", "--delta", "--rho", "--discretization",
      "--timesteps", "--t-start", "--t-end", "--format", "--batch"}},
    {"marginals", {"--solver", "--steps", "--schedule", "--order", "--discretization"}},
    {"convert", {"--schedule", "--discretization", "--t-start", "--t-end", "--t0"}},
    {"search",
     {"--set", "--seeds", "--quiet", "--json", "--name", "--steps", "--trials", "--timeout",
      "--metric", "--samples", "--storage", "--out"}},
    {"resume", {"--experiment", "--force", "--set", "--quiet", "--json"}},
    {"status", {"--json"}},
    {"export", {"--format", "--top", "--out"}},
    {"report", {"--out", "--samples"}},
    {"evaluate", {"--matrix", "--classic", "--experiment", "--samples", "--seed", "--set"}},
    {"sample",
     {"--model", "--experiment", "--solver", "--matrix", "--steps", "--samples", "--seed",
      "--chunk", "--out"}},
    {"features", {"--inception", "--images", "--out", "--batch-size", "--device", "--threads"}},
    {"fd", {}},
};

TEST(CliFlags, EachCommandsHelpListsItsFlags) {
  for (const samplersearch::cli::Command& c : samplersearch::cli::command_registry()) {
    const std::string name(c.name);
    ASSERT_TRUE(kDocumentedFlags.count(name)) << "no documented flags listed for " << name;
    const CliRun r = cli(name + " --help");
    EXPECT_EQ(r.status, 0) << name << ": " << r.out;
    EXPECT_EQ(r.out.rfind("usage: samplersearch " + name + " ", 0), 0u) << r.out;
    for (const std::string& flag : kDocumentedFlags.at(name))
      EXPECT_NE(r.out.find("  " + flag + " "), std::string::npos) << name << " " << flag << r.out;
  }
  // The solver list in --solver's help comes from the solver registry.
  EXPECT_NE(cli("matrices --help").out.find("dpmsolver++"), std::string::npos);
}

TEST(CliFlags, AnUnknownFlagIsAnErrorNamingIt) {
  for (const samplersearch::cli::Command& c : samplersearch::cli::command_registry()) {
    const std::string name(c.name);
    CliRun r = cli(name + " --no-such-flag 1");
    EXPECT_EQ(r.status, 2) << name << ": " << r.out;
    EXPECT_NE(r.out.find("samplersearch: error: --no-such-flag: is not a flag of '" + name + "'"),
              std::string::npos)
        << r.out;
    r = cli(name + " --no-such-flag=1");
    EXPECT_EQ(r.status, 2) << name << ": " << r.out;
    EXPECT_NE(r.out.find("--no-such-flag: is not a flag of '" + name + "'"), std::string::npos)
        << r.out;
  }
}

TEST(CliFlags, ABadValueNamesTheFlag) {
  const std::string m = "matrices --solver dpmsolver++ --schedule vp-linear ";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {m + "--steps ten", "--steps: expected an integer, got 'ten'"},
      {m + "--steps 10 --eta x", "--eta: expected a finite number, got 'x'"},
      {m + "--steps 10 --gamma 0.1,nan", "--gamma: expected a finite number, got 'nan'"},
      {m + "--steps 10 --lower-order-final maybe",
       "--lower-order-final: expected true or false, got 'maybe'"},
      {"search --t-start early", "--t-start: expected a finite number, got 'early'"},
      {"search --seeds 2.5", "--seeds: expected an integer, got '2.5'"},
      {"export nothing.h5 --top many", "--top: expected an integer, got 'many'"},
      {"report nothing.h5 --samples few", "--samples: expected an integer, got 'few'"},
  };
  for (const auto& [args, message] : cases) {
    const CliRun r = cli(args);
    EXPECT_EQ(r.status, 2) << args << ": " << r.out;
    EXPECT_NE(r.out.find("samplersearch: error: " + message), std::string::npos) << r.out;
  }
  // A missing value and a flag given twice name the flag too.
  CliRun r = cli(m + "--steps");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("--steps"), std::string::npos) << r.out;
  r = cli(m + "--steps 4 --steps 5");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("--steps"), std::string::npos) << r.out;
}

}  // namespace
