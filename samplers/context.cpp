#include "samplersearch/samplers/context.hpp"

#include <ATen/ATen.h>

#include "samplersearch/common/check.hpp"
#include "samplersearch/common/error.hpp"

namespace samplersearch {

TensorContext::TensorContext(const X0Model& model, uint64_t seed, int64_t first, int64_t count,
                             SampleLayout layout)
    : model_(model), seed_(seed), first_(first), count_(count), layout_(std::move(layout)) {}

at::Tensor TensorContext::noise() {
  SS_CHECK(calls_ > last_noise_row_) << "a solver drew two fresh noises for row " << calls_;
  last_noise_row_ = calls_;
  return noise_batch(seed_, first_, count_, calls_, layout_);
}

at::Tensor TensorContext::denoise(const at::Tensor& x, double t) {
  at::Tensor y = model_.predict_x0(x, t);
  if (!at::isfinite(y).all().item<bool>())
    throw NumericalError("model returned NaN/Inf at call " + std::to_string(calls_) +
                         " (t = " + std::to_string(t) + ")");
  ++calls_;
  return y;
}

LinearForm FormContext::noise() {
  const int row = calls();
  SS_CHECK(row > last_noise_row_) << "a solver drew two fresh noises for row " << row;
  last_noise_row_ = row;
  return LinearForm::noise(static_cast<size_t>(row));
}

LinearForm FormContext::denoise(const LinearForm& x, double t) {
  const size_t k = rows_.size();
  SS_CHECK(x.y().size() <= k) << "row " << k << " uses a model output not computed yet";
  rows_.push_back(x);
  times_.push_back(t);
  return LinearForm::signal(k);
}

Matrices FormContext::finish(const LinearForm& output, double t_final) const {
  const auto n = static_cast<Eigen::Index>(rows_.size());
  Matrices m;
  m.signal = RowMatrix::Zero(n + 1, n);
  m.noise = RowMatrix::Zero(n + 1, n + 1);
  m.times = times_;
  m.times.push_back(t_final);
  for (Eigen::Index k = 0; k <= n; ++k) {
    const LinearForm& row = k < n ? rows_[static_cast<size_t>(k)] : output;
    SS_CHECK(static_cast<Eigen::Index>(row.y().size()) <= std::max<Eigen::Index>(k, 0));
    SS_CHECK(static_cast<Eigen::Index>(row.eps().size()) <= k + 1);
    for (size_t j = 0; j < row.y().size(); ++j)
      m.signal(k, static_cast<Eigen::Index>(j)) = row.y()[j];
    for (size_t j = 0; j < row.eps().size(); ++j)
      m.noise(k, static_cast<Eigen::Index>(j)) = row.eps()[j];
  }
  return m;
}

}  // namespace samplersearch
