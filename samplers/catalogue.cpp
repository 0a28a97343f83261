// The catalogue of classic sampler configurations under the names papers use.
#include <vector>

#include "samplersearch/common/error.hpp"
#include "samplersearch/samplers/solver.hpp"

namespace samplersearch {
namespace {

ClassicSampler entry(std::string label, std::string solver, std::optional<int> order = {},
                     std::optional<std::string> method = {},
                     std::optional<std::string> variant = {}) {
  SolverOptions o;
  o.order = order;
  o.method = std::move(method);
  o.variant = std::move(variant);
  return {std::move(label), std::move(solver), o};
}

}  // namespace

std::span<const ClassicSampler> classic_catalogue() {
  static const std::vector<ClassicSampler> catalogue = {
      entry("ddpm", "ddpm"),
      entry("ddim", "ddim"),
      entry("euler", "euler"),
      entry("heun", "heun"),
      entry("deis(tAB3)", "deis", 3),
      entry("dpmsolver(2M)", "dpmsolver", 2, "multistep"),
      entry("dpmsolver(3M)", "dpmsolver", 3, "multistep"),
      entry("dpmsolver++(2M)", "dpmsolver++", 2, "multistep"),
      entry("dpmsolver++(3M)", "dpmsolver++", 3, "multistep"),
      entry("dpmsolver++(2S)", "dpmsolver++", 2, "singlestep"),
      entry("dpmsolver++(3S)", "dpmsolver++", 3, "singlestep"),
      entry("unipc(bh1)", "unipc", {}, {}, "bh1"),
      entry("unipc(bh2)", "unipc", {}, {}, "bh2"),
  };
  return catalogue;
}

const ClassicSampler& find_classic(std::string_view label, const std::string& field) {
  std::string valid;
  for (const ClassicSampler& c : classic_catalogue()) {
    if (c.label == label) return c;
    valid += (valid.empty() ? "" : ", ") + c.label;
  }
  throw ConfigError(field,
                    "unknown classic sampler '" + std::string(label) + "' (valid: " + valid + ")");
}

}  // namespace samplersearch
