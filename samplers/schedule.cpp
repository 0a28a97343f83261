#include "samplersearch/samplers/schedule.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <nlohmann/json.hpp>
#include <numbers>
#include <vector>

#include "samplersearch/common/check.hpp"
#include "samplersearch/common/options.hpp"
#include "samplersearch/common/registry.hpp"

namespace samplersearch {
namespace {

using nlohmann::json;

// log(1 + e^x) without overflow.
double softplus(double x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }

// The schedule parameters: each of `defaults` (its value unless `params` overrides it with a
// number); any other key of `params` is a ConfigError naming "schedule_params.<key>".
json merged_params(const json& defaults, const json& params) {
  OptionReader reader(params, "schedule_params");
  json out = json::object();
  for (const auto& [key, value] : defaults.items())
    out[key] = reader.has(key) ? json(reader.number(key, 0.0)) : value;
  reader.finish();
  return out;
}

// Variance-preserving schedules: σ = √(1−α²), λ = 2 log α − log(1−α²), prior std 1.
class VpSchedule : public Schedule {
 public:
  double sigma(double t) const override { return std::sqrt(-std::expm1(2.0 * log_alpha(t))); }
  double alpha(double t) const override { return std::exp(log_alpha(t)); }
  double lambda(double t) const override {
    const double la = log_alpha(t);
    return 2.0 * la - std::log(-std::expm1(2.0 * la));
  }
  double prior_std(double /*t*/) const override { return 1.0; }
  // log α(t).
  virtual double log_alpha(double t) const = 0;
  // VP: λ = 2 log α − log(1 − α²), so dλ/dt = 2·(d log α/dt)/σ².
  double d_lambda(double t) const override {
    return 2.0 * d_log_alpha(t) / -std::expm1(2.0 * log_alpha(t));
  }

 protected:
  // log α at log-SNR λ: α² = sigmoid(λ).
  static double log_alpha_of_lambda(double lambda) { return -0.5 * softplus(-lambda); }
};

// ScoreSDE VP: log α = −¼·β_d·t² − ½·β_min·t.
class VpLinear final : public VpSchedule {
 public:
  explicit VpLinear(const json& p)
      : beta_min_(p.at("beta_min")),
        beta_max_(p.at("beta_max")),
        t_min_(p.at("t_min")),
        t_max_(p.at("t_max")) {
    if (!(beta_max_ > beta_min_ && beta_min_ >= 0))
      throw ConfigError("schedule_params", "vp-linear needs 0 <= beta_min < beta_max");
  }
  std::string_view name() const override { return "vp-linear"; }
  double log_alpha(double t) const override {
    return -0.25 * (beta_max_ - beta_min_) * t * t - 0.5 * beta_min_ * t;
  }
  // −½β(t), β(t) = β_min + t(β_max − β_min).
  double d_log_alpha(double t) const override {
    return -0.5 * (beta_min_ + t * (beta_max_ - beta_min_));
  }
  // Root of ¼β_d t² + ½β_min t = ½·softplus(−λ), in the cancellation-free form.
  double t_of_lambda(double lambda) const override {
    const double tmp = 2.0 * (beta_max_ - beta_min_) * softplus(-lambda);
    return tmp / (std::sqrt(beta_min_ * beta_min_ + tmp) + beta_min_) / (beta_max_ - beta_min_);
  }
  double t_min() const override { return t_min_; }
  double t_max() const override { return t_max_; }
  json params() const override {
    return {{"beta_min", beta_min_}, {"beta_max", beta_max_}, {"t_min", t_min_}, {"t_max", t_max_}};
  }

 private:
  double beta_min_, beta_max_, t_min_, t_max_;
};

// iDDPM cosine: α = cos((t+s)/(1+s)·π/2) / cos(s/(1+s)·π/2).
class VpCosine final : public VpSchedule {
 public:
  explicit VpCosine(const json& p)
      : s_(p.at("s")),
        t_min_(p.at("t_min")),
        t_max_(p.at("t_max")),
        log_alpha0_(std::log(std::cos(s_ / (1.0 + s_) * std::numbers::pi / 2.0))) {}
  std::string_view name() const override { return "vp-cosine"; }
  double log_alpha(double t) const override {
    return std::log(std::cos((t + s_) / (1.0 + s_) * std::numbers::pi / 2.0)) - log_alpha0_;
  }
  double d_log_alpha(double t) const override {
    const double k = std::numbers::pi / (2.0 * (1.0 + s_));
    return -k * std::tan((t + s_) * k);
  }
  double t_of_lambda(double lambda) const override {
    const double la = log_alpha_of_lambda(lambda) + log_alpha0_;
    return 2.0 * (1.0 + s_) / std::numbers::pi * std::acos(std::exp(la)) - s_;
  }
  double t_min() const override { return t_min_; }
  double t_max() const override { return t_max_; }
  json params() const override { return {{"s", s_}, {"t_min", t_min_}, {"t_max", t_max_}}; }

 private:
  double s_, t_min_, t_max_, log_alpha0_;
};

// Schedules with α ≡ 1 and λ = −2 log σ.
class UnitAlphaSchedule : public Schedule {
 public:
  double alpha(double /*t*/) const override { return 1.0; }
  double lambda(double t) const override { return -2.0 * std::log(sigma(t)); }
  double d_log_alpha(double /*t*/) const override { return 0.0; }
};

// Variance exploding: σ = σ_min·(σ_max/σ_min)^t.
class Ve final : public UnitAlphaSchedule {
 public:
  explicit Ve(const json& p)
      : sigma_min_(p.at("sigma_min")),
        sigma_max_(p.at("sigma_max")),
        t_min_(p.at("t_min")),
        t_max_(p.at("t_max")) {
    if (!(sigma_max_ > sigma_min_ && sigma_min_ > 0))
      throw ConfigError("schedule_params", "ve needs 0 < sigma_min < sigma_max");
  }
  std::string_view name() const override { return "ve"; }
  double sigma(double t) const override {
    return sigma_min_ * std::pow(sigma_max_ / sigma_min_, t);
  }
  double d_lambda(double /*t*/) const override { return -2.0 * std::log(sigma_max_ / sigma_min_); }
  double t_of_lambda(double lambda) const override {
    return (-0.5 * lambda - std::log(sigma_min_)) / std::log(sigma_max_ / sigma_min_);
  }
  double t_min() const override { return t_min_; }
  double t_max() const override { return t_max_; }
  json params() const override {
    return {
        {"sigma_min", sigma_min_}, {"sigma_max", sigma_max_}, {"t_min", t_min_}, {"t_max", t_max_}};
  }

 private:
  double sigma_min_, sigma_max_, t_min_, t_max_;
};

// EDM (Karras et al.): σ = t.
class Edm final : public UnitAlphaSchedule {
 public:
  explicit Edm(const json& p) : t_min_(p.at("t_min")), t_max_(p.at("t_max")) {}
  std::string_view name() const override { return "edm"; }
  double sigma(double t) const override { return t; }
  double d_lambda(double t) const override { return -2.0 / t; }
  double t_of_lambda(double lambda) const override { return std::exp(-0.5 * lambda); }
  double t_min() const override { return t_min_; }
  double t_max() const override { return t_max_; }
  json params() const override { return {{"t_min", t_min_}, {"t_max", t_max_}}; }

 private:
  double t_min_, t_max_;
};

// Rectified flow / FM-OT: α = 1−t, σ = t, λ = 2 log((1−t)/t).
class Flow final : public Schedule {
 public:
  explicit Flow(const json& p) : t_min_(p.at("t_min")), t_max_(p.at("t_max")) {}
  std::string_view name() const override { return "flow"; }
  double alpha(double t) const override { return 1.0 - t; }
  double sigma(double t) const override { return t; }
  double lambda(double t) const override { return 2.0 * (std::log1p(-t) - std::log(t)); }
  double d_log_alpha(double t) const override { return -1.0 / (1.0 - t); }
  double d_lambda(double t) const override { return -2.0 / (1.0 - t) - 2.0 / t; }
  double t_of_lambda(double lambda) const override { return 1.0 / (1.0 + std::exp(0.5 * lambda)); }
  double t_min() const override { return t_min_; }
  double t_max() const override { return t_max_; }
  double t_sup() const override { return 1.0; }
  json params() const override { return {{"t_min", t_min_}, {"t_max", t_max_}}; }

 private:
  double t_min_, t_max_;
};

// DDPM's discrete chain: ᾱ_n = Π_{j≤n}(1−β_j), β linear; log α is linear between integers
// (as DPM-Solver's discrete NoiseScheduleVP interpolates), so t(λ) is defined everywhere.
class DdpmDiscrete final : public VpSchedule {
 public:
  explicit DdpmDiscrete(const json& p)
      : beta_start_(p.at("beta_start")),
        beta_end_(p.at("beta_end")),
        steps_(p.at("num_train_timesteps").get<double>()) {
    if (!(steps_ >= 2 && std::floor(steps_) == steps_))
      throw ConfigError("schedule_params.num_train_timesteps", "must be an integer >= 2");
    const int n = static_cast<int>(steps_);
    log_alpha_.resize(static_cast<size_t>(n));
    double log_abar = 0;
    for (int i = 0; i < n; ++i) {
      const double beta = beta_start_ + (beta_end_ - beta_start_) * i / (n - 1);
      log_abar += std::log1p(-beta);
      log_alpha_[static_cast<size_t>(i)] = 0.5 * log_abar;
    }
  }
  std::string_view name() const override { return "ddpm-discrete"; }
  double log_alpha(double t) const override {
    const double last = static_cast<double>(log_alpha_.size() - 1);
    const double c = std::clamp(t, 0.0, last);
    const auto i = static_cast<size_t>(std::min(std::floor(c), last - 1));
    const double w = c - static_cast<double>(i);
    return (1.0 - w) * log_alpha_[i] + w * log_alpha_[i + 1];
  }
  double t_of_lambda(double lambda) const override {
    const double la = log_alpha_of_lambda(lambda);  // log α decreases with n
    if (la >= log_alpha_.front()) return 0.0;
    if (la <= log_alpha_.back()) return static_cast<double>(log_alpha_.size() - 1);
    const auto it = std::lower_bound(log_alpha_.begin(), log_alpha_.end(), la,
                                     [](double a, double b) { return a > b; });
    const auto i = static_cast<size_t>(it - log_alpha_.begin()) - 1;
    const double w = (la - log_alpha_[i]) / (log_alpha_[i + 1] - log_alpha_[i]);
    return static_cast<double>(i) + w;
  }
  double t_min() const override { return 0.0; }
  double t_max() const override { return static_cast<double>(log_alpha_.size() - 1); }
  bool discrete() const override { return true; }
  json params() const override {
    return {{"beta_start", beta_start_}, {"beta_end", beta_end_}, {"num_train_timesteps", steps_}};
  }

 private:
  double beta_start_, beta_end_, steps_;
  std::vector<double> log_alpha_;
};

template <class S>
std::unique_ptr<Schedule> make_with(const json& params, json defaults) {
  return std::make_unique<S>(merged_params(defaults, params));
}

constexpr std::array kSchedules{
    ScheduleEntry{"vp-linear", "ScoreSDE VP: log α = −¼(β_max−β_min)t² − ½β_min·t, t ∈ [1e-3, 1]",
                  [](const json& p) {
                    return make_with<VpLinear>(
                        p,
                        {{"beta_min", 0.1}, {"beta_max", 20.0}, {"t_min", 1e-3}, {"t_max", 1.0}});
                  }},
    ScheduleEntry{
        "vp-cosine", "iDDPM cosine, s = 0.008, t ∈ [1e-3, 0.9946]",
        [](const json& p) {
          return make_with<VpCosine>(p, {{"s", 0.008}, {"t_min", 1e-3}, {"t_max", 0.9946}});
        }},
    ScheduleEntry{
        "ve", "variance exploding: σ = 0.01·(50/0.01)^t, α = 1, t ∈ [1e-5, 1]",
        [](const json& p) {
          return make_with<Ve>(
              p, {{"sigma_min", 0.01}, {"sigma_max", 50.0}, {"t_min", 1e-5}, {"t_max", 1.0}});
        }},
    ScheduleEntry{"edm", "EDM: σ = t, α = 1, t ∈ [0.002, 80]",
                  [](const json& p) {
                    return make_with<Edm>(p, {{"t_min", 0.002}, {"t_max", 80.0}});
                  }},
    ScheduleEntry{"flow", "rectified flow / FM-OT: α = 1−t, σ = t, t ∈ [1e-3, 0.999]",
                  [](const json& p) {
                    return make_with<Flow>(p, {{"t_min", 1e-3}, {"t_max", 0.999}});
                  }},
    ScheduleEntry{"ddpm-discrete", "DDPM: ᾱ_n = Π(1−β_j), β linear 1e-4…0.02, n ∈ [0, 999]",
                  [](const json& p) {
                    return make_with<DdpmDiscrete>(
                        p,
                        {{"beta_start", 1e-4}, {"beta_end", 0.02}, {"num_train_timesteps", 1000}});
                  }},
};

}  // namespace

double Schedule::lambda(double t) const {
  const double a = alpha(t);
  const double s = sigma(t);
  return 2.0 * (std::log(a) - std::log(s));
}

double Schedule::d_log_alpha(double /*t*/) const {
  throw ConfigError("--schedule", std::string(name()) +
                                      " has discrete time: a sampler stepping the SDE or ODE in t "
                                      "needs a continuous schedule");
}

double Schedule::d_lambda(double t) const { return d_log_alpha(t); }

std::span<const ScheduleEntry> schedule_registry() { return kSchedules; }

std::shared_ptr<const Schedule> make_schedule(std::string_view name, const json& params) {
  const ScheduleEntry& entry = registry_find(schedule_registry(), name, "schedule");
  return entry.make(params);
}

std::shared_ptr<const Schedule> make_schedule(std::string_view name) {
  return make_schedule(name, json());
}

}  // namespace samplersearch
