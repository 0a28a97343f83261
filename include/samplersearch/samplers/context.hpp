#pragma once
// The two contexts a solver runs in (see solver.hpp): tensors (sampling) and linear forms
// (matrices).
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "samplersearch/samplers/linear_form.hpp"
#include "samplersearch/samplers/matrices.hpp"
#include "samplersearch/samplers/model.hpp"
#include "samplersearch/samplers/noise.hpp"

namespace samplersearch {

// Runs a solver on a batch of samples first … first+count−1 with a model and seeded noise.
class TensorContext {
 public:
  using Value = at::Tensor;
  TensorContext(const X0Model& model, uint64_t seed, int64_t first, int64_t count,
                SampleLayout layout);
  // ε_k with k the number of model calls so far (at most one fresh noise per row).
  at::Tensor noise();
  // y_k = f(x_k, t_k); throws NumericalError if the model returns NaN/Inf.
  at::Tensor denoise(const at::Tensor& x, double t);
  int calls() const { return calls_; }

 private:
  const X0Model& model_;
  uint64_t seed_;
  int64_t first_, count_;
  SampleLayout layout_;
  int calls_ = 0;
  int last_noise_row_ = -1;
};

// Runs a solver symbolically: every denoise input becomes a row of C and B.
class FormContext {
 public:
  using Value = LinearForm;
  // ε_k with k the number of model calls so far.
  LinearForm noise();
  // Records row k = x and its time t_k; returns the form y_k.
  LinearForm denoise(const LinearForm& x, double t);
  // The matrices whose last row is the solver's output x_N at time t_N.
  Matrices finish(const LinearForm& output, double t_final) const;
  int calls() const { return static_cast<int>(rows_.size()); }

 private:
  std::vector<LinearForm> rows_;
  std::vector<double> times_;
  int last_noise_row_ = -1;
};

}  // namespace samplersearch
