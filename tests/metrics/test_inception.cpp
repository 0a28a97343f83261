// The FID Inception against PyTorch: tests/metrics/inception_reference.py builds pytorch-fid's
// network from torchvision's Inception3 with random weights, converts them with
// scripts/convert_inception_weights and computes reference pool3 features; ours must agree.
#include <ATen/ATen.h>
#include <H5Cpp.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include "samplersearch/common/error.hpp"
#include "samplersearch/metrics/inception.hpp"
#include "samplersearch/metrics/statistics_file.hpp"

namespace samplersearch {
namespace {

namespace fs = std::filesystem;

// Float32 through 94 conv layers, BatchNorm folded here but not in PyTorch: max |ours − ref|
// relative to max |ref| (the tolerance the issue names).
constexpr double kFeatureRelTol = 1e-4;
// mu and sigma of the CLI's output against a plain double-precision loop.
constexpr double kStatsRelTol = 1e-10;

// A variable samplersearch_add_test sets, or the same value compiled in when it is unset.
std::string env(const char* name) {
  if (const char* v = std::getenv(name); v != nullptr && *v != '\0') return v;
  const std::string n = name;
  if (n == "SAMPLERSEARCH_SOURCE_DIR") return SAMPLERSEARCH_TEST_SOURCE_DIR;
  if (n == "SAMPLERSEARCH_CLI") return SAMPLERSEARCH_TEST_CLI;
  if (n == "SAMPLERSEARCH_PYTHON") return SAMPLERSEARCH_TEST_PYTHON;
  ADD_FAILURE() << name << " is not set";
  return {};
}

std::string file_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The reference files, made once per script version and shared by every test process (ctest
// runs each test alone): <test binary dir>/inception_reference_<hash>, guarded by a lock file.
const fs::path& reference_dir() {
  static const fs::path dir = [] {
    const fs::path source = env("SAMPLERSEARCH_SOURCE_DIR");
    const fs::path script = source / "tests/metrics/inception_reference.py";
    const fs::path converter = source / "scripts/convert_inception_weights";
    const size_t hash =
        std::hash<std::string>{}(file_text(script) + "\n--\n" + file_text(converter));
    const fs::path base = fs::read_symlink("/proc/self/exe").parent_path();
    const fs::path out = base / ("inception_reference_" + std::to_string(hash));
    const int lock = ::open((base / "inception_reference.lock").c_str(), O_CREAT | O_RDWR, 0644);
    EXPECT_GE(lock, 0);
    ::flock(lock, LOCK_EX);
    if (!fs::exists(out / "done")) {
      // Earlier versions' files go (about 100 MB each).
      for (const auto& entry : fs::directory_iterator(base))
        if (entry.path().filename().string().rfind("inception_reference_", 0) == 0)
          fs::remove_all(entry.path());
      const fs::path tmp = base / ("inception_reference_tmp_" + std::to_string(::getpid()));
      const std::string cmd = "'" + env("SAMPLERSEARCH_PYTHON") + "' '" + script.string() +
                              "' --converter '" + converter.string() + "' --out '" + tmp.string() +
                              "'";
      if (std::system(cmd.c_str()) == 0) {
        std::ofstream(tmp / "done") << "ok\n";
        fs::rename(tmp, out);
      } else {
        ADD_FAILURE() << "making the reference failed: " << cmd;
      }
    }
    ::flock(lock, LOCK_UN);
    ::close(lock);
    return out;
  }();
  return dir;
}

at::Tensor read_dataset(const fs::path& file, const std::string& name, at::ScalarType type) {
  H5::H5File f(file.string(), H5F_ACC_RDONLY);
  H5::DataSet ds = f.openDataSet(name);
  const H5::DataSpace space = ds.getSpace();
  std::vector<hsize_t> dims(static_cast<size_t>(space.getSimpleExtentNdims()));
  space.getSimpleExtentDims(dims.data());
  at::Tensor t = at::empty(std::vector<int64_t>(dims.begin(), dims.end()), type);
  if (type == at::kByte) ds.read(t.data_ptr<uint8_t>(), H5::PredType::NATIVE_UINT8);
  if (type == at::kFloat) ds.read(t.data_ptr<float>(), H5::PredType::NATIVE_FLOAT);
  if (type == at::kDouble) ds.read(t.data_ptr<double>(), H5::PredType::NATIVE_DOUBLE);
  return t;
}

double relative_error(const at::Tensor& ours, const at::Tensor& ref) {
  return (ours.to(at::kDouble) - ref.to(at::kDouble)).abs().max().item<double>() /
         ref.to(at::kDouble).abs().max().item<double>();
}

// The error a FidInception constructor throws for `file`.
std::string load_error(const fs::path& file) {
  try {
    FidInception net(file.string(), at::kCPU);
  } catch (const FileError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no FileError for " << file;
  return {};
}

void expect_howto(const std::string& message) {
  EXPECT_NE(message.find("pt_inception-2015-12-05-6726825d.pth"), std::string::npos) << message;
  EXPECT_NE(message.find("scripts/convert_inception_weights"), std::string::npos) << message;
  EXPECT_NE(message.find("nothing is downloaded"), std::string::npos) << message;
}

TEST(FidInception, AgreesWithPyTorchOnGreyAndRgbImages) {
  const fs::path ref = reference_dir() / "reference.h5";
  const FidInception net((reference_dir() / "weights.h5").string(), at::kCPU);
  for (const char* group : {"grey", "rgb"}) {
    const at::Tensor images = read_dataset(ref, std::string(group) + "/images", at::kByte);
    const at::Tensor expected = read_dataset(ref, std::string(group) + "/features", at::kFloat);
    const at::Tensor got = net.features(images);
    ASSERT_EQ(got.sizes(), expected.sizes()) << group;
    EXPECT_LE(relative_error(got, expected), kFeatureRelTol) << group;
  }
}

TEST(FidInception, ContiguousUnfusedAndSmallBatchesAgreeToo) {
  const fs::path ref = reference_dir() / "reference.h5";
  InceptionOptions options;
  options.channels_last = false;
  options.fuse_1x1 = false;
  options.batch_size = 2;  // 3 images: a full batch and a partial one
  const FidInception net((reference_dir() / "weights.h5").string(), at::kCPU, options);
  const at::Tensor images = read_dataset(ref, "grey/images", at::kByte);
  const at::Tensor expected = read_dataset(ref, "grey/features", at::kFloat);
  EXPECT_LE(relative_error(net.features(images), expected), kFeatureRelTol);
}

TEST(FidInception, FloatSamplesAreQuantizedToTheSameImages) {
  // Samples that land within a quarter step of the reference images' 8-bit levels quantize back to
  // exactly those images, so their features are the reference features.
  const fs::path ref = reference_dir() / "reference.h5";
  const at::Tensor images = read_dataset(ref, "rgb/images", at::kByte);
  const at::Tensor expected = read_dataset(ref, "rgb/features", at::kFloat);
  const at::Tensor levels = images.permute({0, 3, 1, 2}).to(at::kDouble);
  at::manual_seed(3);
  const at::Tensor jitter = (at::rand(levels.sizes(), at::kDouble) - 0.5) * 0.5;
  const at::Tensor samples = ((levels + jitter) / 255.0 * 2.0 - 1.0).to(at::kFloat);
  EXPECT_TRUE(at::equal(quantize_samples(samples), images));
  const FidInception net((reference_dir() / "weights.h5").string(), at::kCPU);
  EXPECT_LE(relative_error(net.sample_features(samples), expected), kFeatureRelTol);
}

TEST(FidInception, QuantizationRoundsHalfUpAndClamps) {
  // Hand-worked: v = (x + 1)/2 · 255; 8-bit value = clamp(⌊v + ½⌋, 0, 255).
  const std::vector<double> x = {-1.0,
                                 1.0,
                                 0.0,
                                 -2.0,
                                 3.0,
                                 2.0 * 10.0 / 255.0 - 1.0,
                                 2.0 * 10.49 / 255.0 - 1.0,
                                 2.0 * 10.51 / 255.0 - 1.0,
                                 2.0 * 254.5 / 255.0 - 1.0};
  const std::vector<int> expected = {0, 255, 128, 0, 255, 10, 10, 11, 255};
  const at::Tensor samples = at::tensor(x, at::kDouble).view({1, 1, 1, -1});
  const at::Tensor q = quantize_samples(samples);
  ASSERT_EQ(q.sizes(), (std::vector<int64_t>{1, 1, static_cast<int64_t>(x.size()), 1}));
  for (size_t i = 0; i < x.size(); ++i)
    EXPECT_EQ(q.flatten()[static_cast<int64_t>(i)].item<int>(), expected[i]) << "x = " << x[i];
  // Layout: [N, C, H, W] samples become [N, H, W, C] images.
  const at::Tensor rgb =
      at::stack({at::full({2, 3}, -1.0), at::full({2, 3}, 0.0), at::full({2, 3}, 1.0)})
          .unsqueeze(0);
  const at::Tensor img = quantize_samples(rgb);
  ASSERT_EQ(img.sizes(), (std::vector<int64_t>{1, 2, 3, 3}));
  EXPECT_EQ(img[0][1][2][0].item<int>(), 0);
  EXPECT_EQ(img[0][1][2][1].item<int>(), 128);
  EXPECT_EQ(img[0][1][2][2].item<int>(), 255);
}

TEST(FidInception, NonFiniteSamplesAreANumericalError) {
  const at::Tensor samples = at::tensor({0.0, NAN, 0.5, 1.0}).view({1, 1, 2, 2});
  EXPECT_THROW(quantize_samples(samples), NumericalError);
}

TEST(FidInception, MissingWeightNamesFileKeyAndHowToConvert) {
  const fs::path file = reference_dir() / "missing.h5";
  const std::string message = load_error(file);
  EXPECT_EQ(message.rfind(file.string() + ": ", 0), 0u) << message;
  EXPECT_NE(message.find("weight 'Mixed_6c.branch7x7dbl_3.bn.running_var' is missing "
                         "(expected shape [160])"),
            std::string::npos)
      << message;
  expect_howto(message);
}

TEST(FidInception, WrongShapeNamesFileKeyAndBothShapes) {
  const fs::path file = reference_dir() / "wrong_shape.h5";
  const std::string message = load_error(file);
  EXPECT_EQ(message.rfind(file.string() + ": ", 0), 0u) << message;
  EXPECT_NE(message.find("weight 'Mixed_7b.branch3x3_2a.conv.weight' has shape [3, 1, 384, 384], "
                         "expected [384, 384, 1, 3]"),
            std::string::npos)
      << message;
  expect_howto(message);
}

TEST(FidInception, TruncatedOrAbsentFileNamesFileAndHowToConvert) {
  const fs::path file = reference_dir() / "truncated.h5";
  std::string message = load_error(file);
  EXPECT_EQ(message.rfind(file.string() + ": ", 0), 0u) << message;
  EXPECT_NE(message.find("truncated"), std::string::npos) << message;
  expect_howto(message);

  const fs::path absent = reference_dir() / "no_such_weights.h5";
  message = load_error(absent);
  EXPECT_NE(message.find(absent.string() + ": the weights file does not exist"), std::string::npos)
      << message;
  expect_howto(message);
}

TEST(FidInception, WeightSpecsCoverTheStateDictInOrder) {
  // 94 BasicConv2d units (5 stem, 3×7 A, 4 B, 4×10 C, 6 D, 2×9 E), 5 entries each.
  const auto specs = inception_weight_specs();
  ASSERT_EQ(specs.size(), 94u * 5u);
  EXPECT_EQ(specs.front().key, "Conv2d_1a_3x3.conv.weight");
  EXPECT_EQ(specs.front().shape, (std::vector<int64_t>{32, 3, 3, 3}));
  EXPECT_EQ(specs.back().key, "Mixed_7c.branch_pool.bn.running_var");
  EXPECT_EQ(specs.back().shape, (std::vector<int64_t>{192}));
}

// Exit status of a shell command.
int exit_code(const std::string& cmd) {
  const int status = std::system(cmd.c_str());
  EXPECT_TRUE(WIFEXITED(status)) << cmd;
  return WEXITSTATUS(status);
}

TEST(ConvertInceptionWeights, RefusesAFileWhoseDigestIsNotThePublishedOne) {
  const fs::path dir = reference_dir();
  const fs::path err = dir / ("convert_err_" + std::to_string(::getpid()) + ".txt");
  const std::string cmd =
      "'" + env("SAMPLERSEARCH_PYTHON") + "' '" + env("SAMPLERSEARCH_SOURCE_DIR") +
      "/scripts/convert_inception_weights' '" + (dir / "images.h5").string() + "' '" +
      (dir / "never_written.h5").string() + "' 2> '" + err.string() + "'";
  EXPECT_EQ(exit_code(cmd), 3);
  const std::string message = file_text(err);
  fs::remove(err);
  EXPECT_NE(message.find("is not that of pt_inception-2015-12-05-6726825d.pth "
                         "(6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2)"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("--no-verify"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(dir / "never_written.h5"));
}

TEST(ConvertInceptionWeights, NpzStatisticsBecomeAFloat64StatisticsFile) {
  const fs::path dir = reference_dir();
  const fs::path out = dir / ("stats_" + std::to_string(::getpid()) + ".h5");
  const std::string cmd = "'" + env("SAMPLERSEARCH_PYTHON") + "' '" +
                          env("SAMPLERSEARCH_SOURCE_DIR") +
                          "/scripts/convert_inception_weights' --npz-stats '" +
                          (dir / "stats.npz").string() + "' '" + out.string() + "' > /dev/null";
  ASSERT_EQ(exit_code(cmd), 0) << cmd;
  const Statistics stats = read_statistics(out.string());
  fs::remove(out);
  ASSERT_EQ(stats.dim(), 4);
  // Hand values written by inception_reference.py: mu_i = i/2, sigma_ij = (i+1)(j+1)/4 + [i = j]
  // (exact in float32, so exact after the conversion to float64).
  for (int64_t i = 0; i < 4; ++i) {
    EXPECT_EQ(stats.mu[i].item<double>(), 0.5 * static_cast<double>(i));
    for (int64_t j = 0; j < 4; ++j)
      EXPECT_EQ(stats.sigma[i][j].item<double>(),
                0.25 * static_cast<double>((i + 1) * (j + 1)) + (i == j ? 1.0 : 0.0));
  }
  EXPECT_EQ(stats.mu.scalar_type(), at::kDouble);
}

TEST(FeaturesCommand, WritesFeaturesMeanAndUnbiasedCovariance) {
  const fs::path dir = reference_dir();
  const fs::path out =
      fs::temp_directory_path() / ("samplersearch_features_" + std::to_string(::getpid()) + ".h5");
  const std::string cmd = "'" + env("SAMPLERSEARCH_CLI") + "' features --inception '" +
                          (dir / "weights.h5").string() + "' --images '" +
                          (dir / "images.h5").string() + "' --out '" + out.string() +
                          "' --batch-size 2 --device cpu --threads 1 > /dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const at::Tensor features = read_dataset(out, "features", at::kFloat);
  const at::Tensor mu = read_dataset(out, "mu", at::kDouble);
  const at::Tensor sigma = read_dataset(out, "sigma", at::kDouble);
  fs::remove(out);
  EXPECT_LE(
      relative_error(features, read_dataset(dir / "reference.h5", "rgb/features", at::kFloat)),
      kFeatureRelTol);
  // Hand loop: mean and (n − 1)-normalized covariance of the written features.
  const int64_t n = features.size(0), d = features.size(1);
  ASSERT_EQ(mu.sizes(), (std::vector<int64_t>{d}));
  ASSERT_EQ(sigma.sizes(), (std::vector<int64_t>{d, d}));
  const auto f = features.to(at::kDouble).contiguous();
  const double* fp = f.data_ptr<double>();
  std::vector<double> mean(static_cast<size_t>(d), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j)
      mean[static_cast<size_t>(j)] += fp[i * d + j] / static_cast<double>(n);
  const double* mp = mu.data_ptr<double>();
  const double* sp = sigma.data_ptr<double>();
  double mu_err = 0, sigma_err = 0, sigma_max = 0;
  for (int64_t j = 0; j < d; ++j)
    mu_err = std::max(mu_err, std::abs(mp[j] - mean[static_cast<size_t>(j)]));
  for (int64_t a = 0; a < d; a += 7)  // every 7th row: enough to catch a wrong normalization
    for (int64_t b = 0; b < d; ++b) {
      double c = 0;
      for (int64_t i = 0; i < n; ++i)
        c += (fp[i * d + a] - mean[static_cast<size_t>(a)]) *
             (fp[i * d + b] - mean[static_cast<size_t>(b)]);
      c /= static_cast<double>(n - 1);
      sigma_err = std::max(sigma_err, std::abs(sp[a * d + b] - c));
      sigma_max = std::max(sigma_max, std::abs(c));
    }
  EXPECT_LE(mu_err, kStatsRelTol * *std::max_element(mean.begin(), mean.end()));
  EXPECT_LE(sigma_err, kStatsRelTol * sigma_max);
}

TEST(FeaturesCommand, BadImageFileIsAFileError) {
  const fs::path dir = reference_dir();
  // weights.h5 has no `images` dataset: exit code 3 (bad file).
  const std::string cmd =
      "'" + env("SAMPLERSEARCH_CLI") + "' features --inception '" + (dir / "weights.h5").string() +
      "' --images '" + (dir / "weights.h5").string() + "' --out /dev/null --threads 1 2> /dev/null";
  EXPECT_EQ(exit_code(cmd), 3);
}

}  // namespace
}  // namespace samplersearch
