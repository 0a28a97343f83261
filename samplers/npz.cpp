// NumPy .npy / .npz (numpy.lib.format): float64 arrays, the zip container through libzip.
#include "samplersearch/samplers/npz.hpp"

#include <zip.h>

#include <bit>
#include <cstring>
#include <memory>

#include "samplersearch/common/error.hpp"

namespace samplersearch {
namespace {

constexpr std::string_view kMagic = "\x93NUMPY";
constexpr size_t kAlign = 64;             // numpy.lib.format.ARRAY_ALIGN
constexpr size_t kGrowthAxisDigits = 21;  // numpy.lib.format.GROWTH_AXIS_MAX_DIGITS

// Python's repr of a shape tuple: (), (6,), (5, 5).
std::string shape_repr(const std::vector<int64_t>& shape) {
  std::string out = "(";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + (shape.size() == 1 ? ",)" : ")");
}

// The value after `'key':` in a header dict literal (trimmed), or "" when the key is absent.
std::string dict_value(std::string_view header, std::string_view key) {
  for (const char quote : {'\'', '"'}) {
    const std::string k = std::string(1, quote) + std::string(key) + quote;
    auto at = header.find(k);
    if (at == std::string_view::npos) continue;
    at = header.find(':', at + k.size());
    if (at == std::string_view::npos) return "";
    size_t begin = header.find_first_not_of(' ', at + 1);
    if (begin == std::string_view::npos) return "";
    size_t end = begin;
    if (header[begin] == '(') {
      end = header.find(')', begin);
      if (end == std::string_view::npos) return "";
      ++end;
    } else if (header[begin] == '\'' || header[begin] == '"') {
      end = header.find(header[begin], begin + 1);
      if (end == std::string_view::npos) return "";
      ++end;
    } else {
      end = header.find_first_of(",}", begin);
      if (end == std::string_view::npos) end = header.size();
    }
    std::string v(header.substr(begin, end - begin));
    while (!v.empty() && v.back() == ' ') v.pop_back();
    return v;
  }
  return "";
}

std::vector<int64_t> parse_shape(const std::string& text, const std::string& origin,
                                 const std::string& name) {
  if (text.size() < 2 || text.front() != '(' || text.back() != ')')
    throw FileError(origin, name + ": header has no shape tuple");
  std::vector<int64_t> shape;
  std::string cell;
  auto flush = [&] {
    size_t b = cell.find_first_not_of(' ');
    if (b == std::string::npos) return;
    const std::string digits = cell.substr(b, cell.find_last_not_of(' ') - b + 1);
    char* end = nullptr;
    const long long v = std::strtoll(digits.c_str(), &end, 10);
    if (digits.empty() || *end != '\0' || v < 0)
      throw FileError(origin, name + ": bad shape " + text);
    shape.push_back(v);
  };
  for (char c : text.substr(1, text.size() - 2)) {
    if (c == ',') {
      flush();
      cell.clear();
    } else {
      cell += c;
    }
  }
  flush();
  return shape;
}

template <class T>
T read_le(std::string_view bytes, size_t at) {
  T v = 0;
  for (size_t i = 0; i < sizeof(T); ++i)
    v |= static_cast<T>(static_cast<unsigned char>(bytes[at + i])) << (8 * i);
  return v;
}

double read_f8(const char* p, bool little) {
  unsigned char b[8];
  std::memcpy(b, p, 8);
  if (little != (std::endian::native == std::endian::little))
    for (int i = 0; i < 4; ++i) std::swap(b[i], b[7 - i]);
  double v;
  std::memcpy(&v, b, 8);
  return v;
}

std::string zip_message(zip_error_t* error) { return zip_error_strerror(error); }

// A libzip archive handle closed (discarding changes) on scope exit.
struct ZipDiscard {
  void operator()(zip_t* z) const { zip_discard(z); }
};

}  // namespace

NpyArray parse_npy(std::string_view bytes, const std::string& origin, const std::string& name) {
  if (bytes.size() < 10 || bytes.substr(0, kMagic.size()) != kMagic)
    throw FileError(origin, name + ": not a .npy array (no \\x93NUMPY magic)");
  const int major = static_cast<unsigned char>(bytes[6]);
  size_t header_len = 0, offset = 0;
  if (major == 1) {
    header_len = read_le<uint16_t>(bytes, 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) throw FileError(origin, name + ": truncated .npy header");
    header_len = read_le<uint32_t>(bytes, 8);
    offset = 12;
  } else {
    throw FileError(origin, name + ": .npy format version " + std::to_string(major) +
                                ".x is not one of 1.0, 2.0, 3.0");
  }
  if (bytes.size() < offset + header_len) throw FileError(origin, name + ": truncated .npy header");
  const std::string_view header = bytes.substr(offset, header_len);
  const std::string descr = dict_value(header, "descr");
  const std::string fortran = dict_value(header, "fortran_order");
  NpyArray a;
  a.shape = parse_shape(dict_value(header, "shape"), origin, name);
  if (descr != "'<f8'" && descr != "'>f8'" && descr != "\"<f8\"" && descr != "\">f8\"")
    throw FileError(
        origin, name + ": dtype " + (descr.empty() ? "(none)" : descr) + " is not float64 ('<f8')");
  if (fortran != "False" && fortran != "True")
    throw FileError(origin, name + ": header has no fortran_order");
  const bool little = descr[1] == '<';
  size_t count = 1;
  for (int64_t d : a.shape) count *= static_cast<size_t>(d);
  const std::string_view data = bytes.substr(offset + header_len);
  if (data.size() != 8 * count)
    throw FileError(origin, name + ": holds " + std::to_string(data.size()) +
                                " bytes of data, shape " + shape_repr(a.shape) + " needs " +
                                std::to_string(8 * count) + " (truncated or damaged)");
  a.data.resize(count);
  if (fortran == "False" || a.shape.size() < 2) {
    for (size_t i = 0; i < count; ++i) a.data[i] = read_f8(data.data() + 8 * i, little);
    return a;
  }
  // Fortran order: the first index varies fastest; write each entry at its C-order position.
  std::vector<int64_t> index(a.shape.size(), 0);
  for (size_t i = 0; i < count; ++i) {
    size_t c = 0;
    for (size_t d = 0; d < a.shape.size(); ++d)
      c = c * static_cast<size_t>(a.shape[d]) + static_cast<size_t>(index[d]);
    a.data[c] = read_f8(data.data() + 8 * i, little);
    for (size_t d = 0; d < a.shape.size() && ++index[d] == a.shape[d]; ++d) index[d] = 0;
  }
  return a;
}

std::string npy_bytes(const NpyArray& a) {
  std::string header =
      "{'descr': '<f8', 'fortran_order': False, 'shape': " + shape_repr(a.shape) + ", }";
  if (!a.shape.empty())
    header.append(kGrowthAxisDigits - std::to_string(a.shape.front()).size(), ' ');
  const size_t unpadded = kMagic.size() + 4 + header.size() + 1;
  header.append(kAlign - unpadded % kAlign, ' ');
  header += '\n';
  std::string out(kMagic);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  for (double v : a.data) {
    unsigned char b[8];
    std::memcpy(b, &v, 8);
    if constexpr (std::endian::native != std::endian::little)
      for (int i = 0; i < 4; ++i) std::swap(b[i], b[7 - i]);
    out.append(reinterpret_cast<const char*>(b), 8);
  }
  return out;
}

NpzArchive parse_npz(std::string_view bytes, const std::string& origin) {
  zip_error_t error;
  zip_error_init(&error);
  zip_source_t* source = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &error);
  if (!source) throw FileError(origin, "cannot read: " + zip_message(&error));
  std::unique_ptr<zip_t, ZipDiscard> zip(
      zip_open_from_source(source, ZIP_RDONLY | ZIP_CHECKCONS, &error));
  if (!zip) {
    zip_source_free(source);
    const std::string reason = zip_message(&error);
    zip_error_fini(&error);
    throw FileError(origin, "not a readable .npz (zip) archive, truncated or damaged: " + reason);
  }
  NpzArchive out;
  const zip_int64_t entries = zip_get_num_entries(zip.get(), 0);
  for (zip_int64_t i = 0; i < entries; ++i) {
    zip_stat_t st;
    if (zip_stat_index(zip.get(), static_cast<zip_uint64_t>(i), 0, &st) != 0)
      throw FileError(origin, "zip entry " + std::to_string(i) + ": " + zip_strerror(zip.get()));
    const std::string member = st.name;
    if (member.size() < 5 || member.substr(member.size() - 4) != ".npy")
      throw FileError(origin,
                      "member '" + member + "' is not an .npy array (not an np.savez file)");
    const std::string name = member.substr(0, member.size() - 4);
    zip_file_t* file = zip_fopen_index(zip.get(), static_cast<zip_uint64_t>(i), 0);
    if (!file) throw FileError(origin, name + ": " + zip_strerror(zip.get()));
    std::string data(static_cast<size_t>(st.size), '\0');
    const zip_int64_t got = data.empty() ? 0 : zip_fread(file, data.data(), st.size);
    const std::string reason = got < 0 ? zip_file_strerror(file) : "";
    zip_fclose(file);
    if (got != static_cast<zip_int64_t>(st.size))
      throw FileError(origin, name + ": cannot be read (truncated or damaged)" +
                                  (reason.empty() ? "" : ": " + reason));
    out.emplace_back(name, parse_npy(data, origin, name));
  }
  return out;
}

std::string npz_bytes(const NpzArchive& archive) {
  zip_error_t error;
  zip_error_init(&error);
  zip_source_t* buffer = zip_source_buffer_create(nullptr, 0, 0, &error);
  if (!buffer) throw Error("npz: " + zip_message(&error));
  std::unique_ptr<zip_t, ZipDiscard> zip(zip_open_from_source(buffer, ZIP_TRUNCATE, &error));
  if (!zip) {
    zip_source_free(buffer);
    throw Error("npz: " + zip_message(&error));
  }
  zip_source_keep(buffer);  // still needed after zip_close wrote into it
  std::unique_ptr<zip_source_t, decltype(&zip_source_free)> keep(buffer, zip_source_free);
  std::vector<std::string> members;  // must outlive zip_close
  members.reserve(archive.size());
  for (const auto& [name, array] : archive) {
    members.push_back(npy_bytes(array));
    zip_source_t* s = zip_source_buffer(zip.get(), members.back().data(), members.back().size(), 0);
    const zip_int64_t index =
        s ? zip_file_add(zip.get(), (name + ".npy").c_str(), s, ZIP_FL_ENC_UTF_8) : -1;
    if (index < 0) {
      if (s) zip_source_free(s);
      throw Error("npz: cannot add " + name + ": " + zip_strerror(zip.get()));
    }
    const auto i = static_cast<zip_uint64_t>(index);
    // Stored, dated 1980-01-01 00:00 as np.savez does (so the bytes depend on the arrays only).
    if (zip_set_file_compression(zip.get(), i, ZIP_CM_STORE, 0) != 0 ||
        zip_file_set_dostime(zip.get(), i, 0, (0 << 9) | (1 << 5) | 1, 0) != 0)
      throw Error("npz: " + std::string(zip_strerror(zip.get())));
  }
  if (zip_close(zip.get()) != 0) throw Error("npz: " + std::string(zip_strerror(zip.get())));
  (void)zip.release();  // closed
  zip_stat_t st;
  if (zip_source_open(buffer) != 0 || zip_source_stat(buffer, &st) != 0)
    throw Error("npz: cannot read the written archive");
  std::string out(static_cast<size_t>(st.size), '\0');
  const zip_int64_t got = zip_source_read(buffer, out.data(), st.size);
  zip_source_close(buffer);
  if (got != static_cast<zip_int64_t>(st.size)) throw Error("npz: short read of the archive");
  return out;
}

const NpyArray* find_array(const NpzArchive& archive, std::string_view name) {
  for (const auto& [n, a] : archive)
    if (n == name) return &a;
  return nullptr;
}

}  // namespace samplersearch
