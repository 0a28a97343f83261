// Statistics files (metrics/statistics_file.cpp): round trip, files written by h5py (NumPy's
// mean and covariance as the reference), the FileError messages, and the reference-statistics
// cache.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "samplersearch/common/error.hpp"
#include "samplersearch/metrics/statistics.hpp"
#include "samplersearch/metrics/statistics_file.hpp"
#include "statistics_test_support.hpp"

namespace samplersearch {
namespace {

using testing_support::relative_error;
using testing_support::run_python_code;
using testing_support::TempDir;

// Our streaming float64 statistics against NumPy's mean and np.cov on the same float32 samples.
constexpr double kNumpyTol = 1e-12;

void expect_file_error(const std::string& path, const std::string& message) {
  try {
    (void)read_statistics(path);
    ADD_FAILURE() << "expected FileError for " << path;
  } catch (const FileError& e) {
    EXPECT_EQ(std::string(e.what()), path + ": " + message);
    EXPECT_EQ(e.path(), path);
  }
}

TEST(StatisticsFile, RoundTrip) {
  TempDir dir;
  const std::string path = dir.file("stats.h5");
  at::manual_seed(0);
  const Statistics s = compute_statistics(at::randn({50, 6}), "unit:test");
  write_statistics(path, s);
  const Statistics r = read_statistics(path);
  EXPECT_TRUE(at::equal(r.mu, s.mu));
  EXPECT_TRUE(at::equal(r.sigma, s.sigma));
  EXPECT_EQ(r.count, 50);
  EXPECT_EQ(r.source, "unit:test");
  // Overwriting replaces the file.
  write_statistics(path, compute_statistics(at::randn({9, 2}), "second"));
  EXPECT_EQ(read_statistics(path).dim(), 2);
}

TEST(StatisticsFile, ReadsH5pyFilesAndAgreesWithNumpy) {
  TempDir dir;
  const std::string path = dir.file("numpy.h5");
  // float32 samples; NumPy's mean and unbiased covariance in float64; mu stored as float32 to
  // check the conversion on read.
  ASSERT_EQ(run_python_code(dir, R"(
import h5py, numpy as np
rng = np.random.default_rng(4)
x = (rng.standard_normal((700, 13)) @ rng.standard_normal((13, 13)) + 3.0).astype(np.float32)
with h5py.File(")" + path + R"(", "w") as f:
    f["x"] = x
    f["mu"] = x.astype(np.float64).mean(axis=0).astype(np.float32)
    f["mu64"] = x.astype(np.float64).mean(axis=0)
    f["sigma"] = np.cov(x.astype(np.float64), rowvar=False)
)"),
            0);
  const Statistics file_stats = read_statistics(path);
  EXPECT_EQ(file_stats.count, 0);
  EXPECT_EQ(file_stats.source, "");
  EXPECT_EQ(file_stats.mu.scalar_type(), at::kDouble);
  // Our statistics of the same samples, streamed in 3 batches.
  ASSERT_EQ(run_python_code(dir, R"(
import h5py, numpy as np
with h5py.File(")" + path + R"(", "r") as f, open(")" +
                                     dir.file("x.bin") + R"(", "wb") as out:
    out.write(np.ascontiguousarray(f["x"][...]).tobytes())
    out.write(np.ascontiguousarray(f["mu64"][...]).tobytes())
)"),
            0);
  std::ifstream in(dir.file("x.bin"), std::ios::binary);
  at::Tensor x = at::empty({700, 13}, at::kFloat);
  at::Tensor mu64 = at::empty({13}, at::kDouble);
  in.read(static_cast<char*>(x.data_ptr()), 700 * 13 * 4);
  in.read(static_cast<char*>(mu64.data_ptr()), 13 * 8);
  ASSERT_TRUE(in.good());
  RunningStats stats;
  stats.add(x.slice(0, 0, 100));
  stats.add(x.slice(0, 100, 333));
  stats.add(x.slice(0, 333, 700));
  EXPECT_LE(relative_error(stats.covariance(), file_stats.sigma), kNumpyTol);
  EXPECT_LE(relative_error(stats.mean(), mu64), kNumpyTol);
  EXPECT_TRUE(at::equal(file_stats.mu, mu64.to(at::kFloat).to(at::kDouble)));
}

TEST(StatisticsFile, ErrorsNameTheFileAndTheDataset) {
  TempDir dir;
  expect_file_error(dir.file("absent.h5"), "no such file");
  { std::ofstream(dir.file("text.h5")) << "not hdf5\n"; }
  expect_file_error(dir.file("text.h5"),
                    "not a readable HDF5 file (a statistics file holds float64 datasets 'mu' [d] "
                    "and 'sigma' [d, d])");
  ASSERT_EQ(run_python_code(dir, R"(
import h5py, numpy as np
d = ")" + dir.file("") + R"("
with h5py.File(d + "no_sigma.h5", "w") as f:
    f["mu"] = np.zeros(3)
with h5py.File(d + "no_mu.h5", "w") as f:
    f["sigma"] = np.eye(3)
with h5py.File(d + "wide.h5", "w") as f:
    f["mu"] = np.zeros(3)
    f["sigma"] = np.zeros((3, 4))
with h5py.File(d + "matrix_mu.h5", "w") as f:
    f["mu"] = np.zeros((3, 1))
    f["sigma"] = np.eye(3)
with h5py.File(d + "text_mu.h5", "w") as f:
    f["mu"] = np.array([b"a", b"b"])
    f["sigma"] = np.eye(2)
)"),
            0);
  const std::string layout =
      " (a statistics file holds float64 datasets 'mu' [d] and 'sigma' [d, d])";
  expect_file_error(dir.file("no_sigma.h5"), "missing dataset 'sigma'" + layout);
  expect_file_error(dir.file("no_mu.h5"), "missing dataset 'mu'" + layout);
  expect_file_error(dir.file("wide.h5"),
                    "dataset 'sigma': expected shape [3, 3] (d from 'mu'), got [3, 4]");
  expect_file_error(dir.file("matrix_mu.h5"),
                    "dataset 'mu': expected shape [d] with d >= 1, got [3, 1]");
  expect_file_error(dir.file("text_mu.h5"), "dataset 'mu': is not numeric" + layout);
}

TEST(StatisticsFile, ReferenceStatisticsAreCachedBySource) {
  TempDir dir;
  const std::string path = dir.file("cache/reference.h5");  // the folder is created
  at::manual_seed(3);
  const at::Tensor features = at::randn({40, 5}, at::kDouble);
  int calls = 0;
  auto produce = [&] {
    ++calls;
    return features;
  };
  const Statistics first = reference_statistics(path, "toy:pixels", produce);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(first.count, 40);
  const Statistics expected = compute_statistics(features);
  EXPECT_TRUE(at::equal(first.sigma, expected.sigma));
  const Statistics again = reference_statistics(path, "toy:pixels", produce);
  EXPECT_EQ(calls, 1) << "a matching source must reuse the file";
  EXPECT_TRUE(at::equal(again.sigma, expected.sigma));
  EXPECT_EQ(again.source, "toy:pixels");
  const Statistics other = reference_statistics(path, "toy:other", [&] {
    ++calls;
    return features.slice(0, 0, 20);
  });
  EXPECT_EQ(calls, 2) << "a different source must recompute";
  EXPECT_EQ(other.count, 20);
  EXPECT_EQ(read_statistics(path).source, "toy:other");
  // An unreadable cache file is replaced.
  { std::ofstream(path) << "garbage"; }
  (void)reference_statistics(path, "toy:pixels", produce);
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(read_statistics(path).count, 40);
}

// Found by tests/fuzz/fuzz_statistics: the 'source' attribute's variable-length string claims a
// length far beyond the file (its 4-byte length field damaged), which libhdf5 1.10 allocated and
// cleared inside H5Aread for more than 20 s; it is now refused before reading. The length,
// 0xfdfffff7, is the little-endian word in front of the global heap address in the attribute's
// stored bytes (read by hand from the file's hex dump).
TEST(StatisticsFile, FuzzRegressionHugeVariableLengthSourceIsAFileError) {
  const char* source = std::getenv("SAMPLERSEARCH_SOURCE_DIR");
  ASSERT_NE(source, nullptr);
  const std::string path =
      std::string(source) + "/tests/fuzz/regressions/fuzz_statistics/huge_vlen_source_attribute.h5";
  ASSERT_TRUE(std::filesystem::exists(path));
  expect_file_error(path,
                    "attribute 'source': the variable-length string claims 4261412855 bytes, "
                    "more than the " +
                        std::to_string(std::filesystem::file_size(path)) +
                        " bytes of the file; the file is damaged");
}

// A 'source' whose global heap object claims far more bytes than its collection holds: libhdf5
// 1.10 copied them (H5HG_read, a segmentation fault; found by fuzz_statistics). Refused first.
TEST(StatisticsFile, FuzzRegressionGlobalHeapObjectPastItsCollectionIsAFileError) {
  const char* source = std::getenv("SAMPLERSEARCH_SOURCE_DIR");
  ASSERT_NE(source, nullptr);
  const std::string path = std::string(source) +
                           "/tests/fuzz/regressions/fuzz_statistics/"
                           "global_heap_object_past_collection.h5";
  ASSERT_TRUE(std::filesystem::exists(path));
  expect_file_error(path,
                    "attribute 'source': global heap collection at 2208: object 1 claims "
                    "390842023945 bytes, the collection has 4064 left");
}

// A collection whose free space claims fewer bytes than its own header: libhdf5 1.10 walked it
// for ever while loading the collection (found by fuzz_statistics as a timeout). Refused first.
TEST(StatisticsFile, FuzzRegressionGlobalHeapFreeSpaceOfZeroBytesIsAFileError) {
  const char* source = std::getenv("SAMPLERSEARCH_SOURCE_DIR");
  ASSERT_NE(source, nullptr);
  const std::string path = std::string(source) +
                           "/tests/fuzz/regressions/fuzz_statistics/"
                           "global_heap_free_space_of_zero_bytes.h5";
  ASSERT_TRUE(std::filesystem::exists(path));
  // hexdump: "GCOL" at 2208 of size 4096; at offset 2336 in it, index 0 and a size of 0.
  expect_file_error(path,
                    "attribute 'source': global heap collection at 2208: its free space at offset "
                    "2336 claims 0 bytes, not between its header's 16 and the 1760 left");
}

// 'mu' stored compact in 1 byte for its 4 doubles: libhdf5 1.10 copied 32 bytes from the 1
// (a heap overflow; found by fuzz_statistics). Refused before the read.
TEST(StatisticsFile, FuzzRegressionCompactDatasetShorterThanItsValuesIsAFileError) {
  const char* source = std::getenv("SAMPLERSEARCH_SOURCE_DIR");
  ASSERT_NE(source, nullptr);
  const std::string path = std::string(source) +
                           "/tests/fuzz/regressions/fuzz_statistics/"
                           "compact_dataset_shorter_than_its_values.h5";
  ASSERT_TRUE(std::filesystem::exists(path));
  // h5py: f['mu'].id.get_create_plist().get_layout() == 0 (compact), get_storage_size() == 1.
  expect_file_error(path,
                    "dataset 'mu': its compact storage holds 1 bytes, its 4 values of 8 bytes "
                    "need 32");
}

// An attribute holding several values (read into one value before) is refused, naming it; a
// variable-length 'source' written by h5py is still read.
TEST(StatisticsFile, AttributesMustHoldOneValue) {
  TempDir dir;
  ASSERT_EQ(run_python_code(dir, R"(
import h5py, numpy as np
d = ")" + dir.file("") + R"("
for name, attrs in [("counts.h5", {"count": np.array([1, 2, 3], dtype=np.int64)}),
                    ("sources.h5", {"source": np.array([b"a", b"b"], dtype=h5py.string_dtype())}),
                    ("good.h5", {"count": np.int64(7), "source": "toy:pixels"})]:
    with h5py.File(d + name, "w") as f:
        f["mu"] = np.zeros(2)
        f["sigma"] = np.eye(2)
        for k, v in attrs.items():
            f.attrs[k] = v
)"),
            0);
  expect_file_error(dir.file("counts.h5"), "attribute 'count': holds 3 values, expected one");
  expect_file_error(dir.file("sources.h5"), "attribute 'source': holds 2 values, expected one");
  const Statistics good = read_statistics(dir.file("good.h5"));
  EXPECT_EQ(good.source, "toy:pixels");
  EXPECT_EQ(good.count, 7);
}

}  // namespace
}  // namespace samplersearch
