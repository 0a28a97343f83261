// write_png_grid: sample images as one PNG grid. A minimal PNG encoder (8-bit grey or RGB, no
// interlace, filter type 0 on every row, one zlib-compressed IDAT chunk, CRC-32 from zlib).
#include <ATen/ATen.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "samplersearch/common/error.hpp"
#include "samplersearch/experiments/report.hpp"

namespace samplersearch {
namespace {

// The value of the 1-pixel gap between tiles and of the cells after the last image: white.
constexpr uint8_t kGap = 255;

void put_u32(std::string& out, uint32_t v) {
  out.push_back(static_cast<char>((v >> 24) & 0xff));
  out.push_back(static_cast<char>((v >> 16) & 0xff));
  out.push_back(static_cast<char>((v >> 8) & 0xff));
  out.push_back(static_cast<char>(v & 0xff));
}

// One chunk: length, type, data, CRC-32 of type and data.
void put_chunk(std::string& out, const char* type, const std::string& data) {
  put_u32(out, static_cast<uint32_t>(data.size()));
  const std::string body = std::string(type, 4) + data;
  out += body;
  const uLong crc = crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(body.data()),
                          static_cast<uInt>(body.size()));
  put_u32(out, static_cast<uint32_t>(crc));
}

// The PNG file of a width×height image of `channels` (1 or 3) 8-bit samples, row-major.
std::string encode_png(int width, int height, int channels, const std::vector<uint8_t>& pixels) {
  const size_t stride = static_cast<size_t>(width) * static_cast<size_t>(channels);
  std::vector<uint8_t> raw;  // each row: filter type 0, then the row's samples
  raw.reserve((stride + 1) * static_cast<size_t>(height));
  for (int y = 0; y < height; ++y) {
    raw.push_back(0);
    const auto* row = pixels.data() + static_cast<size_t>(y) * stride;
    raw.insert(raw.end(), row, row + stride);
  }
  uLongf packed_size = compressBound(static_cast<uLong>(raw.size()));
  std::string packed(packed_size, '\0');
  const int rc = compress2(reinterpret_cast<Bytef*>(packed.data()), &packed_size, raw.data(),
                           static_cast<uLong>(raw.size()), Z_BEST_COMPRESSION);
  if (rc != Z_OK) throw Error("png: zlib compress2 failed (" + std::to_string(rc) + ")");
  packed.resize(packed_size);

  std::string header;
  put_u32(header, static_cast<uint32_t>(width));
  put_u32(header, static_cast<uint32_t>(height));
  header.push_back(8);                                         // bit depth
  header.push_back(static_cast<char>(channels == 1 ? 0 : 2));  // colour type: grey | RGB
  header.push_back(0);                                         // compression: deflate
  header.push_back(0);                                         // filter method 0
  header.push_back(0);                                         // no interlace

  std::string png("\x89PNG\r\n\x1a\n", 8);
  put_chunk(png, "IHDR", header);
  put_chunk(png, "IDAT", packed);
  put_chunk(png, "IEND", "");
  return png;
}

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

  const std::string png =
      encode_png(static_cast<int>(width), static_cast<int>(height), static_cast<int>(c), pixels);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw FileError(path, std::string("cannot write: ") + std::strerror(errno));
  out.write(png.data(), static_cast<std::streamsize>(png.size()));
  out.close();
  if (!out) throw FileError(path, std::string("write failed: ") + std::strerror(errno));
}

}  // namespace samplersearch
