// The FID Inception's architecture table and its HDF5 weights loader.
#include "inception_weights.hpp"

#include <ATen/ATen.h>

#include <filesystem>
#include <sstream>

#include "samplersearch/common/error.hpp"
#include "samplersearch/common/hdf5.hpp"
#include "samplersearch/metrics/inception.hpp"

namespace samplersearch {
namespace inception_detail {
namespace {

using Specs = std::vector<ConvSpec>;

void unit(Specs& s, const std::string& name, int64_t in, int64_t out, int64_t kh, int64_t kw,
          int64_t stride = 1, int64_t ph = 0, int64_t pw = 0) {
  s.push_back(ConvSpec{name, in, out, kh, kw, stride, ph, pw});
}

// torchvision's InceptionA (pytorch-fid's FIDInceptionA has the same units).
void block_a(Specs& s, const std::string& m, int64_t in, int64_t pool_features) {
  unit(s, m + ".branch1x1", in, 64, 1, 1);
  unit(s, m + ".branch5x5_1", in, 48, 1, 1);
  unit(s, m + ".branch5x5_2", 48, 64, 5, 5, 1, 2, 2);
  unit(s, m + ".branch3x3dbl_1", in, 64, 1, 1);
  unit(s, m + ".branch3x3dbl_2", 64, 96, 3, 3, 1, 1, 1);
  unit(s, m + ".branch3x3dbl_3", 96, 96, 3, 3, 1, 1, 1);
  unit(s, m + ".branch_pool", in, pool_features, 1, 1);
}

// InceptionB (Mixed_6a).
void block_b(Specs& s, const std::string& m, int64_t in) {
  unit(s, m + ".branch3x3", in, 384, 3, 3, 2);
  unit(s, m + ".branch3x3dbl_1", in, 64, 1, 1);
  unit(s, m + ".branch3x3dbl_2", 64, 96, 3, 3, 1, 1, 1);
  unit(s, m + ".branch3x3dbl_3", 96, 96, 3, 3, 2);
}

// InceptionC with c7 channels in its 7×7 factorized branches.
void block_c(Specs& s, const std::string& m, int64_t in, int64_t c7) {
  unit(s, m + ".branch1x1", in, 192, 1, 1);
  unit(s, m + ".branch7x7_1", in, c7, 1, 1);
  unit(s, m + ".branch7x7_2", c7, c7, 1, 7, 1, 0, 3);
  unit(s, m + ".branch7x7_3", c7, 192, 7, 1, 1, 3, 0);
  unit(s, m + ".branch7x7dbl_1", in, c7, 1, 1);
  unit(s, m + ".branch7x7dbl_2", c7, c7, 7, 1, 1, 3, 0);
  unit(s, m + ".branch7x7dbl_3", c7, c7, 1, 7, 1, 0, 3);
  unit(s, m + ".branch7x7dbl_4", c7, c7, 7, 1, 1, 3, 0);
  unit(s, m + ".branch7x7dbl_5", c7, 192, 1, 7, 1, 0, 3);
  unit(s, m + ".branch_pool", in, 192, 1, 1);
}

// InceptionD (Mixed_7a).
void block_d(Specs& s, const std::string& m, int64_t in) {
  unit(s, m + ".branch3x3_1", in, 192, 1, 1);
  unit(s, m + ".branch3x3_2", 192, 320, 3, 3, 2);
  unit(s, m + ".branch7x7x3_1", in, 192, 1, 1);
  unit(s, m + ".branch7x7x3_2", 192, 192, 1, 7, 1, 0, 3);
  unit(s, m + ".branch7x7x3_3", 192, 192, 7, 1, 1, 3, 0);
  unit(s, m + ".branch7x7x3_4", 192, 192, 3, 3, 2);
}

// InceptionE (Mixed_7b, Mixed_7c).
void block_e(Specs& s, const std::string& m, int64_t in) {
  unit(s, m + ".branch1x1", in, 320, 1, 1);
  unit(s, m + ".branch3x3_1", in, 384, 1, 1);
  unit(s, m + ".branch3x3_2a", 384, 384, 1, 3, 1, 0, 1);
  unit(s, m + ".branch3x3_2b", 384, 384, 3, 1, 1, 1, 0);
  unit(s, m + ".branch3x3dbl_1", in, 448, 1, 1);
  unit(s, m + ".branch3x3dbl_2", 448, 384, 3, 3, 1, 1, 1);
  unit(s, m + ".branch3x3dbl_3a", 384, 384, 1, 3, 1, 0, 1);
  unit(s, m + ".branch3x3dbl_3b", 384, 384, 3, 1, 1, 1, 0);
  unit(s, m + ".branch_pool", in, 192, 1, 1);
}

Specs make_specs() {
  Specs s;
  unit(s, "Conv2d_1a_3x3", 3, 32, 3, 3, 2);
  unit(s, "Conv2d_2a_3x3", 32, 32, 3, 3);
  unit(s, "Conv2d_2b_3x3", 32, 64, 3, 3, 1, 1, 1);
  unit(s, "Conv2d_3b_1x1", 64, 80, 1, 1);
  unit(s, "Conv2d_4a_3x3", 80, 192, 3, 3);
  block_a(s, "Mixed_5b", 192, 32);
  block_a(s, "Mixed_5c", 256, 64);
  block_a(s, "Mixed_5d", 288, 64);
  block_b(s, "Mixed_6a", 288);
  block_c(s, "Mixed_6b", 768, 128);
  block_c(s, "Mixed_6c", 768, 160);
  block_c(s, "Mixed_6d", 768, 160);
  block_c(s, "Mixed_6e", 768, 192);
  block_d(s, "Mixed_7a", 768);
  block_e(s, "Mixed_7b", 1280);
  block_e(s, "Mixed_7c", 2048);
  return s;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << "]";
  return out.str();
}

[[noreturn]] void bad_weights(const std::string& path, const std::string& what) {
  throw FileError(path, what + ". " + inception_weights_howto());
}

}  // namespace

const std::vector<ConvSpec>& conv_specs() {
  static const Specs specs = make_specs();
  return specs;
}

std::unordered_map<std::string, at::Tensor> load_weights(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) bad_weights(path, "the weights file does not exist");
  const hdf5::Hdf5Lock lock;
  hdf5::Handle file;
  try {
    file = hdf5::open_file_read(path);
  } catch (const hdf5::Hdf5Failure& e) {
    bad_weights(path, std::string("cannot be opened as HDF5 (truncated, or not an HDF5 file: ") +
                          e.what() + ")");
  }
  const std::vector<InceptionWeightSpec> specs = inception_weight_specs();
  // Pass 1: metadata only, so a bad file fails fast and names the first bad key.
  std::vector<hdf5::Handle> datasets;
  datasets.reserve(specs.size());
  for (const InceptionWeightSpec& spec : specs) {
    try {
      if (!hdf5::has_object(file, spec.key))
        bad_weights(path, "weight '" + spec.key + "' is missing (expected shape " +
                              shape_text(spec.shape) + ")");
      hdf5::Handle ds(H5Dopen2(file, spec.key.c_str(), H5P_DEFAULT), "open " + spec.key);
      const hdf5::Handle type(H5Dget_type(ds), "type of " + spec.key);
      if (H5Tget_class(type) != H5T_FLOAT)
        bad_weights(path, "weight '" + spec.key + "' is not a floating-point dataset");
      const std::vector<hsize_t> dims = hdf5::dataset_dims(ds);
      const std::vector<int64_t> shape(dims.begin(), dims.end());
      if (shape != spec.shape)
        bad_weights(path, "weight '" + spec.key + "' has shape " + shape_text(shape) +
                              ", expected " + shape_text(spec.shape));
      datasets.push_back(std::move(ds));
    } catch (const hdf5::Hdf5Failure& e) {
      bad_weights(path,
                  "weight '" + spec.key + "' cannot be read (truncated file? " + e.what() + ")");
    }
  }
  // Pass 2: the data, converted to float32 by HDF5.
  std::unordered_map<std::string, at::Tensor> weights;
  for (size_t i = 0; i < specs.size(); ++i) {
    at::Tensor t = at::empty(specs[i].shape, at::kFloat);
    try {
      hdf5::read_dataset(datasets[i], H5T_NATIVE_FLOAT, t.data_ptr<float>(), specs[i].key);
    } catch (const hdf5::Hdf5Failure& e) {
      bad_weights(
          path, "weight '" + specs[i].key + "' cannot be read (truncated file? " + e.what() + ")");
    }
    weights.emplace(specs[i].key, std::move(t));
  }
  return weights;
}

}  // namespace inception_detail

std::string inception_weights_howto() {
  return "The FID Inception weights are pt_inception-2015-12-05-6726825d.pth from the pytorch-fid "
         "release (https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
         "pt_inception-2015-12-05-6726825d.pth); nothing is downloaded here: fetch it on a machine "
         "with internet access, copy it here and convert it with "
         "`scripts/convert_inception_weights pt_inception-2015-12-05-6726825d.pth OUT.h5`, then "
         "pass OUT.h5";
}

std::vector<InceptionWeightSpec> inception_weight_specs() {
  std::vector<InceptionWeightSpec> out;
  for (const inception_detail::ConvSpec& c : inception_detail::conv_specs()) {
    out.push_back({c.name + ".conv.weight", {c.out, c.in, c.kh, c.kw}});
    for (const char* bn : {".bn.weight", ".bn.bias", ".bn.running_mean", ".bn.running_var"})
      out.push_back({c.name + bn, {c.out}});
  }
  return out;
}

}  // namespace samplersearch
