#pragma once
// Search spaces: params ↔ Natural Inference matrices, the distributions Optuna is
// asked for, and warm starts. One registry: `matrix` and `gdr`.
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "samplersearch/samplers/matrices.hpp"
#include "samplersearch/samplers/schedule.hpp"

namespace samplersearch {

// One searched parameter: a float in [low, high] (log-uniform when `log`).
struct ParamSpec {
  std::string name;
  double low = 0;
  double high = 0;
  bool log = false;
};

// A named starting point for the search (enqueued before any sampled trial).
struct WarmStart {
  std::string label;      // e.g. "dpmsolver++(2M)"
  nlohmann::json params;  // name → value, inside the bounds
};

// What every space is built on: the schedule, the N+1 times t_0…t_N, and the space's own options.
struct SpaceConfig {
  std::shared_ptr<const Schedule> schedule;
  std::vector<double> times;
  nlohmann::json options = nlohmann::json::object();
  // Labels of classic_catalogue to warm-start from (`matrix`); empty: the space's defaults.
  std::vector<std::string> warm_starts;
};

class SearchSpace {
 public:
  virtual ~SearchSpace() = default;
  virtual std::string_view name() const = 0;
  // The parameters to ask Optuna for, in a fixed order.
  virtual const std::vector<ParamSpec>& params() const = 0;
  // params → (C, B, times); ConfigError naming a missing or out-of-range parameter.
  virtual Matrices to_matrices(const nlohmann::json& values) const = 0;
  // The warm starts this space offers (classic samplers projected into the space).
  virtual std::vector<WarmStart> warm_starts() const = 0;
  // The steps N.
  int steps() const { return static_cast<int>(config_.times.size()) - 1; }
  const SpaceConfig& config() const { return config_; }

 protected:
  explicit SearchSpace(SpaceConfig config);
  SpaceConfig config_;
};

// One row of the search-space registry.
struct SpaceEntry {
  std::string_view name;
  std::string_view summary;
  std::unique_ptr<SearchSpace> (*make)(const SpaceConfig& config);
};

std::span<const SpaceEntry> space_registry();

// The space `name`; ConfigError listing the valid names or naming a bad option.
std::unique_ptr<SearchSpace> make_space(std::string_view name, const SpaceConfig& config);

// `matrix` space: the banded C of a deterministic or stochastic sampler with the papers'
// normalization. For row k the free entries are C[k][j], max(0, k−tail) ≤ j ≤ k−1, as ratios to
// the diagonal (newest) entry, which is 1; the row is then scaled to sum α(t_k). Stochastic:
// b_k ∈ [0, 1] mixes fresh noise, B[k] = σ_k·(√(1−b_k²)·B[k−1]/‖B[k−1]‖ + b_k·e_k).
// Warm start: a classic sampler's C truncated to the band, ratios clamped into the bounds.
Matrices banded_matrices(const SpaceConfig& config, int tail,
                         const std::vector<std::vector<double>>& ratios,
                         const std::vector<double>& fresh_noise);

}  // namespace samplersearch
