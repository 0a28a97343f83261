// The higher-order classic samplers and the (γ, δ, ρ) step, then the solver registry that
// instantiates every sampler for both contexts.
#include <ATen/ATen.h>

#include <array>
#include <nlohmann/json.hpp>
#include <numbers>

#include "classic_solvers.hpp"
#include "samplersearch/common/registry.hpp"
#include "samplersearch/samplers/context.hpp"

namespace samplersearch::solvers {

std::pair<std::vector<double>, std::vector<double>> gauss_legendre(int n) {
  std::vector<double> x(static_cast<size_t>(n)), w(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    double z = std::cos(std::numbers::pi * (i + 0.75) / (n + 0.5));
    double dp = 0;
    for (int it = 0; it < 100; ++it) {
      double p0 = 1.0, p1 = z;
      for (int k = 2; k <= n; ++k) {
        const double p2 = ((2.0 * k - 1.0) * z * p1 - (k - 1.0) * p0) / k;
        p0 = p1;
        p1 = p2;
      }
      dp = n * (z * p1 - p0) / (z * z - 1.0);
      const double dz = p1 / dp;
      z -= dz;
      if (std::abs(dz) < 1e-16) break;
    }
    x[static_cast<size_t>(i)] = z;
    w[static_cast<size_t>(i)] = 2.0 / ((1.0 - z * z) * dp * dp);
  }
  return {x, w};
}

// DPM-Solver's singlestep plan: per-step orders summing to `steps`
// (get_orders_and_timesteps_for_singlestep_solver): order 3 → [3,…,3,2,1] / [3,…,3,1] /
// [3,…,3,2] by steps mod 3; order 2 → [2,…,2] (+[1] if odd); order 1 → [1,…,1]. Step i runs from
// grid[i] to grid[i+1] with its intermediate points at fractions r of the λ-step taken from the
// same discretization between them (the reference's timesteps_inner): for logsnr-uniform the outer
// grid has K intervals and r = j/order; otherwise the outer grid is every cumulative-order point
// of a `steps`-interval grid and the inner points are the grid points between them.
struct SinglestepPlan {
  std::vector<int> orders;
  std::vector<double> outer;            // K+1 times
  std::vector<std::vector<double>> rs;  // per step: r_1 … r_{order−1}
};

SinglestepPlan singlestep_plan(const SolverPlan& plan, const char* name) {
  const int steps = plan.steps, order = plan.options.order.value_or(2);
  const Schedule& sc = *plan.schedule;
  SinglestepPlan p;
  std::vector<int>& orders = p.orders;
  if (order == 3) {
    const int k = steps / 3 + 1;
    if (steps % 3 == 0) {
      orders.assign(static_cast<size_t>(k - 2), 3);
      orders.push_back(2);
      orders.push_back(1);
    } else {
      orders.assign(static_cast<size_t>(k - 1), 3);
      orders.push_back(steps % 3);
    }
  } else if (order == 2) {
    orders.assign(static_cast<size_t>(steps / 2), 2);
    if (steps % 2 == 1) orders.push_back(1);
  } else {
    orders.assign(static_cast<size_t>(steps), 1);
  }
  if (plan.grid.discretization() == "logsnr-uniform") {
    p.outer = plan.grid.times(sc, static_cast<int>(orders.size()), name);
    for (int o : orders) {
      std::vector<double> r;
      for (int j = 1; j < o; ++j) r.push_back(static_cast<double>(j) / o);
      p.rs.push_back(r);
    }
    return p;
  }
  const std::vector<double> all = plan.grid.times(sc, steps, name);
  size_t at = 0;
  p.outer.push_back(all[0]);
  for (int o : orders) {
    const double s = all[at], t = all[at + static_cast<size_t>(o)];
    // The reference's timesteps_inner = get_time_steps(skip_type, s, t, order): the same
    // discretization between the two outer times, never rounded (on a discrete schedule the
    // inner points are fractional steps). An explicit list supplies its own points.
    std::vector<double> inner;
    if (plan.grid.discretization().empty()) {
      inner.assign(all.begin() + static_cast<long>(at),
                   all.begin() + static_cast<long>(at) + o + 1);
    } else {
      GridSpec spec = plan.grid.spec();
      spec.t_start = s;
      spec.t_end = t;
      inner = registry_find(discretization_registry(), plan.grid.discretization(), "discretization")
                  .make(sc, o, spec);
    }
    const double ls = half_lambda(sc, s), h = half_lambda(sc, t) - ls;
    std::vector<double> r;
    for (int j = 1; j < o; ++j)
      r.push_back((half_lambda(sc, inner[static_cast<size_t>(j)]) - ls) / h);
    p.rs.push_back(r);
    p.outer.push_back(t);
    at += static_cast<size_t>(o);
  }
  return p;
}

template <class Ctx>
typename Ctx::Value dpm_singlestep(Ctx& ctx, const SolverPlan& plan, bool data, const char* name) {
  const Schedule& sc = *plan.schedule;
  const SinglestepPlan p = singlestep_plan(plan, name);
  auto x = initial_noise(ctx, sc, p.outer[0]);
  for (size_t i = 0; i < p.orders.size(); ++i) {
    const double s = p.outer[i], t = p.outer[i + 1];
    if (p.orders[i] == 1)
      x = dpm_first(sc, x, model_output(ctx, sc, x, s, data), s, t, data);
    else if (p.orders[i] == 2)
      x = dpm_single2(ctx, sc, x, s, t, data, p.rs[i][0]);
    else
      x = dpm_single3(ctx, sc, x, s, t, data, p.rs[i][0], p.rs[i][1]);
  }
  return x;
}

// Multistep DPM-Solver(++) (Lu et al. 2022b Alg. 2, the reference's sample(method='multistep')):
// warm-up with orders 1…order−1, then `order`; with lower_order_final and fewer than 10 steps the
// last steps drop to order steps+1−step (the reference code's condition).
template <class Ctx>
typename Ctx::Value dpm_multistep(Ctx& ctx, const SolverPlan& plan, bool data, const char* name) {
  const Schedule& sc = *plan.schedule;
  const int steps = plan.steps, order = plan.options.order.value_or(2);
  const bool lof = plan.options.lower_order_final.value_or(true);
  const std::vector<double> ts = plan.grid.times(sc, steps, name);
  auto x = initial_noise(ctx, sc, ts[0]);
  std::vector<typename Ctx::Value> ms{model_output(ctx, sc, x, ts[0], data)};
  std::vector<double> tp{ts[0]};
  for (int step = 1; step <= steps; ++step) {
    int step_order = std::min(step, order);
    if (step >= order && lof && steps < 10) step_order = std::min(order, steps + 1 - step);
    const double t = ts[static_cast<size_t>(step)];
    x = dpm_multistep_update(sc, x, ms, tp, t, step_order, data);
    if (step < steps) {
      ms.push_back(model_output(ctx, sc, x, t, data));
      tp.push_back(t);
      if (static_cast<int>(ms.size()) > order) {
        ms.erase(ms.begin());
        tp.erase(tp.begin());
      }
    }
  }
  return x;
}

// DPM-Solver (Lu et al. 2022, noise prediction).
template <class Ctx>
typename Ctx::Value dpmsolver(Ctx& ctx, const SolverPlan& plan) {
  return plan.options.method.value_or("multistep") == "singlestep"
             ? dpm_singlestep(ctx, plan, false, "dpmsolver")
             : dpm_multistep(ctx, plan, false, "dpmsolver");
}

// DPM-Solver++ (Lu et al. 2022b, data prediction): 2S, 2M, 3M, …
template <class Ctx>
typename Ctx::Value dpmsolver_pp(Ctx& ctx, const SolverPlan& plan) {
  return plan.options.method.value_or("multistep") == "singlestep"
             ? dpm_singlestep(ctx, plan, true, "dpmsolver++")
             : dpm_multistep(ctx, plan, true, "dpmsolver++");
}

// One UniPC step (Zhao et al. 2023 Alg. 2/3, B(h) = h for bh1, e^h − 1 for bh2): the UniP
// predictor from the last model outputs, then (if `correct`) one model call at the predicted x
// and the UniC corrector. Returns the new x and the model output at t.
template <class Ctx>
std::pair<typename Ctx::Value, typename Ctx::Value> unipc_update(
    Ctx& ctx, const Schedule& sc, const typename Ctx::Value& x,
    const std::vector<typename Ctx::Value>& ms, const std::vector<double>& tp, double t, int order,
    bool correct, bool data, bool bh2) {
  using V = typename Ctx::Value;
  const size_t n = ms.size();
  const double l0 = half_lambda(sc, tp[n - 1]), h = half_lambda(sc, t) - l0;
  std::vector<double> rks;
  std::vector<V> d1s;
  for (int i = 1; i < order; ++i) {
    const double rk = (half_lambda(sc, tp[n - 1 - static_cast<size_t>(i)]) - l0) / h;
    rks.push_back(rk);
    d1s.push_back((1.0 / rk) * (ms[n - 1 - static_cast<size_t>(i)] - ms[n - 1]));
  }
  rks.push_back(1.0);
  const double hh = data ? -h : h;
  const double h_phi_1 = std::expm1(hh);
  double h_phi_k = h_phi_1 / hh - 1.0;
  double factorial = 1.0;
  const double b_h = bh2 ? std::expm1(hh) : hh;
  Eigen::MatrixXd r(order, order);
  Eigen::VectorXd b(order);
  for (int i = 1; i <= order; ++i) {
    for (int k = 0; k < order; ++k) r(i - 1, k) = std::pow(rks[static_cast<size_t>(k)], i - 1);
    b(i - 1) = h_phi_k * factorial / b_h;
    factorial *= (i + 1);
    h_phi_k = h_phi_k / hh - 1.0 / factorial;
  }
  const double scale = data ? sc.alpha(t) : sc.sigma(t);
  const V x_base =
      data ? (sc.sigma(t) / sc.sigma(tp[n - 1])) * x - (sc.alpha(t) * h_phi_1) * ms[n - 1]
           : (sc.alpha(t) / sc.alpha(tp[n - 1])) * x - (sc.sigma(t) * h_phi_1) * ms[n - 1];
  V x_t = x_base;
  if (!d1s.empty()) {
    Eigen::VectorXd rhos_p(order - 1);
    if (order == 2)
      rhos_p(0) = 0.5;
    else
      rhos_p = r.topLeftCorner(order - 1, order - 1).partialPivLu().solve(b.head(order - 1));
    V pred = rhos_p(0) * d1s[0];
    for (int k = 1; k < order - 1; ++k) pred = pred + rhos_p(k) * d1s[static_cast<size_t>(k)];
    x_t = x_base - (scale * b_h) * pred;
  }
  if (!correct) return {x_t, V()};
  const V model_t = model_output(ctx, sc, x_t, t, data);
  Eigen::VectorXd rhos_c(order);
  if (order == 1)
    rhos_c(0) = 0.5;
  else
    rhos_c = r.partialPivLu().solve(b);
  V corr = rhos_c(order - 1) * (model_t - ms[n - 1]);
  for (int k = 0; k < order - 1; ++k) corr = corr + rhos_c(k) * d1s[static_cast<size_t>(k)];
  return {x_base - (scale * b_h) * corr, model_t};
}

// UniPC multistep (Zhao et al. 2023; the reference's sample(method='multistep')): the corrector
// runs after every step but the last, reusing the next step's model call.
template <class Ctx>
typename Ctx::Value unipc(Ctx& ctx, const SolverPlan& plan) {
  const Schedule& sc = *plan.schedule;
  const int steps = plan.steps, order = plan.options.order.value_or(2);
  const bool lof = plan.options.lower_order_final.value_or(true);
  const bool data = plan.options.predict.value_or("x0") == "x0";
  const bool bh2 = plan.options.variant.value_or("bh1") == "bh2";
  const std::vector<double> ts = plan.grid.times(sc, steps, "unipc");
  auto x = initial_noise(ctx, sc, ts[0]);
  std::vector<typename Ctx::Value> ms{model_output(ctx, sc, x, ts[0], data)};
  std::vector<double> tp{ts[0]};
  for (int step = 1; step <= steps; ++step) {
    int step_order = std::min(step, order);
    if (step >= order && lof) step_order = std::min(order, steps + 1 - step);
    const double t = ts[static_cast<size_t>(step)];
    auto [next, model_t] = unipc_update(ctx, sc, x, ms, tp, t, step_order, step < steps, data, bh2);
    x = next;
    if (step < steps) {
      ms.push_back(model_t);
      tp.push_back(t);
      if (static_cast<int>(ms.size()) > order) {
        ms.erase(ms.begin());
        tp.erase(tp.begin());
      }
    }
  }
  return x;
}

// The generalized backward step (seed 001 Corollary 1, sign corrected; SPEC §5), per step k:
// x_s = (α_s/α_t)x_t − ((1+ρ²)/(1+γ))·α_s·[e^{−(1+γ)λ_t/2} − e^{−(1+γ)λ_s/2}]·e^{γλ_t/2}·ε̂
//       + ρ·α_t·√(e^{−λ_t} − e^{−λ_s})·(α_s/α_t)^{1−δ}·(σ_s/σ_t)^δ·ε.
template <class Ctx>
typename Ctx::Value generalized(Ctx& ctx, const SolverPlan& plan) {
  const Schedule& s = *plan.schedule;
  const std::vector<double> ts = plan.grid.times(s, plan.steps, "generalized");
  auto at = [](const std::vector<double>& v, int k, double dflt) {
    return v.empty() ? dflt : v.size() == 1 ? v[0] : v[static_cast<size_t>(k)];
  };
  auto x = initial_noise(ctx, s, ts[0]);
  for (int k = 0; k < plan.steps; ++k) {
    const double gamma = at(plan.options.gamma, k, 0.0), delta = at(plan.options.delta, k, 1.0),
                 rho = at(plan.options.rho, k, 0.0);
    const double t = ts[static_cast<size_t>(k)], u = ts[static_cast<size_t>(k) + 1];
    const double lt = s.lambda(t), lu = s.lambda(u), at_ = s.alpha(t), au = s.alpha(u);
    const auto eps = eps_of(s, x, ctx.denoise(x, t), t);
    const double c_eps =
        (1.0 + rho * rho) / (1.0 + gamma) * au *
        (std::exp(-(1.0 + gamma) * lt / 2.0) - std::exp(-(1.0 + gamma) * lu / 2.0)) *
        std::exp(gamma * lt / 2.0);
    x = (au / at_) * x - c_eps * eps;
    if (rho != 0.0) {
      const double c_noise = rho * at_ * std::sqrt(std::exp(-lt) - std::exp(-lu)) *
                             std::pow(au / at_, 1.0 - delta) *
                             std::pow(s.sigma(u) / s.sigma(t), delta);
      x = x + c_noise * ctx.noise();
    }
  }
  return x;
}

}  // namespace samplersearch::solvers

namespace samplersearch {
namespace {

using nlohmann::json;

// Rejects every option the solver does not read (`accepted` is the entry's option list).
void reject_unread(const SolverOptions& o, std::string_view solver, std::string_view accepted) {
  auto check = [&](bool given, const char* flag, const char* name) {
    if (given && accepted.find(name) == std::string_view::npos)
      throw ConfigError(flag, std::string(solver) + " does not take this option (it takes: " +
                                  (accepted.empty() ? std::string("none") : std::string(accepted)) +
                                  ")");
  };
  check(o.order.has_value(), "--order", "order");
  check(o.method.has_value(), "--method", "method");
  check(o.lower_order_final.has_value(), "--lower-order-final", "lower_order_final");
  check(o.variant.has_value(), "--variant", "variant");
  check(o.predict.has_value(), "--predict", "predict");
  check(o.eta.has_value(), "--eta", "eta");
  check(!o.gamma.empty(), "--gamma", "gamma");
  check(!o.delta.empty(), "--delta", "delta");
  check(!o.rho.empty(), "--rho", "rho");
}

void check_order(const SolverOptions& o, int lo, int hi, std::string_view solver) {
  if (*o.order < lo || *o.order > hi)
    throw ConfigError("--order", std::string(solver) + " takes order " + std::to_string(lo) + "–" +
                                     std::to_string(hi) + ", got " + std::to_string(*o.order));
}

void check_choice(const std::optional<std::string>& v, const char* flag,
                  std::initializer_list<const char*> valid) {
  std::string list;
  for (const char* c : valid) {
    if (*v == c) return;
    list += (list.empty() ? "" : ", ") + std::string(c);
  }
  throw ConfigError(flag, "unknown value '" + *v + "' (valid: " + list + ")");
}

void complete_none(SolverOptions& /*o*/, int /*steps*/) {}

void complete_ddim(SolverOptions& o, int /*steps*/) {
  if (!o.eta) o.eta = 0.0;
  if (*o.eta < 0) throw ConfigError("--eta", "must be >= 0");
}

void complete_deis(SolverOptions& o, int /*steps*/) {
  if (!o.order) o.order = 3;
  check_order(o, 0, 3, "deis");
}

// DPM-Solver's sample() defaults: order 2, multistep, lower_order_final.
void complete_dpm(SolverOptions& o, int steps, std::string_view name) {
  if (!o.method) o.method = "multistep";
  check_choice(o.method, "--method", {"singlestep", "multistep"});
  if (!o.order) o.order = 2;
  check_order(o, 1, 3, name);
  if (*o.method == "singlestep") {
    if (o.lower_order_final)
      throw ConfigError("--lower-order-final", "applies to --method multistep only");
  } else {
    if (!o.lower_order_final) o.lower_order_final = true;
    if (steps < *o.order)
      throw ConfigError("--steps", "multistep order " + std::to_string(*o.order) +
                                       " needs at least " + std::to_string(*o.order) + " steps");
  }
}
void complete_dpmsolver(SolverOptions& o, int steps) { complete_dpm(o, steps, "dpmsolver"); }
void complete_dpmsolver_pp(SolverOptions& o, int steps) { complete_dpm(o, steps, "dpmsolver++"); }

// UniPC's defaults (uni_pc.py): variant bh1, predict_x0, lower_order_final.
void complete_unipc(SolverOptions& o, int steps) {
  if (!o.order) o.order = 2;
  check_order(o, 1, 3, "unipc");
  if (!o.variant) o.variant = "bh1";
  check_choice(o.variant, "--variant", {"bh1", "bh2"});
  if (!o.predict) o.predict = "x0";
  check_choice(o.predict, "--predict", {"x0", "eps"});
  if (!o.lower_order_final) o.lower_order_final = true;
  if (steps < *o.order)
    throw ConfigError("--steps", "unipc order " + std::to_string(*o.order) + " needs at least " +
                                     std::to_string(*o.order) + " steps");
}

// γ > −1, δ > 0, ρ ≥ 0, each one value or one per step; defaults (0, 1, 0) = DDIM.
void complete_generalized(SolverOptions& o, int steps) {
  auto fill = [&](std::vector<double>& v, double dflt, const char* flag) {
    if (v.empty()) v = {dflt};
    if (v.size() != 1 && static_cast<int>(v.size()) != steps)
      throw ConfigError(flag, "needs one value or one per step (" + std::to_string(steps) +
                                  "), got " + std::to_string(v.size()));
  };
  fill(o.gamma, 0.0, "--gamma");
  fill(o.delta, 1.0, "--delta");
  fill(o.rho, 0.0, "--rho");
  for (double g : o.gamma)
    if (!(g > -1.0)) throw ConfigError("--gamma", "must be > -1");
  for (double d : o.delta)
    if (!(d > 0.0)) throw ConfigError("--delta", "must be > 0");
  for (double r : o.rho)
    if (!(r >= 0.0)) throw ConfigError("--rho", "must be >= 0");
}

#define SS_SOLVER(fn) &solvers::fn<TensorContext>, &solvers::fn<FormContext>

const std::array kSolvers{
    SolverEntry{"ddpm", "DDPM ancestral sampling (seed 000 eq. 31)", "", complete_none,
                SS_SOLVER(ddpm)},
    SolverEntry{"ddim", "DDIM with η (seed 000 eq. 35; η = 1 is ancestral)", "eta", complete_ddim,
                SS_SOLVER(ddim)},
    SolverEntry{"euler", "Euler in σ/α (k-diffusion; flow Euler, seed 000 eq. 37)", "",
                complete_none, SS_SOLVER(euler)},
    SolverEntry{"heun", "Heun, 2 calls a step (EDM Alg. 1, k-diffusion)", "", complete_none,
                SS_SOLVER(heun)},
    SolverEntry{"deis", "DEIS tAB, polynomial degree 0–3 (0 = DDIM; Zhang & Chen 2023)", "order",
                complete_deis, SS_SOLVER(deis)},
    SolverEntry{"dpmsolver", "DPM-Solver, noise prediction, orders 1–3, single/multistep",
                "order,method,lower_order_final", complete_dpmsolver, SS_SOLVER(dpmsolver)},
    SolverEntry{"dpmsolver++", "DPM-Solver++, data prediction (2S, 2M, 3M, …)",
                "order,method,lower_order_final", complete_dpmsolver_pp, SS_SOLVER(dpmsolver_pp)},
    SolverEntry{"unipc", "UniPC predictor-corrector, B(h) bh1|bh2, x0|eps prediction",
                "order,variant,predict,lower_order_final", complete_unipc, SS_SOLVER(unipc)},
    SolverEntry{"generalized", "the (γ, δ, ρ) backward step (seed 001 Cor. 1, SPEC §5)",
                "gamma,delta,rho", complete_generalized, SS_SOLVER(generalized)},
};

#undef SS_SOLVER

}  // namespace

std::span<const SolverEntry> solver_registry() { return kSolvers; }

const SolverEntry& find_solver(std::string_view name) {
  return registry_find(solver_registry(), name, "--solver");
}

SolverPlan complete_plan(const SolverEntry& solver, SolverPlan plan) {
  SS_CHECK(plan.schedule != nullptr);
  if (plan.steps < 1) throw ConfigError("--steps", "must be at least 1");
  reject_unread(plan.options, solver.name, solver.options);
  solver.complete(plan.options, plan.steps);
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

json options_to_json(const SolverOptions& o) {
  json j = json::object();
  if (o.order) j["order"] = *o.order;
  if (o.method) j["method"] = *o.method;
  if (o.lower_order_final) j["lower_order_final"] = *o.lower_order_final;
  if (o.variant) j["variant"] = *o.variant;
  if (o.predict) j["predict"] = *o.predict;
  if (o.eta) j["eta"] = *o.eta;
  if (!o.gamma.empty()) j["gamma"] = o.gamma;
  if (!o.delta.empty()) j["delta"] = o.delta;
  if (!o.rho.empty()) j["rho"] = o.rho;
  return j;
}

}  // namespace samplersearch
