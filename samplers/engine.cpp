#include "samplersearch/samplers/engine.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <map>
#include <string>

#include "samplersearch/common/check.hpp"
#include "samplersearch/common/error.hpp"

namespace samplersearch {
namespace {

// Last row that uses column j of `m` (−1 when none): after it, y_j / ε_j can be dropped.
std::vector<Eigen::Index> last_use(const RowMatrix& m) {
  std::vector<Eigen::Index> last(static_cast<size_t>(m.cols()), -1);
  for (Eigen::Index k = 0; k < m.rows(); ++k)
    for (Eigen::Index j = 0; j < m.cols(); ++j)
      if (m(k, j) != 0.0) last[static_cast<size_t>(j)] = k;
  return last;
}

void check_finite(const at::Tensor& t, const char* what, Eigen::Index row) {
  if (!at::isfinite(t).all().item<bool>())
    throw NumericalError(std::string(what) + " has NaN/Inf at row " + std::to_string(row));
}

}  // namespace

at::Tensor run_engine(const Matrices& m, const X0Model& model, uint64_t seed, int64_t first,
                      int64_t count, const SampleLayout& layout, const EngineOptions& options) {
  m.validate("engine");
  const Eigen::Index n = m.signal.cols();
  const std::vector<Eigen::Index> y_last = last_use(m.signal);
  const std::vector<Eigen::Index> e_last = last_use(m.noise);
  std::map<Eigen::Index, at::Tensor> ys, eps;
  std::vector<int64_t> shape{count};
  shape.insert(shape.end(), layout.shape.begin(), layout.shape.end());
  const auto opts = at::TensorOptions().dtype(layout.dtype).device(layout.device);
  at::Tensor x;
  int64_t peak = 0;
  for (Eigen::Index k = 0; k <= n; ++k) {
    x = at::zeros(shape, opts);
    for (Eigen::Index j = 0; j < std::min(k, n); ++j) {
      const double c = m.signal(k, j);
      if (c == 0.0) continue;
      const auto it = ys.find(j);
      SS_CHECK(it != ys.end()) << "y_" << j << " dropped before row " << k;
      x.add_(it->second, c);
    }
    for (Eigen::Index j = 0; j <= k; ++j) {
      const double b = m.noise(k, j);
      if (b == 0.0) continue;
      auto it = eps.find(j);
      if (it == eps.end()) it = eps.emplace(j, noise_batch(seed, first, count, j, layout)).first;
      x.add_(it->second, b);
    }
    peak = std::max(peak, static_cast<int64_t>(ys.size() + eps.size()));
    // Drop what no later row uses.
    for (auto it = ys.begin(); it != ys.end();)
      it = y_last[static_cast<size_t>(it->first)] <= k ? ys.erase(it) : std::next(it);
    for (auto it = eps.begin(); it != eps.end();)
      it = e_last[static_cast<size_t>(it->first)] <= k ? eps.erase(it) : std::next(it);
    if (k < n) {
      check_finite(x, "sampler state", k);
      if (y_last[static_cast<size_t>(k)] < 0) continue;  // no later row uses y_k: skip the call
      at::Tensor y = model.predict_x0(x, m.times[static_cast<size_t>(k)]);
      check_finite(y, "model output", k);
      ys.emplace(k, std::move(y));
    }
  }
  check_finite(x, "output", n);
  if (options.peak_held != nullptr) *options.peak_held = peak;
  if (options.denoise_to_zero) {
    x = model.predict_x0(x, m.times.back());
    check_finite(x, "denoised output", n);
  }
  return x;
}

}  // namespace samplersearch
