#pragma once
// Streaming statistics of feature vectors (docs/equations.md §6): the mean and the unbiased (n−1)
// covariance in double precision, accumulated batch by batch and mergeable across workers.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

namespace samplersearch {

// The statistics a Fréchet distance needs, as read from or written to a statistics file.
struct Statistics {
  at::Tensor mu;       // float64 [d]
  at::Tensor sigma;    // float64 [d, d], symmetric
  int64_t count = 0;   // samples behind mu and sigma; 0 when unknown
  std::string source;  // what they were computed from; "" when unknown
  int64_t dim() const { return mu.defined() ? mu.size(0) : 0; }
};

// Count n, mean μ and scatter M = Σ_i (x_i − μ)(x_i − μ)ᵀ of the samples seen so far. A batch is
// centred on its own mean before it is accumulated, and two partial results (n_a, μ_a, M_a),
// (n_b, μ_b, M_b) combine by Chan et al.'s parallel formula
//   n = n_a + n_b,  μ = μ_a + (n_b/n)·δ,  M = M_a + M_b + (n_a·n_b/n)·δδᵀ,  δ = μ_b − μ_a,
// so the result does not depend on how the samples were split, up to rounding.
class RunningStats {
 public:
  // Dimension taken from the first batch.
  RunningStats() = default;
  // Dimension fixed up front; ConfigError if a batch disagrees.
  explicit RunningStats(int64_t dim);
  // Copies are deep (the tensors are cloned), so a copy can be merged into without aliasing.
  RunningStats(const RunningStats& other);
  RunningStats& operator=(const RunningStats& other);
  RunningStats(RunningStats&&) noexcept = default;
  RunningStats& operator=(RunningStats&&) noexcept = default;
  ~RunningStats() = default;

  // Adds the rows of `batch` [n, d] (any floating dtype, any device; n = 0 is allowed).
  // ConfigError on a wrong shape or dtype; NumericalError if it holds NaN or Inf.
  void add(const at::Tensor& batch);
  // Folds in another worker's statistics (Chan et al.); ConfigError if the dimensions differ.
  void merge(const RunningStats& other);

  // n: the number of samples added.
  int64_t count() const { return count_; }
  // d, or 0 before the first batch of a default-constructed instance.
  int64_t dim() const { return dim_; }
  // μ = (1/n) Σ x_i, float64 [d]; ConfigError when n = 0.
  at::Tensor mean() const;
  // Σ = M / (n − 1), float64 [d, d], exactly symmetric; ConfigError when n < 2.
  at::Tensor covariance() const;
  // {mean(), covariance(), count(), source}.
  Statistics statistics(const std::string& source = "") const;

 private:
  void fold(int64_t n_b, const at::Tensor& mean_b, const at::Tensor& scatter_b);

  int64_t dim_ = 0;
  int64_t count_ = 0;
  at::Tensor mean_;     // float64 [d]
  at::Tensor scatter_;  // float64 [d, d]; only the lower triangle (row-major) is maintained
};

// Statistics of the rows of one feature tensor [n, d], n ≥ 2.
Statistics compute_statistics(const at::Tensor& features, const std::string& source = "");

}  // namespace samplersearch
