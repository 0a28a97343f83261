// HDF5 image files (uint8 `images` [N, H, W, C]) and feature files (features, mu, sigma).
#include <ATen/ATen.h>

#include <filesystem>

#include "samplersearch/common/error.hpp"
#include "samplersearch/common/hdf5.hpp"
#include "samplersearch/metrics/inception.hpp"
#include "samplersearch/metrics/statistics_file.hpp"

namespace samplersearch {
namespace {

constexpr const char* kImagesDataset = "images";

// The image file opened read-only; the caller holds the HDF5 lock.
hdf5::Handle open_image_file(const std::string& path) {
  if (!std::filesystem::is_regular_file(path))
    throw FileError(path, "the image file does not exist");
  try {
    return hdf5::open_file_read(path);
  } catch (const hdf5::Hdf5Failure& e) {
    throw FileError(path, std::string("cannot be opened as HDF5 (") + e.what() + ")");
  }
}

// Opens `images` and checks it is uint8 [N, H, W, C] with C ∈ {1, 3}; returns its shape.
hdf5::Handle open_images(hid_t file, const std::string& path, std::vector<int64_t>& shape) {
  try {
    if (!hdf5::has_object(file, kImagesDataset))
      throw FileError(path, "no dataset 'images' (expected uint8 [N, H, W, C])");
    hdf5::Handle ds(H5Dopen2(file, kImagesDataset, H5P_DEFAULT), "open dataset images");
    const hdf5::Handle type(H5Dget_type(ds), "type of images");
    if (H5Tget_class(type) != H5T_INTEGER || H5Tget_size(type) != 1 ||
        H5Tget_sign(type) != H5T_SGN_NONE)
      throw FileError(path, "dataset 'images' is not uint8");
    const std::vector<hsize_t> dims = hdf5::dataset_dims(ds);
    if (dims.size() != 4) throw FileError(path, "dataset 'images' is not 4-D [N, H, W, C]");
    shape.assign(dims.begin(), dims.end());
    if (shape[3] != 1 && shape[3] != 3)
      throw FileError(path, "dataset 'images' has " + std::to_string(shape[3]) +
                                " channels; expected 1 or 3 (last axis of [N, H, W, C])");
    return ds;
  } catch (const hdf5::Hdf5Failure& e) {
    throw FileError(path, std::string("dataset 'images' cannot be read (") + e.what() + ")");
  }
}

}  // namespace

std::vector<int64_t> image_file_shape(const std::string& path) {
  const hdf5::Hdf5Lock lock;
  const hdf5::Handle file = open_image_file(path);
  std::vector<int64_t> shape;
  open_images(file, path, shape);
  return shape;
}

at::Tensor read_image_file(const std::string& path, int64_t start, int64_t count) {
  const hdf5::Hdf5Lock lock;
  const hdf5::Handle file = open_image_file(path);
  std::vector<int64_t> shape;
  const hdf5::Handle ds = open_images(file, path, shape);
  if (start < 0 || count < 0 || start + count > shape[0])
    throw FileError(path, "images [" + std::to_string(start) + ", " +
                              std::to_string(start + count) + ") requested; the file holds " +
                              std::to_string(shape[0]));
  at::Tensor out = at::empty({count, shape[1], shape[2], shape[3]}, at::kByte);
  if (count == 0) return out;
  try {
    hdf5::check_dataset_storage(ds, "dataset 'images'");
    const hdf5::Handle file_space(H5Dget_space(ds), "H5Dget_space");
    const hsize_t offset[4] = {static_cast<hsize_t>(start), 0, 0, 0};
    const hsize_t extent[4] = {static_cast<hsize_t>(count), static_cast<hsize_t>(shape[1]),
                               static_cast<hsize_t>(shape[2]), static_cast<hsize_t>(shape[3])};
    hdf5::h5(H5Sselect_hyperslab(file_space, H5S_SELECT_SET, offset, nullptr, extent, nullptr),
             "select images");
    const hdf5::Handle memory_space(H5Screate_simple(4, extent, nullptr), "H5Screate_simple");
    hdf5::h5(H5Dread(ds, H5T_NATIVE_UINT8, memory_space, file_space, H5P_DEFAULT,
                     out.data_ptr<uint8_t>()),
             "read images");
  } catch (const hdf5::Hdf5Failure& e) {
    throw FileError(
        path, std::string("dataset 'images' cannot be read (truncated file? ") + e.what() + ")");
  }
  return out;
}

void write_image_file(const std::string& path, const at::Tensor& images) {
  if (images.dim() != 4 || images.scalar_type() != at::kByte ||
      (images.size(3) != 1 && images.size(3) != 3))
    throw ConfigError("images", "write_image_file needs uint8 [N, H, W, C] with C = 1 or 3");
  const at::Tensor x = images.to(at::kCPU).contiguous();
  try {
    const hdf5::Hdf5Lock lock;
    const hdf5::Handle file = hdf5::create_file(path);
    hsize_t dims[4];
    for (int i = 0; i < 4; ++i) dims[i] = static_cast<hsize_t>(x.size(i));
    hdf5::write_dataset(file, kImagesDataset, H5T_NATIVE_UINT8, H5T_NATIVE_UINT8, dims,
                        x.data_ptr<uint8_t>());
  } catch (const hdf5::Hdf5Failure& e) {
    throw FileError(path, std::string("cannot write 'images' (") + e.what() + ")");
  }
}

void write_feature_file(const std::string& path, const at::Tensor& features,
                        const Statistics& stats) {
  write_statistics(path, stats);
  try {
    const hdf5::Hdf5Lock lock;
    const hdf5::Handle file = hdf5::open_file_write(path);
    const at::Tensor f = features.to(at::kCPU, at::kFloat).contiguous();
    const hsize_t dims[2] = {static_cast<hsize_t>(f.size(0)), static_cast<hsize_t>(f.size(1))};
    hdf5::write_dataset(file, "features", H5T_NATIVE_FLOAT, H5T_NATIVE_FLOAT, dims,
                        f.data_ptr<float>());
  } catch (const hdf5::Hdf5Failure& e) {
    throw FileError(path, std::string("cannot write 'features' (") + e.what() + ")");
  }
}

}  // namespace samplersearch
