// The solver registry (one row per classic sampler: the options it takes with their defaults and
// ranges, and its kernel for both contexts) and completion: the given options checked against
// the row and turned into typed settings.
#include <ATen/ATen.h>

#include <array>
#include <nlohmann/json.hpp>

#include "classic_solvers.hpp"
#include "high_order_solvers.hpp"
#include "samplersearch/common/format.hpp"
#include "samplersearch/common/registry.hpp"
#include "samplersearch/samplers/context.hpp"

namespace samplersearch {
namespace {

using nlohmann::json;

bool multistep(const SolverOptions& o) { return o.method == "multistep"; }

// DPM-Solver's sample() defaults (order 2, multistep, lower_order_final; Lu et al. 2022b).
constexpr SolverOptionUse kDpmOptions[] = {
    {.option = "order", .fallback = "2", .lo = 1, .hi = 3},
    {.option = "method", .fallback = "multistep"},
    {.option = "lower_order_final",
     .fallback = "true",
     .applies = multistep,
     .applies_note = "applies to --method multistep only"},
};
// UniPC's defaults (uni_pc.py): order 2, bh1, data prediction, lower_order_final.
constexpr SolverOptionUse kUnipcOptions[] = {
    {.option = "order", .fallback = "2", .lo = 1, .hi = 3},
    {.option = "variant", .fallback = "bh1"},
    {.option = "predict", .fallback = "x0"},
    {.option = "lower_order_final", .fallback = "true"},
};
constexpr SolverOptionUse kDdimOptions[] = {{.option = "eta", .fallback = "0", .lo = 0}};
constexpr SolverOptionUse kDeisOptions[] = {{.option = "order", .fallback = "3", .lo = 0, .hi = 3}};
// γ > −1, δ > 0, ρ ≥ 0; defaults (0, 1, 0) = DDIM.
constexpr SolverOptionUse kGeneralizedOptions[] = {
    {.option = "gamma", .fallback = "0", .lo = -1, .lo_open = true},
    {.option = "delta", .fallback = "1", .lo = 0, .lo_open = true},
    {.option = "rho", .fallback = "0", .lo = 0},
};

// A multistep method needs `order` steps before its first full-order step.
void check_dpm(const SolverSettings& s, int steps) {
  if (s.method == DpmMethod::multistep && steps < s.order)
    throw ConfigError("--steps", "multistep order " + std::to_string(s.order) + " needs at least " +
                                     std::to_string(s.order) + " steps");
}
void check_unipc(const SolverSettings& s, int steps) {
  if (steps < s.order)
    throw ConfigError("--steps", "unipc order " + std::to_string(s.order) + " needs at least " +
                                     std::to_string(s.order) + " steps");
}

#define SS_SOLVER(fn) &solvers::fn<TensorContext>, &solvers::fn<FormContext>

const std::array kSolvers{
    SolverEntry{"ddpm",
                "DDPM ancestral sampling (Zheng & Zheng 2025 eq. 31)",
                {},
                nullptr,
                SS_SOLVER(ddpm)},
    SolverEntry{"ddim", "DDIM with η (Zheng & Zheng 2025 eq. 35; η = 1 is ancestral)", kDdimOptions,
                nullptr, SS_SOLVER(ddim)},
    SolverEntry{"euler",
                "Euler in σ/α (k-diffusion; flow Euler, Zheng & Zheng 2025 eq. 37)",
                {},
                nullptr,
                SS_SOLVER(euler)},
    SolverEntry{
        "heun", "Heun, 2 calls a step (EDM Alg. 1, k-diffusion)", {}, nullptr, SS_SOLVER(heun)},
    SolverEntry{"deis", "DEIS tAB, polynomial degree 0–3 (0 = DDIM; Zhang & Chen 2023)",
                kDeisOptions, nullptr, SS_SOLVER(deis)},
    SolverEntry{"dpmsolver", "DPM-Solver, noise prediction, orders 1–3, single/multistep",
                kDpmOptions, check_dpm, SS_SOLVER(dpmsolver)},
    SolverEntry{"dpmsolver++", "DPM-Solver++, data prediction (2S, 2M, 3M, …)", kDpmOptions,
                check_dpm, SS_SOLVER(dpmsolver_pp)},
    SolverEntry{"unipc", "UniPC predictor-corrector, B(h) bh1|bh2, x0|eps prediction",
                kUnipcOptions, check_unipc, SS_SOLVER(unipc)},
    SolverEntry{
        "generalized",
        "the (γ, δ, ρ) backward step (signal-to-noise diffusion, Cor. 1; docs/equations.md §5)",
        kGeneralizedOptions, nullptr, SS_SOLVER(generalized)},
    SolverEntry{"pf-euler",
                "Euler in t on the probability-flow ODE (Song et al. 2021 eq. 13)",
                {},
                nullptr,
                SS_SOLVER(flow_euler)},
    SolverEntry{"pf-heun",
                "Heun in t on the probability-flow ODE, 2 calls a step",
                {},
                nullptr,
                SS_SOLVER(flow_heun)},
    SolverEntry{"euler-maruyama",
                "Euler–Maruyama on the reverse SDE (Song et al. 2021 eq. 6)",
                {},
                nullptr,
                SS_SOLVER(euler_maruyama)},
};

#undef SS_SOLVER

// Every value of `spec` in `o` within the use's range and choices; real lists have one value or
// one per step.
void check_value(const SolverOptions& o, const SolverOptionSpec& spec, const SolverOptionUse& use,
                 std::string_view solver, int steps) {
  const std::string flag(spec.flag);
  const json v = option_json(o, spec);
  if (spec.kind == OptionKind::choice) {
    std::string list;
    for (std::string_view c : spec.choices) {
      if (v.get<std::string>() == c) return;
      list += (list.empty() ? "" : ", ") + std::string(c);
    }
    throw ConfigError(flag, "unknown value '" + v.get<std::string>() + "' (valid: " + list + ")");
  }
  if (spec.kind == OptionKind::boolean) return;
  if (spec.kind == OptionKind::real_list && v.size() != 1 && static_cast<int>(v.size()) != steps)
    throw ConfigError(flag, "needs one value or one per step (" + std::to_string(steps) +
                                "), got " + std::to_string(v.size()));
  for (const json& item : v.is_array() ? v : json::array({v})) {
    const double x = item.get<double>();
    const bool low = use.lo_open ? !(x > use.lo) : !(x >= use.lo);
    if (!low && x <= use.hi) continue;
    if (spec.kind == OptionKind::integer)
      throw ConfigError(flag, std::string(solver) + " takes " + std::string(spec.name) + " " +
                                  format_number(use.lo) + "–" + format_number(use.hi) + ", got " +
                                  format_number(x));
    throw ConfigError(flag,
                      low ? (use.lo_open ? "must be > " : "must be >= ") + format_number(use.lo)
                          : "must be <= " + format_number(use.hi));
  }
}

}  // namespace

std::span<const SolverEntry> solver_registry() { return kSolvers; }

const SolverEntry& find_solver(std::string_view name) {
  return registry_find(solver_registry(), name, "--solver");
}

SolverPlan complete_plan(const SolverEntry& solver, SolverPlan plan) {
  SS_CHECK(plan.schedule != nullptr);
  if (plan.steps < 1) throw ConfigError("--steps", "must be at least 1");
  SolverOptions& o = plan.options;
  std::string takes;
  for (const SolverOptionUse& use : solver.options)
    takes += (takes.empty() ? "" : ",") + std::string(use.option);
  for (const SolverOptionSpec& spec : solver_option_table()) {
    bool read = false;
    for (const SolverOptionUse& use : solver.options) read = read || use.option == spec.name;
    if (!read && option_is_set(o, spec))
      throw ConfigError(std::string(spec.flag),
                        std::string(solver.name) + " does not take this option (it takes: " +
                            (takes.empty() ? std::string("none") : takes) + ")");
  }
  plan.settings = SolverSettings{};
  for (const SolverOptionUse& use : solver.options) {
    const SolverOptionSpec& spec = solver_option(use.option);
    if (use.applies && !use.applies(o)) {
      if (option_is_set(o, spec))
        throw ConfigError(std::string(spec.flag), std::string(use.applies_note));
      continue;
    }
    if (!option_is_set(o, spec) && !use.fallback.empty()) set_option_text(o, spec, use.fallback);
    check_value(o, spec, use, solver.name, plan.steps);
    spec.settle(spec, o, plan.settings);
  }
  if (solver.check) solver.check(plan.settings, plan.steps);
  return plan;
}

Matrices solver_matrices(std::string_view name, const SolverPlan& plan_in) {
  const SolverEntry& solver = find_solver(name);
  const SolverPlan plan = complete_plan(solver, plan_in);
  FormContext ctx;
  const LinearForm out = solver.run_form(ctx, plan);
  SS_CHECK(ctx.calls() == plan.steps)
      << name << " made " << ctx.calls() << " model calls for " << plan.steps << " steps";
  Matrices m = ctx.finish(out, plan.grid.end_time(*plan.schedule));
  m.schedule = plan.schedule;
  m.solver = std::string(name);
  m.options = options_to_json(plan.options);
  m.validate(std::string(name));
  return m;
}

std::string solver_option_values(const SolverOptionSpec& spec) {
  switch (spec.kind) {
    case OptionKind::integer:
      return "K";
    case OptionKind::real:
      return "X";
    case OptionKind::boolean:
      return "true|false";
    case OptionKind::real_list:
      return "X[,X…]";
    case OptionKind::choice:
      break;
  }
  std::string values;
  for (std::string_view c : spec.choices) values += (values.empty() ? "" : "|") + std::string(c);
  return values;
}

std::string solver_option_help(const SolverOptionSpec& spec) {
  std::string defaults;
  for (const SolverEntry& e : solver_registry())
    for (const SolverOptionUse& use : e.options) {
      if (use.option != spec.name) continue;
      defaults += (defaults.empty() ? "" : ", ") + std::string(e.name);
      if (spec.kind == OptionKind::integer && use.hi < 1e300)
        defaults += " " + format_number(use.lo) + "–" + format_number(use.hi);
      if (!use.fallback.empty()) defaults += " (default " + std::string(use.fallback) + ")";
    }
  return std::string(spec.help) + "\n" + defaults;
}

}  // namespace samplersearch
