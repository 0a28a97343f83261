#pragma once
// The classic samplers, each one generic function with one shared signature (as k-diffusion's
// sampling.py):
//
//   template <class Ctx> typename Ctx::Value NAME(Ctx& ctx, const SolverPlan& plan);
//
// A context supplies the two operations a sampler needs: ctx.noise() → the fresh ε of the current
// row and ctx.denoise(x, t) → y = f(x, t). Run on TensorContext it samples; run on FormContext it
// yields the sampler's exact matrices C and B.
#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "samplersearch/samplers/discretization.hpp"
#include "samplersearch/samplers/linear_form.hpp"
#include "samplersearch/samplers/matrices.hpp"
#include "samplersearch/samplers/schedule.hpp"
#include "samplersearch/samplers/solver_options.hpp"

namespace samplersearch {

// How a solver obtains its grid of n+1 times: from a discretization or an explicit list.
class TimeGrid {
 public:
  // Discretization `name` of the schedule over [grid.t_end, grid.t_start].
  TimeGrid(std::string name, GridSpec grid);
  // An explicit list t_0 > … > t_M; a solver asking for another length gets a ConfigError.
  explicit TimeGrid(std::vector<double> explicit_times);
  // n+1 times t_0 … t_n.
  std::vector<double> times(const Schedule& schedule, int n, std::string_view solver) const;
  // The discretization's name ("" for an explicit list) and its range.
  const std::string& discretization() const { return name_; }
  const GridSpec& spec() const { return grid_; }
  // t_N, the time of the output: the end of the discretization (an integer on a discrete
  // schedule) or the last explicit time.
  double end_time(const Schedule& schedule) const;

 private:
  std::string name_;
  GridSpec grid_{};
  std::vector<double> explicit_;
};

// Everything a solver needs: the schedule, how to place times, the NFE and the options.
struct SolverPlan {
  std::shared_ptr<const Schedule> schedule;
  TimeGrid grid;
  int steps = 0;  // model calls (NFE)
  SolverOptions options;
  SolverSettings settings{};  // typed, filled by complete_plan: what kernels read
};

class TensorContext;
class FormContext;

// How one solver uses one option of solver_option_table(): its default (written as on the
// command line; "" = none) and the valid range of its values; `applies` (if set) says when the
// option means something, `applies_note` what a user is told when it is given otherwise.
struct SolverOptionUse {
  std::string_view option{};
  std::string_view fallback{};
  double lo = -1e300, hi = 1e300;
  bool lo_open = false;  // lo itself is invalid
  bool (*applies)(const SolverOptions& given) = nullptr;
  std::string_view applies_note{};
};

// One row of the solver registry: the options it reads (with defaults), a check of combinations
// the option rows cannot express (nullptr: none) and the kernel instantiated for both contexts.
struct SolverEntry {
  std::string_view name;
  std::string_view summary;
  std::span<const SolverOptionUse> options;
  void (*check)(const SolverSettings& settings, int steps);
  at::Tensor (*run_tensor)(TensorContext& ctx, const SolverPlan& plan);
  LinearForm (*run_form)(FormContext& ctx, const SolverPlan& plan);
};

// The registry: ddpm, ddim, euler, heun, deis, dpmsolver, dpmsolver++, unipc, generalized,
// pf-euler, pf-heun, euler-maruyama.
std::span<const SolverEntry> solver_registry();

// The solver `name`; ConfigError listing the valid names otherwise.
const SolverEntry& find_solver(std::string_view name);

// The plan with the solver's defaults filled in and its typed settings; ConfigError for an option
// the solver does not take, a value out of its range or an impossible combination (the message
// lists what is valid).
SolverPlan complete_plan(const SolverEntry& solver, SolverPlan plan);

// The exact matrices of a solver: its one implementation run on linear forms.
Matrices solver_matrices(std::string_view name, const SolverPlan& plan);

// The value placeholder of an option's flag in --help: K, X, true|false, X[,X…] or its choices.
std::string solver_option_values(const SolverOptionSpec& spec);
// An option's --help text: its meaning, then each solver that takes it with its range and
// default.
std::string solver_option_help(const SolverOptionSpec& spec);

// A named sampler: a classic configuration under the name papers give it, e.g.
// "dpmsolver++(2M)" = dpmsolver++ with order 2, multistep; or a published matrix file compiled
// into the library, e.g. "paper:5" (the searched 5-step matrix of Zheng & Zheng 2025,
// samplers/data/).
struct ClassicSampler {
  std::string label;
  std::string solver;  // registry solver ("" for a published matrix)
  SolverOptions options;
  std::string published;  // embedded NaturalDiffusion .npz file name ("" for a solver)
};

// The catalogue of named samplers (baselines, warm starts and reference solutions are chosen
// from it by label).
std::span<const ClassicSampler> classic_catalogue();
// The configuration labelled `label`; ConfigError(field, …) listing the valid labels otherwise.
const ClassicSampler& find_classic(std::string_view label, const std::string& field);
// The matrices of a named sampler for `plan`: the solver's exact matrices, or the published file
// as it is — a ConfigError when the plan's schedule, step count or times (within 1e-6) are not
// the ones the file was made for.
Matrices classic_matrices(const ClassicSampler& sampler, const SolverPlan& plan);

}  // namespace samplersearch
