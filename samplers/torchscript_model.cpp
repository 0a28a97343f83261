#include "samplersearch/samplers/torchscript_model.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <torch/script.h>

#include <filesystem>
#include <optional>
#include <sstream>

#include "samplersearch/common/check.hpp"
#include "samplersearch/common/error.hpp"

namespace samplersearch {
namespace {

// The informative line of a LibTorch error: TorchScript interpreter errors are a traceback whose
// last line holds the exception ("RuntimeError: shape '[-1, 3]' is invalid …").
std::string last_line(const std::string& message) {
  std::istringstream in(message);
  std::string last;
  for (std::string line; std::getline(in, line);) {
    const auto begin = line.find_first_not_of(" \t");
    if (begin != std::string::npos) last = line.substr(begin);
  }
  return last;
}

std::string shape_text(at::IntArrayRef shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

// The dtype of the module's first floating-point parameter or buffer; none for a module without.
std::optional<at::ScalarType> module_dtype(const torch::jit::Module& module) {
  for (const at::Tensor& p : module.parameters())
    if (p.is_floating_point()) return p.scalar_type();
  for (const at::Tensor& b : module.buffers())
    if (b.is_floating_point()) return b.scalar_type();
  return std::nullopt;
}

// forward(x, τ) of a loaded module: x moved to the module's device and cast to its dtype (a
// parameter-free module gets x's own dtype), τ a [batch] tensor of the same dtype and device, the
// output returned in x's dtype and device. Evaluated without autograd (NoGradGuard rather than
// InferenceMode, whose tensors cannot be updated in place by the engine afterwards).
// A failure inside forward during sampling (an allocation that does not fit in memory, an
// error raised for some inputs, an output of another shape) is a NumericalError naming the
// module: the trial that ran into it FAILs and the search goes on.
struct ScriptedNetwork {
  std::shared_ptr<torch::jit::Module> module;
  at::Device device;
  std::optional<at::ScalarType> dtype;
  std::string path;

  at::IValue call(const at::Tensor& x, double tau) const {
    const at::NoGradGuard no_grad;
    const at::Tensor input = x.to(device, dtype.value_or(x.scalar_type()));
    const at::Tensor taus = at::full({input.size(0)}, tau, input.options());
    return module->forward({input, taus});
  }

  at::Tensor operator()(const at::Tensor& x, double tau) const {
    const auto where = [&] {
      return " at τ = " + std::to_string(tau) + " on a batch of shape " + shape_text(x.sizes());
    };
    at::IValue out;
    try {
      out = call(x, tau);
    } catch (const c10::Error& e) {
      throw NumericalError("model " + path + ": forward(x, τ) failed" + where() + ": " +
                           last_line(e.what_without_backtrace()));
    } catch (const std::exception& e) {  // the TorchScript interpreter rethrows with its traceback
      throw NumericalError("model " + path + ": forward(x, τ) failed" + where() + ": " +
                           last_line(e.what()));
    }
    if (!out.isTensor())
      throw NumericalError("model " + path + ": forward returned a " + std::string(out.tagKind()) +
                           ", not a tensor," + where());
    const at::Tensor y = out.toTensor();
    if (!y.sizes().equals(x.sizes()))
      throw NumericalError("model " + path + ": forward returned shape " + shape_text(y.sizes()) +
                           where() + " (expected the input's shape)");
    if (!at::isfinite(y).all().item<bool>())
      throw NumericalError("model " + path + ": forward returned NaN or Inf" + where());
    return y.to(x.device(), x.scalar_type());
  }
};

}  // namespace

std::unique_ptr<X0Model> load_torchscript_model(const TorchScriptSpec& spec,
                                                std::shared_ptr<const Schedule> schedule,
                                                const std::string& device) {
  SS_CHECK(schedule != nullptr);
  const std::string& path = spec.path;
  if (spec.sample_shape.empty())
    throw ConfigError("sample_shape", "is empty; give the shape of one sample, e.g. 3,32,32");
  std::optional<at::Device> dev;
  try {
    dev.emplace(device);
  } catch (const c10::Error&) {
    throw ConfigError("device", "'" + device + "' is not a device (cpu, cuda, cuda:0, …)");
  }
  if (dev->is_cuda() && !at::hasCUDA())
    throw ConfigError("device", "'" + device + "' asked for, but CUDA is not available here");
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw FileError(path, "no such file");

  auto module = std::make_shared<torch::jit::Module>();
  try {
    *module = torch::jit::load(path);
  } catch (const c10::Error& e) {
    throw FileError(path, "not a TorchScript module (torch.jit.load: " +
                              last_line(e.what_without_backtrace()) + ")");
  } catch (const std::exception& e) {
    throw FileError(path,
                    std::string("not a TorchScript module (torch.jit.load: ") + e.what() + ")");
  }
  try {
    module->to(*dev);
  } catch (const c10::Error& e) {
    throw ConfigError("device", "cannot move " + path + " to " + device + ": " +
                                    last_line(e.what_without_backtrace()));
  }
  if (spec.dtype) {
    try {
      module->to(*spec.dtype);
    } catch (const c10::Error& e) {
      throw ConfigError("model.dtype", "cannot cast " + path + " to " + c10::toString(*spec.dtype) +
                                           ": " + last_line(e.what_without_backtrace()));
    }
  }
  module->eval();

  // forward must take two arguments besides self (further ones need defaults).
  const auto forward = module->find_method("forward");
  if (!forward) throw FileError(path, "the module has no forward method");
  const c10::FunctionSchema& schema = forward->function().getSchema();
  const auto& args = schema.arguments();
  size_t required = 0;
  for (size_t i = 1; i < args.size(); ++i)
    if (!args[i].default_value()) ++required;
  if (args.size() < 3 || required > 2) {
    std::string taken;
    for (size_t i = 1; i < args.size(); ++i)
      taken += (i > 1 ? ", " : "") + args[i].type()->str() + " " + args[i].name();
    throw FileError(path, "forward must take (x, τ), it takes (" + taken + ")");
  }

  // Probe: a batch of 2 of the declared shape at the middle of the schedule's time range.
  const ScriptedNetwork network{module, *dev, spec.dtype ? spec.dtype : module_dtype(*module),
                                path};
  std::vector<int64_t> probe_shape{2};
  probe_shape.insert(probe_shape.end(), spec.sample_shape.begin(), spec.sample_shape.end());
  const double t = 0.5 * (schedule->t_min() + schedule->t_max());
  const double tau = network_time(spec.time_input, *schedule, t);
  const at::Tensor probe = at::randn(probe_shape, at::make_generator<at::CPUGeneratorImpl>(0),
                                     at::TensorOptions().dtype(network.dtype.value_or(at::kFloat)));
  const std::string what =
      "a probe batch of shape " + shape_text(probe_shape) + " at τ = " + std::to_string(tau);
  // A type the module was cast to on request may lack kernels on this device (half on CPU).
  const std::string cast = spec.dtype
                               ? std::string(" (model.dtype ") + c10::toString(*spec.dtype) +
                                     ": the cast module may lack kernels for it on " + device + ")"
                               : std::string();
  at::IValue out;
  try {
    out = network.call(probe, tau);
  } catch (const c10::Error& e) {
    throw FileError(path, "forward(x, τ) failed on " + what + ": " +
                              last_line(e.what_without_backtrace()) + cast);
  } catch (const std::exception& e) {
    throw FileError(path, "forward(x, τ) failed on " + what + ": " + last_line(e.what()) + cast);
  }
  if (!out.isTensor())
    throw FileError(
        path, "forward returned a " + std::string(out.tagKind()) + ", not a tensor, on " + what);
  if (!out.toTensor().sizes().equals(probe_shape))
    throw FileError(path, "forward returned shape " + shape_text(out.toTensor().sizes()) + " on " +
                              what + " (expected the input's shape)");
  if (out.toTensor().scalar_type() != probe.scalar_type())
    throw FileError(path, std::string("forward returned dtype ") +
                              c10::toString(out.toTensor().scalar_type()) + " on " + what +
                              " of dtype " + c10::toString(probe.scalar_type()) +
                              " (expected the input's dtype)");
  if (!at::isfinite(out.toTensor()).all().item<bool>())
    throw FileError(path, "forward returned NaN or Inf on " + what);

  return std::make_unique<NetworkModel>(network, spec.parameterization, spec.time_input,
                                        std::move(schedule), spec.sample_shape);
}

}  // namespace samplersearch
