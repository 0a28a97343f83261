#include <cmath>
#include <nlohmann/json.hpp>

#include "samplersearch/common/error.hpp"
#include "samplersearch/samplers/solver.hpp"

namespace samplersearch {

TimeGrid::TimeGrid(std::string name, GridSpec grid) : name_(std::move(name)), grid_(grid) {}

TimeGrid::TimeGrid(std::vector<double> explicit_times) : explicit_(std::move(explicit_times)) {}

std::vector<double> TimeGrid::times(const Schedule& schedule, int n,
                                    std::string_view solver) const {
  if (explicit_.empty()) return make_timesteps(name_, schedule, n, grid_);
  if (static_cast<int>(explicit_.size()) != n + 1)
    throw ConfigError("timesteps", std::string(solver) +
                                       " with these options places its calls on " +
                                       std::to_string(n + 1) + " times t_0…t_" + std::to_string(n) +
                                       ", but " + std::to_string(explicit_.size()) + " were given");
  validate_timesteps(explicit_, schedule, "timesteps");
  return explicit_;
}

double TimeGrid::end_time(const Schedule& schedule) const {
  if (!explicit_.empty()) return explicit_.back();
  return schedule.discrete() ? std::round(grid_.t_end) : grid_.t_end;
}

}  // namespace samplersearch
