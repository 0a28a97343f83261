#pragma once
// Seeded noise: ε_j of sample i is a function of (seed, i, j) only, so samples never depend on
// batch size, on how samples are split among workers, or on the device.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace samplersearch {

// Where samples live and in which precision.
struct SampleLayout {
  std::vector<int64_t> shape;         // one sample, without the batch dimension
  at::ScalarType dtype = at::kFloat;  // float32 by default, float64 for exactness tests
  at::Device device = at::Device(at::kCPU);
};

// ε_row of samples first … first+count−1 as a [count, shape…] tensor: each sample's noise is
// drawn in double from a generator seeded by hash(seed, sample, row), then cast.
at::Tensor noise_batch(uint64_t seed, int64_t first, int64_t count, int64_t row,
                       const SampleLayout& layout);

}  // namespace samplersearch
