#include "samplersearch/metrics/statistics.hpp"

#include <ATen/ATen.h>
#include <cblas.h>

#include <limits>
#include <string>

#include "samplersearch/common/check.hpp"
#include "samplersearch/common/error.hpp"

namespace samplersearch {
namespace {

std::string shape_text(const at::Tensor& t) {
  std::string out = "[";
  for (int64_t i = 0; i < t.dim(); ++i) out += (i ? ", " : "") + std::to_string(t.size(i));
  return out + "]";
}

int blas_int(int64_t n) {
  SS_CHECK(n >= 0 && n <= std::numeric_limits<int>::max()) << "BLAS dimension " << n;
  return static_cast<int>(n);
}

// scatter += alpha·xᵀx on the lower triangle (row-major), x [n, d] float64 contiguous.
void add_gram(at::Tensor& scatter, const at::Tensor& x, double beta) {
  const int n = blas_int(x.size(0));
  const int d = blas_int(x.size(1));
  cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, d, n, 1.0, x.data_ptr<double>(), d, beta,
              scatter.data_ptr<double>(), d);
}

}  // namespace

RunningStats::RunningStats(int64_t dim) : dim_(dim) {
  if (dim <= 0)
    throw ConfigError("statistics", "dimension must be positive, got " + std::to_string(dim));
}

RunningStats::RunningStats(const RunningStats& other)
    : dim_(other.dim_),
      count_(other.count_),
      mean_(other.mean_.defined() ? other.mean_.clone() : at::Tensor()),
      scatter_(other.scatter_.defined() ? other.scatter_.clone() : at::Tensor()) {}

RunningStats& RunningStats::operator=(const RunningStats& other) {
  if (this != &other) *this = RunningStats(other);
  return *this;
}

void RunningStats::add(const at::Tensor& batch) {
  if (!batch.defined() || batch.dim() != 2)
    throw ConfigError("features",
                      "expected a 2-D tensor [n, d], got shape " +
                          (batch.defined() ? shape_text(batch) : std::string("(none)")));
  if (!at::isFloatingType(batch.scalar_type()))
    throw ConfigError("features", std::string("expected a floating-point tensor, got ") +
                                      c10::toString(batch.scalar_type()));
  if (batch.size(1) == 0) throw ConfigError("features", "feature dimension d is 0");
  if (dim_ != 0 && batch.size(1) != dim_)
    throw ConfigError("features", "expected d = " + std::to_string(dim_) +
                                      " features per row, got " + std::to_string(batch.size(1)));
  dim_ = batch.size(1);
  const int64_t n_b = batch.size(0);
  if (n_b == 0) return;

  const at::Tensor x = batch.to(at::kCPU, at::kDouble).contiguous();
  if (!at::isfinite(x).all().item<bool>())
    throw NumericalError("features: NaN or Inf in a batch of " + std::to_string(n_b) + " samples");
  const at::Tensor mean_b = x.mean(0);
  const at::Tensor centred = (x - mean_b).contiguous();

  if (count_ == 0) {
    mean_ = mean_b;
    scatter_ = at::zeros({dim_, dim_}, at::kDouble);
    add_gram(scatter_, centred, 0.0);
    count_ = n_b;
    return;
  }
  // The batch's own scatter goes straight into scatter_ (β = 1), then Chan's correction term.
  add_gram(scatter_, centred, 1.0);
  fold(n_b, mean_b, at::Tensor());
}

void RunningStats::merge(const RunningStats& other) {
  if (other.count_ == 0) {
    if (dim_ == 0) dim_ = other.dim_;
    return;
  }
  if (dim_ != 0 && other.dim_ != dim_)
    throw ConfigError("statistics", "cannot merge statistics of d = " + std::to_string(other.dim_) +
                                        " into statistics of d = " + std::to_string(dim_));
  if (count_ == 0) {
    dim_ = other.dim_;
    count_ = other.count_;
    mean_ = other.mean_.clone();
    scatter_ = other.scatter_.clone();
    return;
  }
  fold(other.count_, other.mean_, other.scatter_);
}

// (n_a, μ_a, M_a) ← (n_a + n_b, μ_a + (n_b/n)δ, M_a + M_b + (n_a n_b/n)δδᵀ); M_b may already be in.
void RunningStats::fold(int64_t n_b, const at::Tensor& mean_b, const at::Tensor& scatter_b) {
  const int64_t n_a = count_;
  const int64_t n = n_a + n_b;
  const at::Tensor delta = (mean_b - mean_).contiguous();
  if (scatter_b.defined()) scatter_.add_(scatter_b);
  const double weight =
      static_cast<double>(n_a) * static_cast<double>(n_b) / static_cast<double>(n);
  const int d = blas_int(dim_);
  cblas_dsyr(CblasRowMajor, CblasLower, d, weight, delta.data_ptr<double>(), 1,
             scatter_.data_ptr<double>(), d);
  mean_.add_(delta, static_cast<double>(n_b) / static_cast<double>(n));
  count_ = n;
}

at::Tensor RunningStats::mean() const {
  if (count_ == 0) throw ConfigError("statistics", "the mean needs at least 1 sample, got 0");
  return mean_.clone();
}

at::Tensor RunningStats::covariance() const {
  if (count_ < 2)
    throw ConfigError("statistics",
                      "the covariance needs at least 2 samples, got " + std::to_string(count_));
  const at::Tensor lower = scatter_.tril();
  return (lower + lower.tril(-1).t()).div_(static_cast<double>(count_ - 1)).contiguous();
}

Statistics RunningStats::statistics(const std::string& source) const {
  return Statistics{mean(), covariance(), count_, source};
}

Statistics compute_statistics(const at::Tensor& features, const std::string& source) {
  RunningStats stats;
  stats.add(features);
  return stats.statistics(source);
}

}  // namespace samplersearch
