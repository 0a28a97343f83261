// Every classic sampler, run once on tensors and once as matrices through the engine, gives the
// same samples (float64, named tolerance); identities between samplers and the marginal
// property of Zheng & Zheng 2025, §4 hold; bad options are rejected with tested messages.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "samplersearch/common/error.hpp"
#include "samplersearch/samplers/context.hpp"
#include "samplersearch/samplers/engine.hpp"
#include "samplersearch/samplers/exact_models.hpp"
#include "samplersearch/samplers/solver.hpp"

namespace samplersearch {
namespace {

constexpr double kDirectVsMatrices = 1e-6;  // max |direct − engine| in float64
constexpr double kIdentity = 1e-12;         // matrices of algebraically equal samplers

// One sampler configuration, with what its checks need to know about it (ggml test-backend-ops
// style: properties and tolerances live on the case, never in label tests).
struct SolverCase {
  std::string solver;
  SolverOptions options;
  std::string label;
  int min_steps = 1;                // multistep: the order (the reference asserts steps >= order)
  bool continuous_time = false;     // steps an SDE/ODE in t: no discrete-time schedule
  bool marginal_checked = true;     // row sums ≈ α and noise norms ≈ σ are asserted
  double noise_first_order = 0.0;   // > 0: noise-norm tolerance c/N (first-order convergence)
  double signal_first_order = 0.0;  // > 0: row-sum tolerance offset + c/N
};

// ggml-style: one list, a new sampler option means a new line here.
std::vector<SolverCase> solver_cases() {
  auto o = [](auto f) {
    SolverOptions x;
    f(x);
    return x;
  };
  return {
      {"ddpm", {}, "ddpm"},
      {"ddim", {}, "ddim"},
      {"ddim", o([](SolverOptions& x) { x.eta = 0.5; }), "ddim_eta05"},
      {"ddim", o([](SolverOptions& x) { x.eta = 1.0; }), "ddim_eta1"},
      {"euler", {}, "euler"},
      {"heun", {}, "heun"},
      {"deis", o([](SolverOptions& x) { x.order = 0; }), "deis0"},
      {"deis", o([](SolverOptions& x) { x.order = 1; }), "deis1"},
      {"deis", o([](SolverOptions& x) { x.order = 2; }), "deis2"},
      {"deis", {}, "deis3"},
      {"dpmsolver", o([](SolverOptions& x) {
         x.method = "singlestep";
         x.order = 1;
       }),
       "dpm1s"},
      {"dpmsolver", o([](SolverOptions& x) {
         x.method = "singlestep";
         x.order = 2;
       }),
       "dpm2s"},
      {"dpmsolver", o([](SolverOptions& x) {
         x.method = "singlestep";
         x.order = 3;
       }),
       "dpm3s"},
      {"dpmsolver", o([](SolverOptions& x) {
         x.method = "singlestep_fixed";
         x.order = 3;
       }),
       "dpm3s_fixed"},
      {"dpmsolver", {}, "dpm2m", 2},
      {"dpmsolver", o([](SolverOptions& x) { x.order = 3; }), "dpm3m", 3},
      {"dpmsolver", o([](SolverOptions& x) {
         x.order = 3;
         x.lower_order_final = false;
       }),
       "dpm3m_nolof", 3},
      {"dpmsolver++", o([](SolverOptions& x) { x.method = "singlestep"; }), "dpmpp2s"},
      {"dpmsolver++", o([](SolverOptions& x) {
         x.method = "singlestep";
         x.order = 3;
       }),
       "dpmpp3s"},
      {"dpmsolver++", o([](SolverOptions& x) { x.method = "singlestep_fixed"; }), "dpmpp2s_fixed"},
      {"dpmsolver++", {}, "dpmpp2m", 2},
      {"dpmsolver++", o([](SolverOptions& x) { x.order = 3; }), "dpmpp3m", 3},
      {"unipc", {}, "unipc2_bh1", 2},
      {"unipc", o([](SolverOptions& x) {
         x.order = 3;
         x.variant = "bh2";
       }),
       "unipc3_bh2", 3},
      {"unipc", o([](SolverOptions& x) {
         x.predict = "eps";
         x.order = 3;
       }),
       "unipc3_eps", 3},
      {"generalized", {}, "gdr_default"},
      {"generalized", o([](SolverOptions& x) {
         x.gamma = {0.026};
         x.rho = {0.0};
       }),
       "gdr_det", 1, false, true, 0.5},
      {"generalized", o([](SolverOptions& x) {
         x.gamma = {1.25};
         x.delta = {0.95};
         x.rho = {1.0};
       }),
       "gdr_stoch", 1, false, false},
      // Euler in t converges at first order; measured c·N ≈ 0.83–0.89 (noise), ≤ 0.8 (signal).
      {"pf-euler", {}, "pf_euler", 1, true, true, 1.0, 1.0},
      // Explicit Heun in t is unstable on the stiff end of vp-linear (|Δt·dλ/dt| > 2 near
      // t = 1e-3 at these N), so no marginal bound: its order is checked against the NumPy port.
      {"pf-heun", {}, "pf_heun", 1, true, false},
      // Euler–Maruyama: measured noise-norm error c·N ≈ 4–6.9, row sums within 0.2/N.
      {"euler-maruyama", {}, "euler_maruyama", 1, true, true, 8.0, 0.5},
  };
}

// A 3-component Gaussian mixture in 8 dimensions on `schedule`.
GaussianMixtureModel mixture_model(std::shared_ptr<const Schedule> schedule) {
  at::manual_seed(7);
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  GaussianMixture g{at::tensor({0.5, 0.3, 0.2}, f64), at::randn({3, 8}, f64),
                    at::tensor({0.3, 0.05, 0.6}, f64)};
  return GaussianMixtureModel(g, std::move(schedule), {8});
}

double g_worst = 0.0;  // largest direct-vs-matrix difference seen, printed at the end
std::string g_worst_case;

struct Grid {
  std::string schedule;
  std::string discretization;
};

class DirectVsMatrices : public ::testing::TestWithParam<std::tuple<SolverCase, Grid, int>> {};

TEST_P(DirectVsMatrices, SameSamples) {
  const auto& [c, grid, steps] = GetParam();
  auto schedule = make_schedule(grid.schedule);
  const SolverEntry& entry = find_solver(c.solver);
  SolverPlan plan{schedule, TimeGrid(grid.discretization, {schedule->t_max(), schedule->t_min()}),
                  steps, c.options};
  if (steps < c.min_steps) GTEST_SKIP() << "multistep order needs more steps";
  if (c.continuous_time && schedule->discrete()) GTEST_SKIP() << "steps in continuous time";
  const SolverPlan full = complete_plan(entry, plan);
  const auto model = mixture_model(schedule);
  const SampleLayout layout{{8}, at::kDouble};
  TensorContext ctx(model, 1234, 0, 5, layout);
  const at::Tensor direct = entry.run_tensor(ctx, full);
  EXPECT_EQ(ctx.calls(), steps);
  const Matrices m = solver_matrices(c.solver, plan);
  const at::Tensor via_engine = run_engine(m, model, 1234, 0, 5, layout);
  const double diff = (direct - via_engine).abs().max().item<double>();
  EXPECT_LE(diff, kDirectVsMatrices) << c.label;
  EXPECT_TRUE(at::isfinite(direct).all().item<bool>());
  if (diff > g_worst) {
    g_worst = diff;
    g_worst_case = c.label + " " + grid.schedule + " N=" + std::to_string(steps);
  }
}

std::string case_name(const ::testing::TestParamInfo<std::tuple<SolverCase, Grid, int>>& info) {
  std::string n = std::get<0>(info.param).label + "_" + std::get<1>(info.param).schedule + "_" +
                  std::get<1>(info.param).discretization + "_N" +
                  std::to_string(std::get<2>(info.param));
  for (char& ch : n)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return n;
}

INSTANTIATE_TEST_SUITE_P(VpLinear, DirectVsMatrices,
                         ::testing::Combine(::testing::ValuesIn(solver_cases()),
                                            ::testing::Values(Grid{"vp-linear", "time-quadratic"}),
                                            ::testing::Values(1, 2, 3, 5, 6, 10, 18)),
                         case_name);
INSTANTIATE_TEST_SUITE_P(
    OtherSchedules, DirectVsMatrices,
    ::testing::Combine(::testing::ValuesIn(solver_cases()),
                       ::testing::Values(Grid{"vp-cosine", "logsnr-uniform"}, Grid{"edm", "karras"},
                                         Grid{"flow", "time-uniform"},
                                         Grid{"ddpm-discrete", "time-uniform"}),
                       ::testing::Values(7)),
    case_name);

// Prints the largest direct-vs-matrix difference once every case has run.
class ReportLargestDifference : public ::testing::Environment {
 public:
  void TearDown() override {
    std::printf("largest direct-vs-matrix difference: %.3g (%s)\n", g_worst, g_worst_case.c_str());
  }
};
const auto* const kReport = ::testing::AddGlobalTestEnvironment(new ReportLargestDifference);

SolverPlan plan_for(const std::string& schedule, int steps, SolverOptions o = {},
                    const std::string& disc = "time-quadratic") {
  auto s = make_schedule(schedule);
  return SolverPlan{s, TimeGrid(disc, {s->t_max(), s->t_min()}), steps, std::move(o)};
}

double max_diff(const Matrices& a, const Matrices& b) {
  EXPECT_EQ(a.signal.rows(), b.signal.rows());
  return std::max((a.signal - b.signal).cwiseAbs().maxCoeff(),
                  (a.noise - b.noise).cwiseAbs().maxCoeff());
}

TEST(Identities, FirstOrderSolversAreDdim) {
  for (int n : {1, 4, 12}) {
    const Matrices ddim = solver_matrices("ddim", plan_for("vp-linear", n));
    SolverOptions one;
    one.order = 1;
    one.method = "singlestep";
    EXPECT_LE(max_diff(ddim, solver_matrices("dpmsolver", plan_for("vp-linear", n, one))),
              kIdentity);
    EXPECT_LE(max_diff(ddim, solver_matrices("dpmsolver++", plan_for("vp-linear", n, one))),
              kIdentity);
    SolverOptions deis0;  // degree-0 tAB is DDIM (Zhang & Chen 2023)
    deis0.order = 0;
    EXPECT_LE(max_diff(ddim, solver_matrices("deis", plan_for("vp-linear", n, deis0))), 1e-10);
    EXPECT_LE(max_diff(ddim, solver_matrices("euler", plan_for("vp-linear", n))), kIdentity);
    EXPECT_LE(max_diff(ddim, solver_matrices("generalized", plan_for("vp-linear", n))), kIdentity);
  }
}

TEST(Identities, DdimEtaOneIsDdpmAncestral) {
  SolverOptions eta1;
  eta1.eta = 1.0;
  EXPECT_LE(max_diff(solver_matrices("ddim", plan_for("vp-cosine", 9, eta1)),
                     solver_matrices("ddpm", plan_for("vp-cosine", 9))),
            kIdentity);
}

// Zheng & Zheng 2025, §4.5: flow-matching Euler from pure noise (t_0 = 1) has row sums exactly 1 −
// t_k and noise exactly t_k.
TEST(Marginals, FlowEulerIsExact) {
  auto flow = make_schedule("flow");
  const Matrices m =
      solver_matrices("euler", SolverPlan{flow, TimeGrid("time-uniform", {1.0, 1e-3}), 18, {}});
  const auto sums = m.row_sums();
  const auto norms = m.noise_norms();
  for (size_t k = 1; k < m.times.size(); ++k) {
    EXPECT_NEAR(sums[k], 1.0 - m.times[k], 1e-13);
    EXPECT_NEAR(norms[k], m.times[k], 1e-13);
  }
}

// Zheng & Zheng 2025, Figures 8–13: row sums ≈ α(t_k), noise norms ≈ σ(t_k), closer as N grows.
// Prints the table the figures plot (worst deviations per sampler and N).
TEST(Marginals, RowSumsApproachAlphaAndNoiseNormsApproachSigma) {
  std::printf("%-14s %5s %16s %16s\n", "sampler", "N", "max|ΣC−α|", "max|‖B‖−σ|");
  for (const SolverCase& c : solver_cases()) {
    for (int n : {18, 100, 500}) {
      SolverOptions o = c.options;
      if (!o.gamma.empty() && o.gamma.size() > 1) continue;
      const Matrices m = solver_matrices(c.solver, plan_for("vp-linear", n, o, "time-uniform"));
      double ws = 0, wn = 0;
      const auto sums = m.row_sums();
      const auto norms = m.noise_norms();
      for (size_t k = 1; k < m.times.size(); ++k) {
        ws = std::max(ws, std::abs(sums[k] - m.schedule->alpha(m.times[k])));
        wn = std::max(wn, std::abs(norms[k] - m.schedule->sigma(m.times[k])));
      }
      std::printf("%-14s %5d %16.3e %16.3e\n", c.label.c_str(), n, ws, wn);
      // A deterministic sampler carries ε_0's offset α(t_0)/σ(t_0)·σ(t_k) into every row
      // (x_{t_0} = ε is not exactly pure noise at t_0 = 1), so the row sums sit that far from α.
      const double offset = m.schedule->alpha(m.times[0]) / m.schedule->sigma(m.times[0]);
      if (c.marginal_checked) {
        // Samplers that are not exponential integrators converge at first order.
        const double signal_tol =
            c.signal_first_order > 0 ? c.signal_first_order / n : (n >= 100 ? 1e-3 : 5e-2);
        EXPECT_LT(ws, 1.02 * offset + signal_tol) << c.label << " N=" << n;
        const double noise_tol =
            c.noise_first_order > 0 ? c.noise_first_order / n : (n >= 100 ? 1e-4 : 1e-2);
        EXPECT_LT(wn, noise_tol) << c.label << " N=" << n;
      }
    }
  }
}

// Noise is a function of (seed, sample, row) only: bit-identical whatever the split. Samples
// then agree up to the model's rounding, which BLAS may block differently per batch size.
TEST(Engine, SamplesDoNotDependOnBatchSplit) {
  const SampleLayout f32{{8}, at::kFloat};
  EXPECT_TRUE(at::equal(noise_batch(99, 0, 7, 3, f32),
                        at::cat({noise_batch(99, 0, 3, 3, f32), noise_batch(99, 3, 4, 3, f32)})));
  auto schedule = make_schedule("vp-linear");
  const auto model = mixture_model(schedule);
  SolverOptions o;
  o.eta = 0.7;
  const Matrices m = solver_matrices("ddim", plan_for("vp-linear", 6, o));
  const SampleLayout f64{{8}, at::kDouble};
  const at::Tensor all = run_engine(m, model, 99, 0, 7, f64);
  const at::Tensor part =
      at::cat({run_engine(m, model, 99, 0, 3, f64), run_engine(m, model, 99, 3, 4, f64)});
  EXPECT_LE((all - part).abs().max().item<double>(), 1e-12);
  const at::Tensor other_seed = run_engine(m, model, 100, 0, 7, f64);
  EXPECT_GT((all - other_seed).abs().max().item<double>(), 0.1);
  // float32 sampling agrees with float64 to float32 rounding.
  const at::Tensor single = run_engine(m, model, 99, 0, 7, f32);
  EXPECT_LE((single.to(at::kDouble) - all).abs().max().item<double>(), 1e-4);
}

// The tensors run_engine itself held at once (counted on its own maps, not recomputed).
int64_t peak_held(const Matrices& m) {
  auto schedule = make_schedule("vp-linear");
  const auto model = mixture_model(schedule);
  int64_t peak = -1;
  EngineOptions options;
  options.peak_held = &peak;
  run_engine(m, model, 5, 0, 2, SampleLayout{{8}, at::kDouble}, options);
  return peak;
}

TEST(Engine, KeepsOnlyTheBandItNeeds) {
  // DPM-Solver++(2M) over linear forms: C is a dense lower triangle, so at row k the engine holds
  // y_0 … y_{k-1} and ε_0, i.e. N + 1 = 51 tensors at the last row.
  const Matrices m2 = solver_matrices("dpmsolver++", plan_for("vp-linear", 50));
  EXPECT_LE(peak_held(m2), 51);
  // A banded matrix (tail 2): 2 y's + ε_0 at the row being formed, whatever N.
  Matrices band = m2;
  for (Eigen::Index k = 0; k < band.signal.rows(); ++k)
    for (Eigen::Index j = 0; j < band.signal.cols(); ++j)
      if (j < k - 2) band.signal(k, j) = 0.0;
  EXPECT_EQ(peak_held(band), 3);
}

// Every registered solver has at least one case above (metrics have the same check).
TEST(Registry, EverySolverHasAConformanceCase) {
  const auto cases = solver_cases();
  for (const SolverEntry& e : solver_registry()) {
    bool found = false;
    for (const SolverCase& c : cases) found = found || c.solver == e.name;
    EXPECT_TRUE(found) << e.name << " has no case in solver_cases()";
  }
}

// Song et al. 2021 eq. 13 on vp-linear (β(t) = 0.1 + 19.9t, dλ/dt = −β/σ²), worked by hand for
// the one step from t_0 = 1 to t_1 = 0.5: x_1 = (1 + Δ(−½β + ½β/σ²))·ε_0 + Δ(−½β α/σ²)·y_0
// with Δ = t_1 − t_0.
TEST(FlowOde, FirstEulerStepByHand) {
  auto vp = make_schedule("vp-linear");
  const Matrices m =
      solver_matrices("pf-euler", SolverPlan{vp, TimeGrid("time-uniform", {1.0, 0.5}), 1, {}});
  const double la = -0.25 * 19.9 - 0.05, a = std::exp(la), s2 = -std::expm1(2 * la);
  const double beta = 20.0, dt = -0.5;
  EXPECT_NEAR(m.times[1], 0.5, 1e-15);
  EXPECT_NEAR(m.noise(1, 0), 1.0 + dt * (-0.5 * beta + 0.5 * beta / s2), 1e-12);
  EXPECT_NEAR(m.signal(1, 0), dt * (-0.5 * beta * a / s2), 1e-12);
}

// Euler–Maruyama (Song et al. 2021 eq. 6) adds fresh noise √(Δ·β(t)) on VP every step: the
// diagonal of B, by hand on vp-linear time-uniform from 1 to 1e-3.
TEST(ReverseSde, FreshNoiseEveryStepByHand) {
  auto vp = make_schedule("vp-linear");
  const int n = 6;
  const Matrices m = solver_matrices("euler-maruyama",
                                     SolverPlan{vp, TimeGrid("time-uniform", {1.0, 1e-3}), n, {}});
  for (int k = 1; k <= n; ++k) {
    const double t = 1.0 + (k - 1) * (1e-3 - 1.0) / n, u = 1.0 + k * (1e-3 - 1.0) / n;
    EXPECT_NEAR(m.noise(k, k), std::sqrt((t - u) * (0.1 + 19.9 * t)), 1e-12) << k;
  }
  try {
    solver_matrices(
        "euler-maruyama",
        SolverPlan{make_schedule("ddpm-discrete"), TimeGrid("time-uniform", {999, 0}), 3, {}});
    ADD_FAILURE();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "--schedule: ddpm-discrete has discrete time: a sampler stepping the SDE or ODE in "
              "t needs a continuous schedule");
  }
}

// singlestep_fixed (Lu et al. 2022 §3.4): with steps divisible by the order it is ⌊N/3⌋ steps of
// order 3 on a grid of N/3 intervals, the steps landing on that grid's times.
TEST(Options, SinglestepFixedLandsOnTheCoarseGrid) {
  auto vp = make_schedule("vp-linear");
  SolverOptions o;
  o.method = "singlestep_fixed";
  o.order = 3;
  const Matrices m =
      solver_matrices("dpmsolver", SolverPlan{vp, TimeGrid("time-uniform", {1.0, 1e-3}), 9, o});
  ASSERT_EQ(m.times.size(), 10u);
  EXPECT_NEAR(m.times[9], 1e-3, 1e-15);
  // model calls at the outer times 1, 2/3-ish … : the 1st, 4th and 7th calls are at
  // 1 − k·(1 − 1e-3)/3 for k = 0, 1, 2.
  for (int k = 0; k < 3; ++k) EXPECT_NEAR(m.times[3 * k], 1.0 - k * (1.0 - 1e-3) / 3, 1e-12);
}

TEST(Options, ImpossibleCombinationsAreRejectedWithValidValues) {
  auto expect_error = [](const std::string& solver, SolverOptions o, int steps,
                         const std::string& message) {
    try {
      solver_matrices(solver, plan_for("vp-linear", steps, std::move(o)));
      ADD_FAILURE() << "accepted: " << message;
    } catch (const ConfigError& e) {
      EXPECT_EQ(std::string(e.what()), message);
    }
  };
  SolverOptions eta;
  eta.eta = 0.5;
  expect_error("dpmsolver", eta, 5,
               "--eta: dpmsolver does not take this option (it takes: order,method,"
               "lower_order_final)");
  SolverOptions order4;
  order4.order = 4;
  expect_error("dpmsolver++", order4, 5, "--order: dpmsolver++ takes order 1–3, got 4");
  SolverOptions sideways;
  sideways.method = "sideways";
  expect_error("dpmsolver", sideways, 5,
               "--method: unknown value 'sideways' (valid: singlestep, multistep, "
               "singlestep_fixed)");
  SolverOptions lof;
  lof.method = "singlestep";
  lof.lower_order_final = false;
  expect_error("dpmsolver", lof, 5, "--lower-order-final: applies to --method multistep only");
  SolverOptions gammas;
  gammas.gamma = {0.1, 0.2};
  expect_error("generalized", gammas, 5, "--gamma: needs one value or one per step (5), got 2");
  try {
    find_solver("dpm");
    ADD_FAILURE();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "--solver: unknown name 'dpm' (valid: ddpm, ddim, euler, heun, deis, dpmsolver, "
              "dpmsolver++, unipc, generalized, pf-euler, pf-heun, euler-maruyama)");
  }
}

}  // namespace
}  // namespace samplersearch
