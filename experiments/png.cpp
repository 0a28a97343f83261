// write_png_grid: sample images as one PNG grid, encoded by libpng's simplified write API
// (png_image_write_to_file, libpng 1.6 manual §V "Simplified API"): 8-bit grey or RGB.
#include <ATen/ATen.h>
#include <png.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "samplersearch/common/error.hpp"
#include "samplersearch/experiments/report.hpp"

namespace samplersearch {
namespace {

// The value of the 1-pixel gap between tiles and of the cells after the last image: white.
constexpr uint8_t kGap = 255;

// x in [-1, 1] -> round((x + 1)·127.5) clamped to [0, 255] (halves away from 0; NaN -> 0).
uint8_t to_byte(double x) {
  if (std::isnan(x)) return 0;
  const double v = std::round((x + 1.0) * 127.5);
  return static_cast<uint8_t>(std::clamp(v, 0.0, 255.0));
}

// "[2, 3]", "a scalar" or "an undefined tensor", for messages.
std::string shape_text(const at::Tensor& t) {
  if (!t.defined()) return "an undefined tensor";
  if (t.dim() == 0) return "a scalar";
  std::string s;
  for (const int64_t d : t.sizes()) s += (s.empty() ? "[" : ", ") + std::to_string(d);
  return s + "]";
}

}  // namespace

void write_png_grid(const at::Tensor& images, int columns, const std::string& path) {
  if (!images.defined() || images.dim() != 4 || (images.size(1) != 1 && images.size(1) != 3) ||
      images.size(0) < 1 || images.size(2) < 1 || images.size(3) < 1)
    throw ConfigError("images", "expected a tensor [n, c, h, w] with n >= 1 and c = 1 or 3, got " +
                                    shape_text(images));
  if (columns < 1) throw ConfigError("columns", "must be >= 1, got " + std::to_string(columns));
  const int64_t n = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
  const int64_t cols = columns;  // as asked, even when n < columns (white cells then)
  const int64_t rows = (n + cols - 1) / cols;
  const int64_t width = cols * w + (cols - 1), height = rows * h + (rows - 1);
  if (width > (1 << 24) || height > (1 << 24))
    throw ConfigError("images", "grid of " + std::to_string(width) + "x" + std::to_string(height) +
                                    " pixels is too large for a PNG");

  const at::Tensor data = images.detach().to(at::kCPU, at::kDouble).contiguous();
  const double* src = data.data_ptr<double>();
  std::vector<uint8_t> pixels(static_cast<size_t>(width * height * c), kGap);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t x0 = (i % cols) * (w + 1), y0 = (i / cols) * (h + 1);
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x)
        for (int64_t ch = 0; ch < c; ++ch)
          pixels[static_cast<size_t>(((y0 + y) * width + x0 + x) * c + ch)] =
              to_byte(src[((i * c + ch) * h + y) * w + x]);
  }

  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(width);
  image.height = static_cast<png_uint_32>(height);
  image.format = c == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  const auto stride = static_cast<png_int_32>(width * c);
  // On failure libpng removes the partial file and leaves the reason (fopen's strerror for a
  // path that cannot be created) in image.message.
  if (png_image_write_to_file(&image, path.c_str(), 0, pixels.data(), stride, nullptr) == 0)
    throw FileError(path, std::string("cannot write: ") + image.message);
  png_image_free(&image);
}

}  // namespace samplersearch
