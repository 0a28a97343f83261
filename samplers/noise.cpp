#include "samplersearch/samplers/noise.hpp"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "samplersearch/common/check.hpp"

namespace samplersearch {
namespace {

// SplitMix64 finalizer: a well-mixed 64-bit function of its input.
uint64_t mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

at::Tensor noise_batch(uint64_t seed, int64_t first, int64_t count, int64_t row,
                       const SampleLayout& layout) {
  SS_CHECK(first >= 0 && count >= 0 && row >= 0);
  std::vector<int64_t> shape{count};
  shape.insert(shape.end(), layout.shape.begin(), layout.shape.end());
  at::Tensor out = at::empty(shape, at::TensorOptions().dtype(at::kDouble));
  std::vector<int64_t> one(layout.shape.begin(), layout.shape.end());
  for (int64_t i = 0; i < count; ++i) {
    const uint64_t key = mix(mix(mix(seed) ^ static_cast<uint64_t>(first + i)) ^
                             (static_cast<uint64_t>(row) * 0x632be59bd9b4e019ULL));
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(key);
    out[i].copy_(at::randn(one, gen, at::TensorOptions().dtype(at::kDouble)));
  }
  return out.to(layout.device, layout.dtype);
}

}  // namespace samplersearch
