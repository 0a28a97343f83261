#pragma once
// A TorchScript network as an x0-model (the paper-style CIFAR-10 setups): forward(x, τ) with τ a
// float tensor of shape [batch] fed as the declared time input, output in the declared
// parameterization, converted to x0 with the schedule (to_x0).
#include <c10/core/ScalarType.h>

#include <memory>
#include <optional>
#include <string>

#include "samplersearch/samplers/model.hpp"

namespace samplersearch {

struct TorchScriptSpec {
  std::string path;  // a file saved by torch.jit.save
  Parameterization parameterization = Parameterization::eps;
  TimeInput time_input = TimeInput::t999;
  std::vector<int64_t> sample_shape;  // e.g. {3, 32, 32}
  // The type the network runs in (the module is cast to it); none: the module's own.
  std::optional<at::ScalarType> dtype;
};

// Loads the module on `device` (cast to spec.dtype when given); FileError naming the path when it
// cannot be read or its forward does not accept (x, τ) or returns a tensor of another shape
// (checked on one probe batch).
std::unique_ptr<X0Model> load_torchscript_model(const TorchScriptSpec& spec,
                                                std::shared_ptr<const Schedule> schedule,
                                                const std::string& device = "cpu");

}  // namespace samplersearch
