// The FID Inception v3 forward pass on ATen tensors we hold ourselves (BatchNorm folded into the
// convolutions), its preprocessing and the 8-bit quantization of samples.
#include "samplersearch/metrics/inception.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <unordered_map>

#include "inception_weights.hpp"
#include "samplersearch/common/check.hpp"
#include "samplersearch/common/error.hpp"

namespace samplersearch {
namespace {

// conv (bias folded from BatchNorm) → ReLU.
struct Conv {
  at::Tensor weight, bias;
  int64_t stride = 1, ph = 0, pw = 0;
};

// The 1×1 convolutions on each block type's input (fused when InceptionOptions::fuse_1x1).
constexpr const char* kFusedSuffix = ".fused_1x1";
const std::initializer_list<const char*> kHeadsA = {".branch1x1", ".branch5x5_1",
                                                    ".branch3x3dbl_1"};
const std::initializer_list<const char*> kHeadsC = {".branch1x1", ".branch7x7_1",
                                                    ".branch7x7dbl_1"};
const std::initializer_list<const char*> kHeadsD = {".branch3x3_1", ".branch7x7x3_1"};
const std::initializer_list<const char*> kHeadsE = {".branch1x1", ".branch3x3_1",
                                                    ".branch3x3dbl_1"};

std::string shape_text(at::IntArrayRef sizes) {
  std::string out = "[";
  for (size_t i = 0; i < sizes.size(); ++i) out += (i ? ", " : "") + std::to_string(sizes[i]);
  return out + "]";
}

}  // namespace

struct FidInception::Impl {
  at::Device device{at::kCPU};
  InceptionOptions options;
  std::unordered_map<std::string, Conv> convs;

  at::Tensor conv(const at::Tensor& x, const std::string& name) const {
    const auto it = convs.find(name);
    SS_CHECK(it != convs.end()) << name;
    const Conv& c = it->second;
    return at::conv2d(x, c.weight, c.bias, {c.stride, c.stride}, {c.ph, c.pw}).relu_();
  }

  // The 1×1 convolutions that read a block's input, in the order given; with fuse_1x1 they run as
  // one convolution (their weights stacked at load time) whose output is split.
  std::vector<at::Tensor> heads(const at::Tensor& x, const std::string& m,
                                std::initializer_list<const char*> names) const {
    if (options.fuse_1x1) {
      std::vector<int64_t> sizes;
      for (const char* n : names) sizes.push_back(convs.at(m + n).weight.size(0));
      return conv(x, m + kFusedSuffix).split_with_sizes(sizes, 1);
    }
    std::vector<at::Tensor> out;
    for (const char* n : names) out.push_back(conv(x, m + n));
    return out;
  }

  // Average pool 3×3, stride 1, padding 1, padded zeros not counted (TF's; pytorch-fid's patch).
  static at::Tensor avg_pool_3x3(const at::Tensor& x) {
    return at::avg_pool2d(x, {3, 3}, {1, 1}, {1, 1}, /*ceil_mode=*/false,
                          /*count_include_pad=*/false);
  }

  at::Tensor block_a(const at::Tensor& x, const std::string& m) const {
    const auto h = heads(x, m, kHeadsA);
    at::Tensor b1 = h[0];
    at::Tensor b5 = conv(h[1], m + ".branch5x5_2");
    at::Tensor b3 = conv(conv(h[2], m + ".branch3x3dbl_2"), m + ".branch3x3dbl_3");
    at::Tensor bp = conv(avg_pool_3x3(x), m + ".branch_pool");
    return at::cat({b1, b5, b3, bp}, 1);
  }

  at::Tensor block_b(const at::Tensor& x, const std::string& m) const {
    at::Tensor b3 = conv(x, m + ".branch3x3");
    at::Tensor bd =
        conv(conv(conv(x, m + ".branch3x3dbl_1"), m + ".branch3x3dbl_2"), m + ".branch3x3dbl_3");
    at::Tensor bp = at::max_pool2d(x, {3, 3}, {2, 2});
    return at::cat({b3, bd, bp}, 1);
  }

  at::Tensor block_c(const at::Tensor& x, const std::string& m) const {
    const auto h = heads(x, m, kHeadsC);
    at::Tensor b1 = h[0];
    at::Tensor b7 = conv(conv(h[1], m + ".branch7x7_2"), m + ".branch7x7_3");
    at::Tensor bd = h[2];
    for (const char* k :
         {".branch7x7dbl_2", ".branch7x7dbl_3", ".branch7x7dbl_4", ".branch7x7dbl_5"})
      bd = conv(bd, m + k);
    at::Tensor bp = conv(avg_pool_3x3(x), m + ".branch_pool");
    return at::cat({b1, b7, bd, bp}, 1);
  }

  at::Tensor block_d(const at::Tensor& x, const std::string& m) const {
    const auto h = heads(x, m, kHeadsD);
    at::Tensor b3 = conv(h[0], m + ".branch3x3_2");
    at::Tensor b7 = h[1];
    for (const char* k : {".branch7x7x3_2", ".branch7x7x3_3", ".branch7x7x3_4"})
      b7 = conv(b7, m + k);
    at::Tensor bp = at::max_pool2d(x, {3, 3}, {2, 2});
    return at::cat({b3, b7, bp}, 1);
  }

  // The E block; `max_pool` selects pytorch-fid's FIDInceptionE_2 pool branch (Mixed_7c).
  at::Tensor block_e(const at::Tensor& x, const std::string& m, bool max_pool) const {
    const auto h = heads(x, m, kHeadsE);
    at::Tensor b1 = h[0];
    at::Tensor b3 = h[1];
    at::Tensor b3a = conv(b3, m + ".branch3x3_2a");
    at::Tensor b3b = conv(b3, m + ".branch3x3_2b");
    at::Tensor bd = conv(h[2], m + ".branch3x3dbl_2");
    at::Tensor bda = conv(bd, m + ".branch3x3dbl_3a");
    at::Tensor bdb = conv(bd, m + ".branch3x3dbl_3b");
    at::Tensor pooled = max_pool ? at::max_pool2d(x, {3, 3}, {1, 1}, {1, 1}) : avg_pool_3x3(x);
    at::Tensor bp = conv(pooled, m + ".branch_pool");
    return at::cat({b1, b3a, b3b, bda, bdb, bp}, 1);
  }

  at::Tensor forward(at::Tensor x) const {
    for (const char* k : {"Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3"}) x = conv(x, k);
    x = at::max_pool2d(x, {3, 3}, {2, 2});
    x = conv(conv(x, "Conv2d_3b_1x1"), "Conv2d_4a_3x3");
    x = at::max_pool2d(x, {3, 3}, {2, 2});
    for (const char* m : {"Mixed_5b", "Mixed_5c", "Mixed_5d"}) x = block_a(x, m);
    x = block_b(x, "Mixed_6a");
    for (const char* m : {"Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"}) x = block_c(x, m);
    x = block_d(x, "Mixed_7a");
    x = block_e(x, "Mixed_7b", /*max_pool=*/false);
    x = block_e(x, "Mixed_7c", /*max_pool=*/true);
    return x.mean({2, 3});  // adaptive average pool to 1×1 → [N, 2048]
  }
};

FidInception::FidInception(const std::string& weights_path, at::Device device,
                           InceptionOptions options)
    : impl_(std::make_unique<Impl>()) {
  if (options.batch_size < 1)
    throw ConfigError("batch_size",
                      "must be at least 1, got " + std::to_string(options.batch_size));
  impl_->device = device;
  impl_->options = options;
  const auto weights = inception_detail::load_weights(weights_path);
  c10::InferenceMode guard;
  const auto memory_format =
      options.channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  for (const inception_detail::ConvSpec& spec : inception_detail::conv_specs()) {
    // BatchNorm(eps) in eval mode after a bias-free conv is the conv with weight W·s and bias
    // β − μ·s, s = γ/√(var + eps); folded in double, stored in float32.
    const auto& w = weights.at(spec.name + ".conv.weight");
    const at::Tensor gamma = weights.at(spec.name + ".bn.weight").to(at::kDouble);
    const at::Tensor beta = weights.at(spec.name + ".bn.bias").to(at::kDouble);
    const at::Tensor mean = weights.at(spec.name + ".bn.running_mean").to(at::kDouble);
    const at::Tensor var = weights.at(spec.name + ".bn.running_var").to(at::kDouble);
    const at::Tensor scale = gamma / at::sqrt(var + inception_detail::kBatchNormEps);
    Conv c;
    c.weight = (w.to(at::kDouble) * scale.view({-1, 1, 1, 1}))
                   .to(at::kFloat)
                   .to(device)
                   .contiguous(memory_format);
    c.bias = (beta - mean * scale).to(at::kFloat).to(device);
    c.stride = spec.stride;
    c.ph = spec.ph;
    c.pw = spec.pw;
    impl_->convs.emplace(spec.name, std::move(c));
  }
  const std::pair<const char*, std::initializer_list<const char*>> fusable[] = {
      {"Mixed_5b", kHeadsA}, {"Mixed_5c", kHeadsA}, {"Mixed_5d", kHeadsA}, {"Mixed_6b", kHeadsC},
      {"Mixed_6c", kHeadsC}, {"Mixed_6d", kHeadsC}, {"Mixed_6e", kHeadsC}, {"Mixed_7a", kHeadsD},
      {"Mixed_7b", kHeadsE}, {"Mixed_7c", kHeadsE}};
  for (const auto& [block, names] : fusable) {
    std::vector<at::Tensor> w, b;
    for (const char* n : names) {
      w.push_back(impl_->convs.at(block + std::string(n)).weight);
      b.push_back(impl_->convs.at(block + std::string(n)).bias);
    }
    Conv fused;
    fused.weight = at::cat(w, 0).contiguous(memory_format);
    fused.bias = at::cat(b, 0);
    impl_->convs.emplace(block + std::string(kFusedSuffix), std::move(fused));
  }
}

FidInception::~FidInception() = default;
FidInception::FidInception(FidInception&&) noexcept = default;
FidInception& FidInception::operator=(FidInception&&) noexcept = default;

at::Device FidInception::device() const { return impl_->device; }
const InceptionOptions& FidInception::options() const { return impl_->options; }

at::Tensor FidInception::forward(const at::Tensor& input) const {
  SS_CHECK(input.dim() == 4 && input.size(1) == 3) << "input must be [N, 3, H, W]";
  c10::InferenceMode guard;
  at::Tensor x = input.to(impl_->device, at::kFloat);
  if (impl_->options.channels_last) x = x.contiguous(at::MemoryFormat::ChannelsLast);
  return impl_->forward(x).to(at::kCPU).contiguous();
}

at::Tensor FidInception::features(const at::Tensor& images) const {
  if (images.dim() != 4 || images.scalar_type() != at::kByte ||
      (images.size(3) != 1 && images.size(3) != 3))
    throw ConfigError("images", "expected uint8 [N, H, W, C] with C = 1 or 3, got " +
                                    std::string(at::toString(images.scalar_type())) + " " +
                                    shape_text(images.sizes()));
  c10::InferenceMode guard;
  const int64_t n = images.size(0);
  at::Tensor out = at::empty({n, kInceptionFeatureDim}, at::kFloat);
  for (int64_t start = 0; start < n; start += impl_->options.batch_size) {
    const int64_t count = std::min(impl_->options.batch_size, n - start);
    const at::Tensor batch = images.narrow(0, start, count).to(impl_->device);
    out.narrow(0, start, count).copy_(forward(inception_preprocess(batch)));
  }
  return out;
}

at::Tensor FidInception::sample_features(const at::Tensor& samples) const {
  return features(quantize_samples(samples));
}

at::Tensor inception_preprocess(const at::Tensor& images) {
  SS_CHECK(images.dim() == 4 && images.scalar_type() == at::kByte) << "uint8 [N, H, W, C]";
  c10::InferenceMode guard;
  // ToTensor's x/255 in float32, then the resize per channel (grey is repeated after resizing:
  // the same numbers, a third of the work).
  at::Tensor x = images.permute({0, 3, 1, 2}).to(at::kFloat).contiguous().div_(255.0);
  x = at::upsample_bilinear2d(x, {kInceptionInputSize, kInceptionInputSize},
                              /*align_corners=*/false);
  x = x.mul_(2.0).sub_(1.0);
  if (x.size(1) == 1) x = x.expand({-1, 3, -1, -1}).contiguous();
  return x;
}

at::Tensor quantize_samples(const at::Tensor& samples) {
  if (samples.dim() != 4 || !at::isFloatingType(samples.scalar_type()) ||
      (samples.size(1) != 1 && samples.size(1) != 3))
    throw ConfigError("samples", "expected floating-point [N, C, H, W] with C = 1 or 3, got " +
                                     std::string(at::toString(samples.scalar_type())) + " " +
                                     shape_text(samples.sizes()));
  c10::InferenceMode guard;
  if (!at::isfinite(samples).all().item<bool>())
    throw NumericalError("samples contain NaN or Inf; they cannot be quantized to 8 bits");
  at::Tensor v = (samples.to(at::kDouble) + 1.0) * (255.0 / 2.0);
  v = at::floor(v + 0.5).clamp_(0.0, 255.0);
  return v.to(at::kByte).permute({0, 2, 3, 1}).contiguous();
}

}  // namespace samplersearch
