#pragma once
// The higher-order classic samplers (DPM-Solver(++) single/multistep, UniPC) and the (γ, δ, ρ)
// step, each one generic function with the shared signature (see classic_solvers.hpp). Private to
// samplers/: solver_registry.cpp instantiates them for both contexts.
#include "classic_solvers.hpp"

namespace samplersearch::solvers {

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

// The plan for `plan` (its settings' order and method).
SinglestepPlan singlestep_plan(const SolverPlan& plan, const char* name);

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

// A multistep method's history: the newest model output m at time t appended, only the last
// `order` kept (the reference implementations' model_prev_list / t_prev_list).
template <class V>
void push_history(std::vector<V>& ms, std::vector<double>& tp, V m, double t, int order) {
  ms.push_back(std::move(m));
  tp.push_back(t);
  if (static_cast<int>(ms.size()) > order) {
    ms.erase(ms.begin());
    tp.erase(tp.begin());
  }
}

// Multistep DPM-Solver(++) (Lu et al. 2022b Alg. 2, the reference's sample(method='multistep')):
// warm-up with orders 1…order−1, then `order`; with lower_order_final and fewer than 10 steps the
// last steps drop to order steps+1−step (the reference code's condition).
template <class Ctx>
typename Ctx::Value dpm_multistep(Ctx& ctx, const SolverPlan& plan, bool data, const char* name) {
  const Schedule& sc = *plan.schedule;
  const int steps = plan.steps, order = plan.settings.order;
  const bool lof = plan.settings.lower_order_final;
  const std::vector<double> ts = plan.grid.times(sc, steps, name);
  auto x = initial_noise(ctx, sc, ts[0]);
  std::vector<typename Ctx::Value> ms{model_output(ctx, sc, x, ts[0], data)};
  std::vector<double> tp{ts[0]};
  for (int step = 1; step <= steps; ++step) {
    int step_order = std::min(step, order);
    if (step >= order && lof && steps < 10) step_order = std::min(order, steps + 1 - step);
    const double t = ts[static_cast<size_t>(step)];
    x = dpm_multistep_update(sc, x, ms, tp, t, step_order, data);
    if (step < steps) push_history(ms, tp, model_output(ctx, sc, x, t, data), t, order);
  }
  return x;
}

// DPM-Solver (Lu et al. 2022, noise prediction).
template <class Ctx>
typename Ctx::Value dpmsolver(Ctx& ctx, const SolverPlan& plan) {
  return plan.settings.method != DpmMethod::multistep
             ? dpm_singlestep(ctx, plan, false, "dpmsolver")
             : dpm_multistep(ctx, plan, false, "dpmsolver");
}

// DPM-Solver++ (Lu et al. 2022b, data prediction): 2S, 2M, 3M, …
template <class Ctx>
typename Ctx::Value dpmsolver_pp(Ctx& ctx, const SolverPlan& plan) {
  return plan.settings.method != DpmMethod::multistep
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
  const int steps = plan.steps, order = plan.settings.order;
  const bool lof = plan.settings.lower_order_final;
  const bool data = plan.settings.predict == Prediction::x0;
  const bool bh2 = plan.settings.variant == UnipcVariant::bh2;
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
    if (step < steps) push_history(ms, tp, std::move(model_t), t, order);
  }
  return x;
}

// The generalized backward step ([S2N] Corollary 1, sign corrected; docs/equations.md §5), per step
// k: x_s = (α_s/α_t)x_t − ((1+ρ²)/(1+γ))·α_s·[e^{−(1+γ)λ_t/2} − e^{−(1+γ)λ_s/2}]·e^{γλ_t/2}·ε̂
//       + ρ·α_t·√(e^{−λ_t} − e^{−λ_s})·(α_s/α_t)^{1−δ}·(σ_s/σ_t)^δ·ε.
template <class Ctx>
typename Ctx::Value generalized(Ctx& ctx, const SolverPlan& plan) {
  const Schedule& s = *plan.schedule;
  const std::vector<double> ts = plan.grid.times(s, plan.steps, "generalized");
  auto at = [](const std::vector<double>& v, int k) {
    return v.size() == 1 ? v[0] : v[static_cast<size_t>(k)];
  };
  auto x = initial_noise(ctx, s, ts[0]);
  for (int k = 0; k < plan.steps; ++k) {
    const double gamma = at(plan.settings.gamma, k), delta = at(plan.settings.delta, k),
                 rho = at(plan.settings.rho, k);
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
