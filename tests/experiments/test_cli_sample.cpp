// samplersearch sample through the real CLI on the embedded default (the Fashion-MNIST exact
// denoiser): uint8 HDF5 images, a PNG grid and a folder of PNGs of the same samples, the same
// bytes for the same seed, and its flag errors. The PNGs are decoded with libpng's simplified
// read API (libpng 1.6 manual §V), independently of the writer's pixel layout.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <png.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cli_runner.hpp"
#include "samplersearch/metrics/inception.hpp"

namespace samplersearch {
namespace {

namespace fs = std::filesystem;
using test::cli;
using test::CliRun;

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("ss_sample_" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

// A decoded 8-bit grey PNG.
struct Grey {
  int width = 0, height = 0;
  std::vector<uint8_t> pixels;  // row-major
  uint8_t at(int x, int y) const { return pixels[static_cast<size_t>(y) * width + x]; }
};

Grey read_grey_png(const fs::path& file) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  Grey g;
  if (png_image_begin_read_from_file(&image, file.c_str()) == 0) {
    ADD_FAILURE() << file << ": " << image.message;
    return g;
  }
  EXPECT_EQ(image.format, static_cast<png_uint_32>(PNG_FORMAT_GRAY)) << file;
  image.format = PNG_FORMAT_GRAY;
  g.width = static_cast<int>(image.width);
  g.height = static_cast<int>(image.height);
  g.pixels.resize(PNG_IMAGE_SIZE(image));
  EXPECT_NE(png_image_finish_read(&image, nullptr, g.pixels.data(), 0, nullptr), 0)
      << file << ": " << image.message;
  return g;
}

std::string file_bytes(const fs::path& file) {
  std::string bytes(fs::file_size(file), '\0');
  std::ifstream in(file, std::ios::binary);
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  EXPECT_TRUE(in.good()) << file;
  return bytes;
}

// The embedded default at 3 steps of DPM-Solver++(2M): 5 samples of noise stream `seed`.
CliRun sample(const std::string& out, int seed) {
  return cli("sample --steps 3 --samples 5 --seed " + std::to_string(seed) + " --out '" + out +
             "'");
}

TEST(CliSample, ImagesGridAndFolderHoldTheSameSamples) {
  TempDir dir;
  const fs::path h5 = dir.path / "a.h5", png = dir.path / "a.png", folder = dir.path / "each";
  for (const fs::path& out : {h5, png, folder}) {
    const CliRun r = sample(out.string(), 7);
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("5 samples (dpmsolver++, 3 steps) → " + out.string()), std::string::npos)
        << r.out;
  }

  // uint8 [5, 28, 28, 1] (Fashion-MNIST's shape).
  EXPECT_EQ(image_file_shape(h5.string()), (std::vector<int64_t>{5, 28, 28, 1}));
  const at::Tensor images = read_image_file(h5.string(), 0, 5);
  ASSERT_EQ(images.scalar_type(), at::kByte);
  const auto px = images.accessor<uint8_t, 4>();
  // Fashion-MNIST garments lie on a black background: each sample (an average of training images
  // near its noise at the end) spans dark background and bright cloth, and its corner is dark.
  for (int i = 0; i < 5; ++i) {
    const at::Tensor one = images[i].to(at::kInt);
    EXPECT_LE(one.min().item<int>(), 10) << "sample " << i;
    EXPECT_GE(one.max().item<int>(), 150) << "sample " << i;
    EXPECT_LE(px[i][0][0][0], 30) << "sample " << i;
  }
  // Five different samples.
  for (int i = 1; i < 5; ++i) EXPECT_FALSE(at::equal(images[0], images[i])) << "sample " << i;

  // The grid: ceil(sqrt(5)) = 3 columns, 2 rows of 28×28 tiles with 1-pixel white gaps, the
  // sixth cell white; tile i holds image i's bytes.
  const Grey grid = read_grey_png(png);
  ASSERT_EQ(grid.width, 3 * 28 + 2);
  ASSERT_EQ(grid.height, 2 * 28 + 1);
  for (int i = 0; i < 6; ++i) {
    const int x0 = (i % 3) * 29, y0 = (i / 3) * 29;
    for (int y = 0; y < 28; ++y)
      for (int x = 0; x < 28; ++x)
        ASSERT_EQ(grid.at(x0 + x, y0 + y), i < 5 ? px[i][y][x][0] : 255)
            << "tile " << i << " pixel " << x << "," << y;
  }
  for (int y = 0; y < grid.height; ++y) EXPECT_EQ(grid.at(28, y), 255) << "gap row " << y;
  for (int x = 0; x < grid.width; ++x) EXPECT_EQ(grid.at(x, 28), 255) << "gap column " << x;

  // The folder: 000000.png … 000004.png, one sample each.
  for (int i = 0; i < 5; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "%06d.png", i);
    const Grey one = read_grey_png(folder / name);
    ASSERT_EQ(one.width, 28);
    ASSERT_EQ(one.height, 28);
    for (int y = 0; y < 28; ++y)
      for (int x = 0; x < 28; ++x)
        ASSERT_EQ(one.at(x, y), px[i][y][x][0]) << name << " pixel " << x << "," << y;
  }
  EXPECT_FALSE(fs::exists(folder / "000005.png"));
}

TEST(CliSample, TheSameSeedGivesTheSameBytes) {
  TempDir dir;
  ASSERT_EQ(sample((dir.path / "a.png").string(), 3).status, 0);
  ASSERT_EQ(sample((dir.path / "b.png").string(), 3).status, 0);
  ASSERT_EQ(sample((dir.path / "c.png").string(), 4).status, 0);
  EXPECT_EQ(file_bytes(dir.path / "a.png"), file_bytes(dir.path / "b.png"));
  EXPECT_NE(file_bytes(dir.path / "a.png"), file_bytes(dir.path / "c.png"));

  ASSERT_EQ(sample((dir.path / "a.h5").string(), 3).status, 0);
  ASSERT_EQ(sample((dir.path / "b.h5").string(), 3).status, 0);
  EXPECT_TRUE(at::equal(read_image_file((dir.path / "a.h5").string(), 0, 5),
                        read_image_file((dir.path / "b.h5").string(), 0, 5)));
}

TEST(CliSample, BadFlagsAreNamed) {
  TempDir dir;
  const std::string out = (dir.path / "x.png").string();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"sample --solver ddim --matrix m.json --out " + out,
       "--solver: give --solver or --matrix, not both"},
      {"sample --samples 0 --out " + out, "--samples: must be >= 1"},
      {"sample --steps 0 --out " + out, "--steps: must be >= 1"},
      {"sample --out " + (dir.path / "x.txt").string(), "--out: must end in .png or .h5"},
      {"sample --solver nope --steps 2 --samples 1 --out " + out,
       "--solver: unknown classic sampler 'nope'"},
  };
  for (const auto& [args, message] : cases) {
    const CliRun r = cli(args);
    EXPECT_EQ(r.status, 2) << args << ": " << r.out;
    EXPECT_NE(r.out.find("samplersearch: error: " + message), std::string::npos) << r.out;
  }
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace
}  // namespace samplersearch
