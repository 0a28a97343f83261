#include "samplersearch/samplers/exact_models.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>

#include "samplersearch/common/check.hpp"
#include "samplersearch/common/error.hpp"

namespace samplersearch {
namespace {

// Upper bound on the elements of one temporary ([rows, K, D] differences or [rows, N] logits) so
// a large batch is processed in chunks of rows instead of one huge allocation: 2^25 (128 MB of
// float32 logits) keeps 500 queries against all 60,000 Fashion-MNIST images one GEMM; at 2^23
// they were four GEMMs of 139 rows, each too thin for OpenBLAS's blocking (bench_denoiser).
constexpr int64_t kMaxChunkElements = int64_t{1} << 25;

// Product of the sample shape: the flattened dimension D.
int64_t flat_size(const std::vector<int64_t>& shape) {
  int64_t d = 1;
  for (int64_t s : shape) d *= s;
  return d;
}

// "[a, b, c]" for error messages.
std::string shape_string(at::IntArrayRef shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

// SS_CHECK that x is a floating batch [B, shape...].
void check_batch(const at::Tensor& x, const std::vector<int64_t>& shape, const char* model) {
  SS_CHECK(x.defined()) << model << ": undefined input";
  SS_CHECK(at::isFloatingType(x.scalar_type()))
      << model << ": x must be floating, got " << x.scalar_type();
  SS_CHECK(x.dim() == static_cast<int64_t>(shape.size()) + 1 &&
           std::equal(shape.begin(), shape.end(), x.sizes().begin() + 1))
      << model << ": x has shape " << shape_string(x.sizes()) << ", expected [B, "
      << shape_string(shape).substr(1);
}

// The dtype a model computes in for an input of dtype `type`: float32 and float64 as given,
// the half types in float32 (their CPU matrix products are slow or missing in LibTorch 1.13).
at::ScalarType compute_type(at::ScalarType type) {
  return type == at::kDouble ? at::kDouble : at::kFloat;
}

// Validates the mixture against the sample shape; ConfigError naming the bad field.
GaussianMixture validated(GaussianMixture m, const std::vector<int64_t>& shape) {
  if (!m.weights.defined() || !m.means.defined() || !m.stds.defined())
    throw ConfigError("mixture", "weights, means and stds must all be given");
  for (int64_t s : shape)
    if (s <= 0) throw ConfigError("sample_shape", "every dimension must be positive");
  const int64_t d = flat_size(shape);
  if (m.weights.dim() != 1 || m.weights.size(0) < 1)
    throw ConfigError("mixture.weights", "must be a non-empty vector [K], got shape " +
                                             shape_string(m.weights.sizes()));
  const int64_t k = m.weights.size(0);
  if (m.means.dim() != 2 || m.means.size(0) != k || m.means.size(1) != d)
    throw ConfigError("mixture.means", "must have shape [K, D] = [" + std::to_string(k) + ", " +
                                           std::to_string(d) + "], got " +
                                           shape_string(m.means.sizes()));
  if (m.stds.dim() != 1 || m.stds.size(0) != k)
    throw ConfigError("mixture.stds", "must have shape [K] = [" + std::to_string(k) + "], got " +
                                          shape_string(m.stds.sizes()));
  m.weights = m.weights.to(at::kCPU, at::kDouble).contiguous();
  m.means = m.means.to(at::kCPU, at::kDouble).contiguous();
  m.stds = m.stds.to(at::kCPU, at::kDouble).contiguous();
  if (!m.weights.isfinite().all().item<bool>() || (m.weights < 0).any().item<bool>())
    throw ConfigError("mixture.weights", "must be finite and non-negative");
  const double total = m.weights.sum().item<double>();
  if (std::abs(total - 1.0) > 1e-6)
    throw ConfigError("mixture.weights", "must sum to 1, sum to " + std::to_string(total));
  if (!m.means.isfinite().all().item<bool>()) throw ConfigError("mixture.means", "must be finite");
  if (!m.stds.isfinite().all().item<bool>() || (m.stds < 0).any().item<bool>())
    throw ConfigError("mixture.stds", "must be finite and non-negative");
  return m;
}

}  // namespace

GaussianMixtureModel::GaussianMixtureModel(GaussianMixture mixture,
                                           std::shared_ptr<const Schedule> schedule,
                                           std::vector<int64_t> sample_shape)
    : mixture_(validated(std::move(mixture), sample_shape)),
      schedule_(std::move(schedule)),
      shape_(std::move(sample_shape)) {
  SS_CHECK(schedule_ != nullptr) << "GaussianMixtureModel needs a schedule";
}

// E[x0|x_t]: log r_k = log π_k − (D/2) log v_k − ‖x − αμ_k‖²/(2v_k) + const, normalized by a
// softmax that subtracts the row max; then Σ_k r_k((1 − αc_k)μ_k + c_k x), c_k = α s_k²/v_k.
at::Tensor GaussianMixtureModel::predict_x0(const at::Tensor& x, double t) const {
  check_batch(x, shape_, "GaussianMixtureModel");
  if (x.size(0) == 0) return x.clone();
  const double alpha = schedule_->alpha(t);
  const double sigma = schedule_->sigma(t);
  const at::ScalarType type = compute_type(x.scalar_type());
  const auto opts = at::TensorOptions().dtype(type).device(x.device());

  const at::Tensor var = alpha * alpha * mixture_.stds.square() + sigma * sigma;  // v_k, float64
  SS_CHECK(var.gt(0).all().item<bool>())
      << "GaussianMixtureModel: v_k = α²s_k² + σ² is 0 at t=" << t << " (σ = 0 and s_k = 0)";
  const at::Tensor coef = alpha * mixture_.stds.square() / var;  // c_k
  const double d = static_cast<double>(mixture_.means.size(1));
  const at::Tensor log_prior = (mixture_.weights.log() - 0.5 * d * var.log()).to(opts);
  const at::Tensor inv_two_var = (0.5 / var).to(opts);
  const at::Tensor means = mixture_.means.to(opts);
  const at::Tensor scaled_means = alpha * means;               // αμ_k
  const at::Tensor mean_coef = (1.0 - alpha * coef).to(opts);  // 1 − αc_k
  const at::Tensor x_coef = coef.to(opts);                     // c_k

  const int64_t batch = x.size(0);
  const int64_t k = means.size(0);
  const at::Tensor flat = x.reshape({batch, -1}).to(type);
  const int64_t rows =
      std::max<int64_t>(1, kMaxChunkElements / std::max<int64_t>(1, k * means.size(1)));
  std::vector<at::Tensor> outs;
  for (int64_t start = 0; start < batch; start += rows) {
    const at::Tensor xc = flat.narrow(0, start, std::min(rows, batch - start));
    // ‖x − αμ_k‖² from the differences themselves (exact even when v_k is tiny).
    const at::Tensor dist = (xc.unsqueeze(1) - scaled_means.unsqueeze(0)).square().sum(2);
    const at::Tensor resp = at::softmax(log_prior - dist * inv_two_var, 1);  // r, [rows, K]
    outs.push_back(at::matmul(resp * mean_coef, means) +
                   at::matmul(resp, x_coef).unsqueeze(1) * xc);
  }
  return at::cat(outs, 0).to(x.scalar_type()).reshape(x.sizes());
}

// μ = Σ_k π_k μ_k, flattened to [D], float64.
at::Tensor GaussianMixtureModel::mean() const {
  return at::matmul(mixture_.weights, mixture_.means);
}

// Σ = Σ_k π_k (μ_k − μ)(μ_k − μ)ᵀ + (Σ_k π_k s_k²) I, [D, D] float64 (the same as
// Σπ_k(s_k²I + μ_kμ_kᵀ) − μμᵀ, without its cancellation).
at::Tensor GaussianMixtureModel::covariance() const {
  const at::Tensor centered = mixture_.means - mean().unsqueeze(0);
  const at::Tensor cov = at::matmul(centered.t() * mixture_.weights.unsqueeze(0), centered);
  const double spread = (mixture_.weights * mixture_.stds.square()).sum().item<double>();
  return cov + spread * at::eye(mixture_.means.size(1), mixture_.means.options());
}

EmpiricalDenoiser::EmpiricalDenoiser(at::Tensor data, std::shared_ptr<const Schedule> schedule)
    : schedule_(std::move(schedule)) {
  SS_CHECK(schedule_ != nullptr) << "EmpiricalDenoiser needs a schedule";
  if (!data.defined() || data.dim() < 2 || data.size(0) < 1 || data[0].numel() < 1)
    throw ConfigError("data", "must be a non-empty data set [N, sample_shape...], got shape " +
                                  (data.defined() ? shape_string(data.sizes()) : "undefined"));
  shape_.assign(data.sizes().begin() + 1, data.sizes().end());
  const at::Tensor flat = data.reshape({data.size(0), -1}).to(at::kCPU, at::kDouble);
  if (!flat.isfinite().all().item<bool>()) throw ConfigError("data", "must be finite");
  mean_ = flat.mean(0);
  data_ = (flat - mean_).contiguous();
  norms_ = data_.square().sum(1);
  mean32_ = mean_.to(at::kFloat);
  data32_ = data_.to(at::kFloat);
  norms32_ = data32_.square().sum(1);
}

int64_t EmpiricalDenoiser::size() const { return data_.size(0); }

// With m the data mean, x' = x − αm and X'_i = X_i − m (so x − αX_i = x' − αX'_i), and ‖x'‖²
// dropped (it is constant along each row, so the softmax ignores it):
// logit_i = (α/σ²)·x'·X'_i − (α²/(2σ²))·‖X'_i‖², one addmm per chunk of rows, then a softmax in
// log space and m + weights @ X'. At σ = 0 the limit is the nearest neighbour of x/α.
at::Tensor EmpiricalDenoiser::predict_x0(const at::Tensor& x, double t) const {
  check_batch(x, shape_, "EmpiricalDenoiser");
  if (x.size(0) == 0) return x.clone();
  const double alpha = schedule_->alpha(t);
  const double sigma = schedule_->sigma(t);
  const at::ScalarType type = compute_type(x.scalar_type());
  at::Tensor data = type == at::kDouble ? data_ : data32_;
  at::Tensor norms = type == at::kDouble ? norms_ : norms32_;
  at::Tensor mean = type == at::kDouble ? mean_ : mean32_;
  if (x.device() != data.device()) {
    data = data.to(x.device());
    norms = norms.to(x.device());
    mean = mean.to(x.device());
  }
  const int64_t batch = x.size(0);
  const int64_t n = data.size(0);
  const at::Tensor flat = x.reshape({batch, -1}).to(type) - alpha * mean;
  const at::Tensor bias = norms.unsqueeze(0);  // [1, N], broadcast by addmm
  // At σ = 0, or σ so small that the logits could overflow the compute type (where the softmax
  // is a one-hot argmax anyway), score with the σ-free form 2α x'·X'_i − α²‖X'_i‖² and take
  // the argmax: the nearest neighbour of x/α.
  const double max_scale = type == at::kDouble ? 1e290 : 1e30;
  const bool limit = sigma == 0.0 || alpha / (sigma * sigma) > max_scale;
  const double scale = limit ? 2.0 * alpha : alpha / (sigma * sigma);
  const double shift = limit ? -alpha * alpha : -alpha * alpha / (2.0 * sigma * sigma);
  // log of the smallest normal number of the compute type.
  const double min_log = type == at::kDouble ? std::log(std::numeric_limits<double>::min())
                                             : std::log(double{std::numeric_limits<float>::min()});
  const int64_t rows = std::max<int64_t>(1, kMaxChunkElements / n);
  std::vector<at::Tensor> outs;
  for (int64_t start = 0; start < batch; start += rows) {
    const at::Tensor xc = flat.narrow(0, start, std::min(rows, batch - start));
    at::Tensor logits = at::addmm(bias, xc, data.t(), shift, scale);  // [rows, N]
    if (limit) {
      outs.push_back(data.index_select(0, logits.argmax(1)));
      continue;
    }
    // Softmax by hand: subtract the row max, drop the weights that would be subnormal (below
    // the smallest normal number relative to the largest weight 1: they change nothing at this
    // precision, but subnormal operands make the matrix product ~100× slower), exponentiate,
    // and normalize the product instead of the weights (so no weight becomes subnormal).
    logits.sub_(at::amax(logits, 1, /*keepdim=*/true));
    at::threshold_(logits, min_log, -std::numeric_limits<double>::infinity());
    logits.exp_();
    outs.push_back(at::matmul(logits, data).div_(logits.sum(1, /*keepdim=*/true)));
  }
  at::Tensor out = outs.size() == 1 ? outs.front() : at::cat(outs, 0);
  return out.add_(mean).to(x.scalar_type()).reshape(x.sizes());
}

}  // namespace samplersearch
