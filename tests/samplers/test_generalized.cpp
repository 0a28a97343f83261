// The (γ, δ, ρ) step of docs/equations.md §5: its two identities to 1e-12, and per-step values.
#include <gtest/gtest.h>

#include <cmath>

#include "samplersearch/common/error.hpp"
#include "samplersearch/samplers/context.hpp"
#include "samplersearch/samplers/solver.hpp"

namespace samplersearch {
namespace {

constexpr double kIdentity = 1e-12;

SolverPlan plan(int steps, SolverOptions o, const std::string& schedule = "vp-linear") {
  auto s = make_schedule(schedule);
  return SolverPlan{s, TimeGrid("time-quadratic", {s->t_max(), s->t_min()}), steps, std::move(o)};
}

double max_diff(const Matrices& a, const Matrices& b) {
  return std::max((a.signal - b.signal).cwiseAbs().maxCoeff(),
                  (a.noise - b.noise).cwiseAbs().maxCoeff());
}

TEST(Generalized, GammaZeroRhoZeroIsDdimForAnyDelta) {
  for (const char* schedule : {"vp-linear", "vp-cosine", "edm", "flow"}) {
    for (double delta : {0.3, 1.0, 2.5}) {
      SolverOptions o;
      o.gamma = {0.0};
      o.delta = {delta};
      o.rho = {0.0};
      EXPECT_LE(max_diff(solver_matrices("generalized", plan(9, o, schedule)),
                         solver_matrices("ddim", plan(9, {}, schedule))),
                kIdentity)
          << schedule << " δ=" << delta;
    }
  }
}

// The ancestral step exactly as docs/equations.md §5 writes it, run on linear forms:
// x_s = (α_s/α_t)x_t + α_sα_t(e^{−λ_t}−e^{−λ_s})·score + α_t√(e^{−λ_t}−e^{−λ_s})·(σ_s/σ_t)·ε,
// score = −(x_t − α_t y)/σ_t².
Matrices ancestral_as_written(int steps, const std::string& schedule) {
  const SolverPlan p = plan(steps, {}, schedule);
  const Schedule& s = *p.schedule;
  const auto ts = p.grid.times(s, steps, "test");
  FormContext ctx;
  LinearForm x = s.prior_std(ts[0]) * ctx.noise();
  for (int k = 0; k < steps; ++k) {
    const double t = ts[static_cast<size_t>(k)], u = ts[static_cast<size_t>(k) + 1];
    const LinearForm y = ctx.denoise(x, t);
    const LinearForm score = -1.0 / (s.sigma(t) * s.sigma(t)) * (x - s.alpha(t) * y);
    const double gap = std::exp(-s.lambda(t)) - std::exp(-s.lambda(u));
    x = (s.alpha(u) / s.alpha(t)) * x + (s.alpha(u) * s.alpha(t) * gap) * score +
        (s.alpha(t) * std::sqrt(gap) * s.sigma(u) / s.sigma(t)) * ctx.noise();
  }
  return ctx.finish(x, ts.back());
}

TEST(Generalized, GammaOneDeltaOneRhoOneIsTheAncestralStep) {
  for (const char* schedule : {"vp-linear", "vp-cosine", "ve"}) {
    SolverOptions o;
    o.gamma = {1.0};
    o.delta = {1.0};
    o.rho = {1.0};
    const Matrices g = solver_matrices("generalized", plan(8, o, schedule));
    EXPECT_LE(max_diff(g, ancestral_as_written(8, schedule)), kIdentity) << schedule;
    // … which is also DDPM's posterior step (Zheng & Zheng 2025, eq. 31).
    EXPECT_LE(max_diff(g, solver_matrices("ddpm", plan(8, {}, schedule))), kIdentity) << schedule;
  }
}

TEST(Generalized, OneValuePerStep) {
  SolverOptions same;
  same.gamma = {0.4, 0.4, 0.4, 0.4};
  same.delta = {0.9};
  same.rho = {0.5, 0.5, 0.5, 0.5};
  SolverOptions scalar;
  scalar.gamma = {0.4};
  scalar.delta = {0.9};
  scalar.rho = {0.5};
  EXPECT_EQ(max_diff(solver_matrices("generalized", plan(4, same)),
                     solver_matrices("generalized", plan(4, scalar))),
            0.0);
  // Rows 0–1 only see the first step's values; row 2 sees the second's.
  SolverOptions mixed = same;
  mixed.gamma = {0.4, -0.5, 0.4, 0.4};
  const Matrices a = solver_matrices("generalized", plan(4, mixed));
  const Matrices b = solver_matrices("generalized", plan(4, scalar));
  EXPECT_EQ((a.signal.topRows(2) - b.signal.topRows(2)).cwiseAbs().maxCoeff(), 0.0);
  EXPECT_GT((a.signal.row(2) - b.signal.row(2)).cwiseAbs().maxCoeff(), 1e-3);
  // Deterministic when ρ = 0 everywhere: only ε_0.
  SolverOptions det;
  det.gamma = {0.026};
  EXPECT_TRUE(solver_matrices("generalized", plan(6, det)).deterministic());
  EXPECT_FALSE(b.deterministic());
}

}  // namespace
}  // namespace samplersearch
