#include "samplersearch/samplers/model.hpp"

#include <ATen/ATen.h>

#include <array>
#include <cmath>

#include "samplersearch/common/check.hpp"

namespace samplersearch {
namespace {

constexpr std::array kParameterizations{
    ParameterizationEntry{"x0", "the network predicts x0 itself", Parameterization::x0},
    ParameterizationEntry{"eps", "noise prediction ε̂: x0 = (x − σε̂)/α", Parameterization::eps},
    ParameterizationEntry{"score", "score s = ∇log p: x0 = (x + σ²s)/α", Parameterization::score},
    ParameterizationEntry{"v", "v = αε − σx0: x0 = (αx − σv)/(α²+σ²)", Parameterization::v},
    ParameterizationEntry{"flow", "flow velocity u = ε − x0 (α = 1−t, σ = t): x0 = x − t·u",
                          Parameterization::flow_velocity},
};

constexpr std::array kTimeInputs{
    TimeInputEntry{"t", "the continuous time t", TimeInput::t},
    TimeInputEntry{"999t", "999·t (ScoreSDE and DPM-Solver's continuous VP models)",
                   TimeInput::t999},
    TimeInputEntry{"sigma", "σ(t)/α(t), the VE-equivalent noise level", TimeInput::sigma},
    TimeInputEntry{"edm", "EDM's c_noise = ¼·ln(σ/α)", TimeInput::edm_c_noise},
    TimeInputEntry{"step", "the integer step of a discrete schedule", TimeInput::step_index},
};

constexpr std::array kDtypes{
    DtypeEntry{"float32", "IEEE single precision (the default)", at::kFloat, true},
    DtypeEntry{"float64", "IEEE double precision", at::kDouble, true},
    DtypeEntry{"bfloat16", "bfloat16 network call (8-bit mantissa); sums stay float32/64",
               at::kBFloat16, false},
    DtypeEntry{"float16",
               "IEEE half network call, a GPU feature (LibTorch 1.13 has few CPU half "
               "kernels); sums stay float32/64",
               at::kHalf, false},
};

}  // namespace

std::span<const DtypeEntry> dtype_registry() { return kDtypes; }
std::span<const ParameterizationEntry> parameterization_registry() { return kParameterizations; }
std::span<const TimeInputEntry> time_input_registry() { return kTimeInputs; }

at::Tensor to_x0(Parameterization kind, const at::Tensor& output, const at::Tensor& x, double alpha,
                 double sigma) {
  switch (kind) {
    case Parameterization::x0:
      return output;
    case Parameterization::eps:
      return (x - sigma * output) / alpha;
    case Parameterization::score:
      return (x + sigma * sigma * output) / alpha;
    case Parameterization::v:
      return (alpha * x - sigma * output) / (alpha * alpha + sigma * sigma);
    case Parameterization::flow_velocity:
      return x - sigma * output;
  }
  SS_CHECK(false) << "unhandled parameterization";
}

double network_time(TimeInput kind, const Schedule& schedule, double t) {
  switch (kind) {
    case TimeInput::t:
      return t;
    case TimeInput::t999:
      return 999.0 * t;
    case TimeInput::sigma:
      return schedule.sigma(t) / schedule.alpha(t);
    case TimeInput::edm_c_noise:
      return 0.25 * std::log(schedule.sigma(t) / schedule.alpha(t));
    case TimeInput::step_index:
      return std::round(t);
  }
  SS_CHECK(false) << "unhandled time input";
}

NetworkModel::NetworkModel(Network network, Parameterization kind, TimeInput time_input,
                           std::shared_ptr<const Schedule> schedule,
                           std::vector<int64_t> sample_shape)
    : network_(std::move(network)),
      kind_(kind),
      time_input_(time_input),
      schedule_(std::move(schedule)),
      shape_(std::move(sample_shape)) {
  SS_CHECK(schedule_ != nullptr);
}

at::Tensor NetworkModel::predict_x0(const at::Tensor& x, double t) const {
  const at::Tensor out = network_(x, network_time(time_input_, *schedule_, t));
  return to_x0(kind_, out, x, schedule_->alpha(t), schedule_->sigma(t));
}

}  // namespace samplersearch
