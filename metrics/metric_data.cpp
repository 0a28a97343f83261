// The data side of the feature metrics: finiteness checks, the data set's feature statistics and
// KID's data kernel sums, each cached in the metric cache folder (HDF5 files).
#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "metric_parts.hpp"
#include "samplersearch/common/error.hpp"
#include "samplersearch/common/files.hpp"
#include "samplersearch/common/hdf5.hpp"
#include "samplersearch/metrics/bias.hpp"

namespace samplersearch::metric_detail {
namespace {

// The samples of the data side: reference_data when given, data otherwise.
const at::Tensor& side_data(const MetricResources& resources) {
  return resources.reference_data.defined() ? resources.reference_data : resources.data;
}

// "data[N, C, H, W]#fingerprint:features-key": what cached data-side quantities were made from.
std::string data_source(const MetricResources& resources, const FeatureSpace& space, int64_t rows) {
  std::string shape;
  for (const int64_t s : side_data(resources).sizes()) {
    if (!shape.empty()) shape += ',';
    shape += std::to_string(s);
  }
  return "data[" + shape + "]#" + hex64(tensor_fingerprint(side_data(resources))) +
         ":rows=" + std::to_string(rows) + ":" + space.key;
}

std::string cache_path(const MetricResources& resources, const std::string& prefix,
                       const std::string& source) {
  return (std::filesystem::path(resources.cache_dir) / (prefix + hex64(text_hash(source)) + ".h5"))
      .string();
}

// Reads a KID data cache written by write_kid_data; false when absent, stale or unreadable.
bool read_kid_data(const std::string& path, const std::string& source, KidData& out) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return false;
  const hdf5::Hdf5Lock lock;
  try {
    const hdf5::Handle file = hdf5::open_file_read(path);
    if (!hdf5::has_attr(file, "source") || !hdf5::has_attr(file, "offdiagonal_sum") ||
        !hdf5::has_object(file, "features"))
      return false;
    if (hdf5::read_attr_string(file, "source") != source) return false;
    out.offdiagonal_sum = hdf5::read_attr_double(file, "offdiagonal_sum");
    const hdf5::Handle ds(H5Dopen2(file, "features", H5P_DEFAULT), "open dataset features");
    const std::vector<hsize_t> dims = hdf5::dataset_dims(ds);
    if (dims.size() != 2) return false;
    out.features =
        at::empty({static_cast<int64_t>(dims[0]), static_cast<int64_t>(dims[1])}, at::kDouble);
    hdf5::read_dataset(ds, H5T_NATIVE_DOUBLE, out.features.data_ptr<double>(), "features");
    return true;
  } catch (const hdf5::Hdf5Failure&) {
    return false;
  }
}

void write_kid_data(const std::string& path, const std::string& source, const KidData& data) {
  try {
    write_file_atomically(path, [&](const std::string& tmp) {
      const hdf5::Hdf5Lock lock;
      const hdf5::Handle file = hdf5::create_file(tmp);
      const at::Tensor f = data.features.contiguous();
      const hsize_t dims[2] = {static_cast<hsize_t>(f.size(0)), static_cast<hsize_t>(f.size(1))};
      hdf5::write_dataset(file, "features", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, dims,
                          f.data_ptr<double>());
      hdf5::write_double_attr(file, "offdiagonal_sum", data.offdiagonal_sum);
      hdf5::write_string_attr(file, "source", source, hdf5::Text::ascii);
    });
  } catch (const std::exception& e) {
    throw FileError(path, std::string("cannot write the KID data cache: ") + e.what());
  }
}

}  // namespace

void check_finite(const at::Tensor& t, const std::string& metric, const char* what) {
  if (t.defined() && t.numel() > 0 && !at::isfinite(t).all().item<bool>())
    throw NumericalError(metric + ": NaN or Inf in the " + what);
}

double finite_value(double value, const std::string& metric) {
  if (!std::isfinite(value)) throw NumericalError(metric + ": the value is not finite");
  return value;
}

std::shared_ptr<const Statistics> data_statistics(const MetricResources& resources,
                                                  const FeatureSpace& space) {
  if (!resources.statistics_file.empty())
    return std::make_shared<const Statistics>(read_statistics(resources.statistics_file));
  const std::string source = data_source(resources, space, side_data(resources).size(0));
  auto features = [&] { return batched_features(*space.extractor, side_data(resources)); };
  if (resources.cache_dir.empty())
    return std::make_shared<const Statistics>(compute_statistics(features(), source));
  return std::make_shared<const Statistics>(
      reference_statistics(cache_path(resources, "statistics_", source), source, features));
}

std::shared_ptr<const KidData> kid_data(const MetricResources& resources, const FeatureSpace& space,
                                        int64_t data_size) {
  const int64_t n = side_data(resources).size(0);
  const int64_t m = data_size < 0 ? n : std::min(n, data_size);
  const std::string source = data_source(resources, space, m);
  auto data = std::make_shared<KidData>();
  const std::string path = resources.cache_dir.empty() ? "" : cache_path(resources, "kid_", source);
  if (!path.empty() && read_kid_data(path, source, *data)) return data;
  const at::Tensor rows = at::div(at::arange(m, at::kLong) * n, m, /*rounding_mode=*/"floor");
  data->features = batched_features(*space.extractor, side_data(resources).index_select(0, rows));
  data->offdiagonal_sum = kernel_sum_offdiagonal(data->features);
  if (!path.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(resources.cache_dir, ec);
    write_kid_data(path, source, *data);
  }
  return data;
}

}  // namespace samplersearch::metric_detail
