#include "samplersearch/metrics/statistics_file.hpp"

#include <ATen/ATen.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "samplersearch/common/error.hpp"
#include "samplersearch/common/files.hpp"
#include "samplersearch/common/hdf5.hpp"

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
hdf5::Handle open_numeric(hid_t file, const std::string& path, const std::string& name,
                          std::vector<hsize_t>& dims) {
  if (!hdf5::has_object(file, name))
    throw FileError(path, "missing dataset '" + name + "' (" + kLayout + ")");
  hdf5::Handle ds(H5Dopen2(file, name.c_str(), H5P_DEFAULT), "open dataset " + name);
  const hdf5::Handle type(H5Dget_type(ds), "type of " + name);
  const H5T_class_t type_class = H5Tget_class(type);
  if (type_class != H5T_FLOAT && type_class != H5T_INTEGER)
    throw FileError(path, "dataset '" + name + "': is not numeric (" + kLayout + ")");
  dims = hdf5::dataset_dims(ds);
  return ds;
}

at::Tensor read_double(hid_t ds, std::vector<int64_t> shape, const std::string& what) {
  at::Tensor out = at::empty(shape, at::kDouble);
  hdf5::read_dataset(ds, H5T_NATIVE_DOUBLE, out.data_ptr<double>(), what);
  return out;
}

void write_double(hid_t file, const std::string& name, const at::Tensor& t) {
  const at::Tensor c = t.to(at::kCPU, at::kDouble).contiguous();
  std::vector<hsize_t> dims;
  for (const int64_t s : c.sizes()) dims.push_back(static_cast<hsize_t>(s));
  hdf5::write_dataset(file, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, dims, c.data_ptr<double>());
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
  try {
    write_file_atomically(path, [&](const std::string& tmp) {
      const hdf5::Hdf5Lock lock;
      const hdf5::Handle file = hdf5::create_file(tmp);
      write_double(file, "mu", stats.mu);
      write_double(file, "sigma", stats.sigma);
      hdf5::write_int_attr(file, "count", stats.count);
      hdf5::write_string_attr(file, "source", stats.source, hdf5::Text::ascii);
    });
  } catch (const hdf5::Hdf5Failure& e) {
    throw FileError(path, std::string("cannot write the statistics file: ") + e.what());
  } catch (const std::filesystem::filesystem_error& e) {
    throw FileError(path, std::string("cannot write the statistics file: ") + e.what());
  }
}

Statistics read_statistics(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw FileError(path, "no such file");
  const hdf5::Hdf5Lock lock;
  hdf5::Handle file;
  try {
    file = hdf5::open_file_read(path);
  } catch (const hdf5::Hdf5Failure&) {
    throw FileError(path, "not a readable HDF5 file (" + std::string(kLayout) + ")");
  }
  try {
    Statistics stats;
    std::vector<hsize_t> mu_dims;
    const hdf5::Handle mu = open_numeric(file, path, "mu", mu_dims);
    if (mu_dims.size() != 1 || mu_dims[0] == 0)
      throw FileError(path,
                      "dataset 'mu': expected shape [d] with d >= 1, got " + dims_text(mu_dims));
    const auto d = static_cast<int64_t>(mu_dims[0]);
    std::vector<hsize_t> sigma_dims;
    const hdf5::Handle sigma = open_numeric(file, path, "sigma", sigma_dims);
    if (sigma_dims.size() != 2 || sigma_dims[0] != mu_dims[0] || sigma_dims[1] != mu_dims[0])
      throw FileError(path, "dataset 'sigma': expected shape [" + std::to_string(d) + ", " +
                                std::to_string(d) + "] (d from 'mu'), got " +
                                dims_text(sigma_dims));
    stats.mu = read_double(mu, {d}, "dataset 'mu'");
    stats.sigma = read_double(sigma, {d, d}, "dataset 'sigma'");
    if (hdf5::has_attr(file, "count")) stats.count = hdf5::read_attr_int(file, "count");
    // A 'source' that is not a string is ignored, as a missing one is.
    if (hdf5::has_attr(file, "source") && hdf5::attr_class(file, "source") == H5T_STRING)
      stats.source = hdf5::read_attr_string(file, "source");
    return stats;
  } catch (const hdf5::Hdf5Damaged& e) {
    throw FileError(path, e.what());
  } catch (const hdf5::Hdf5Failure& e) {
    throw FileError(path, std::string("truncated or unreadable statistics file: ") + e.what());
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
