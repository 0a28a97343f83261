#pragma once
// Noise schedules of the forward process x_t = α(t)·x0 + σ(t)·ε (docs/equations.md §1), in double
// precision.
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <span>
#include <string>
#include <string_view>

namespace samplersearch {

// α(t), σ(t), λ(t) = log(α²/σ²) and its inverse t(λ); λ decreases in t.
class Schedule {
 public:
  virtual ~Schedule() = default;
  // The registry name this schedule was made from.
  virtual std::string_view name() const = 0;
  // α(t): the signal coefficient.
  virtual double alpha(double t) const = 0;
  // σ(t): the noise coefficient.
  virtual double sigma(double t) const = 0;
  // λ(t) = log(α(t)²/σ(t)²), computed without cancellation where the closed form allows.
  virtual double lambda(double t) const;
  // t(λ): the inverse of λ(t) on the schedule's domain.
  virtual double t_of_lambda(double lambda) const = 0;
  // Default range [t_min, t_max] of the times a sampler runs over (t_max is where it starts).
  virtual double t_min() const = 0;
  virtual double t_max() const = 0;
  // The largest time the schedule accepts at all (flow: 1, pure noise, where λ = −∞).
  virtual double t_sup() const { return t_max(); }
  // Standard deviation of the pure-noise start x_{t_0} = prior_std(t_0)·ε: 1 for
  // variance-preserving schedules (as DPM-Solver's randn start), σ(t) otherwise (as k-diffusion).
  virtual double prior_std(double t) const { return sigma(t); }
  // d log α/dt and dλ/dt, the rates of the forward SDE (Song et al. 2021, eq. 5: f = d log α/dt,
  // g² = −σ²·dλ/dt); ConfigError naming the schedule where time is not continuous.
  virtual double d_log_alpha(double t) const;
  virtual double d_lambda(double t) const;
  // True where time is an integer step index (ddpm-discrete); t(λ) then interpolates.
  virtual bool discrete() const { return false; }
  // The parameters it was built with, as a JSON object (round-trips through make_schedule).
  virtual nlohmann::json params() const = 0;
};

// One row of the schedule registry.
struct ScheduleEntry {
  std::string_view name;
  std::string_view summary;
  std::unique_ptr<Schedule> (*make)(const nlohmann::json& params);
};

// The registry: vp-linear, vp-cosine, ve, edm, flow, ddpm-discrete.
std::span<const ScheduleEntry> schedule_registry();

// The schedule `name` with `params` overriding its defaults (unknown keys are a ConfigError).
std::shared_ptr<const Schedule> make_schedule(std::string_view name, const nlohmann::json& params);
std::shared_ptr<const Schedule> make_schedule(std::string_view name);

}  // namespace samplersearch
