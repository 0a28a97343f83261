#include "samplersearch/samplers/datasets.hpp"

#include <ATen/ATen.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <mutex>
#include <vector>

#include "samplersearch/common/error.hpp"

namespace samplersearch {
namespace {

constexpr const char* kDefaultFashionMnistDir = "/usr/share/datasets/fashion-mnist";
constexpr int64_t kIdxHeaderMagicBytes = 4;

// A file read through zlib: gzip-compressed when it carries the gzip header, raw otherwise
// (zlib's transparent mode); closes itself.
class IdxStream {
 public:
  explicit IdxStream(const std::string& path) : path_(path) {
    errno = 0;
    file_ = gzopen(path.c_str(), "rb");
    if (file_ == nullptr)
      throw FileError(path, std::string("cannot open: ") +
                                (errno != 0 ? std::strerror(errno) : "out of memory"));
    gzbuffer(file_, 1 << 17);
  }
  IdxStream(const IdxStream&) = delete;
  IdxStream& operator=(const IdxStream&) = delete;
  ~IdxStream() { gzclose(file_); }

  // Reads up to `size` bytes into `out`; returns how many it got (fewer only at the end).
  int64_t read(void* out, int64_t size) {
    int64_t got = 0;
    auto* bytes = static_cast<unsigned char*>(out);
    while (got < size) {
      const auto chunk =
          static_cast<unsigned>(std::min<int64_t>(size - got, std::numeric_limits<int>::max() / 2));
      const int n = gzread(file_, bytes + got, chunk);
      if (n < 0) {
        int code = 0;
        const char* message = gzerror(file_, &code);
        throw FileError(path_, std::string("read error: ") + message);
      }
      if (n == 0) break;
      got += n;
    }
    return got;
  }

  // Reads and discards everything left; returns how many bytes that was.
  int64_t drain() {
    std::vector<unsigned char> scratch(1 << 17);
    int64_t total = 0;
    for (;;) {
      const int64_t n = read(scratch.data(), static_cast<int64_t>(scratch.size()));
      total += n;
      if (n < static_cast<int64_t>(scratch.size())) return total;
    }
  }

 private:
  std::string path_;
  gzFile file_ = nullptr;
};

// "0x00000803".
std::string hex32(uint32_t value) {
  std::array<char, 16> buffer{};
  std::snprintf(buffer.data(), buffer.size(), "0x%08x", value);
  return buffer.data();
}

// Reads an IDX file of unsigned bytes with `ndims` dimensions: checks the magic number, the
// dimensions and that the file holds exactly the bytes its header claims; at most `limit` items
// along the first dimension are kept (all when limit < 0).
at::Tensor load_idx(const std::string& path, int ndims, int64_t limit) {
  IdxStream in(path);
  const int64_t header_bytes = kIdxHeaderMagicBytes + 4 * int64_t{ndims};
  std::vector<unsigned char> header(static_cast<size_t>(header_bytes));
  const int64_t got_header = in.read(header.data(), header_bytes);
  auto be32 = [&](int64_t at) {
    const auto* p = header.data() + at;
    return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
  };
  const uint32_t expected_magic = 0x00000800u | static_cast<uint32_t>(ndims);
  if (got_header < kIdxHeaderMagicBytes)
    throw FileError(path, "truncated: expected at least " + std::to_string(header_bytes) +
                              " bytes, got " + std::to_string(got_header));
  const uint32_t magic = be32(0);
  if (magic != expected_magic)
    throw FileError(path, "bad magic " + hex32(magic) + " (expected " + hex32(expected_magic) +
                              ", unsigned bytes in " + std::to_string(ndims) + " dimensions)");
  if (got_header < header_bytes)
    throw FileError(path, "truncated: expected at least " + std::to_string(header_bytes) +
                              " bytes, got " + std::to_string(got_header));

  std::vector<int64_t> dims(static_cast<size_t>(ndims));
  int64_t item_bytes = 1;
  for (int i = 0; i < ndims; ++i) {
    dims[static_cast<size_t>(i)] = be32(kIdxHeaderMagicBytes + 4 * i);
    if (i > 0) {
      if (dims[static_cast<size_t>(i)] == 0)
        throw FileError(path, "bad dims: dimension " + std::to_string(i) + " is 0");
      item_bytes *= dims[static_cast<size_t>(i)];
    }
  }
  // Every dimension is below 2^32 and there are at most 3, so item_bytes·count fits in int64
  // unless the header is absurd; reject that as a bad header rather than overflow.
  const int64_t count = dims[0];
  if (item_bytes > (int64_t{1} << 40) / std::max<int64_t>(1, count))
    throw FileError(path, "bad dims: header claims more than 2^40 bytes");
  const int64_t expected_total = header_bytes + count * item_bytes;

  const int64_t keep = limit < 0 ? count : std::min(limit, count);
  dims[0] = keep;
  at::Tensor out = at::empty(dims, at::TensorOptions().dtype(at::kByte));
  const int64_t got_data = in.read(out.data_ptr<uint8_t>(), keep * item_bytes);
  // The rest of the file is read (and dropped) so a truncated or over-long file is always caught.
  const int64_t got_total = header_bytes + got_data + in.drain();
  if (got_total < expected_total)
    throw FileError(path, "truncated: expected " + std::to_string(expected_total) + " bytes, got " +
                              std::to_string(got_total));
  if (got_total > expected_total)
    throw FileError(path, "too long: expected " + std::to_string(expected_total) + " bytes, got " +
                              std::to_string(got_total));
  return out;
}

// The IDX file name prefix of a Fashion-MNIST split; ConfigError for an unknown split.
std::string split_prefix(const std::string& split) {
  if (split == "train") return "train";
  if (split == "test") return "t10k";
  throw ConfigError("split", "unknown split '" + split + "' (valid: train, test)");
}

// ConfigError when `limit` asks for more items than the split has.
void check_limit(const std::string& split, int64_t limit, int64_t available, const char* what) {
  if (limit > available)
    throw ConfigError("limit", "asked for " + std::to_string(limit) + " " + what + " but the " +
                                   split + " split has " + std::to_string(available));
}

}  // namespace

at::Tensor load_idx_images(const std::string& path, int64_t limit) {
  return load_idx(path, 3, limit);
}

at::Tensor load_idx_labels(const std::string& path, int64_t limit) {
  return load_idx(path, 1, limit);
}

std::string fashion_mnist_dir() {
  const char* env = std::getenv("SAMPLERSEARCH_FASHION_MNIST");
  return env != nullptr && env[0] != '\0' ? std::string(env) : std::string(kDefaultFashionMnistDir);
}

namespace {

// The whole IDX file at `path`, read once per process: a search asks for the training images
// several times (the model's data, the metric's data side, the classifier), and each read
// decompresses and checks the whole file. Keyed by path, size and modification time (a file
// rewritten in place is read again); failures are not kept (the next call reads again).
at::Tensor cached_idx(const std::string& path, int ndims) {
  static std::mutex mutex;
  static std::map<std::string, at::Tensor> files;
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  const auto mtime = std::filesystem::last_write_time(path, ec);
  if (ec) return load_idx(path, ndims, -1);  // (names the file and the reason)
  const std::string key = path + '\n' + std::to_string(ndims) + '\n' + std::to_string(size) + '\n' +
                          std::to_string(mtime.time_since_epoch().count());
  std::lock_guard lock(mutex);
  if (const auto it = files.find(key); it != files.end()) return it->second;
  at::Tensor raw = load_idx(path, ndims, -1);
  files.emplace(key, raw);
  return raw;
}

}  // namespace

// x/127.5 − 1 of the uint8 images, as float64 [N, 1, 28, 28].
at::Tensor fashion_mnist_images(const std::string& split, int64_t limit) {
  const std::string path =
      fashion_mnist_dir() + "/" + split_prefix(split) + "-images-idx3-ubyte.gz";
  const at::Tensor all = cached_idx(path, 3);
  check_limit(split, limit, all.size(0), "images");
  if (all.size(1) != 28 || all.size(2) != 28)
    throw FileError(path, "bad dims: images are " + std::to_string(all.size(1)) + "x" +
                              std::to_string(all.size(2)) + ", expected 28x28");
  const at::Tensor raw = limit < 0 ? all : all.slice(0, 0, limit);
  // One float64 buffer, scaled in place: the same values as (raw / 127.5 − 1) in float64.
  return raw.to(at::kDouble).div_(127.5).sub_(1.0).unsqueeze(1);
}

at::Tensor fashion_mnist_labels(const std::string& split, int64_t limit) {
  const std::string path =
      fashion_mnist_dir() + "/" + split_prefix(split) + "-labels-idx1-ubyte.gz";
  const at::Tensor all = cached_idx(path, 1);
  check_limit(split, limit, all.size(0), "labels");
  return (limit < 0 ? all : all.slice(0, 0, limit)).to(at::kLong);
}

}  // namespace samplersearch
