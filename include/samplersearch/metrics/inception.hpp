#pragma once
// The FID Inception v3 (docs/equations.md §6): pytorch-fid's port of the TF 2015-12-05 graph, i.e.
// torchvision's Inception3 with the A, C and E blocks changed (average pools with
// count_include_pad=False, the last E block's pool branch a max pool), run up to pool3 (2048-d).
// The preprocessing is included and matches pytorch-fid: uint8 → [0, 1] → grey repeated to RGB →
// bilinear resize to 299×299 (align_corners=False) → 2x − 1.
//
// Weights file: HDF5, one float dataset per state_dict entry of pytorch-fid's network, named by the
// key at the file root (`Conv2d_1a_3x3.conv.weight`, `Mixed_7c.branch_pool.bn.running_var`, ...).
// Only the keys pool3 needs are read (inception_weight_specs()); `fc.*` and `num_batches_tracked`
// entries may be present and are ignored. scripts/convert_inception_weights writes that file from
// pt_inception-2015-12-05-6726825d.pth. Nothing is ever downloaded.
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "samplersearch/metrics/statistics.hpp"

namespace samplersearch {

// Side length of the network input; pool3 dimension.
inline constexpr int64_t kInceptionInputSize = 299;
inline constexpr int64_t kInceptionFeatureDim = 2048;

// How to obtain and convert the weights: the text every weights FileError ends with.
std::string inception_weights_howto();

// One state_dict entry the network needs: its key and shape.
struct InceptionWeightSpec {
  std::string key;
  std::vector<int64_t> shape;
};

// Every entry pool3 needs (94 conv+BN units × 5), in network order; the loader checks them in this
// order, so the "first bad key" of an error is the first of this list that is missing or wrong.
std::vector<InceptionWeightSpec> inception_weight_specs();

// Batching and memory layout of the forward pass.
struct InceptionOptions {
  int64_t batch_size = 32;  // images per forward pass
  // NHWC activations (oneDNN's native layout): 1.6× the images/s of NCHW on this 2-core CPU
  // (bench_inception), so the default.
  bool channels_last = true;
  // Run the 1×1 convolutions that share a block's input as one convolution.
  bool fuse_1x1 = true;
};

// The network with its weights on one device, in inference mode (BatchNorm folded into the convs).
class FidInception {
 public:
  // Loads and checks `weights_path`; FileError naming the file, the first bad key and
  // inception_weights_howto() when it is missing, truncated or has a wrong shape.
  FidInception(const std::string& weights_path, at::Device device, InceptionOptions options = {});
  ~FidInception();
  FidInception(FidInception&&) noexcept;
  FidInception& operator=(FidInception&&) noexcept;
  FidInception(const FidInception&) = delete;
  FidInception& operator=(const FidInception&) = delete;

  // pool3 features, float32 [N, 2048] on the CPU, of uint8 images [N, H, W, C] (C = 1 or 3).
  at::Tensor features(const at::Tensor& images) const;
  // pool3 features of float samples [N, C, H, W] in [−1, 1]: features(quantize_samples(samples)).
  at::Tensor sample_features(const at::Tensor& samples) const;
  // pool3 features of an already preprocessed float32 batch [N, 3, 299, 299] in [−1, 1].
  at::Tensor forward(const at::Tensor& input) const;

  // The device the weights live on and the network runs on.
  at::Device device() const;
  // The options it was built with.
  const InceptionOptions& options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// pytorch-fid's preprocessing: uint8 [N, H, W, C] (C = 1 or 3) → float32 [N, 3, 299, 299],
// x ↦ 2·bilinear299(x/255) − 1, grey channels repeated; computed on the images' device.
at::Tensor inception_preprocess(const at::Tensor& images);

// 8-bit quantization as when samples are saved as PNG: float [N, C, H, W] in [−1, 1] →
// uint8 [N, H, W, C] = clamp(⌊(x + 1)/2 · 255 + ½⌋, 0, 255) (round half up, in double).
at::Tensor quantize_samples(const at::Tensor& samples);

// Shape [N, H, W, C] of the uint8 dataset `images` of an HDF5 file; FileError when the file or
// dataset is missing, not 4-D, not 8-bit unsigned integers or C ∉ {1, 3}.
std::vector<int64_t> image_file_shape(const std::string& path);

// Images [start, start + count) of that dataset, uint8 [count, H, W, C].
at::Tensor read_image_file(const std::string& path, int64_t start, int64_t count);

// Writes uint8 images [N, H, W, C] as the dataset `images` of a new HDF5 file (read_image_file's
// format).
void write_image_file(const std::string& path, const at::Tensor& images);

// A feature file: the statistics file of `stats` (write_statistics: mu, sigma, count, source)
// plus the dataset `features` (float32 [N, D]).
void write_feature_file(const std::string& path, const at::Tensor& features,
                        const Statistics& stats);

}  // namespace samplersearch
