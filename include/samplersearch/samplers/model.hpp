#pragma once
// The model as an x0-predictor f(x_t, t) ≈ E[x0 | x_t] (docs/equations.md §3) and the
// parameterization adapters.
#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "samplersearch/samplers/schedule.hpp"

namespace samplersearch {

// f(x_t, t) ≈ E[x0 | x_t]; x has a leading batch dimension followed by sample_shape().
class X0Model {
 public:
  virtual ~X0Model() = default;
  // E[x0 | x_t = x] for every row of the batch x, at time t (same dtype and device as x).
  virtual at::Tensor predict_x0(const at::Tensor& x, double t) const = 0;
  // Shape of one sample, without the batch dimension (e.g. {1, 28, 28}).
  virtual std::vector<int64_t> sample_shape() const = 0;
};

// What a network outputs.
enum class Parameterization { x0, eps, score, v, flow_velocity };

// One row of the parameterization registry.
struct ParameterizationEntry {
  std::string_view name;
  std::string_view summary;
  Parameterization kind;
};
std::span<const ParameterizationEntry> parameterization_registry();

// x0 from a network output: eps x0 = (x − σε̂)/α · score x0 = (x + σ²s)/α ·
// v x0 = (αx − σv)/(α²+σ²) · flow velocity x0 = x − t·u (α = 1−t, σ = t, so t = σ).
at::Tensor to_x0(Parameterization kind, const at::Tensor& output, const at::Tensor& x, double alpha,
                 double sigma);

// How t is fed to a network.
enum class TimeInput { t, t999, sigma, edm_c_noise, step_index };

// One row of the time-input registry.
struct TimeInputEntry {
  std::string_view name;
  std::string_view summary;
  TimeInput kind;
};
std::span<const TimeInputEntry> time_input_registry();

// One row of the floating-point type registry: what a network may run in (model.dtype) and,
// where `for_sums`, what the engine's Natural Inference sums may be kept in (model.sum_dtype).
struct DtypeEntry {
  std::string_view name;
  std::string_view summary;
  at::ScalarType kind;
  bool for_sums;
};
std::span<const DtypeEntry> dtype_registry();

// The number given to the network at time t: t, 999·t, σ(t), ¼·ln(σ/α) (EDM's c_noise), or the
// integer step round(t) of a discrete schedule.
double network_time(TimeInput kind, const Schedule& schedule, double t);

// A raw network g(x, τ) with its declared parameterization and time input, seen as an x0-model.
class NetworkModel final : public X0Model {
 public:
  using Network = std::function<at::Tensor(const at::Tensor& x, double network_time)>;
  NetworkModel(Network network, Parameterization kind, TimeInput time_input,
               std::shared_ptr<const Schedule> schedule, std::vector<int64_t> sample_shape);
  at::Tensor predict_x0(const at::Tensor& x, double t) const override;
  std::vector<int64_t> sample_shape() const override { return shape_; }

 private:
  Network network_;
  Parameterization kind_;
  TimeInput time_input_;
  std::shared_ptr<const Schedule> schedule_;
  std::vector<int64_t> shape_;
};

}  // namespace samplersearch
