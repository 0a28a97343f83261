#include "samplersearch/metrics/statistics_file.hpp"

#include <ATen/ATen.h>
#include <H5Cpp.h>
#include <hdf5.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "samplersearch/common/error.hpp"
#include "samplersearch/common/files.hpp"

namespace samplersearch {
namespace {

constexpr const char* kLayout =
    "a statistics file holds float64 datasets 'mu' [d] and 'sigma' [d, d]";

std::string dims_text(const std::vector<hsize_t>& dims) {
  std::string out = "[";
  for (size_t i = 0; i < dims.size(); ++i) out += (i ? ", " : "") + std::to_string(dims[i]);
  return out + "]";
}

// Opens dataset `name`, checks it is numeric and stores its shape in `dims`.
H5::DataSet open_numeric(const H5::H5File& file, const std::string& path, const std::string& name,
                         std::vector<hsize_t>& dims) {
  if (!file.nameExists(name))
    throw FileError(path, "missing dataset '" + name + "' (" + kLayout + ")");
  H5::DataSet ds = file.openDataSet(name);
  const H5T_class_t type_class = ds.getTypeClass();
  if (type_class != H5T_FLOAT && type_class != H5T_INTEGER)
    throw FileError(path, "dataset '" + name + "': is not numeric (" + kLayout + ")");
  const H5::DataSpace space = ds.getSpace();
  dims.assign(static_cast<size_t>(space.getSimpleExtentNdims()), 0);
  space.getSimpleExtentDims(dims.data());
  return ds;
}

// A no-op conversion from a variable-length string to an opaque type of the same on-disk size:
// H5Aread then hands back the attribute's stored bytes, i.e. the disk form of a variable-length
// string (HDF5 File Format Specification 2.0, section IV.B "Datatype message", variable-length
// class: a 4-byte little-endian length followed by the global heap ID), without following the
// heap reference. Registered as a soft conversion (HDF5 User's Guide, "Datatype conversion"),
// it applies only to the pair variable-length -> opaque, which the library has no conversion for.
herr_t raw_vlen_bytes(hid_t src, hid_t dst, H5T_cdata_t* cdata, size_t /*nelmts*/,
                      size_t /*buf_stride*/, size_t /*bkg_stride*/, void* /*buf*/, void* /*bkg*/,
                      hid_t /*dxpl*/) {
  if (cdata->command == H5T_CONV_INIT) {
    cdata->need_bkg = H5T_BKG_NO;
    // In place and byte for byte: only when both sides have the same size.
    if (H5Tget_class(dst) != H5T_OPAQUE || H5Tget_size(src) != H5Tget_size(dst)) return -1;
  }
  return 0;
}

// Registers raw_vlen_bytes once per process.
void register_raw_vlen_bytes() {
  static const bool registered = [] {
    const hid_t vlen = H5Tcopy(H5T_C_S1);
    H5Tset_size(vlen, H5T_VARIABLE);
    const hid_t opaque = H5Tcreate(H5T_OPAQUE, 16);
    const herr_t status = H5Tregister(H5T_PERS_SOFT, "samplersearch raw variable-length bytes",
                                      vlen, opaque, raw_vlen_bytes);
    H5Tclose(opaque);
    H5Tclose(vlen);
    return status >= 0;
  }();
  (void)registered;
}

// Length in bytes a scalar variable-length string attribute claims, read from its stored bytes
// (see raw_vlen_bytes), or -1 when they cannot be read that way.
int64_t claimed_vlen_length(const H5::Attribute& attribute) {
  register_raw_vlen_bytes();
  const hsize_t stored = attribute.getStorageSize();
  if (stored < 4 || stored > 64) return -1;
  const hid_t opaque = H5Tcreate(H5T_OPAQUE, static_cast<size_t>(stored));
  if (opaque < 0) return -1;
  std::vector<unsigned char> bytes(static_cast<size_t>(stored));
  herr_t status = -1;
  H5E_BEGIN_TRY { status = H5Aread(attribute.getId(), opaque, bytes.data()); }
  H5E_END_TRY;
  H5Tclose(opaque);
  if (status < 0) return -1;
  return static_cast<int64_t>(bytes[0]) | static_cast<int64_t>(bytes[1]) << 8 |
         static_cast<int64_t>(bytes[2]) << 16 | static_cast<int64_t>(bytes[3]) << 24;
}

// Opens attribute `name` and checks it holds exactly one value (a scalar, or one element).
H5::Attribute open_single_attribute(const H5::H5File& file, const std::string& path,
                                    const std::string& name) {
  H5::Attribute attribute = file.openAttribute(name);
  const hssize_t points = attribute.getSpace().getSimpleExtentNpoints();
  if (points != 1)
    throw FileError(path, "attribute '" + name + "': holds " + std::to_string(points) +
                              " values, expected one");
  return attribute;
}

at::Tensor read_double(const H5::DataSet& ds, std::vector<int64_t> shape) {
  at::Tensor out = at::empty(shape, at::kDouble);
  if (out.numel() > 0) ds.read(out.data_ptr<double>(), H5::PredType::NATIVE_DOUBLE);
  return out;
}

void write_double(H5::H5File& file, const std::string& name, const at::Tensor& t) {
  const at::Tensor c = t.to(at::kCPU, at::kDouble).contiguous();
  std::vector<hsize_t> dims;
  for (const int64_t s : c.sizes()) dims.push_back(static_cast<hsize_t>(s));
  H5::DataSpace space(static_cast<int>(dims.size()), dims.data());
  H5::DataSet ds = file.createDataSet(name, H5::PredType::IEEE_F64LE, space);
  ds.write(c.data_ptr<double>(), H5::PredType::NATIVE_DOUBLE);
}

}  // namespace

void write_statistics(const std::string& path, const Statistics& stats) {
  if (!stats.mu.defined() || stats.mu.dim() != 1 || stats.mu.size(0) == 0)
    throw ConfigError("statistics", "mu must be a non-empty vector");
  const int64_t d = stats.mu.size(0);
  if (!stats.sigma.defined() || stats.sigma.dim() != 2 || stats.sigma.size(0) != d ||
      stats.sigma.size(1) != d)
    throw ConfigError("statistics", "sigma must be " + std::to_string(d) + " x " +
                                        std::to_string(d) + " to match mu");
  H5::Exception::dontPrint();
  try {
    write_file_atomically(path, [&](const std::string& tmp) {
      H5::H5File file(tmp, H5F_ACC_TRUNC);
      write_double(file, "mu", stats.mu);
      write_double(file, "sigma", stats.sigma);
      const H5::DataSpace scalar(H5S_SCALAR);
      H5::Attribute count = file.createAttribute("count", H5::PredType::STD_I64LE, scalar);
      const int64_t n = stats.count;
      count.write(H5::PredType::NATIVE_INT64, &n);
      const H5::StrType string_type(H5::PredType::C_S1, H5T_VARIABLE);
      H5::Attribute source = file.createAttribute("source", string_type, scalar);
      source.write(string_type, H5std_string(stats.source));
    });
  } catch (const H5::Exception& e) {
    throw FileError(path, "cannot write the statistics file: " + e.getDetailMsg());
  } catch (const std::filesystem::filesystem_error& e) {
    throw FileError(path, std::string("cannot write the statistics file: ") + e.what());
  }
}

Statistics read_statistics(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw FileError(path, "no such file");
  H5::Exception::dontPrint();
  H5::H5File file;
  try {
    file.openFile(path, H5F_ACC_RDONLY);
  } catch (const H5::Exception&) {
    throw FileError(path, "not a readable HDF5 file (" + std::string(kLayout) + ")");
  }
  try {
    Statistics stats;
    std::vector<hsize_t> mu_dims;
    const H5::DataSet mu = open_numeric(file, path, "mu", mu_dims);
    if (mu_dims.size() != 1 || mu_dims[0] == 0)
      throw FileError(path,
                      "dataset 'mu': expected shape [d] with d >= 1, got " + dims_text(mu_dims));
    const auto d = static_cast<int64_t>(mu_dims[0]);
    std::vector<hsize_t> sigma_dims;
    const H5::DataSet sigma = open_numeric(file, path, "sigma", sigma_dims);
    if (sigma_dims.size() != 2 || sigma_dims[0] != mu_dims[0] || sigma_dims[1] != mu_dims[0])
      throw FileError(path, "dataset 'sigma': expected shape [" + std::to_string(d) + ", " +
                                std::to_string(d) + "] (d from 'mu'), got " +
                                dims_text(sigma_dims));
    stats.mu = read_double(mu, {d});
    stats.sigma = read_double(sigma, {d, d});
    if (file.attrExists("count")) {
      const H5::Attribute count = open_single_attribute(file, path, "count");
      int64_t n = 0;
      count.read(H5::PredType::NATIVE_INT64, &n);
      stats.count = n;
    }
    if (file.attrExists("source")) {
      const H5::Attribute source = open_single_attribute(file, path, "source");
      if (source.getTypeClass() == H5T_STRING) {
        // libhdf5 allocates and clears the length a variable-length string claims before
        // reading it from the global heap: a damaged length longer than the whole file is
        // refused before H5Aread.
        if (source.getStrType().isVariableStr()) {
          const int64_t claimed = claimed_vlen_length(source);
          const auto file_size = static_cast<int64_t>(std::filesystem::file_size(path));
          if (claimed < 0)
            throw FileError(path, "attribute 'source': unreadable variable-length string");
          if (claimed > file_size)
            throw FileError(path, "attribute 'source': the variable-length string claims " +
                                      std::to_string(claimed) + " bytes, more than the " +
                                      std::to_string(file_size) +
                                      " bytes of the file; the file is damaged");
        }
        H5std_string text;
        source.read(source.getStrType(), text);
        stats.source = text;
      }
    }
    return stats;
  } catch (const H5::Exception& e) {
    throw FileError(path, "truncated or unreadable statistics file: " + e.getDetailMsg());
  }
}

Statistics reference_statistics(const std::string& path, const std::string& source,
                                const std::function<at::Tensor()>& features) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    try {
      Statistics cached = read_statistics(path);
      if (cached.source == source) return cached;
    } catch (const FileError&) {
      // A stale or broken cache is recomputed below.
    }
  }
  Statistics stats = compute_statistics(features(), source);
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  write_statistics(path, stats);
  return stats;
}

}  // namespace samplersearch
