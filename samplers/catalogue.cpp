// The catalogue of named samplers: classic configurations under the names papers use, and the
// published matrices compiled into the library.
#include <cmath>
#include <cstdio>
#include <vector>

#include "embedded_files.hpp"
#include "samplersearch/common/error.hpp"
#include "samplersearch/samplers/naturaldiffusion.hpp"
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
  return {std::move(label), std::move(solver), o, ""};
}

// A published matrix file (samplers/data/naturaldiffusion/).
ClassicSampler published(std::string label, std::string file) {
  return {std::move(label), "", {}, std::move(file)};
}

std::string times_text(const std::vector<double>& times) {
  std::string out;
  for (double t : times) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4g", t);
    out += (out.empty() ? "" : ", ") + std::string(buf);
  }
  return "(" + out + ")";
}

// The published file as it is, after checking that `plan` is what it was made for.
Matrices published_matrices(const ClassicSampler& c, const SolverPlan& plan) {
  const std::string_view bytes = embedded_file(c.published);
  if (bytes.empty()) throw Error(c.label + ": embedded file " + c.published + " is missing");
  Matrices m = matrices_from_naturaldiffusion(parse_npz(bytes, c.published), nullptr, c.published);
  const std::string made_for = c.label + " is a published " + std::to_string(m.steps()) +
                               "-step matrix for " + std::string(m.schedule->name()) + " " +
                               m.schedule->params().dump() + " at t = " + times_text(m.times);
  if (plan.steps != m.steps())
    throw ConfigError(c.label,
                      made_for + "; it cannot run at " + std::to_string(plan.steps) + " steps");
  if (plan.schedule->name() != m.schedule->name() ||
      plan.schedule->params() != m.schedule->params())
    throw ConfigError(c.label, made_for + "; it cannot run on schedule " +
                                   std::string(plan.schedule->name()) + " " +
                                   plan.schedule->params().dump());
  const std::vector<double> times = plan.grid.times(*plan.schedule, plan.steps, c.label);
  for (size_t k = 0; k < times.size(); ++k)
    if (!(std::abs(times[k] - m.times[k]) <= 1e-6 * std::max(1.0, std::abs(m.times[k]))))
      throw ConfigError(c.label, made_for + "; it cannot run at t = " + times_text(times));
  return m;
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
      // Zheng & Zheng (2025), §5.4 and Tables 15–17: searched on CIFAR-10 (vp-linear,
      // time-quadratic from 1 to 1e-3).
      published("paper:5", "step_5_weight_00.npz"),
      published("paper:10", "step_10_weight_42.npz"),
      published("paper:15", "step_15_weight_173.npz"),
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

Matrices classic_matrices(const ClassicSampler& sampler, const SolverPlan& plan) {
  if (!sampler.published.empty()) return published_matrices(sampler, plan);
  return solver_matrices(sampler.solver,
                         SolverPlan{plan.schedule, plan.grid, plan.steps, sampler.options});
}

}  // namespace samplersearch
