// samplersearch matrices / marginals: a classic sampler's exact Natural Inference matrices.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "commands.hpp"
#include "samplersearch/common/registry.hpp"
#include "samplersearch/samplers/matrix_io.hpp"
#include "samplersearch/samplers/solver.hpp"

namespace samplersearch::cli {
namespace {

// The flags that choose a sampler and its plan (matrices, marginals and each --batch line). The
// solver options are solver_option_table()'s rows, each declared by its kind.
void declare_solver_flags(CLI::App& app) {
  add_text(app, "--solver", "NAME", "one of:\n" + registry_help(solver_registry()));
  for (const SolverOptionSpec& spec : solver_option_table()) {
    const std::string flag(spec.flag), values = solver_option_values(spec),
                                       help = solver_option_help(spec);
    switch (spec.kind) {
      case OptionKind::integer:
        add_integer(app, flag, values, help);
        break;
      case OptionKind::real:
        add_number(app, flag, values, help);
        break;
      case OptionKind::boolean:
        add_boolean(app, flag, help);
        break;
      case OptionKind::real_list:
        add_numbers(app, flag, values, help);
        break;
      case OptionKind::choice:  // the value is checked against the solver's row (complete_plan)
        add_text(app, flag, values, help);
        break;
    }
  }
  add_integer(app, "--steps", "N", "model calls (NFE)");
  add_text(app, "--schedule", "NAME", "one of:\n" + registry_help(schedule_registry()));
  add_text(app, "--discretization", "NAME",
           "one of (default time-uniform):\n" + registry_help(discretization_registry()));
  add_numbers(app, "--timesteps", "t0,t1,...", "explicit times instead of a discretization");
  add_number(app, "--t-start", "T", "the range's start (default: the schedule's)");
  add_number(app, "--t-end", "E", "the range's end (default: the schedule's)");
}

// Builds the plan from the flags: schedule, grid, steps and the solver options.
std::pair<std::string, SolverPlan> plan_from_args(const Args& args) {
  const std::string solver = args.require("solver");
  find_solver(solver);
  SolverPlan plan{make_schedule(args.require("schedule")), TimeGrid("time-uniform", {}), 0, {}};
  const auto steps = args.get_int("steps");
  if (!steps) throw ConfigError("--steps", "is required");
  plan.steps = *steps;
  const auto disc = args.get("discretization");
  const auto explicit_times = args.get_doubles("timesteps");
  const double t_start = args.get_double("t-start").value_or(plan.schedule->t_max());
  const double t_end = args.get_double("t-end").value_or(plan.schedule->t_min());
  if (disc && explicit_times)
    throw ConfigError("--timesteps", "give either --discretization or --timesteps, not both");
  if (explicit_times)
    plan.grid = TimeGrid(*explicit_times);
  else
    plan.grid = TimeGrid(disc.value_or("time-uniform"), GridSpec{t_start, t_end});
  if (disc) registry_find(discretization_registry(), *disc, "--discretization");
  for (const SolverOptionSpec& spec : solver_option_table())
    if (const auto text = args.get(std::string(spec.flag.substr(2))))
      set_option_text(plan.options, spec, *text);
  return {solver, plan};
}

void print_matrix(const char* title, const RowMatrix& m) {
  std::printf("%s (%ld×%ld):\n", title, static_cast<long>(m.rows()), static_cast<long>(m.cols()));
  for (Eigen::Index k = 0; k < m.rows(); ++k) {
    for (Eigen::Index j = 0; j < m.cols(); ++j) std::printf(" %10.6f", m(k, j));
    std::printf("\n");
  }
}

}  // namespace

void declare_matrices(CLI::App& app) {
  app.description(
      "Prints the times and the matrices C (signal, (N+1)×N) and B (noise, (N+1)×(N+1)) of a\n"
      "classic sampler, computed exactly in double precision by running it on linear forms.\n");
  declare_solver_flags(app);
  add_text(app, "--format", "text|json|table",
           "text (default), one JSON object (keys solver, schedule,\n"
           "timesteps, alpha, sigma, signal, noise), or the papers' table");
  add_switch(app, "--batch",
             "read one set of these flags per stdin line and print one\n"
             "JSON object per line ({\"error\", \"exit\"} for a bad line)");
}

// --batch: one set of flags per stdin line, one JSON object per stdout line (the matrices, or
// {"error": message, "exit": code}); LibTorch is loaded once for all of them.
int run_matrices_batch(const Command& command) {
  for (std::string line; std::getline(std::cin, line);) {
    std::istringstream words(line);
    std::vector<std::string> tokens;
    for (std::string w; words >> w;) tokens.push_back(w);
    try {
      const Args args(command, tokens);
      auto [solver, plan] = plan_from_args(args);
      std::cout << matrices_to_json(solver_matrices(solver, plan)).dump() << "\n";
    } catch (const ConfigError& e) {
      std::cout << nlohmann::json{{"error", e.what()}, {"exit", kUsage}}.dump() << "\n";
    } catch (const std::exception& e) {
      std::cout << nlohmann::json{{"error", e.what()}, {"exit", kFailure}}.dump() << "\n";
    }
    std::cout.flush();
  }
  return kOk;
}

int run_matrices(const Args& args) {
  if (args.flag("batch"))
    return run_matrices_batch(registry_find(command_registry(), "matrices", "command"));
  auto [solver, plan] = plan_from_args(args);
  const std::string format = args.get("format").value_or("text");
  const Matrices m = solver_matrices(solver, plan);
  if (format == "json") {
    std::cout << matrices_to_json(m).dump() << "\n";
  } else if (format == "table") {
    std::cout << matrices_to_table(m);
  } else if (format == "text") {
    std::printf("solver %s %s on %s, %d model calls\n", solver.c_str(), m.options.dump().c_str(),
                std::string(m.schedule->name()).c_str(), m.steps());
    std::printf("times:");
    for (double t : m.times) std::printf(" %.6g", t);
    std::printf("\n");
    print_matrix("signal C", m.signal);
    print_matrix("noise B", m.noise);
  } else {
    throw ConfigError("--format", "unknown value '" + format + "' (valid: text, json, table)");
  }
  return kOk;
}

void declare_marginals(CLI::App& app) {
  app.description(
      "Prints, per row k, t_k, Σ_j C[k][j] beside α(t_k) and √(Σ_j B[k][j]²) beside σ(t_k)\n"
      "(Zheng & Zheng 2025, Figures 8–13), and the largest deviations.\n");
  declare_solver_flags(app);
}

int run_marginals(const Args& args) {
  auto [solver, plan] = plan_from_args(args);
  const Matrices m = solver_matrices(solver, plan);
  const auto sums = m.row_sums();
  const auto norms = m.noise_norms();
  double worst_signal = 0, worst_noise = 0;
  std::printf("%5s %12s %12s %12s %12s %12s\n", "row", "t", "sum C", "alpha", "|B|", "sigma");
  for (size_t k = 0; k < m.times.size(); ++k) {
    const double t = m.times[k], a = m.schedule->alpha(t), s = m.schedule->sigma(t);
    std::printf("%5zu %12.6g %12.6f %12.6f %12.6f %12.6f\n", k, t, sums[k], a, norms[k], s);
    if (k > 0) worst_signal = std::max(worst_signal, std::abs(sums[k] - a));
    worst_noise = std::max(worst_noise, std::abs(norms[k] - s));
  }
  std::printf("max |sum C - alpha| = %.3g, max ||B| - sigma| = %.3g\n", worst_signal, worst_noise);
  return kOk;
}

}  // namespace samplersearch::cli
