#pragma once
// Private to metrics/: the FID Inception's conv+BN units and the HDF5 weights loader.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace samplersearch::inception_detail {

// One torchvision BasicConv2d (conv without bias → BatchNorm(eps=0.001) → ReLU) by its key prefix.
struct ConvSpec {
  std::string name;  // e.g. "Mixed_6b.branch7x7_2"
  int64_t in = 0, out = 0, kh = 1, kw = 1, stride = 1, ph = 0, pw = 0;
};

// BatchNorm epsilon of torchvision's BasicConv2d.
inline constexpr double kBatchNormEps = 0.001;

// Every unit of the network in state_dict order.
const std::vector<ConvSpec>& conv_specs();

// The five float32 tensors per unit (conv.weight, bn.weight, bn.bias, bn.running_mean,
// bn.running_var) keyed by state_dict key, read from an HDF5 weights file after checking every key
// and shape; FileError otherwise.
std::unordered_map<std::string, at::Tensor> load_weights(const std::string& path);

}  // namespace samplersearch::inception_detail
