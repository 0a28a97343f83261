#include "samplersearch/samplers/discretization.hpp"

#include <array>
#include <cmath>
#include <string>

#include "samplersearch/common/format.hpp"
#include "samplersearch/common/registry.hpp"

namespace samplersearch {
namespace {

// t_i = T + i/n·(ε − T).
std::vector<double> time_uniform(const Schedule& /*schedule*/, int n, const GridSpec& g) {
  std::vector<double> t(static_cast<size_t>(n) + 1);
  for (int i = 0; i <= n; ++i)
    t[static_cast<size_t>(i)] = g.t_start + (g.t_end - g.t_start) * i / n;
  return t;
}

// t_i = (√T + i/n·(√ε − √T))² (DPM-Solver's time_quadratic).
std::vector<double> time_quadratic(const Schedule& /*schedule*/, int n, const GridSpec& g) {
  std::vector<double> t(static_cast<size_t>(n) + 1);
  const double a = std::sqrt(g.t_start);
  const double b = std::sqrt(g.t_end);
  for (int i = 0; i <= n; ++i) {
    const double r = a + (b - a) * i / n;
    t[static_cast<size_t>(i)] = r * r;
  }
  return t;
}

// λ_i uniform between λ(T) and λ(ε), t_i = t(λ_i).
std::vector<double> logsnr_uniform(const Schedule& s, int n, const GridSpec& g) {
  std::vector<double> t(static_cast<size_t>(n) + 1);
  const double l0 = s.lambda(g.t_start);
  const double l1 = s.lambda(g.t_end);
  for (int i = 0; i <= n; ++i) t[static_cast<size_t>(i)] = s.t_of_lambda(l0 + (l1 - l0) * i / n);
  t.front() = g.t_start;
  t.back() = g.t_end;
  return t;
}

// EDM: σ_i = (σ_max^{1/ρ} + i/n·(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ with σ = e^{−λ/2} = σ(t)/α(t).
std::vector<double> karras(const Schedule& s, int n, const GridSpec& g) {
  std::vector<double> t(static_cast<size_t>(n) + 1);
  const double rho = g.karras_rho;
  const double a = std::pow(std::exp(-0.5 * s.lambda(g.t_start)), 1.0 / rho);
  const double b = std::pow(std::exp(-0.5 * s.lambda(g.t_end)), 1.0 / rho);
  for (int i = 0; i <= n; ++i) {
    const double sigma = std::pow(a + (b - a) * i / n, rho);
    t[static_cast<size_t>(i)] = s.t_of_lambda(-2.0 * std::log(sigma));
  }
  t.front() = g.t_start;
  t.back() = g.t_end;
  return t;
}

constexpr std::array kDiscretizations{
    DiscretizationEntry{"time-uniform", "uniform in t from T to ε", time_uniform},
    DiscretizationEntry{"time-quadratic", "DPM-Solver's: uniform in √t", time_quadratic},
    DiscretizationEntry{"logsnr-uniform", "uniform in λ = log(α²/σ²)", logsnr_uniform},
    DiscretizationEntry{"karras", "EDM: uniform in σ^{1/ρ}, ρ = 7, σ = e^{−λ/2}", karras},
};

std::string number(double v) { return format_number(v, {.digits = 10}); }

}  // namespace

std::span<const DiscretizationEntry> discretization_registry() { return kDiscretizations; }

std::vector<double> make_timesteps(std::string_view name, const Schedule& schedule, int n,
                                   const GridSpec& grid) {
  const DiscretizationEntry& entry =
      registry_find(discretization_registry(), name, "discretization");
  if (n < 1) throw ConfigError("steps", "must be at least 1, got " + std::to_string(n));
  if (!(grid.t_start > grid.t_end))
    throw ConfigError("t_start", "must be greater than t_end (" + number(grid.t_start) +
                                     " <= " + number(grid.t_end) + ")");
  if (grid.t_end < schedule.t_min() - 1e-12 || grid.t_start > schedule.t_sup() + 1e-12)
    throw ConfigError("t_start", "times must lie in the schedule's domain [" +
                                     number(schedule.t_min()) + ", " + number(schedule.t_sup()) +
                                     "]");
  std::vector<double> t = entry.make(schedule, n, grid);
  if (schedule.discrete()) {
    for (double& v : t) v = std::round(v);
    for (size_t i = 1; i < t.size(); ++i)
      if (!(t[i] < t[i - 1]))
        throw ConfigError("steps", std::to_string(n) + " steps of '" + std::string(name) +
                                       "' repeat an integer time on the discrete schedule");
  }
  return t;
}

void validate_timesteps(std::span<const double> times, const Schedule& schedule,
                        const char* field) {
  if (times.size() < 2) throw ConfigError(field, "needs at least two times (t_0 and t_N)");
  for (size_t i = 0; i < times.size(); ++i) {
    const double t = times[i];
    if (!std::isfinite(t) || t < schedule.t_min() - 1e-12 || t > schedule.t_sup() + 1e-12)
      throw ConfigError(field, "time " + number(t) + " at position " + std::to_string(i) +
                                   " is outside the schedule's domain [" +
                                   number(schedule.t_min()) + ", " + number(schedule.t_sup()) +
                                   "]");
    if (schedule.discrete() && std::round(t) != t)
      throw ConfigError(field, "time " + number(t) + " at position " + std::to_string(i) +
                                   " must be an integer on the discrete schedule");
    if (i > 0 && !(t < times[i - 1]))
      throw ConfigError(field, "times must decrease strictly (position " + std::to_string(i) +
                                   ": " + number(t) + " after " + number(times[i - 1]) + ")");
  }
}

}  // namespace samplersearch
