// Schedules and discretizations (docs/equations.md §1–§2) against closed forms worked independently
// (NumPy: values quoted beside each assertion).
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "samplersearch/common/error.hpp"
#include "samplersearch/samplers/discretization.hpp"
#include "samplersearch/samplers/schedule.hpp"

namespace samplersearch {
namespace {

constexpr double kClosedForm = 1e-12;  // relative, values from NumPy in float64
constexpr double kInverse = 1e-10;     // t(λ(t)) = t

TEST(Schedules, VpLinearClosedForm) {
  auto s = make_schedule("vp-linear");
  // np.exp(-0.25*19.9*t*t - 0.05*t)
  EXPECT_NEAR(s->alpha(0.65), 0.118311121669, 1e-12);
  EXPECT_NEAR(s->alpha(0.3), 6.295500003364488e-01, kClosedForm);
  EXPECT_NEAR(s->lambda(0.3), -4.207671062624820e-01, kClosedForm);
  EXPECT_NEAR(s->lambda(0.9), -8.149211078502796e+00, 8.2 * kClosedForm);
  EXPECT_NEAR(s->alpha(0.9) * s->alpha(0.9) + s->sigma(0.9) * s->sigma(0.9), 1.0, 1e-15);
}

TEST(Schedules, OtherClosedForms) {
  EXPECT_NEAR(make_schedule("vp-cosine")->alpha(0.5), 7.027400589411690e-01, kClosedForm);
  EXPECT_NEAR(make_schedule("ve")->sigma(0.4), 3.017088168272582e-01, kClosedForm);
  EXPECT_EQ(make_schedule("ve")->alpha(0.4), 1.0);
  EXPECT_EQ(make_schedule("edm")->sigma(3.5), 3.5);
  EXPECT_NEAR(make_schedule("flow")->lambda(0.25), 2.0 * std::log(3.0), kClosedForm);
  // np.sqrt(np.cumprod(1 - np.linspace(1e-4, 0.02, 1000)))[[0, 499, 999]]
  auto d = make_schedule("ddpm-discrete");
  EXPECT_NEAR(d->alpha(0), 9.999499987499375e-01, kClosedForm);
  EXPECT_NEAR(d->alpha(499), 2.803341628873981e-01, kClosedForm);
  EXPECT_NEAR(d->alpha(999), 6.352818087570016e-03, kClosedForm);
}

TEST(Schedules, ParametersOverrideDefaultsAndUnknownKeysAreRejected) {
  auto s = make_schedule("vp-linear", {{"beta_max", 10.0}});
  EXPECT_NEAR(s->alpha(1.0), std::exp(-0.25 * 9.9 - 0.05), 1e-15);
  EXPECT_EQ(s->params()["beta_max"], 10.0);
  try {
    make_schedule("vp-linear", {{"beta_mx", 1.0}});
    FAIL() << "unknown key accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "schedule_params.beta_mx: unknown field (valid here: beta_max, beta_min, t_max, "
              "t_min)");
  }
  try {
    make_schedule("vp-linearr");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "schedule: unknown name 'vp-linearr' (valid: vp-linear, vp-cosine, ve, edm, flow, "
              "ddpm-discrete)");
  }
}

// Conformance over every registry entry.
class EverySchedule : public ::testing::TestWithParam<std::string> {};

TEST_P(EverySchedule, InverseLambdaRoundTripsAndLambdaDecreases) {
  auto s = make_schedule(GetParam());
  const double lo = s->t_min(), hi = s->t_max();
  double prev = INFINITY;
  for (int i = 0; i <= 200; ++i) {
    double t = lo + (hi - lo) * i / 200.0;
    if (s->discrete()) t = std::round(t);
    const double l = s->lambda(t);
    EXPECT_LT(l, prev) << "λ must decrease, t = " << t;
    prev = l;
    EXPECT_NEAR(s->t_of_lambda(l), t, kInverse * std::max(1.0, t)) << GetParam() << " t = " << t;
    EXPECT_GT(s->sigma(t), 0.0);
    EXPECT_NEAR(l, 2.0 * std::log(s->alpha(t) / s->sigma(t)), 1e-9 * std::max(1.0, std::abs(l)));
  }
}

TEST_P(EverySchedule, ParamsRoundTrip) {
  auto s = make_schedule(GetParam());
  auto again = make_schedule(GetParam(), s->params());
  EXPECT_EQ(s->alpha(0.5 * (s->t_min() + s->t_max())),
            again->alpha(0.5 * (s->t_min() + s->t_max())));
}

std::vector<std::string> schedule_names() {
  std::vector<std::string> names;
  for (const auto& e : schedule_registry()) names.emplace_back(e.name);
  return names;
}

std::string param_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string n = info.param;
  for (char& c : n)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return n;
}

INSTANTIATE_TEST_SUITE_P(Registry, EverySchedule, ::testing::ValuesIn(schedule_names()),
                         param_name);

TEST(Discretizations, TimeQuadraticMatchesSeedTable15) {
  auto s = make_schedule("vp-linear");
  const auto t = make_timesteps("time-quadratic", *s, 5, {1.0, 1e-3});
  // (√T + i/N(√ε − √T))², NumPy
  const double want[] = {
      1.0, 0.6501592885125388, 0.3753389327688082, 0.17553893276880822, 0.05075928851253881, 0.001};
  for (int i = 0; i <= 5; ++i) EXPECT_NEAR(t[static_cast<size_t>(i)], want[i], 1e-15);
  // The table's marginal coefficient of its first row, 0.118, is α(t_1) = 0.1182 to 4 digits.
  EXPECT_NEAR(s->alpha(t[1]), 0.1182, 5e-5);
}

class EveryDiscretization : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryDiscretization, DecreasingFromStartToEnd) {
  for (const auto& entry : schedule_registry()) {
    auto s = make_schedule(entry.name);
    const auto t = make_timesteps(GetParam(), *s, 18, {s->t_max(), s->t_min()});
    ASSERT_EQ(t.size(), 19u);
    EXPECT_NEAR(t.front(), s->t_max(), 1e-12);
    EXPECT_NEAR(t.back(), s->t_min(), 1e-12);
    for (size_t i = 1; i < t.size(); ++i) EXPECT_LT(t[i], t[i - 1]) << entry.name;
  }
}

std::vector<std::string> discretization_names() {
  std::vector<std::string> names;
  for (const auto& e : discretization_registry()) names.emplace_back(e.name);
  return names;
}
INSTANTIATE_TEST_SUITE_P(Registry, EveryDiscretization, ::testing::ValuesIn(discretization_names()),
                         param_name);

TEST(Discretizations, LogSnrUniformAndKarrasSpacing) {
  auto s = make_schedule("vp-linear");
  const auto t = make_timesteps("logsnr-uniform", *s, 10, {1.0, 1e-3});
  const double step = s->lambda(t[1]) - s->lambda(t[0]);
  for (size_t i = 1; i < t.size(); ++i)
    EXPECT_NEAR(s->lambda(t[i]) - s->lambda(t[i - 1]), step, 1e-9);
  auto edm = make_schedule("edm");
  const auto k = make_timesteps("karras", *edm, 18, {80.0, 0.002});
  const double d = std::pow(k[1], 1 / 7.0) - std::pow(k[0], 1 / 7.0);
  for (size_t i = 1; i < k.size(); ++i)
    EXPECT_NEAR(std::pow(k[i], 1 / 7.0) - std::pow(k[i - 1], 1 / 7.0), d, 1e-12);
}

TEST(Discretizations, DiscreteScheduleGivesIntegersAndValidatesExplicitLists) {
  auto s = make_schedule("ddpm-discrete");
  const auto t = make_timesteps("time-uniform", *s, 18, {999, 0});
  for (double v : t) EXPECT_EQ(v, std::round(v));
  EXPECT_EQ(t[1], 944.0);  // 999 − 999/18 = 943.5, rounded half away from zero
  const std::vector<double> bad_order{999, 500, 600, 0};
  try {
    validate_timesteps(bad_order, *s, "timesteps");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "timesteps: times must decrease strictly (position 2: 600 after 500)");
  }
  const std::vector<double> fractional{999, 500.5, 0};
  try {
    validate_timesteps(fractional, *s, "timesteps");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "timesteps: time 500.5 at position 1 must be an integer on the discrete schedule");
  }
  EXPECT_THROW(make_timesteps("time-uniform", *s, 1000, {999, 0}), ConfigError);
}

}  // namespace
}  // namespace samplersearch
