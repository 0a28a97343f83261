#pragma once
// Time discretizations t_0 > t_1 > … > t_N (docs/equations.md §2).
#include <span>
#include <string_view>
#include <vector>

#include "samplersearch/samplers/schedule.hpp"

namespace samplersearch {

// Where a grid starts and ends (t_start = T > t_end = ε) and the EDM ρ of `karras`.
struct GridSpec {
  double t_start;
  double t_end;
  double karras_rho = 7.0;
};

// One row of the discretization registry: n+1 strictly decreasing times from T to ε.
struct DiscretizationEntry {
  std::string_view name;
  std::string_view summary;
  std::vector<double> (*make)(const Schedule& schedule, int n, const GridSpec& grid);
};

// The registry: time-uniform, time-quadratic, logsnr-uniform, karras.
std::span<const DiscretizationEntry> discretization_registry();

// t_0 … t_n of discretization `name`; integer times on a discrete schedule (ConfigError when
// n is too large for distinct integers).
std::vector<double> make_timesteps(std::string_view name, const Schedule& schedule, int n,
                                   const GridSpec& grid);

// Checks a user's explicit list: strictly decreasing, inside the schedule's domain, integers on a
// discrete schedule. Throws ConfigError naming `field`.
void validate_timesteps(std::span<const double> times, const Schedule& schedule, const char* field);

}  // namespace samplersearch
