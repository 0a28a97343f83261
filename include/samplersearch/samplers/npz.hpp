#pragma once
// NumPy's .npy arrays and .npz archives (numpy.lib.format, version 1.0–3.0; np.savez and
// np.savez_compressed), float64 only: what matrix files need. Parsers are functions of bytes.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace samplersearch {

// One float64 array: its shape and its entries in row-major (C) order.
struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<double> data;
};

// The named arrays of an .npz archive, in archive order (np.load(...).values() order).
using NpzArchive = std::vector<std::pair<std::string, NpyArray>>;

// An .npy file's array: dtype '<f8' (or '>f8', converted), Fortran order transposed to C order.
// FileError(origin, "<name>: <reason>") on a bad header, another dtype or short data.
NpyArray parse_npy(std::string_view bytes, const std::string& origin, const std::string& name);
// The .npy bytes np.save writes for this array (format 1.0, '<f8', header padded to 64 bytes).
std::string npy_bytes(const NpyArray& array);

// The arrays of an .npz archive (zip, stored or deflated; members "<name>.npy").
// FileError(origin, …) for a damaged or truncated zip or a bad member.
NpzArchive parse_npz(std::string_view bytes, const std::string& origin);
// The bytes of an .npz archive as np.savez writes it: one stored member "<name>.npy" per array.
std::string npz_bytes(const NpzArchive& archive);

// The array `name` of `archive`, or nullptr.
const NpyArray* find_array(const NpzArchive& archive, std::string_view name);

}  // namespace samplersearch
