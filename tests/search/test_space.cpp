// Search spaces: params ↔ matrices, warm starts, bounds and errors.
#include <gtest/gtest.h>

#include <cmath>

#include "samplersearch/common/error.hpp"
#include "samplersearch/samplers/discretization.hpp"
#include "samplersearch/samplers/matrix_io.hpp"
#include "samplersearch/samplers/solver.hpp"
#include "samplersearch/search/space.hpp"

namespace samplersearch {
namespace {

SpaceConfig config(int steps, nlohmann::json options = nlohmann::json::object()) {
  auto s = make_schedule("vp-linear");
  return {s, make_timesteps("time-quadratic", *s, steps, {1.0, 1e-3}), std::move(options), {}};
}

class EverySpace : public ::testing::TestWithParam<std::string> {};

TEST_P(EverySpace, WarmStartsAreInsideTheBoundsAndGiveValidMatrices) {
  for (bool stochastic : {false, true}) {
    auto space = make_space(GetParam(), config(10, {{"stochastic", stochastic}}));
    ASSERT_FALSE(space->params().empty());
    const auto warm = space->warm_starts();
    ASSERT_FALSE(warm.empty());
    for (const WarmStart& w : warm) {
      for (const ParamSpec& p : space->params()) {
        ASSERT_TRUE(w.params.contains(p.name)) << w.label << " " << p.name;
        EXPECT_GE(w.params[p.name].get<double>(), p.low);
        EXPECT_LE(w.params[p.name].get<double>(), p.high);
      }
      const Matrices m = space->to_matrices(w.params);
      EXPECT_EQ(m.steps(), 10);
      if (!stochastic) {
        EXPECT_TRUE(m.deterministic()) << w.label;
      }
      if (GetParam() != "matrix") continue;
      // The matrix space keeps the marginal noise exactly: ‖B[k]‖ = σ(t_k).
      const auto norms = m.noise_norms();
      for (size_t k = 1; k < m.times.size(); ++k)
        EXPECT_NEAR(norms[k], m.schedule->sigma(m.times[k]), 1e-14) << w.label << " row " << k;
    }
  }
}

TEST_P(EverySpace, FreeTimesStartAtTheBaseGridAndStayMonotone) {
  const SpaceConfig base = config(6);
  auto space = make_space(GetParam(), config(6, {{"times", "free"}}));
  const auto warm = space->warm_starts();
  ASSERT_FALSE(warm.empty());
  for (const WarmStart& w : warm) {
    const Matrices m = space->to_matrices(w.params);
    ASSERT_EQ(m.times.size(), base.times.size());
    for (size_t k = 0; k < m.times.size(); ++k)
      EXPECT_DOUBLE_EQ(m.times[k], base.times[k]) << w.label;
  }
  nlohmann::json v = warm.front().params;
  v["w6"] = 4.0;  // the upper bound; cumulative 1…5, 9: p_k = 6k/9
  const Matrices m = space->to_matrices(v);
  EXPECT_DOUBLE_EQ(m.times.front(), base.times.front());
  EXPECT_DOUBLE_EQ(m.times.back(), base.times.back());
  for (int k = 1; k < 6; ++k) {
    const double p = 6.0 * k / 9.0;
    const auto i = static_cast<size_t>(p);
    const double expected =
        base.times[i] + (p - static_cast<double>(i)) * (base.times[i + 1] - base.times[i]);
    EXPECT_NEAR(m.times[static_cast<size_t>(k)], expected, 1e-15) << "t_" << k;
    EXPECT_LT(m.times[static_cast<size_t>(k)], m.times[static_cast<size_t>(k) - 1]);
  }
  // Rows are normalized at the new times: Σ_j C[k][j] = α(t_k) (matrix space).
  if (GetParam() == "matrix") {
    const auto sums = m.row_sums();
    for (size_t k = 1; k < m.times.size(); ++k)
      EXPECT_NEAR(sums[k], m.schedule->alpha(m.times[k]), 1e-14);
  }
  try {
    make_space(GetParam(), config(6, {{"times", "warped"}}));
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "space.times: unknown name 'warped' (valid: fixed, free)");
  }
}

std::vector<std::string> space_names() {
  std::vector<std::string> names;
  for (const auto& e : space_registry()) names.emplace_back(e.name);
  return names;
}
INSTANTIATE_TEST_SUITE_P(Registry, EverySpace, ::testing::ValuesIn(space_names()));

TEST(MatrixSpace, RowsSumToAlphaAndCountTheFreeEntries) {
  auto space = make_space("matrix", config(10, {{"tail", 3}}));
  // rows 1…10 with min(k, 3) entries, one of them the diagonal fixed to 1: 0 + 1 + 8·2 = 17
  EXPECT_EQ(space->params().size(), 17u);
  const Matrices m = space->to_matrices(space->warm_starts().front().params);
  const auto sums = m.row_sums();
  for (size_t k = 1; k < m.times.size(); ++k)
    EXPECT_NEAR(sums[k], m.schedule->alpha(m.times[k]), 1e-14);
  for (Eigen::Index k = 1; k <= 10; ++k)
    for (Eigen::Index j = 0; j < k - 3; ++j) EXPECT_EQ(m.signal(k, j), 0.0);
}

// Zheng & Zheng 2025, Table 15 is a tail-2 matrix: its ratios as params give back the imported
// table.
TEST(MatrixSpace, Table15RoundTrips) {
  const SpaceConfig c = config(5, {{"tail", 2}});
  auto space = make_space("matrix", c);
  const nlohmann::json params = {
      {"c2_0", -0.291}, {"c3_1", 0.133}, {"c4_2", -0.337}, {"c5_3", -0.583}};
  const Matrices m = space->to_matrices(params);
  const Matrices table = matrices_from_table(
      "0.650 1 0 0 0 0 0.118\n0.375 -0.291 1 0 0 0 0.487\n0.176 0 0.133 1 0 0 0.85\n"
      "0.051 0 0 -0.337 1 0 0.985\n0.001 0 0 0 -0.583 1 1\n",
      c.schedule, c.times, "table15");
  EXPECT_LE((m.signal - table.signal).cwiseAbs().maxCoeff(), 1e-15);
  EXPECT_LE((m.noise - table.noise).cwiseAbs().maxCoeff(), 1e-15);
}

// With a band as wide as N, the DPM-Solver++(2M) warm start is its matrix with each row rescaled
// to sum α(t_k): the ratios within a row are kept exactly.
TEST(MatrixSpace, FullBandWarmStartKeepsEachRowsShape) {
  const SpaceConfig c = config(8, {{"tail", 8}, {"low", -50.0}, {"high", 50.0}});
  auto space = make_space("matrix", c);
  const Matrices m = space->to_matrices(space->warm_starts().front().params);
  const Matrices pp =
      solver_matrices("dpmsolver++", SolverPlan{c.schedule, TimeGrid(c.times), 8, {}});
  for (Eigen::Index k = 1; k <= 8; ++k) {
    const double scale = m.signal(k, k - 1) / pp.signal(k, k - 1);
    for (Eigen::Index j = 0; j < k; ++j)
      EXPECT_NEAR(m.signal(k, j), scale * pp.signal(k, j), 1e-14);
  }
}

TEST(GdrSpace, GammaZeroIsDdimAndStochasticAsksDeltaAndRho) {
  const SpaceConfig c = config(6);
  auto det = make_space("gdr", c);
  ASSERT_EQ(det->params().size(), 1u);
  const Matrices g = det->to_matrices({{"gamma", 0.0}});
  const Matrices ddim = solver_matrices("ddim", SolverPlan{c.schedule, TimeGrid(c.times), 6, {}});
  EXPECT_LE((g.signal - ddim.signal).cwiseAbs().maxCoeff(), 1e-12);
  auto per_step = make_space("gdr", config(6, {{"per_step", true}, {"stochastic", true}}));
  EXPECT_EQ(per_step->params().size(), 18u);
}

TEST(Spaces, BadParamsAndOptionsNameTheField) {
  auto space = make_space("matrix", config(5, {{"tail", 2}}));
  try {
    space->to_matrices({{"c2_0", 0.1}});
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "params.c3_1: is missing");
  }
  try {
    space->to_matrices({{"c2_0", 7.0}, {"c3_1", 0.0}, {"c4_2", 0.0}, {"c5_3", 0.0}});
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "params.c2_0: is 7.000000, outside [-2.000000, 2.000000]");
  }
  try {
    make_space("matrix", config(5, {{"tial", 2}}));
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "space.tial: unknown field (valid here: tail, low, high, stochastic, times)");
  }
  EXPECT_THROW(make_space("matrices", config(5)), ConfigError);
  // A row whose coefficients cancel is a numerical failure of that trial, not a crash.
  EXPECT_THROW(space->to_matrices({{"c2_0", -1.0}, {"c3_1", 0.0}, {"c4_2", 0.0}, {"c5_3", 0.0}}),
               NumericalError);
}

}  // namespace
}  // namespace samplersearch
