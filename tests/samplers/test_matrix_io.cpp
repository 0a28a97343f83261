// Matrix files: JSON and HDF5 round trips, the papers' table format (Zheng & Zheng 2025, Table 15),
// errors.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "samplersearch/common/error.hpp"
#include "samplersearch/samplers/discretization.hpp"
#include "samplersearch/samplers/matrix_io.hpp"
#include "samplersearch/samplers/solver.hpp"

namespace samplersearch {
namespace {

// Zheng & Zheng 2025, Table 15 (5 steps, ScoreSDE VP, time-quadratic), verbatim.
constexpr const char* kTable15 =
    "time\t0.650\t0.375\t0.176\t0.051\t0.001\tmarginal coeff\n"
    "0.650\t1\t0\t0\t0\t0\t0.118\n"
    "0.375\t-0.291\t1\t0\t0\t0\t0.487\n"
    "0.176\t0\t0.133\t1\t0\t0\t0.85\n"
    "0.051\t0\t0\t-0.337\t1\t0\t0.985\n"
    "0.001\t0\t0\t0\t-0.583\t1\t1\n";

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("samplersearch_test_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

TEST(Table, Table15OnVpLinearTimeQuadratic) {
  auto s = make_schedule("vp-linear");
  const auto times = make_timesteps("time-quadratic", *s, 5, {1.0, 1e-3});
  const Matrices m = matrices_from_table(kTable15, s, times, "table15");
  // docs/equations.md §4: row 2 = (−0.291, 1)·0.487/0.709 = (−0.200, 0.687).
  EXPECT_NEAR(m.signal(2, 0), -0.200, 5e-4);
  EXPECT_NEAR(m.signal(2, 1), 0.687, 5e-4);
  // Its marginal column: the rows sum to α(t_k), which rounds to the table's column.
  const double marginal[] = {0.118, 0.487, 0.85, 0.985, 1.0};
  const auto sums = m.row_sums();
  for (int k = 1; k <= 5; ++k) {
    EXPECT_NEAR(sums[static_cast<size_t>(k)], s->alpha(times[static_cast<size_t>(k)]), 1e-15);
    EXPECT_NEAR(sums[static_cast<size_t>(k)], marginal[k - 1], 5e-3);
  }
  EXPECT_NEAR(sums[1], 0.118, 5e-4);
  EXPECT_NEAR(m.noise(3, 0), s->sigma(times[3]), 1e-15);
  EXPECT_TRUE(m.deterministic());
  // Export writes the same table back (diagonal-normalized, 3 decimals).
  const Matrices again = matrices_from_table(matrices_to_table(m), s, times, "export");
  EXPECT_LE((again.signal - m.signal).cwiseAbs().maxCoeff(), 2e-3);
}

TEST(Table, TimesFromTheTableWithT0) {
  auto s = make_schedule("vp-linear");
  const Matrices m = matrices_from_table(kTable15, s, {1.0}, "table15");
  EXPECT_EQ(m.times, (std::vector<double>{1.0, 0.650, 0.375, 0.176, 0.051, 0.001}));
}

TEST(Table, BadTablesNameTheRowAndReason) {
  auto s = make_schedule("vp-linear");
  auto expect = [&](const std::string& text, const std::string& message) {
    try {
      matrices_from_table(text, s, {1.0}, "t.txt");
      ADD_FAILURE() << message;
    } catch (const ConfigError& e) {
      EXPECT_EQ(std::string(e.what()), message);
    }
  };
  expect("0.650\t1\tx\t0.118\n", "t.txt: line 1: 'x' is not a number");
  expect("0.650\t1\t0\n0.375\t1\t1\t0.487\n",
         "t.txt: row 1: has 3 cells, expected time + 2 coefficients + marginal coeff");
  expect("0.650\t1\t0.5\t0.118\n0.375\t-0.291\t1\t0.487\n",
         "t.txt: row 1: column 2 is right of the diagonal");
  expect("0.650\t1\t0\t0.3\n0.375\t-0.291\t1\t0.487\n",
         "t.txt: row 1: marginal coeff 0.300000 differs from α(0.650000) = 0.118311 of vp-linear");
}

Matrices sample_matrices() {
  auto s = make_schedule("vp-cosine");
  SolverOptions o;
  o.eta = 0.3;
  return solver_matrices("ddim", SolverPlan{s, TimeGrid("logsnr-uniform", {0.9946, 1e-3}), 7, o});
}

TEST(Files, JsonAndHdf5RoundTripExactly) {
  const Matrices m = sample_matrices();
  for (const char* ext : {"json", "h5"}) {
    const std::string path = temp_path(std::string("m.") + ext);
    write_matrices(m, path);
    const Matrices r = read_matrices(path);
    std::filesystem::remove(path);
    EXPECT_EQ(r.times, m.times) << ext;
    EXPECT_EQ((r.signal - m.signal).cwiseAbs().maxCoeff(), 0.0) << ext;
    EXPECT_EQ((r.noise - m.noise).cwiseAbs().maxCoeff(), 0.0) << ext;
    EXPECT_EQ(r.solver, "ddim");
    EXPECT_EQ(r.options["eta"], 0.3);
    EXPECT_EQ(r.schedule->name(), "vp-cosine");
    EXPECT_EQ(r.schedule->params(), m.schedule->params());
  }
}

TEST(Files, BadJsonNamesTheFieldAndTheFile) {
  nlohmann::json j = matrices_to_json(sample_matrices());
  j["signal"].erase(2);
  try {
    matrices_from_json(j, "m.json");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "m.json: signal: must be an array of 8 rows");
  }
  j = matrices_to_json(sample_matrices());
  j["signal"][1][3] = 0.5;
  try {
    matrices_from_json(j, "m.json");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "m.json: signal: must be strictly lower-triangular: entry [1][3] is not 0");
  }
  const std::string path = temp_path("broken.json");
  std::ofstream(path) << "{\"schedule\": \"vp-linear\", \"timesteps\": [1, 0.5]";
  try {
    read_matrices(path);
    FAIL();
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find(path + ": not valid JSON"), std::string::npos);
  }
  std::ofstream(path) << "{\"schedule\": \"vp-linear\", \"timesteps\": [1, 0.5]}";
  try {
    read_matrices(path);
    FAIL();
  } catch (const FileError& e) {
    EXPECT_EQ(std::string(e.what()), path + ": signal: is missing");
  }
  std::filesystem::remove(path);
  EXPECT_THROW(read_matrices(temp_path("nonexistent.h5")), FileError);
}

// JSON and HDF5 matrix files broken by NumPy/h5py/json from a good file: each is a FileError that
// names the path, the dataset or field, and the reason.
TEST(Files, BrokenJsonAndHdf5FilesNameThePathFieldAndReason) {
  const Matrices m = sample_matrices();  // N = 7: C 8×7, B 8×8
  const std::string h5 = temp_path("good.h5"), js = temp_path("good.json");
  write_matrices(m, h5);
  write_matrices(m, js);
  const std::string prefix = temp_path("bad_");
  const char* python = std::getenv("SAMPLERSEARCH_PYTHON");
  const std::string script = temp_path("break.py");
  std::ofstream(script) << R"PY(
import json, shutil, sys
import h5py, numpy as np
good_h5, good_json, p = sys.argv[1:4]
def edit_h5(name, edit):
    shutil.copy(good_h5, p + name)
    with h5py.File(p + name, "a") as f:
        edit(f)
def put(f, name, a):
    del f[name]
    f[name] = a
edit_h5("nan.h5", lambda f: f["signal"].__setitem__((2, 0), np.nan))
edit_h5("inf.h5", lambda f: f["noise"].__setitem__((4, 1), np.inf))
edit_h5("upper.h5", lambda f: f["signal"].__setitem__((1, 3), 0.5))
edit_h5("row0.h5", lambda f: f["signal"].__setitem__((3, slice(None)), 0.0))
edit_h5("shape.h5", lambda f: put(f, "signal", np.zeros((8, 6))))
edit_h5("no_noise.h5", lambda f: f.__delitem__("noise"))
with open(good_h5, "rb") as f:
    open(p + "truncated.h5", "wb").write(f.read()[:1500])
with h5py.File(p + "foreign.h5", "w") as f:
    f["mu"] = np.zeros(3)
    f["sigma"] = np.eye(3)
j = json.load(open(good_json))
j["signal"][2][0] = float("nan")
json.dump(j, open(p + "nan.json", "w"))  # Python writes the non-JSON token NaN
j = json.load(open(good_json))
j["signal"][3] = [0.0] * 7
json.dump(j, open(p + "row0.json", "w"))
j = json.load(open(good_json))
j["noise"][2][1] = "0.5"
json.dump(j, open(p + "string.json", "w"))
)PY";
  const std::string cmd = std::string(python && *python ? python : "/usr/bin/python3") + " " +
                          script + " " + h5 + " " + js + " " + prefix;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto error_of = [&](const std::string& name) -> std::string {
    const std::string path = prefix + name;
    try {
      read_matrices(path);
    } catch (const FileError& e) {
      EXPECT_EQ(e.path(), path);
      std::filesystem::remove(path);
      return std::string(e.what()).substr(path.size() + 2);
    }
    return "no error";
  };
  EXPECT_EQ(error_of("nan.h5"), "matrices: signal: entry [2][0] is not finite");
  EXPECT_EQ(error_of("inf.h5"), "matrices: noise: entry [4][1] is not finite");
  EXPECT_EQ(error_of("upper.h5"),
            "matrices: signal: must be strictly lower-triangular: entry [1][3] is not 0");
  EXPECT_EQ(error_of("row0.h5"),
            "signal: row 3 sums to 0 (row k sums to the signal coefficient of the sample at t_k, "
            "α(t_k) for a consistent sampler)");
  EXPECT_EQ(error_of("shape.h5"), "dataset 'signal' must be 8×7");
  EXPECT_EQ(error_of("no_noise.h5"), "missing dataset 'noise'");
  const std::string truncated = error_of("truncated.h5");
  EXPECT_EQ(truncated.rfind("not a readable HDF5 matrix file: ", 0), 0u) << truncated;
  EXPECT_EQ(error_of("foreign.h5"), "missing dataset 'timesteps'");
  const std::string nan_json = error_of("nan.json");
  EXPECT_EQ(nan_json.rfind("not valid JSON: ", 0), 0u) << nan_json;
  EXPECT_NE(nan_json.find("invalid literal"), std::string::npos) << nan_json;
  EXPECT_EQ(error_of("row0.json"),
            "signal: row 3 sums to 0 (row k sums to the signal coefficient of the sample at t_k, "
            "α(t_k) for a consistent sampler)");
  EXPECT_EQ(error_of("string.json"), "noise[2][1]: must be a number");
  for (const std::string& f : {h5, js, script}) std::filesystem::remove(f);
}

// Found by tests/fuzz/fuzz_matrices_hdf5: an HDF5 file whose 'timesteps' claims 1.4e14 values
// made read_matrices allocate them (out of memory instead of a FileError).
TEST(Files, FuzzRegressionHugeDatasetExtentIsAFileError) {
  const char* source = std::getenv("SAMPLERSEARCH_SOURCE_DIR");
  ASSERT_NE(source, nullptr);
  const std::string path =
      std::string(source) + "/tests/fuzz/regressions/fuzz_matrices_hdf5/huge_dataset_extent.h5";
  ASSERT_TRUE(std::filesystem::exists(path));
  try {
    read_matrices(path);
    FAIL();
  } catch (const FileError& e) {
    EXPECT_EQ(std::string(e.what()), path +
                                         ": dataset 'timesteps' claims more than 16777216 values "
                                         "(at most 4095 steps); the file is damaged");
  }
}

// The root group's 'options' attribute message claims a 4104-byte dataspace inside a 344-byte
// message; libhdf5 1.10 (H5Aexists) would copy the attribute's data from past the header chunk it
// loaded. Refused by the HDF5 layer's object-header check before the first attribute call.
TEST(Files, FuzzRegressionAttributeDataPastHeaderChunkIsAFileError) {
  const char* source = std::getenv("SAMPLERSEARCH_SOURCE_DIR");
  ASSERT_NE(source, nullptr);
  const std::string path = std::string(source) +
                           "/tests/fuzz/regressions/fuzz_matrices_hdf5/"
                           "attribute_data_past_header_chunk.h5";
  ASSERT_TRUE(std::filesystem::exists(path));
  try {
    read_matrices(path);
    FAIL();
  } catch (const FileError& e) {
    EXPECT_EQ(e.path(), path);
    EXPECT_EQ(std::string(e.what()),
              path +
                  ": not a readable HDF5 matrix file: object header at 96: attribute message 4 "
                  "('options'): claims a 4104-byte dataspace, its message holds 344");
  }
}

}  // namespace
}  // namespace samplersearch
