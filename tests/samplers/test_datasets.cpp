// IDX reading and Fashion-MNIST, against an independent gzip + NumPy read done by the test.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "samplersearch/common/error.hpp"
#include "samplersearch/samplers/datasets.hpp"

namespace samplersearch {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// x/127.5 − 1 of integers 0…255 is one division and one subtraction: exact to 1 ulp of 1.
constexpr double kScalingTol = 1e-15;

std::string env_or_fail(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr) ADD_FAILURE() << name << " is not set (run through ctest)";
  return value == nullptr ? std::string() : std::string(value);
}

// stdout of tests/samplers/fashion_mnist_reference.py on the Fashion-MNIST directory.
json python_reference() {
  std::string command = "'";
  command += env_or_fail("SAMPLERSEARCH_PYTHON") + "' '";
  command +=
      env_or_fail("SAMPLERSEARCH_SOURCE_DIR") + "/tests/samplers/fashion_mnist_reference.py' '";
  command += fashion_mnist_dir() + "'";
  FILE* pipe = popen(command.c_str(), "r");
  EXPECT_NE(pipe, nullptr) << command;
  std::string out;
  char buffer[1 << 16];
  size_t n = 0;
  while (pipe != nullptr && (n = fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
  EXPECT_EQ(pipe == nullptr ? -1 : pclose(pipe), 0) << command;
  return json::parse(out);
}

// A fresh directory under the system temp directory, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = fs::temp_directory_path() /
            ("ss_datasets_" + std::to_string(getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(path_);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

// An IDX header: magic 0x0000080<ndims> and the big-endian dimensions.
std::string idx_header(uint32_t magic, const std::vector<uint32_t>& dims) {
  std::string out;
  auto put = [&](uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8)
      out.push_back(static_cast<char>((v >> shift) & 0xff));
  };
  put(magic);
  for (uint32_t d : dims) put(d);
  return out;
}

void write_raw(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void write_gz(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
            static_cast<int>(bytes.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
}

// The FileError message `load` throws, or "" when it throws none.
template <class F>
std::string file_error(F load) {
  try {
    load();
  } catch (const FileError& e) {
    return e.what();
  }
  return "";
}

TEST(FashionMnist, MatchesAnIndependentRead) {
  const json ref = python_reference();
  for (const std::string split : {"train", "test"}) {
    SCOPED_TRACE(split);
    const json& r = ref.at(split);
    const std::string prefix = split == "train" ? "train" : "t10k";
    const at::Tensor raw =
        load_idx_images(fashion_mnist_dir() + "/" + prefix + "-images-idx3-ubyte.gz");
    ASSERT_EQ(raw.scalar_type(), at::kByte);
    ASSERT_EQ(raw.sizes(), (std::vector<int64_t>{split == "train" ? 60000 : 10000, 28, 28}));
    EXPECT_EQ(raw.size(0), r.at("count").get<int64_t>());
    EXPECT_EQ(raw.sum(at::kLong).item<int64_t>(), r.at("pixel_sum").get<int64_t>());
    const auto first = r.at("first_image").get<std::vector<int64_t>>();
    const at::Tensor first_raw = raw[0].reshape({-1}).to(at::kLong);
    for (size_t i = 0; i < first.size(); ++i)
      ASSERT_EQ(first_raw[static_cast<int64_t>(i)].item<int64_t>(), first[i]) << "pixel " << i;

    const at::Tensor labels = fashion_mnist_labels(split);
    ASSERT_EQ(labels.scalar_type(), at::kLong);
    ASSERT_EQ(labels.size(0), r.at("label_count").get<int64_t>());
    EXPECT_EQ(labels.sum().item<int64_t>(), r.at("label_sum").get<int64_t>());
    const auto first_labels = r.at("first_labels").get<std::vector<int64_t>>();
    for (size_t i = 0; i < first_labels.size(); ++i)
      EXPECT_EQ(labels[static_cast<int64_t>(i)].item<int64_t>(), first_labels[i]) << "label " << i;

    const at::Tensor images = fashion_mnist_images(split, 100);
    ASSERT_EQ(images.scalar_type(), at::kDouble);
    ASSERT_EQ(images.sizes(), (std::vector<int64_t>{100, 1, 28, 28}));
    EXPECT_GE(images.min().item<double>(), -1.0);
    EXPECT_LE(images.max().item<double>(), 1.0);
    EXPECT_NEAR(((images + 1.0) * 127.5).sum().item<double>(), r.at("first_100_sum").get<double>(),
                1e-6);
    const at::Tensor first_scaled = images[0].reshape({-1});
    for (size_t i = 0; i < first.size(); ++i)
      ASSERT_NEAR(first_scaled[static_cast<int64_t>(i)].item<double>(),
                  static_cast<double>(first[i]) / 127.5 - 1.0, kScalingTol)
          << "pixel " << i;
  }
  // The published counts and the first training label (9, ankle boot).
  EXPECT_EQ(ref.at("train").at("count").get<int64_t>(), 60000);
  EXPECT_EQ(ref.at("test").at("count").get<int64_t>(), 10000);
  EXPECT_EQ(fashion_mnist_labels("train", 1)[0].item<int64_t>(), 9);
}

TEST(FashionMnist, LimitBeyondTheSplitIsAConfigError) {
  try {
    fashion_mnist_images("test", 10001);
    ADD_FAILURE() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "limit: asked for 10001 images but the test split has 10000");
  }
  EXPECT_EQ(fashion_mnist_labels("test", 10000).size(0), 10000);
}

TEST(FashionMnist, UnknownSplitIsAConfigError) {
  try {
    fashion_mnist_images("valid");
    ADD_FAILURE() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "split: unknown split 'valid' (valid: train, test)");
  }
}

TEST(FashionMnist, DirectoryComesFromTheEnvironment) {
  TempDir dir;
  std::string pixels(2 * 28 * 28, '\0');
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<char>(i % 256);
  write_gz(dir.file("t10k-images-idx3-ubyte.gz"), idx_header(0x803, {2, 28, 28}) + pixels);
  write_gz(dir.file("t10k-labels-idx1-ubyte.gz"), idx_header(0x801, {2}) + std::string("\x07\x03"));
  ASSERT_EQ(setenv("SAMPLERSEARCH_FASHION_MNIST", dir.file("").c_str(), 1), 0);
  EXPECT_EQ(fashion_mnist_dir(), dir.file(""));
  const at::Tensor images = fashion_mnist_images("test");
  const at::Tensor labels = fashion_mnist_labels("test");
  unsetenv("SAMPLERSEARCH_FASHION_MNIST");
  EXPECT_EQ(fashion_mnist_dir(), "/usr/share/datasets/fashion-mnist");
  ASSERT_EQ(images.sizes(), (std::vector<int64_t>{2, 1, 28, 28}));
  EXPECT_EQ(images[0][0][0][0].item<double>(), -1.0);               // byte 0
  EXPECT_EQ(images[0][0][1][3].item<double>(), 31 / 127.5 - 1.0);   // byte 31 = 1·28 + 3
  EXPECT_EQ(images[0][0][9][3].item<double>(), 255 / 127.5 - 1.0);  // byte 255 = 9·28 + 3
  EXPECT_EQ(labels[0].item<int64_t>(), 7);
  EXPECT_EQ(labels[1].item<int64_t>(), 3);
}

TEST(IdxFiles, RawFilesReadLikeCompressedOnes) {
  TempDir dir;
  const std::string body = idx_header(0x803, {3, 2, 5}) + std::string(30, '\x11');
  write_raw(dir.file("raw.idx3"), body);
  write_gz(dir.file("packed.idx3.gz"), body);
  const at::Tensor raw = load_idx_images(dir.file("raw.idx3"), 2);
  const at::Tensor packed = load_idx_images(dir.file("packed.idx3.gz"));
  EXPECT_EQ(raw.sizes(), (std::vector<int64_t>{2, 2, 5}));
  EXPECT_EQ(packed.sizes(), (std::vector<int64_t>{3, 2, 5}));
  EXPECT_TRUE(at::equal(raw, packed.narrow(0, 0, 2)));
  EXPECT_EQ(packed.sum(at::kLong).item<int64_t>(), 30 * 0x11);
}

TEST(IdxFiles, MalformedFilesAreFileErrors) {
  TempDir dir;
  // Header claims 5 images of 28×28 (16 + 3920 bytes), the file holds 2.
  const std::string truncated = dir.file("truncated-idx3-ubyte");
  write_raw(truncated, idx_header(0x803, {5, 28, 28}) + std::string(2 * 784, '\0'));
  EXPECT_EQ(file_error([&] { load_idx_images(truncated); }),
            truncated + ": truncated: expected 3936 bytes, got 1584");
  // Even when the images asked for are all there.
  EXPECT_EQ(file_error([&] { load_idx_images(truncated, 1); }),
            truncated + ": truncated: expected 3936 bytes, got 1584");

  // A gzip stream cut short: the first 3000 compressed bytes of the real training labels.
  const std::string cut = dir.file("cut-labels-idx1-ubyte.gz");
  {
    std::ifstream in(fashion_mnist_dir() + "/train-labels-idx1-ubyte.gz", std::ios::binary);
    std::string head(3000, '\0');
    in.read(head.data(), 3000);
    ASSERT_EQ(in.gcount(), 3000);
    write_raw(cut, head);
  }
  const std::string cut_message = file_error([&] { load_idx_labels(cut); });
  EXPECT_EQ(cut_message.rfind(cut + ": truncated: expected 60008 bytes, got ", 0), 0u)
      << cut_message;

  // An IDX1 (labels) file where images are expected.
  const std::string labels = dir.file("labels-idx1-ubyte.gz");
  write_gz(labels, idx_header(0x801, {2}) + std::string(2, '\0'));
  EXPECT_EQ(
      file_error([&] { load_idx_images(labels); }),
      labels + ": bad magic 0x00000801 (expected 0x00000803, unsigned bytes in 3 dimensions)");
  const std::string junk = dir.file("junk.gz");
  write_raw(junk, "PK\x03\x04 this is a zip file, not IDX");
  EXPECT_EQ(file_error([&] { load_idx_labels(junk); }),
            junk + ": bad magic 0x504b0304 (expected 0x00000801, unsigned bytes in 1 dimensions)");

  // More bytes than the header claims.
  const std::string too_long = dir.file("long-idx1-ubyte");
  write_raw(too_long, idx_header(0x801, {2}) + std::string(3, '\0'));
  EXPECT_EQ(file_error([&] { load_idx_labels(too_long); }),
            too_long + ": too long: expected 10 bytes, got 11");

  const std::string missing = dir.file("no-such-file.gz");
  EXPECT_EQ(file_error([&] { load_idx_images(missing); }),
            missing + ": cannot open: No such file or directory");
}

}  // namespace
}  // namespace samplersearch
