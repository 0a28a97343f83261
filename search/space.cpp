#include "samplersearch/search/space.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>

#include "samplersearch/common/check.hpp"
#include "samplersearch/common/options.hpp"
#include "samplersearch/common/registry.hpp"
#include "samplersearch/samplers/solver.hpp"

namespace samplersearch {
namespace {

using nlohmann::json;

double value_of(const json& values, const ParamSpec& p) {
  if (!values.contains(p.name) || !values.at(p.name).is_number())
    throw ConfigError("params." + p.name, "is missing");
  const double v = values.at(p.name).get<double>();
  if (!(v >= p.low - 1e-12 && v <= p.high + 1e-12))
    throw ConfigError("params." + p.name, "is " + std::to_string(v) + ", outside [" +
                                              std::to_string(p.low) + ", " +
                                              std::to_string(p.high) + "]");
  return v;
}

// The classic samplers offered as warm starts (multistep ones: one call per grid time).
// Optional time-step search (option "times": "fixed" | "free"). Free: interval weights
// w_1…w_N ∈ [1/4, 4] (log-uniform) place t_k at the fractional index p_k = N·Σ_{i≤k} w_i / Σ_i w_i
// of the base grid, linear in t between its points; all w = 1 give the base grid back, and t_0,
// t_N stay where they are.
class TimeWarp {
 public:
  TimeWarp() = default;
  // Reads the space's option "times": "fixed" (the default) or "free".
  explicit TimeWarp(OptionReader& options)
      : free_(options.choice("times", "fixed", {"fixed", "free"}) == "free") {}
  bool free() const { return free_; }
  static std::string name(int k) { return "w" + std::to_string(k); }
  void add_params(std::vector<ParamSpec>& params, int steps) const {
    if (free_)
      for (int k = 1; k <= steps; ++k) params.push_back({name(k), 0.25, 4.0, true});
  }
  void add_warm_start(json& values, int steps) const {
    if (free_)
      for (int k = 1; k <= steps; ++k) values[name(k)] = 1.0;
  }
  // The space's config with the times these values place.
  SpaceConfig placed(const SpaceConfig& base, const json& values,
                     const std::function<double(const ParamSpec&)>& read) const {
    if (!free_) return base;
    const int n = static_cast<int>(base.times.size()) - 1;
    std::vector<double> cumulative(static_cast<size_t>(n) + 1, 0.0);
    for (int k = 1; k <= n; ++k)
      cumulative[static_cast<size_t>(k)] =
          cumulative[static_cast<size_t>(k) - 1] + read(ParamSpec{name(k), 0.25, 4.0, true});
    SpaceConfig out = base;
    for (int k = 1; k < n; ++k) {
      const double p = n * cumulative[static_cast<size_t>(k)] / cumulative[static_cast<size_t>(n)];
      const auto i = std::min(static_cast<size_t>(p), static_cast<size_t>(n) - 1);
      const double f = p - static_cast<double>(i);
      out.times[static_cast<size_t>(k)] = (1 - f) * base.times[i] + f * base.times[i + 1];
    }
    (void)values;
    return out;
  }

 private:
  bool free_ = false;
};

// The labels (classic_catalogue) offered as warm starts: multistep ones, one call per grid time.
constexpr std::string_view kWarmStarts[] = {"dpmsolver++(2M)", "dpmsolver++(3M)", "ddim",
                                            "unipc(bh1)", "deis(tAB3)"};

Matrices classic(const SpaceConfig& c, const std::string& solver, const SolverOptions& o) {
  return solver_matrices(
      solver, SolverPlan{c.schedule, TimeGrid(c.times), static_cast<int>(c.times.size()) - 1, o});
}

// The `matrix` space (see space.hpp).
class MatrixSpace final : public SearchSpace {
 public:
  explicit MatrixSpace(const SpaceConfig& config) : SearchSpace(config) {
    OptionReader options(config.options, "space");
    tail_ = static_cast<int>(options.number("tail", 3, {.min = 1, .max = 1000}));
    low_ = options.number("low", -2.0, {.min = -100, .max = 100});
    high_ = options.number("high", 2.0, {.min = -100, .max = 100});
    stochastic_ = options.flag("stochastic");
    warp_ = TimeWarp(options);
    options.finish();
    if (!(low_ < 0.0 && high_ > 0.0))
      throw ConfigError("space.low", "bounds [low, high] must contain 0 strictly (low < 0 < high)");
    for (int k = 1; k <= steps(); ++k)
      for (int j = std::max(0, k - tail_); j < k - 1; ++j)
        params_.push_back({name_c(k, j), low_, high_, false});
    if (stochastic_)
      for (int k = 1; k <= steps(); ++k) params_.push_back({name_b(k), 0.0, 1.0, false});
    warp_.add_params(params_, steps());
  }
  std::string_view name() const override { return "matrix"; }
  const std::vector<ParamSpec>& params() const override { return params_; }

  Matrices to_matrices(const json& values) const override {
    std::vector<std::vector<double>> ratios(static_cast<size_t>(steps()) + 1);
    std::vector<double> fresh(static_cast<size_t>(steps()) + 1, 0.0);
    size_t p = 0;
    for (int k = 1; k <= steps(); ++k) {
      for (int j = std::max(0, k - tail_); j < k - 1; ++j)
        ratios[static_cast<size_t>(k)].push_back(value_of(values, params_[p++]));
      ratios[static_cast<size_t>(k)].push_back(1.0);
    }
    if (stochastic_)
      for (int k = 1; k <= steps(); ++k)
        fresh[static_cast<size_t>(k)] = value_of(values, params_[p++]);
    const SpaceConfig placed = warp_.placed(
        config_, values, [&](const ParamSpec& spec) { return value_of(values, spec); });
    Matrices m = banded_matrices(placed, tail_, ratios, fresh);
    m.options = {{"space", "matrix"},
                 {"tail", tail_},
                 {"stochastic", stochastic_},
                 {"times", warp_.free() ? "free" : "fixed"}};
    return m;
  }

  std::vector<WarmStart> warm_starts() const override {
    std::vector<WarmStart> out;
    std::vector<std::string> labels(config_.warm_starts);
    if (labels.empty()) labels.assign(std::begin(kWarmStarts), std::end(kWarmStarts));
    for (const std::string& label : labels) {
      const ClassicSampler& c = find_classic(label, "warm_start");
      Matrices m;
      try {
        m = classic_matrices(c, SolverPlan{config_.schedule, TimeGrid(config_.times), steps(), {}});
      } catch (const ConfigError& e) {
        // A published matrix named for another schedule, grid or N is the user's error; a classic
        // solver that cannot run here (e.g. an order above N) is left out.
        if (!c.published.empty()) throw ConfigError("space.warm_starts", e.what());
        continue;
      }
      json v = json::object();
      for (int k = 1; k <= steps(); ++k) {
        const double diag = m.signal(k, k - 1);
        for (int j = std::max(0, k - tail_); j < k - 1; ++j)
          v[name_c(k, j)] = std::clamp(diag != 0.0 ? m.signal(k, j) / diag : 0.0, low_, high_);
        if (stochastic_) {
          const double norm = m.noise.row(k).norm();
          v[name_b(k)] = norm > 0 ? std::clamp(std::abs(m.noise(k, k)) / norm, 0.0, 1.0) : 0.0;
        }
      }
      warp_.add_warm_start(v, steps());
      // Two samplers may project to the same point of the space: keep the first.
      if (std::none_of(out.begin(), out.end(), [&](const WarmStart& w) { return w.params == v; }))
        out.push_back({label, v});
    }
    return out;
  }

 private:
  static std::string name_c(int k, int j) {
    return "c" + std::to_string(k) + "_" + std::to_string(j);
  }
  static std::string name_b(int k) { return "b" + std::to_string(k); }
  int tail_ = 3;
  TimeWarp warp_;
  double low_ = -2, high_ = 2;
  bool stochastic_ = false;
  std::vector<ParamSpec> params_;
};

// The `gdr` space: (γ, δ, ρ) of docs/equations.md §5, one triple or one per step; deterministic
// searches fix ρ = 0 (δ then does not matter and is not asked).
class GdrSpace final : public SearchSpace {
 public:
  explicit GdrSpace(const SpaceConfig& config) : SearchSpace(config) {
    OptionReader options(config.options, "space");
    per_step_ = options.flag("per_step");
    stochastic_ = options.flag("stochastic");
    const double g_lo = options.number("gamma_low", -0.5, {.min = -0.999, .max = 10});
    const double g_hi = options.number("gamma_high", 2.0, {.min = -0.999, .max = 10});
    const double d_lo = options.number("delta_low", 0.05, {.min = 1e-6, .max = 10});
    const double d_hi = options.number("delta_high", 3.0, {.min = 1e-6, .max = 10});
    const double r_hi = options.number("rho_high", 2.0, {.min = 0, .max = 10});
    warp_ = TimeWarp(options);
    options.finish();
    if (!(g_lo < g_hi)) throw ConfigError("space.gamma_low", "must be below space.gamma_high");
    if (!(d_lo < d_hi)) throw ConfigError("space.delta_low", "must be below space.delta_high");
    if (!(r_hi > 0)) throw ConfigError("space.rho_high", "must be above 0");
    const int copies = per_step_ ? steps() : 1;
    for (int k = 0; k < copies; ++k) {
      const std::string suffix = per_step_ ? "_" + std::to_string(k) : "";
      params_.push_back({"gamma" + suffix, g_lo, g_hi, false});
      if (stochastic_) {
        params_.push_back({"delta" + suffix, d_lo, d_hi, false});
        params_.push_back({"rho" + suffix, 0.0, r_hi, false});
      }
    }
    warp_.add_params(params_, steps());
  }
  std::string_view name() const override { return "gdr"; }
  const std::vector<ParamSpec>& params() const override { return params_; }

  Matrices to_matrices(const json& values) const override {
    SolverOptions o;
    for (const ParamSpec& p : params_) {
      const double v = value_of(values, p);
      if (p.name.rfind("w", 0) == 0) continue;  // time warp
      if (p.name.rfind("gamma", 0) == 0) o.gamma.push_back(v);
      if (p.name.rfind("delta", 0) == 0) o.delta.push_back(v);
      if (p.name.rfind("rho", 0) == 0) o.rho.push_back(v);
    }
    Matrices m = classic(
        warp_.placed(config_, values, [&](const ParamSpec& p) { return value_of(values, p); }),
        "generalized", o);
    m.options["space"] = "gdr";
    m.options["times"] = warp_.free() ? "free" : "fixed";
    return m;
  }

  std::vector<WarmStart> warm_starts() const override {
    if (!config_.warm_starts.empty())
      throw ConfigError("space.warm_starts",
                        "the gdr space has its own warm starts (leave it empty)");
    auto fill = [&](double g, double d, double r) {
      json v = json::object();
      for (const ParamSpec& p : params_) {
        if (p.name.rfind("w", 0) == 0) {
          v[p.name] = 1.0;  // the base grid
          continue;
        }
        const double x = p.name.rfind("gamma", 0) == 0 ? g : p.name.rfind("delta", 0) == 0 ? d : r;
        v[p.name] = std::clamp(x, p.low, p.high);
      }
      return v;
    };
    if (!stochastic_)
      return {{"ddim", fill(0.0, 1.0, 0.0)}, {"gamma=0.026", fill(0.026, 1.0, 0.0)}};
    return {{"(1.25, 0.95, 1)", fill(1.25, 0.95, 1.0)},
            {"ancestral", fill(1.0, 1.0, 1.0)},
            {"ddim", fill(0.0, 1.0, 0.0)}};
  }

 private:
  bool per_step_ = false, stochastic_ = false;
  std::vector<ParamSpec> params_;
  TimeWarp warp_;
};

constexpr std::array kSpaces{
    SpaceEntry{"matrix",
               "banded C with the papers' row normalization (options: tail, low, high, "
               "stochastic, times = fixed | free)",
               [](const SpaceConfig& c) -> std::unique_ptr<SearchSpace> {
                 return std::make_unique<MatrixSpace>(c);
               }},
    SpaceEntry{"gdr",
               "(γ, δ, ρ) of the generalized step, one triple or one per step (options: "
               "per_step, stochastic, bounds, times = fixed | free)",
               [](const SpaceConfig& c) -> std::unique_ptr<SearchSpace> {
                 return std::make_unique<GdrSpace>(c);
               }},
};

}  // namespace

SearchSpace::SearchSpace(SpaceConfig config) : config_(std::move(config)) {
  SS_CHECK(config_.schedule != nullptr);
  validate_timesteps(config_.times, *config_.schedule, "times");
}

std::span<const SpaceEntry> space_registry() { return kSpaces; }

std::unique_ptr<SearchSpace> make_space(std::string_view name, const SpaceConfig& config) {
  return registry_find(space_registry(), name, "space").make(config);
}

Matrices banded_matrices(const SpaceConfig& config, int tail,
                         const std::vector<std::vector<double>>& ratios,
                         const std::vector<double>& fresh_noise) {
  const Schedule& s = *config.schedule;
  const auto n = static_cast<Eigen::Index>(config.times.size()) - 1;
  Matrices m;
  m.schedule = config.schedule;
  m.times = config.times;
  m.signal = RowMatrix::Zero(n + 1, n);
  m.noise = RowMatrix::Zero(n + 1, n + 1);
  m.noise(0, 0) = s.prior_std(config.times[0]);
  m.solver = "searched";
  for (Eigen::Index k = 1; k <= n; ++k) {
    const auto& r = ratios[static_cast<size_t>(k)];
    const Eigen::Index first = std::max<Eigen::Index>(0, k - tail);
    SS_CHECK(static_cast<Eigen::Index>(r.size()) == k - first);
    double sum = 0;
    for (double v : r) sum += v;
    const double t = config.times[static_cast<size_t>(k)];
    if (std::abs(sum) < 1e-9)
      throw NumericalError("row " + std::to_string(k) + " of the matrix sums to 0");
    for (Eigen::Index j = first; j < k; ++j)
      m.signal(k, j) = r[static_cast<size_t>(j - first)] / sum * s.alpha(t);
    const double b = fresh_noise[static_cast<size_t>(k)];
    const double prev = m.noise.row(k - 1).norm();
    m.noise.row(k) = s.sigma(t) * std::sqrt(std::max(0.0, 1.0 - b * b)) / prev * m.noise.row(k - 1);
    m.noise(k, k) = s.sigma(t) * b;
  }
  m.validate("matrix space");
  return m;
}

}  // namespace samplersearch
