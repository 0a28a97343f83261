// The CLI's matrices and convert commands, run as a user would (exit codes, JSON keys, messages).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_runner.hpp"

namespace {

using samplersearch::test::cli;
using samplersearch::test::CliRun;

TEST(CliMatrices, JsonHasTheDocumentedKeysAndShapes) {
  const CliRun r =
      cli("matrices --solver dpmsolver++ --steps 10 --schedule vp-linear "
          "--discretization time-quadratic --format json");
  ASSERT_EQ(r.status, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  for (const char* key : {"solver", "schedule", "timesteps", "alpha", "sigma", "signal", "noise"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_EQ(j["timesteps"].size(), 11u);
  EXPECT_EQ(j["signal"].size(), 11u);
  EXPECT_EQ(j["signal"][0].size(), 10u);
  EXPECT_EQ(j["noise"][10].size(), 11u);
  // time-quadratic t_1 = (1 + (√1e-3 − 1)/10)², by hand
  const double r1 = 1.0 + (std::sqrt(1e-3) - 1.0) / 10.0;
  EXPECT_NEAR(j["timesteps"][1].get<double>(), r1 * r1, 1e-15);
  // DPM-Solver++ first step is DDIM: C[1][0] = α_1 − σ_1·α_0/σ_0 (by hand from the schedule)
  const double a0 = j["alpha"][0], s0 = j["sigma"][0], a1 = j["alpha"][1], s1 = j["sigma"][1];
  EXPECT_NEAR(j["signal"][1][0].get<double>(), a1 - s1 * a0 / s0, 1e-14);
}

TEST(CliMatrices, BadNamesAndCombinationsExitTwoListingValidValues) {
  CliRun r = cli("matrices --solver nope --steps 5 --schedule vp-linear");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("valid: ddpm, ddim, euler, heun, deis, dpmsolver, dpmsolver++, unipc, "
                       "generalized"),
            std::string::npos)
      << r.out;
  r = cli("matrices --solver ddim --steps 5 --schedule vp-linear --order 2");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("--order: ddim does not take this option (it takes: eta)"),
            std::string::npos)
      << r.out;
  r = cli("matrices --solver ddim --steps 5 --schedule vp-linear --discretization cubic");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("valid: time-uniform, time-quadratic, logsnr-uniform, karras"),
            std::string::npos);
  r = cli("matrices --solver ddim --steps 5 --schedule vp-linear --frobnicate 1");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("--frobnicate: is not a flag of 'matrices'"), std::string::npos) << r.out;
}

// Flags out of their range exit 2 naming the flag and the bound; an output path that cannot be
// created exits 3 naming the path.
TEST(CliMatrices, OutOfRangeFlagsAndUnwritableOutputs) {
  CliRun r = cli("matrices --solver ddim --steps 0 --schedule vp-linear");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("samplersearch: error: --steps: must be at least 1"), std::string::npos)
      << r.out;
  r = cli("matrices --solver ddim --steps 5 --schedule vp-linear --eta -3");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("samplersearch: error: --eta: must be >= 0"), std::string::npos) << r.out;
  const auto dir =
      std::filesystem::temp_directory_path() / ("ss_cli_out_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string json = (dir / "m.json").string();
  std::ofstream(json)
      << cli("matrices --solver ddim --steps 3 --schedule vp-linear --format json").out;
  const std::string unwritable = (dir / "no_such_dir" / "m.h5").string();
  r = cli("convert " + json + " " + unwritable);
  EXPECT_EQ(r.status, 3) << r.out;
  EXPECT_NE(r.out.find("samplersearch: error: " + unwritable + ": HDF5 write failed"),
            std::string::npos)
      << r.out;
  EXPECT_FALSE(std::filesystem::exists(unwritable));
  std::filesystem::remove_all(dir);
}

TEST(CliConvert, TableToJsonToHdf5AndBack) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("ss_cli_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string table = (dir / "t15.txt").string();
  std::ofstream(table) << "time\t0.650\t0.375\t0.176\t0.051\t0.001\tmarginal coeff\n"
                          "0.650\t1\t0\t0\t0\t0\t0.118\n"
                          "0.375\t-0.291\t1\t0\t0\t0\t0.487\n"
                          "0.176\t0\t0.133\t1\t0\t0\t0.85\n"
                          "0.051\t0\t0\t-0.337\t1\t0\t0.985\n"
                          "0.001\t0\t0\t0\t-0.583\t1\t1\n";
  const std::string json = (dir / "t15.json").string(), h5 = (dir / "t15.h5").string(),
                    back = (dir / "back.json").string();
  ASSERT_EQ(
      cli("convert " + table + " " + json + " --schedule vp-linear --discretization time-quadratic")
          .status,
      0);
  ASSERT_EQ(cli("convert " + json + " " + h5).status, 0);
  ASSERT_EQ(cli("convert " + h5 + " " + back).status, 0);
  const auto a = nlohmann::json::parse(std::ifstream(json));
  const auto b = nlohmann::json::parse(std::ifstream(back));
  EXPECT_EQ(a["signal"], b["signal"]);
  EXPECT_EQ(a["noise"], b["noise"]);
  EXPECT_NEAR(a["signal"][2][0].get<double>(), -0.200, 5e-4);
  EXPECT_NEAR(a["signal"][2][1].get<double>(), 0.687, 5e-4);
  const CliRun missing = cli("convert " + (dir / "none.h5").string() + " " + json);
  EXPECT_EQ(missing.status, 3) << missing.out;
  std::filesystem::remove_all(dir);
}

}  // namespace
