#pragma once
// The Natural Inference engine (docs/equations.md §4): samples from (C, B, times) and an x0-model.
#include <ATen/core/Tensor.h>

#include <cstdint>

#include "samplersearch/samplers/matrices.hpp"
#include "samplersearch/samplers/model.hpp"
#include "samplersearch/samplers/noise.hpp"

namespace samplersearch {

struct EngineOptions {
  bool denoise_to_zero = false;  // one more call: output f(x_N, t_N) instead of x_N
  // When set, receives the largest number of y and ε tensors the run held at once (its memory,
  // in batches of samples), counted on the maps the engine keeps.
  int64_t* peak_held = nullptr;
};

// x_N (or f(x_N, t_N)) for samples first … first+count−1 of the noise stream `seed`, with
// x_k = Σ_{j<k} C[k][j]·y_j + Σ_{j≤k} B[k][j]·ε_j and y_k = f(x_k, t_k). Only the y_j and ε_j
// that a later row still uses are kept. Throws NumericalError on a NaN/Inf.
at::Tensor run_engine(const Matrices& matrices, const X0Model& model, uint64_t seed, int64_t first,
                      int64_t count, const SampleLayout& layout, const EngineOptions& options = {});

}  // namespace samplersearch
