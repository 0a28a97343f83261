// NaturalDiffusion .npz files: the paper's three published matrices against NumPy's reading of
// them and against Table 15 of Zheng & Zheng 2025; bit-exact round trips (member bytes compared by
// Python's zipfile); both past_epsilon_coeff widths; every malformed input a FileError naming file,
// array and reason; conversions through the CLI; the paper:N catalogue entries and their checks.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "../metrics/statistics_test_support.hpp"
#include "samplersearch/common/error.hpp"
#include "samplersearch/samplers/discretization.hpp"
#include "samplersearch/samplers/matrix_io.hpp"
#include "samplersearch/samplers/naturaldiffusion.hpp"
#include "samplersearch/samplers/npz.hpp"
#include "samplersearch/samplers/sigma_list.hpp"
#include "samplersearch/samplers/solver.hpp"
#include "samplersearch/search/space.hpp"

namespace samplersearch {
namespace {

using nlohmann::json;
using testing_support::env_or_fail;
using testing_support::run_command;
using testing_support::run_python_code;
using testing_support::TempDir;

// Single-quoted for /bin/sh.
std::string sh(const std::string& s) { return testing_support::quoted(s); }

struct PaperFile {
  const char* file;
  int steps;
  const char* label;
};
constexpr PaperFile kPaper[] = {{"step_5_weight_00.npz", 5, "paper:5"},
                                {"step_10_weight_42.npz", 10, "paper:10"},
                                {"step_15_weight_173.npz", 15, "paper:15"}};

std::string paper_path(const char* file) {
  return env_or_fail("SAMPLERSEARCH_SOURCE_DIR") + "/samplers/data/naturaldiffusion/" + file;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// NumPy's reading of an .npz: {name: {"shape": [...], "data": [...]}} in archive order.
json numpy_arrays(const TempDir& dir, const std::string& npz) {
  const std::string out = dir.file("numpy.json");
  EXPECT_EQ(run_python_code(dir,
                            "import json, numpy as np\n"
                            "d = np.load(" +
                                sh(npz) +
                                ")\n"
                                "json.dump({'names': list(d.keys()), 'arrays': {k: {'shape': "
                                "list(d[k].shape), 'data': d[k].ravel().tolist()} for k in d}}, "
                                "open(" +
                                sh(out) + ", 'w'))\n"),
            0);
  return json::parse(std::ifstream(out));
}

TEST(NaturalDiffusion, PaperFilesMatchNumpyAndTheSchedule) {
  TempDir dir;
  auto vp = make_schedule("vp-linear");
  for (const PaperFile& p : kPaper) {
    const std::string path = paper_path(p.file);
    const Matrices m = read_matrices(path);
    const json ref = numpy_arrays(dir, path);
    ASSERT_EQ(ref["names"], json({"past_xstart_coeff", "past_epsilon_coeff", "node_coeff"}));
    const auto& x = ref["arrays"]["past_xstart_coeff"]["data"];
    const auto& e = ref["arrays"]["past_epsilon_coeff"]["data"];
    const auto& node = ref["arrays"]["node_coeff"]["data"];
    ASSERT_EQ(m.steps(), p.steps);
    EXPECT_EQ(m.schedule->name(), "vp-linear") << "inferred from node_coeff";
    EXPECT_EQ(m.schedule->params(), vp->params());
    const int n = p.steps;
    EXPECT_EQ(m.noise(0, 0), 1.0);  // x_{t_0} = ε on a VP schedule, as the paper's script
    for (int k = 0; k <= n; ++k) EXPECT_EQ(m.times[k], node[3 * k].get<double>());
    for (int r = 0; r < n; ++r)
      for (int c = 0; c < n; ++c) {
        // Paper row r (the input of model call r+2, at t_{r+1}) is our row r+1.
        EXPECT_EQ(m.signal(r + 1, c), x[r * n + c].get<double>()) << p.file << " " << r << c;
        EXPECT_EQ(m.noise(r + 1, c), e[r * n + c].get<double>()) << p.file << " " << r << c;
      }
    // The marginal property holds in the published files: rows sum to α, the noise is σ·ε_0.
    const auto sums = m.row_sums();
    for (int k = 1; k <= n; ++k) {
      EXPECT_NEAR(sums[k], vp->alpha(m.times[k]), 1e-12) << p.file << " row " << k;
      EXPECT_NEAR(m.noise(k, 0), vp->sigma(m.times[k]), 5e-8) << p.file << " row " << k;
    }
    EXPECT_TRUE(m.deterministic());
    // Made on time-quadratic from 1 to 1e-3 (float32-rounded times).
    const auto grid = make_timesteps("time-quadratic", *vp, n, {1.0, 1e-3});
    for (int k = 0; k <= n; ++k) EXPECT_NEAR(m.times[k], grid[k], 1e-7);
  }
}

TEST(NaturalDiffusion, FivePaperStepsAreTable15) {
  // Zheng & Zheng 2025, Table 15: rows divided by the newest entry.
  const Matrices m = read_matrices(paper_path("step_5_weight_00.npz"));
  EXPECT_NEAR(m.signal(2, 0) / m.signal(2, 1), -0.291, 5e-4);
  EXPECT_NEAR(m.signal(3, 1) / m.signal(3, 2), 0.133, 5e-4);
  EXPECT_NEAR(m.signal(4, 2) / m.signal(4, 3), -0.337, 5e-4);
  EXPECT_NEAR(m.signal(5, 3) / m.signal(5, 4), -0.583, 5e-4);
}

// True when every member of `a` and `b` has the same name, order and bytes (Python's zipfile).
bool same_members(const TempDir& dir, const std::string& a, const std::string& b) {
  return run_python_code(dir,
                         "import sys, zipfile\n"
                         "za, zb = zipfile.ZipFile(" +
                             sh(a) + "), zipfile.ZipFile(" + sh(b) +
                             ")\n"
                             "na, nb = za.namelist(), zb.namelist()\n"
                             "assert na == nb, (na, nb)\n"
                             "for n in na:\n"
                             "    assert za.read(n) == zb.read(n), n\n") == 0;
}

TEST(NaturalDiffusion, PaperFilesRoundTripBitExactly) {
  TempDir dir;
  for (const PaperFile& p : kPaper) {
    const Matrices m = read_matrices(paper_path(p.file));
    const std::string out = dir.file(std::string("again_") + p.file);
    write_matrices(m, out);
    EXPECT_TRUE(same_members(dir, paper_path(p.file), out)) << p.file;
    // Through every exact format and back.
    for (const char* ext : {"json", "h5"}) {
      const std::string mid = dir.file(std::string("mid.") + ext), back = dir.file("back.npz");
      write_matrices(m, mid);
      write_matrices(read_matrices(mid), back);
      EXPECT_TRUE(same_members(dir, paper_path(p.file), back)) << p.file << " via " << ext;
    }
  }
}

TEST(NaturalDiffusion, BothNoiseWidthsReadAndKeepTheirWidth) {
  TempDir dir;
  // A stochastic sampler needs ε_N: N×(N+1), as the paper's classic-sampler files.
  auto vp = make_schedule("vp-linear");
  const Matrices ddpm =
      solver_matrices("ddpm", SolverPlan{vp, TimeGrid("time-uniform", {1.0, 1e-3}), 6, {}});
  const std::string path = dir.file("ddpm.npz");
  write_matrices(ddpm, path);
  const json ref = numpy_arrays(dir, path);
  EXPECT_EQ(ref["arrays"]["past_epsilon_coeff"]["shape"], json({6, 7}));
  EXPECT_EQ(ref["arrays"]["past_xstart_coeff"]["shape"], json({6, 6}));
  EXPECT_EQ(ref["arrays"]["node_coeff"]["shape"], json({7, 3}));
  const Matrices back = read_matrices(path);
  EXPECT_EQ((back.signal - ddpm.signal).cwiseAbs().maxCoeff(), 0.0);
  EXPECT_EQ((back.noise - ddpm.noise).cwiseAbs().maxCoeff(), 0.0);
  EXPECT_EQ(back.times, ddpm.times);
  // NumPy writes a deterministic file with the N×(N+1) layout (a zero last column): it reads,
  // and is written back N×(N+1), byte for byte.
  const std::string wide = dir.file("wide.npz");
  ASSERT_EQ(run_python_code(dir,
                            "import numpy as np\n"
                            "d = np.load(" +
                                sh(paper_path("step_5_weight_00.npz")) +
                                ")\n"
                                "e = np.zeros((5, 6)); e[:, :5] = d['past_epsilon_coeff']\n"
                                "np.savez(" +
                                sh(wide) +
                                ", past_xstart_coeff=d['past_xstart_coeff'], "
                                "past_epsilon_coeff=e, node_coeff=d['node_coeff'])\n"),
            0);
  const Matrices w = read_matrices(wide);
  EXPECT_EQ(
      (w.signal - read_matrices(paper_path("step_5_weight_00.npz")).signal).cwiseAbs().maxCoeff(),
      0.0);
  const std::string again = dir.file("wide_again.npz");
  write_matrices(w, again);
  EXPECT_TRUE(same_members(dir, wide, again));
}

TEST(NaturalDiffusion, NumpyVariantsRead) {
  TempDir dir;
  // np.savez_compressed (deflate), Fortran order and big-endian float64 all read the same.
  const std::string src = paper_path("step_10_weight_42.npz");
  const std::string out = dir.file("variants.npz");
  ASSERT_EQ(run_python_code(dir,
                            "import numpy as np\n"
                            "d = np.load(" +
                                sh(src) +
                                ")\n"
                                "np.savez_compressed(" +
                                sh(out) +
                                ", past_xstart_coeff=np.asfortranarray(d['past_xstart_coeff']),"
                                " past_epsilon_coeff=d['past_epsilon_coeff'].astype('>f8'),"
                                " node_coeff=d['node_coeff'])\n"),
            0);
  const Matrices a = read_matrices(src), b = read_matrices(out);
  EXPECT_EQ((a.signal - b.signal).cwiseAbs().maxCoeff(), 0.0);
  EXPECT_EQ((a.noise - b.noise).cwiseAbs().maxCoeff(), 0.0);
  EXPECT_EQ(a.times, b.times);
}

class Malformed : public ::testing::Test {
 protected:
  void SetUp() override {
    archive_ = parse_npz(read_bytes(paper_path("step_5_weight_00.npz")), "paper");
  }
  NpyArray& array(const std::string& name) {
    for (auto& [n, a] : archive_)
      if (n == name) return a;
    throw std::runtime_error("no " + name);
  }
  // The FileError message of reading `archive_` written to a file, with the path stripped.
  std::string error_of(const std::string& bytes) {
    const std::string path = dir_.file("bad.npz");
    write_bytes(path, bytes);
    try {
      read_matrices(path);
    } catch (const FileError& e) {
      EXPECT_EQ(e.path(), path);
      return std::string(e.what()).substr(path.size() + 2);
    }
    return "no error";
  }
  std::string error_of_archive() { return error_of(npz_bytes(archive_)); }
  TempDir dir_;
  NpzArchive archive_;
};

TEST_F(Malformed, WrongShapes) {
  array("past_xstart_coeff").shape = {5, 4};
  array("past_xstart_coeff").data.resize(20);
  EXPECT_EQ(error_of_archive(),
            "past_xstart_coeff: must be N×N = 5×5 (N + 1 = 6 rows of node_coeff), is 5×4");
  SetUp();
  array("past_epsilon_coeff").shape = {5, 7};
  array("past_epsilon_coeff").data.resize(35);
  EXPECT_EQ(error_of_archive(), "past_epsilon_coeff: must be N×(N+1) = 5×6 or N×N = 5×5, is 5×7");
  SetUp();
  array("node_coeff").shape = {9, 2};
  EXPECT_EQ(error_of_archive(),
            "node_coeff: must be (N+1)×3 rows of (t, α, σ) with N >= 1, is 9×2");
}

TEST_F(Malformed, NotFinite) {
  array("past_xstart_coeff").data[5] = std::nan("");
  EXPECT_EQ(error_of_archive(), "past_xstart_coeff: entry [1][0] is nan (must be finite)");
  SetUp();
  array("node_coeff").data[4] = INFINITY;
  EXPECT_EQ(error_of_archive(), "node_coeff: entry [1][1] is inf (must be finite)");
}

TEST_F(Malformed, EntriesRightOfTheDiagonal) {
  array("past_xstart_coeff").data[1 * 5 + 3] = 0.25;
  EXPECT_EQ(error_of_archive(),
            "past_xstart_coeff: entry [1][3] = 0.25 is right of the diagonal (row 1 may weight "
            "y_0…y_1 only)");
  SetUp();
  array("past_epsilon_coeff").data[0 * 5 + 2] = 0.5;
  EXPECT_EQ(error_of_archive(),
            "past_epsilon_coeff: entry [0][2] = 0.5 is right of the diagonal (row 0 may weight "
            "ε_0…ε_1 only)");
}

TEST_F(Malformed, RowsSummingToZero) {
  auto& x = array("past_xstart_coeff").data;
  x[3 * 5 + 2] = -x[3 * 5 + 3];
  EXPECT_EQ(error_of_archive(),
            "past_xstart_coeff: row 3 sums to 0 (its rows sum to α(t) of the next time)");
}

TEST_F(Malformed, TimesAndSchedule) {
  array("node_coeff").data[2 * 3] = 0.9;  // t_2 above t_1 = 0.650
  EXPECT_EQ(error_of_archive(),
            "node_coeff: times must decrease, row 2 has t = 0.9 after t = "
            "0.65015924");
  SetUp();
  array("node_coeff").data[3 * 3 + 1] += 1e-3;  // α of row 3 off
  EXPECT_EQ(error_of_archive(),
            "node_coeff: its α, σ match no schedule with default parameters (vp-linear, "
            "vp-cosine, ve, edm, flow, ddpm-discrete); name the schedule the file was made for");
  // A named schedule that disagrees: the row and both values are in the message.
  const std::string path = dir_.file("paper.npz");
  write_bytes(path, read_bytes(paper_path("step_5_weight_00.npz")));
  try {
    read_matrices(path, make_schedule("vp-cosine"));
    ADD_FAILURE();
  } catch (const FileError& e) {
    EXPECT_EQ(std::string(e.what()),
              path +
                  ": node_coeff: row 0 (t, α, σ) = (1, 0.00657158649, 0.999978364) but "
                  "vp-cosine has α = 6.12370985e-17, σ = 1 (tolerance 1e-06): the file was "
                  "made for another schedule");
  }
}

TEST_F(Malformed, TruncatedAndForeignArchives) {
  const std::string good = read_bytes(paper_path("step_5_weight_00.npz"));
  EXPECT_EQ(error_of(good.substr(0, 700))
                .rfind("not a readable .npz (zip) archive, truncated or "
                       "damaged: ",
                       0),
            0u);
  EXPECT_EQ(error_of("plain text"),
            "not a readable .npz (zip) archive, truncated or damaged: Not a zip archive");
  NpzArchive foreign = {{"mu", {{3}, {1, 2, 3}}}, {"sigma", {{1}, {4}}}};
  EXPECT_EQ(error_of(npz_bytes(foreign)),
            "has no array 'past_xstart_coeff' (a NaturalDiffusion file holds past_xstart_coeff, "
            "past_epsilon_coeff, node_coeff; this one holds mu, sigma)");
  // An integer array written by NumPy.
  const std::string ints = dir_.file("ints.npz");
  ASSERT_EQ(run_python_code(dir_, "import numpy as np\nnp.savez(" + sh(ints) +
                                      ", past_xstart_coeff=np.eye(2, dtype=np.int64))\n"),
            0);
  try {
    read_matrices(ints);
    ADD_FAILURE();
  } catch (const FileError& e) {
    EXPECT_EQ(std::string(e.what()),
              ints + ": past_xstart_coeff: dtype '<i8' is not float64 ('<f8')");
  }
  // A member that is cut short inside a well-formed zip.
  std::string npy = npy_bytes({{2, 2}, {1, 2, 3, 4}});
  EXPECT_THROW(
      {
        try {
          parse_npy(npy.substr(0, npy.size() - 8), "f.npz", "past_xstart_coeff");
        } catch (const FileError& e) {
          EXPECT_EQ(std::string(e.what()),
                    "f.npz: past_xstart_coeff: holds 24 bytes of data, shape (2, 2) needs 32 "
                    "(truncated or damaged)");
          throw;
        }
      },
      FileError);
}

TEST(NaturalDiffusion, NpyBytesAreNumpys) {
  // np.save's header (format 1.0, padded to 64 bytes) for 1-, 2- and 0-d arrays.
  TempDir dir;
  const std::string path = dir.file("arrays.npz");
  write_bytes(path, npz_bytes({{"a", {{6}, {1, 2, 3, 4, 5, 6}}},
                               {"b", {{2, 3}, {0.5, -1, 1e300, 0, -0.0, 3}}},
                               {"c", {{}, {7}}}}));
  EXPECT_EQ(run_python_code(dir,
                            "import io, zipfile, numpy as np\n"
                            "z = zipfile.ZipFile(" +
                                sh(path) +
                                ")\n"
                                "for n in z.namelist():\n"
                                "    a = np.load(io.BytesIO(z.read(n)))\n"
                                "    b = io.BytesIO(); np.save(b, a)\n"
                                "    assert b.getvalue() == z.read(n), n\n"
                                "d = np.load(" +
                                sh(path) +
                                ")\n"
                                "assert d['b'].tolist() == [[0.5, -1, 1e300], [0, -0.0, 3]]\n"
                                "assert d['c'].shape == () and d['c'] == 7\n"),
            0);
}

TEST(NaturalDiffusion, ConvertThroughEveryFormat) {
  TempDir dir;
  const std::string cli = sh(env_or_fail("SAMPLERSEARCH_CLI"));
  const std::string src = paper_path("step_10_weight_42.npz");
  std::string previous = src;
  for (const char* ext : {"json", "h5", "npz"}) {
    const std::string out = dir.file(std::string("m.") + ext);
    const auto r = run_command(cli + " convert " + sh(previous) + " " + sh(out));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    previous = out;
  }
  EXPECT_TRUE(same_members(dir, src, previous));
  // The papers' table (3 decimals): it reads back on the grid it was made on.
  const std::string table = dir.file("m.txt");
  auto r = run_command(cli + " convert " + sh(src) + " " + sh(table));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(cli + " convert " + sh(table) + " " + sh(dir.file("t.npz")) +
                  " --schedule vp-linear --discretization time-quadratic");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Matrices a = read_matrices(src), b = read_matrices(dir.file("t.npz"));
  EXPECT_LE((a.signal - b.signal).cwiseAbs().maxCoeff(), 2e-3);
  // A named schedule is checked against node_coeff.
  r = run_command(cli + " convert " + sh(src) + " " + sh(dir.file("x.json")) + " --schedule edm");
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("node_coeff: row 0 (t, α, σ) = (1, 0.00657158649, 0.999978364) but edm "
                          "has α = 1, σ = 1"),
            std::string::npos)
      << r.output;
}

SolverPlan plan(const char* schedule, const char* grid, int steps) {
  return SolverPlan{make_schedule(schedule), TimeGrid(grid, {1.0, 1e-3}), steps, {}};
}

TEST(NaturalDiffusion, PaperEntriesOfTheCatalogue) {
  for (const PaperFile& p : kPaper) {
    const Matrices m = classic_matrices(find_classic(p.label, "baselines"),
                                        plan("vp-linear", "time-quadratic", p.steps));
    const Matrices f = read_matrices(paper_path(p.file));
    EXPECT_EQ((m.signal - f.signal).cwiseAbs().maxCoeff(), 0.0) << p.label;
    EXPECT_EQ(m.times, f.times);
  }
  const ClassicSampler& five = find_classic("paper:5", "baselines");
  auto message = [&](const SolverPlan& pl) {
    try {
      classic_matrices(five, pl);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string made_for =
      "paper:5: paper:5 is a published 5-step matrix for vp-linear "
      "{\"beta_max\":20.0,\"beta_min\":0.1,\"t_max\":1.0,\"t_min\":0.001} at t = (1, 0.6502, "
      "0.3753, 0.1755, 0.05076, 0.001); ";
  EXPECT_EQ(message(plan("vp-linear", "time-quadratic", 10)),
            made_for + "it cannot run at 10 steps");
  EXPECT_EQ(message(plan("vp-cosine", "time-quadratic", 5)),
            made_for +
                "it cannot run on schedule vp-cosine "
                "{\"s\":0.008,\"t_max\":0.9946,\"t_min\":0.001}");
  EXPECT_EQ(message(plan("vp-linear", "time-uniform", 5)),
            made_for + "it cannot run at t = (1, 0.8002, 0.6004, 0.4006, 0.2008, 0.001)");
  // Explicit times equal to the grid are the same grid.
  auto vp = make_schedule("vp-linear");
  EXPECT_EQ(message(SolverPlan{
                vp, TimeGrid(make_timesteps("time-quadratic", *vp, 5, {1.0, 1e-3})), 5, {}}),
            "no error");
}

TEST(NaturalDiffusion, PaperWarmStartsAndTheirChecks) {
  auto vp = make_schedule("vp-linear");
  const auto times = make_timesteps("time-quadratic", *vp, 5, {1.0, 1e-3});
  const auto space = make_space("matrix", SpaceConfig{vp, times, json::object(), {"paper:5"}});
  const auto warm = space->warm_starts();
  ASSERT_EQ(warm.size(), 1u);
  EXPECT_EQ(warm[0].label, "paper:5");
  EXPECT_NEAR(warm[0].params["c2_0"].get<double>(), -0.291, 5e-4);  // Table 15
  EXPECT_EQ(warm[0].params["c3_0"].get<double>(), 0.0);
  // The searched matrix at the warm start is the paper's: rows rescaled to α at the float64 grid,
  // whose times differ from the file's float32-rounded ones by < 1e-7.
  const Matrices m = space->to_matrices(warm[0].params);
  const Matrices f = read_matrices(paper_path("step_5_weight_00.npz"));
  EXPECT_LE((m.signal - f.signal).cwiseAbs().maxCoeff(), 2e-7);
  const auto wrong = make_space("matrix", SpaceConfig{vp, times, json::object(), {"paper:10"}});
  try {
    wrong->warm_starts();
    ADD_FAILURE();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.field(), "space.warm_starts");
    EXPECT_NE(std::string(e.what()).find("it cannot run at 5 steps"), std::string::npos);
  }
}

TEST(SigmaList, VpLinearSigmasAreSqrtOfInverseAlphaSquaredMinusOne) {
  auto vp = make_schedule("vp-linear");
  const Matrices m =
      solver_matrices("ddim", SolverPlan{vp, TimeGrid("time-quadratic", {1.0, 1e-3}), 4, {}});
  const json j = matrices_to_sigma_list(m);
  ASSERT_EQ(j["sigmas"].size(), 5u);
  for (size_t k = 0; k < 5; ++k) {
    const double t = m.times[k];
    // σ/α = √(1/α² − 1) with 1/α² = exp(½β_d t² + β_min t).
    const double ref = std::sqrt(std::expm1(0.5 * 19.9 * t * t + 0.1 * t));
    EXPECT_NEAR(j["sigmas"][k].get<double>(), ref, 1e-12 * ref);
    EXPECT_EQ(j["t"][k].get<double>(), t);
  }
  EXPECT_FALSE(j["times_searched"].get<bool>());
  const std::string text = sigma_list_text(m, "ddim");
  EXPECT_NE(text.find("sigmas = [152.1"), std::string::npos) << text;
  EXPECT_NE(text.find("t = [1, "), std::string::npos) << text;
  EXPECT_NE(text.find("coefficient matrices C"), std::string::npos);
}

}  // namespace
}  // namespace samplersearch
