#pragma once
// Exact x0-models (docs/equations.md §3): no training, exact ground truth.
#include <ATen/core/Tensor.h>

#include <memory>
#include <vector>

#include "samplersearch/samplers/model.hpp"
#include "samplersearch/samplers/schedule.hpp"

namespace samplersearch {

// p(x0) = Σ_k π_k N(μ_k, s_k² I) over vectors of dimension D.
struct GaussianMixture {
  at::Tensor weights;  // [K], π_k, summing to 1
  at::Tensor means;    // [K, D], μ_k
  at::Tensor stds;     // [K], s_k ≥ 0
};

// E[x0|x_t] = Σ_k r_k·(μ_k + (α s_k²/v_k)(x_t − α μ_k)), v_k = α²s_k² + σ²,
// r_k ∝ π_k·N(x_t; α μ_k, v_k I) (responsibilities in log space).
class GaussianMixtureModel final : public X0Model {
 public:
  GaussianMixtureModel(GaussianMixture mixture, std::shared_ptr<const Schedule> schedule,
                       std::vector<int64_t> sample_shape);
  at::Tensor predict_x0(const at::Tensor& x, double t) const override;
  std::vector<int64_t> sample_shape() const override { return shape_; }
  // Mean and covariance of p(x0), exactly: μ = Σπ_kμ_k, Σ = Σπ_k(s_k²I + μ_kμ_kᵀ) − μμᵀ.
  at::Tensor mean() const;
  at::Tensor covariance() const;

 private:
  GaussianMixture mixture_;
  std::shared_ptr<const Schedule> schedule_;
  std::vector<int64_t> shape_;
};

// The exact denoiser of an empirical data set {X_i} (Zheng & Zheng 2025, eq. 23):
// E[x0|x_t] = Σ_i w_i X_i, w = softmax_i(−‖x_t − α X_i‖²/(2σ²)); the distances come from one matrix
// product per batch and the softmax is taken in log space.
class EmpiricalDenoiser final : public X0Model {
 public:
  // data: [N, sample_shape…]; kept centered (X_i − mean, which shrinks the rounding of the
  // expanded distances) in float64 and float32 copies made here, with their squared norms.
  EmpiricalDenoiser(at::Tensor data, std::shared_ptr<const Schedule> schedule);
  at::Tensor predict_x0(const at::Tensor& x, double t) const override;
  std::vector<int64_t> sample_shape() const override { return shape_; }
  int64_t size() const;

 private:
  at::Tensor data_;     // [N, D] float64, X_i − mean
  at::Tensor data32_;   // [N, D] float32
  at::Tensor norms_;    // [N] ‖X_i − mean‖², float64
  at::Tensor norms32_;  // [N] float32
  at::Tensor mean_;     // [D] the data mean, float64
  at::Tensor mean32_;   // [D] float32
  std::shared_ptr<const Schedule> schedule_;
  std::vector<int64_t> shape_;
};

}  // namespace samplersearch
