// The bridge's value types and name tables: trial states, Optuna's sampler, pruner and storage
// names, and the distributions an ask request carries.
#include <cmath>
#include <string>

#include "samplersearch/common/check.hpp"
#include "samplersearch/search/optuna_bridge.hpp"

namespace samplersearch {

using nlohmann::json;

namespace {

constexpr TrialStateEntry kStates[] = {
    {TrialState::running, "RUNNING", false}, {TrialState::complete, "COMPLETE", true},
    {TrialState::pruned, "PRUNED", true},    {TrialState::fail, "FAIL", true},
    {TrialState::waiting, "WAITING", false},
};

const TrialStateEntry& state_entry(TrialState state) {
  const auto k = static_cast<size_t>(state);
  SS_CHECK(k < std::size(kStates) && kStates[k].state == state)
      << "unhandled TrialState " << static_cast<int>(state);
  return kStates[k];
}

}  // namespace

std::span<const TrialStateEntry> trial_state_table() { return kStates; }

std::string_view to_string(TrialState state) { return state_entry(state).name; }

bool is_finished(TrialState state) { return state_entry(state).finished; }

TrialState trial_state_from_string(std::string_view name) {
  std::string valid;
  for (const TrialStateEntry& e : kStates) {
    if (e.name == name) return e.state;
    valid += (valid.empty() ? "" : ", ") + std::string(e.name);
  }
  throw ConfigError("trial state",
                    "unknown state '" + std::string(name) + "' (valid: " + valid + ")");
}

Distribution Distribution::floating(std::string name, double low, double high, bool log,
                                    std::optional<double> step) {
  Distribution d;
  d.name = std::move(name);
  d.low = low;
  d.high = high;
  d.log = log;
  d.step = step;
  return d;
}

json Distribution::to_json() const {
  return {{"name", name}, {"type", "float"}, {"low", low},
          {"high", high}, {"log", log},      {"step", step ? json(*step) : json(nullptr)}};
}

namespace {

constexpr OptunaEntry kSamplers[] = {
    {"tpe", "tree-structured Parzen estimator (seed, n_startup_trials, multivariate, ...)"},
    {"cmaes", "CMA-ES (seed, x0 warm-start mean, sigma0, restart_strategy, ...)"},
    {"random", "independent uniform draws (seed)"},
    {"qmc", "quasi-Monte Carlo: Sobol or Halton (qmc_type, scramble, seed)"},
    {"nsga2", "NSGA-II for one or several objectives (population_size, seed, ...)"},
    {"grid", "every point of search_space {name: [values]} once"},
};
constexpr OptunaEntry kPruners[] = {
    {"none", "never prune"},
    {"median", "prune below the median of earlier trials at the same step"},
    {"successive_halving", "asynchronous successive halving"},
    {"hyperband", "Hyperband over successive-halving brackets"},
};
// `shared`: a database server or a journal file on a shared file system lets several processes
// (machines) work on one study; SQLite's file locking and the in-process store do not.
constexpr StorageEntry kStorages[] = {
    {"memory", "in the bridge process only (\"\"): lost when it restarts", false},
    {"sqlite", "sqlite:///path/to/study.db", false},
    {"postgresql", "postgresql://user:password@host/database", true},
    {"journal", "journal:///path/to/study.log (Optuna JournalFileStorage)", true},
};

}  // namespace

std::span<const OptunaEntry> optuna_sampler_registry() { return kSamplers; }
std::span<const OptunaEntry> optuna_pruner_registry() { return kPruners; }
std::span<const StorageEntry> optuna_storage_registry() { return kStorages; }

std::string_view optuna_storage_kind(std::string_view url) {
  if (url.empty() || url == "memory" || url == ":memory:") return "memory";
  const std::string_view scheme = url.substr(0, url.find(':'));
  for (const StorageEntry& e : kStorages)
    // sqlite:..., postgresql:... or postgresql+psycopg2:..., journal:...
    if (e.name != "memory" && scheme.substr(0, scheme.find('+')) == e.name &&
        url.find(':') != std::string_view::npos)
      return e.name;
  throw ConfigError("storage", "unknown storage URL '" + std::string(url) +
                                   "' (valid: \"\" for in-memory, sqlite:///PATH, "
                                   "postgresql://..., journal:///PATH)");
}

}  // namespace samplersearch
