// HDF5 image files (uint8 `images` [N, H, W, C]) and feature files (features, mu, sigma).
#include <ATen/ATen.h>
#include <H5Cpp.h>

#include <filesystem>

#include "samplersearch/common/error.hpp"
#include "samplersearch/metrics/inception.hpp"
#include "samplersearch/metrics/statistics_file.hpp"

namespace samplersearch {
namespace {

constexpr const char* kImagesDataset = "images";

H5::H5File open_image_file(const std::string& path) {
  if (!std::filesystem::is_regular_file(path))
    throw FileError(path, "the image file does not exist");
  H5::Exception::dontPrint();
  try {
    return H5::H5File(path, H5F_ACC_RDONLY);
  } catch (const H5::Exception& e) {
    throw FileError(path, "cannot be opened as HDF5 (" + e.getDetailMsg() + ")");
  }
}

// Opens `images` and checks it is uint8 [N, H, W, C] with C ∈ {1, 3}; returns its shape.
H5::DataSet open_images(const H5::H5File& file, const std::string& path,
                        std::vector<int64_t>& shape) {
  try {
    if (!file.nameExists(kImagesDataset))
      throw FileError(path, "no dataset 'images' (expected uint8 [N, H, W, C])");
    H5::DataSet ds = file.openDataSet(kImagesDataset);
    const H5::IntType type = ds.getIntType();
    if (ds.getTypeClass() != H5T_INTEGER || type.getSize() != 1 || type.getSign() != H5T_SGN_NONE)
      throw FileError(path, "dataset 'images' is not uint8");
    const H5::DataSpace space = ds.getSpace();
    if (space.getSimpleExtentNdims() != 4)
      throw FileError(path, "dataset 'images' is not 4-D [N, H, W, C]");
    hsize_t dims[4];
    space.getSimpleExtentDims(dims);
    shape.assign(dims, dims + 4);
    if (shape[3] != 1 && shape[3] != 3)
      throw FileError(path, "dataset 'images' has " + std::to_string(shape[3]) +
                                " channels; expected 1 or 3 (last axis of [N, H, W, C])");
    return ds;
  } catch (const H5::Exception& e) {
    throw FileError(path, "dataset 'images' cannot be read (" + e.getDetailMsg() + ")");
  }
}

}  // namespace

std::vector<int64_t> image_file_shape(const std::string& path) {
  const H5::H5File file = open_image_file(path);
  std::vector<int64_t> shape;
  open_images(file, path, shape);
  return shape;
}

at::Tensor read_image_file(const std::string& path, int64_t start, int64_t count) {
  const H5::H5File file = open_image_file(path);
  std::vector<int64_t> shape;
  const H5::DataSet ds = open_images(file, path, shape);
  if (start < 0 || count < 0 || start + count > shape[0])
    throw FileError(path, "images [" + std::to_string(start) + ", " +
                              std::to_string(start + count) + ") requested; the file holds " +
                              std::to_string(shape[0]));
  at::Tensor out = at::empty({count, shape[1], shape[2], shape[3]}, at::kByte);
  if (count == 0) return out;
  try {
    H5::DataSpace file_space = ds.getSpace();
    const hsize_t offset[4] = {static_cast<hsize_t>(start), 0, 0, 0};
    const hsize_t extent[4] = {static_cast<hsize_t>(count), static_cast<hsize_t>(shape[1]),
                               static_cast<hsize_t>(shape[2]), static_cast<hsize_t>(shape[3])};
    file_space.selectHyperslab(H5S_SELECT_SET, extent, offset);
    H5::DataSpace memory_space(4, extent);
    ds.read(out.data_ptr<uint8_t>(), H5::PredType::NATIVE_UINT8, memory_space, file_space);
  } catch (const H5::Exception& e) {
    throw FileError(path,
                    "dataset 'images' cannot be read (truncated file? " + e.getDetailMsg() + ")");
  }
  return out;
}

void write_image_file(const std::string& path, const at::Tensor& images) {
  if (images.dim() != 4 || images.scalar_type() != at::kByte ||
      (images.size(3) != 1 && images.size(3) != 3))
    throw ConfigError("images", "write_image_file needs uint8 [N, H, W, C] with C = 1 or 3");
  const at::Tensor x = images.to(at::kCPU).contiguous();
  H5::Exception::dontPrint();
  try {
    H5::H5File file(path, H5F_ACC_TRUNC);
    hsize_t dims[4];
    for (int i = 0; i < 4; ++i) dims[i] = static_cast<hsize_t>(x.size(i));
    const H5::DataSpace space(4, dims);
    file.createDataSet(kImagesDataset, H5::PredType::NATIVE_UINT8, space)
        .write(x.data_ptr<uint8_t>(), H5::PredType::NATIVE_UINT8);
  } catch (const H5::Exception& e) {
    throw FileError(path, "cannot write 'images' (" + e.getDetailMsg() + ")");
  }
}

void write_feature_file(const std::string& path, const at::Tensor& features,
                        const Statistics& stats) {
  write_statistics(path, stats);
  H5::Exception::dontPrint();
  try {
    H5::H5File file(path, H5F_ACC_RDWR);
    const at::Tensor f = features.to(at::kCPU, at::kFloat).contiguous();
    const hsize_t dims[2] = {static_cast<hsize_t>(f.size(0)), static_cast<hsize_t>(f.size(1))};
    const H5::DataSpace space(2, dims);
    file.createDataSet("features", H5::PredType::NATIVE_FLOAT, space)
        .write(f.data_ptr<float>(), H5::PredType::NATIVE_FLOAT);
  } catch (const H5::Exception& e) {
    throw FileError(path, "cannot write 'features' (" + e.getDetailMsg() + ")");
  }
}

}  // namespace samplersearch
