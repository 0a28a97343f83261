#pragma once
// The classic samplers, each one short generic function with the shared signature
//   template <class Ctx> typename Ctx::Value NAME(Ctx& ctx, const SolverPlan& plan)
// so that one body runs on tensors (sampling) and on linear forms (exact matrices). Private to
// samplers/: the registry in solver_registry.cpp instantiates them for both contexts.
//
// Notation: α, σ of the schedule; h-variables use DPM-Solver's half log-SNR l(t) = log(α/σ) = λ/2.
#include <Eigen/Dense>
#include <cmath>
#include <vector>

#include "samplersearch/common/check.hpp"
#include "samplersearch/common/error.hpp"
#include "samplersearch/samplers/solver.hpp"

namespace samplersearch::solvers {

// Half log-SNR l(t) = log(α/σ) and its inverse.
inline double half_lambda(const Schedule& s, double t) { return 0.5 * s.lambda(t); }
inline double t_of_half_lambda(const Schedule& s, double l) { return s.t_of_lambda(2.0 * l); }

// The pure-noise start x_0 = prior_std(t_0)·ε_0.
template <class Ctx>
typename Ctx::Value initial_noise(Ctx& ctx, const Schedule& s, double t0) {
  return s.prior_std(t0) * ctx.noise();
}

// ε̂ = (x − α y)/σ: the noise prediction equivalent to the x0-prediction y at (x, t).
template <class V>
V eps_of(const Schedule& s, const V& x, const V& y, double t) {
  return (x - s.alpha(t) * y) / s.sigma(t);
}

// DDPM ancestral step, Zheng & Zheng 2025, eq. 31 on any grid (the posterior q(x_s | x_t, x0 = y)):
// x_s = d·x_t + e·y + g·ε, d = α_tσ_s²/(α_sσ_t²), e = α_s·r, g = σ_s·√r, r = 1 − e^{λ_t−λ_s}.
template <class Ctx>
typename Ctx::Value ddpm(Ctx& ctx, const SolverPlan& plan) {
  const Schedule& s = *plan.schedule;
  const std::vector<double> ts = plan.grid.times(s, plan.steps, "ddpm");
  auto x = initial_noise(ctx, s, ts[0]);
  for (int i = 0; i < plan.steps; ++i) {
    const double t = ts[static_cast<size_t>(i)], u = ts[static_cast<size_t>(i) + 1];
    const auto y = ctx.denoise(x, t);
    const double r = -std::expm1(s.lambda(t) - s.lambda(u));
    const double d = s.alpha(t) * s.sigma(u) * s.sigma(u) / (s.alpha(u) * s.sigma(t) * s.sigma(t));
    x = d * x + (s.alpha(u) * r) * y + (s.sigma(u) * std::sqrt(r)) * ctx.noise();
  }
  return x;
}

// DDIM with η (Song et al. 2021 eq. 12; Zheng & Zheng 2025, eq. 35): x_s = α_s·y + √(σ_s² − c²)·ε̂ +
// c·ε, c = η·σ_s·√(1 − e^{λ_t−λ_s}) (= η√((1−ᾱ_s)/(1−ᾱ_t))√(1−ᾱ_t/ᾱ_s) on VP schedules).
template <class Ctx>
typename Ctx::Value ddim(Ctx& ctx, const SolverPlan& plan) {
  const Schedule& s = *plan.schedule;
  const double eta = plan.settings.eta;
  const std::vector<double> ts = plan.grid.times(s, plan.steps, "ddim");
  auto x = initial_noise(ctx, s, ts[0]);
  for (int i = 0; i < plan.steps; ++i) {
    const double t = ts[static_cast<size_t>(i)], u = ts[static_cast<size_t>(i) + 1];
    const auto y = ctx.denoise(x, t);
    const double c = eta * s.sigma(u) * std::sqrt(-std::expm1(s.lambda(t) - s.lambda(u)));
    const double keep = s.sigma(u) * s.sigma(u) - c * c;
    if (keep < 0) throw ConfigError("eta", "too large: σ_s² − c² < 0 at step " + std::to_string(i));
    x = s.alpha(u) * y + std::sqrt(keep) * eps_of(s, x, y, t);
    if (c != 0.0) x = x + c * ctx.noise();
  }
  return x;
}

// Euler in σ̃ = σ/α on x̃ = x/α (Karras et al. 2022 Alg. 1 without churn; k-diffusion sample_euler;
// flow-matching Euler, Zheng & Zheng 2025, eq. 37): x̃_s = x̃_t + (σ̃_s − σ̃_t)·(x̃_t − y)/σ̃_t, written
// without dividing by α so that t = 1 (α = 0) of the flow schedule works: x_s = (σ_s/σ_t)·x_t +
// (α_s − σ_s·α_t/σ_t)·y.
template <class Ctx>
typename Ctx::Value euler(Ctx& ctx, const SolverPlan& plan) {
  const Schedule& s = *plan.schedule;
  const std::vector<double> ts = plan.grid.times(s, plan.steps, "euler");
  auto x = initial_noise(ctx, s, ts[0]);
  for (int i = 0; i < plan.steps; ++i) {
    const double t = ts[static_cast<size_t>(i)], u = ts[static_cast<size_t>(i) + 1];
    const double ratio = s.sigma(u) / s.sigma(t);
    x = ratio * x + (s.alpha(u) - ratio * s.alpha(t)) * ctx.denoise(x, t);
  }
  return x;
}

// Heun's method on dz/dv = F(z, y, t) over ⌈N/2⌉ intervals of the grid (Karras et al. 2022 Alg. 1
// without churn): Euler to v_s, then the trapezoid of the two slopes; for odd N the last interval
// is one Euler step. `c` gives the coordinates: z = c.to_z(x, t), x = c.to_x(z, t), v = c.var(t)
// and the slope F = c.slope(z, y, t), y the x0-prediction at x.
template <class Ctx, class Coordinates>
typename Ctx::Value heun_intervals(Ctx& ctx, const SolverPlan& plan, const Coordinates& c,
                                   const char* name) {
  const Schedule& s = *plan.schedule;
  const int intervals = (plan.steps + 1) / 2;
  const std::vector<double> ts = plan.grid.times(s, intervals, name);
  auto x = initial_noise(ctx, s, ts[0]);
  for (int i = 0; i < intervals; ++i) {
    const double t = ts[static_cast<size_t>(i)], u = ts[static_cast<size_t>(i) + 1];
    const double dv = c.var(u) - c.var(t);
    const auto z = c.to_z(x, t);
    const auto d1 = c.slope(z, ctx.denoise(x, t), t);
    const auto z2 = z + dv * d1;
    if (plan.steps % 2 == 1 && i == intervals - 1) {
      x = c.to_x(z2, u);
    } else {
      const auto d2 = c.slope(z2, ctx.denoise(c.to_x(z2, u), u), u);
      x = c.to_x(z + dv * 0.5 * (d1 + d2), u);
    }
  }
  return x;
}

// Heun (Karras et al. 2022 Alg. 1; k-diffusion sample_heun) in σ̃ = σ/α on x̃ = x/α, slope
// (x̃ − y)/σ̃.
template <class Ctx>
typename Ctx::Value heun(Ctx& ctx, const SolverPlan& plan) {
  struct ScaledNoise {
    const Schedule& s;
    double var(double t) const { return s.sigma(t) / s.alpha(t); }
    auto to_z(const typename Ctx::Value& x, double t) const { return x / s.alpha(t); }
    auto to_x(const typename Ctx::Value& z, double t) const { return s.alpha(t) * z; }
    auto slope(const typename Ctx::Value& z, const typename Ctx::Value& y, double t) const {
      return (z - y) / var(t);
    }
  };
  return heun_intervals(ctx, plan, ScaledNoise{*plan.schedule}, "heun");
}

// The probability-flow ODE of the forward SDE dx = f(t)x dt + g(t)dw (Song et al. 2021, eq. 13),
// f = d log α/dt, g² = dσ²/dt − 2fσ² = −σ²·dλ/dt, with the score −(x − α y)/σ²:
// dx/dt = f·x − ½g²·score = a(t)·x + b(t)·y, a = f − ½λ', b = ½λ'·α (VP: f = −½β, g² = β).
struct LinearDrift {
  double a, b;
};
inline LinearDrift flow_ode_drift(const Schedule& s, double t) {
  const double dl = s.d_lambda(t);
  return {s.d_log_alpha(t) - 0.5 * dl, 0.5 * dl * s.alpha(t)};
}

// Euler in t on the probability-flow ODE (Song et al. 2021, eq. 13):
// x_s = x_t + (s − t)·(a_t·x_t + b_t·y_t). Not k-diffusion's Euler in σ/α (which is DDIM on VP).
template <class Ctx>
typename Ctx::Value flow_euler(Ctx& ctx, const SolverPlan& plan) {
  const Schedule& s = *plan.schedule;
  const std::vector<double> ts = plan.grid.times(s, plan.steps, "pf-euler");
  auto x = initial_noise(ctx, s, ts[0]);
  for (int i = 0; i < plan.steps; ++i) {
    const double t = ts[static_cast<size_t>(i)], u = ts[static_cast<size_t>(i) + 1];
    const LinearDrift d = flow_ode_drift(s, t);
    x = (1.0 + (u - t) * d.a) * x + ((u - t) * d.b) * ctx.denoise(x, t);
  }
  return x;
}

// Heun in t on the probability-flow ODE (Song et al. 2021, eq. 13; the trapezoid of Karras et al.
// 2022 Alg. 1 taken in t), slope a_t x + b_t y(x).
template <class Ctx>
typename Ctx::Value flow_heun(Ctx& ctx, const SolverPlan& plan) {
  struct FlowTime {
    const Schedule& s;
    double var(double t) const { return t; }
    auto to_z(const typename Ctx::Value& x, double) const { return x; }
    auto to_x(const typename Ctx::Value& z, double) const { return z; }
    auto slope(const typename Ctx::Value& z, const typename Ctx::Value& y, double t) const {
      const LinearDrift d = flow_ode_drift(s, t);
      return d.a * z + d.b * y;
    }
  };
  return heun_intervals(ctx, plan, FlowTime{*plan.schedule}, "pf-heun");
}

// Euler–Maruyama on the reverse-time SDE dx = [f·x − g²·score]dt + g dw̄ (Song et al. 2021,
// eq. 6), score = −(x − α y)/σ², with fresh noise every step: for Δ = t − s > 0,
// x_s = x_t − Δ·(f_t − λ'_t)·x_t − Δ·λ'_t·α_t·y_t + √(Δ·g_t²)·ε, g² = −σ²λ'.
template <class Ctx>
typename Ctx::Value euler_maruyama(Ctx& ctx, const SolverPlan& plan) {
  const Schedule& s = *plan.schedule;
  const std::vector<double> ts = plan.grid.times(s, plan.steps, "euler-maruyama");
  auto x = initial_noise(ctx, s, ts[0]);
  for (int i = 0; i < plan.steps; ++i) {
    const double t = ts[static_cast<size_t>(i)], u = ts[static_cast<size_t>(i) + 1];
    const double step = t - u, f = s.d_log_alpha(t), dl = s.d_lambda(t);
    const double g2 = -s.sigma(t) * s.sigma(t) * dl;
    const auto y = ctx.denoise(x, t);
    x = (1.0 - step * (f - dl)) * x - (step * dl * s.alpha(t)) * y +
        std::sqrt(step * g2) * ctx.noise();
  }
  return x;
}

// Gauss–Legendre nodes and weights on [−1, 1] (Newton on P_n), for DEIS's integrals.
std::pair<std::vector<double>, std::vector<double>> gauss_legendre(int n);

// DEIS tAB (Zhang & Chen 2023, eq. 14): x_s = (α_s/α_t)x_t + α_s·Σ_j w_j·ε̂_j with
// w_j = ∫_t^s (d/dτ)(σ/α)·ℓ_j(τ) dτ = ∫_{ρ_t}^{ρ_s} ℓ_j(τ(ρ)) dρ, ρ = σ/α, ℓ_j the Lagrange basis
// in t of degree r = min(order, i) over the last r+1 call times (order 0 is DDIM, as in the paper
// and the reference's get_ab_eps_coef; the first steps warm up with lower degrees).
template <class Ctx>
typename Ctx::Value deis(Ctx& ctx, const SolverPlan& plan) {
  const Schedule& s = *plan.schedule;
  const int order = plan.settings.order;
  const std::vector<double> ts = plan.grid.times(s, plan.steps, "deis");
  const auto [nodes, weights] = gauss_legendre(64);
  auto rho = [&](double t) { return s.sigma(t) / s.alpha(t); };
  auto x = initial_noise(ctx, s, ts[0]);
  std::vector<typename Ctx::Value> eps_hist;
  for (int i = 0; i < plan.steps; ++i) {
    const double t = ts[static_cast<size_t>(i)], u = ts[static_cast<size_t>(i) + 1];
    eps_hist.push_back(eps_of(s, x, ctx.denoise(x, t), t));
    const int q = std::min(order, i) + 1;
    // past call times t_i, t_{i−1}, … (newest first)
    std::vector<double> past(static_cast<size_t>(q));
    for (int j = 0; j < q; ++j) past[static_cast<size_t>(j)] = ts[static_cast<size_t>(i - j)];
    // Integrate piece by piece between the integer times of a discrete schedule (t(ρ) has kinks
    // there); a continuous schedule is one piece.
    std::vector<double> cuts{t};
    if (s.discrete())
      for (double c = std::ceil(t) - 1.0; c > u; c -= 1.0) cuts.push_back(c);
    cuts.push_back(u);
    std::vector<double> w(static_cast<size_t>(q), 0.0);
    for (size_t piece = 0; piece + 1 < cuts.size(); ++piece) {
      const double r0 = rho(cuts[piece]), r1 = rho(cuts[piece + 1]);
      for (size_t n = 0; n < nodes.size(); ++n) {
        const double r = 0.5 * (r0 + r1) + 0.5 * (r1 - r0) * nodes[n];
        const double tau = s.t_of_lambda(-2.0 * std::log(r));
        for (int j = 0; j < q; ++j) {
          double l = 1.0;
          for (int m = 0; m < q; ++m)
            if (m != j)
              l *= (tau - past[static_cast<size_t>(m)]) /
                   (past[static_cast<size_t>(j)] - past[static_cast<size_t>(m)]);
          w[static_cast<size_t>(j)] += 0.5 * (r1 - r0) * weights[n] * l;
        }
      }
    }
    auto next = (s.alpha(u) / s.alpha(t)) * x;
    for (int j = 0; j < q; ++j)
      next = next + (s.alpha(u) * w[static_cast<size_t>(j)]) *
                        eps_hist[eps_hist.size() - 1 - static_cast<size_t>(j)];
    x = next;
  }
  return x;
}

// The DPM-Solver family's model output: x0 (DPM-Solver++) or ε̂ (DPM-Solver).
template <class Ctx>
typename Ctx::Value model_output(Ctx& ctx, const Schedule& s, const typename Ctx::Value& x,
                                 double t, bool data) {
  auto y = ctx.denoise(x, t);
  return data ? y : eps_of(s, x, y, t);
}

// DPM-Solver(++) first-order step s → t (Lu et al. 2022 eq. 3.7; DPM-Solver++ eq. 9):
// noise: x_t = (α_t/α_s)x − σ_t(e^h − 1)ε̂_s · data: x_t = (σ_t/σ_s)x − α_t(e^{−h} − 1)x̂_s.
template <class V>
V dpm_first(const Schedule& sc, const V& x, const V& m, double s, double t, bool data) {
  const double h = half_lambda(sc, t) - half_lambda(sc, s);
  if (data) return (sc.sigma(t) / sc.sigma(s)) * x - (sc.alpha(t) * std::expm1(-h)) * m;
  return (sc.alpha(t) / sc.alpha(s)) * x - (sc.sigma(t) * std::expm1(h)) * m;
}

// Singlestep DPM-Solver(++)-2 (Lu et al. 2022 Alg. 1; DPM-Solver++(2S) Alg. 1), solver_type
// 'dpmsolver', intermediate point at λ_s + r₁h.
template <class Ctx>
typename Ctx::Value dpm_single2(Ctx& ctx, const Schedule& sc, const typename Ctx::Value& x,
                                double s, double t, bool data, double r1) {
  const double ls = half_lambda(sc, s), h = half_lambda(sc, t) - ls;
  const double s1 = t_of_half_lambda(sc, ls + r1 * h);
  const auto m0 = model_output(ctx, sc, x, s, data);
  const auto x1 = dpm_first(sc, x, m0, s, s1, data);
  const auto m1 = model_output(ctx, sc, x1, s1, data);
  const double phi1 = data ? std::expm1(-h) : std::expm1(h);
  const double coef = (data ? sc.alpha(t) : sc.sigma(t)) * phi1;
  return dpm_first(sc, x, m0, s, t, data) - (0.5 / r1) * coef * (m1 - m0);
}

// Singlestep DPM-Solver(++)-3 (Lu et al. 2022 Alg. 2), solver_type 'dpmsolver', intermediate points
// at λ_s + r₁h and λ_s + r₂h.
template <class Ctx>
typename Ctx::Value dpm_single3(Ctx& ctx, const Schedule& sc, const typename Ctx::Value& x,
                                double s, double t, bool data, double r1, double r2) {
  const double ls = half_lambda(sc, s), h = half_lambda(sc, t) - ls;
  const double s1 = t_of_half_lambda(sc, ls + r1 * h), s2 = t_of_half_lambda(sc, ls + r2 * h);
  const double sign = data ? -1.0 : 1.0;
  const double phi12 = std::expm1(sign * r2 * h), phi1 = std::expm1(sign * h);
  const double phi22 = phi12 / (r2 * h) * sign - 1.0;  // noise: φ/(r₂h) − 1; data: −φ/(r₂h) − 1
  const double phi2 = phi1 / h * sign - 1.0;
  // coefficient scale of the x̂ terms: α for data prediction, σ for noise prediction
  auto scale = [&](double u) { return data ? sc.alpha(u) : sc.sigma(u); };
  const auto m0 = model_output(ctx, sc, x, s, data);
  const auto x1 = dpm_first(sc, x, m0, s, s1, data);
  const auto m1 = model_output(ctx, sc, x1, s1, data);
  const auto x2 = dpm_first(sc, x, m0, s, s2, data) - (r2 / r1) * scale(s2) * phi22 * (m1 - m0);
  const auto m2 = model_output(ctx, sc, x2, s2, data);
  return dpm_first(sc, x, m0, s, t, data) - (1.0 / r2) * scale(t) * phi2 * (m2 - m0);
}

// Singlestep DPM-Solver(++) over the reference's outer grid and per-step orders.
template <class Ctx>
typename Ctx::Value dpm_singlestep(Ctx& ctx, const SolverPlan& plan, bool data, const char* name);

// Multistep DPM-Solver(++) step of order 2 or 3 from the last model outputs ms (newest last) at
// times tp (Lu et al. 2022b, DPM-Solver++(2M) Alg. 2 and the 3rd-order multistep update).
template <class V>
V dpm_multistep_update(const Schedule& sc, const V& x, const std::vector<V>& ms,
                       const std::vector<double>& tp, double t, int order, bool data) {
  const size_t n = ms.size();
  const double l0 = half_lambda(sc, tp[n - 1]), h = half_lambda(sc, t) - l0;
  if (order == 1) return dpm_first(sc, x, ms[n - 1], tp[n - 1], t, data);
  const double h0 = l0 - half_lambda(sc, tp[n - 2]);
  const double r0 = h0 / h;
  const V d1_0 = (1.0 / r0) * (ms[n - 1] - ms[n - 2]);
  const double sign = data ? -1.0 : 1.0;
  const double phi1 = std::expm1(sign * h);
  const double scale = data ? sc.alpha(t) : sc.sigma(t);
  if (order == 2)
    return dpm_first(sc, x, ms[n - 1], tp[n - 1], t, data) - 0.5 * scale * phi1 * d1_0;
  const double h1 = half_lambda(sc, tp[n - 2]) - half_lambda(sc, tp[n - 3]);
  const double r1 = h1 / h;
  const V d1_1 = (1.0 / r1) * (ms[n - 2] - ms[n - 3]);
  const V d1 = d1_0 + (r0 / (r0 + r1)) * (d1_0 - d1_1);
  const V d2 = (1.0 / (r0 + r1)) * (d1_0 - d1_1);
  // data: φ₂ = φ₁/h + 1 with φ₁ = e^{−h} − 1, x_t = … + α φ₂ D1 − α φ₃ D2;
  // noise: φ₂ = φ₁/h − 1 with φ₁ = e^{h} − 1, x_t = … − σ φ₂ D1 − σ φ₃ D2; φ₃ = φ₂/h − ½.
  const double phi2 = data ? phi1 / h + 1.0 : phi1 / h - 1.0;
  const double phi3 = phi2 / h - 0.5;
  return dpm_first(sc, x, ms[n - 1], tp[n - 1], t, data) + (-sign * scale * phi2) * d1 -
         (scale * phi3) * d2;
}

}  // namespace samplersearch::solvers
