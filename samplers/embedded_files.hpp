#pragma once
// Data files compiled into the samplers library (cmake/SamplersearchEmbed.cmake).
#include <string_view>

namespace samplersearch {

// The bytes of the embedded file named `name` (e.g. "step_5_weight_00.npz"); empty when none is.
std::string_view embedded_file(std::string_view name);

}  // namespace samplersearch
