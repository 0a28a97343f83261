// Placeholder until the metrics work lands (issue 3); replaced by the real command.
#include <stdexcept>

#include "commands.hpp"

namespace samplersearch::cli {
std::string features_help() { return "samplersearch features: not built yet\n"; }
int run_features(Args& /*args*/) { throw std::runtime_error("'features' is not built yet"); }
}  // namespace samplersearch::cli
