#pragma once
// The options of the classic samplers, described once in one table (solver_option_table): name,
// flag, kind, choices and help of each option. Validation, JSON, command-line parsing and help are
// derived from it; which solver reads an option, and its default there, is the solver registry's
// row (solver.hpp). Completion turns the given options into typed SolverSettings, so kernels
// read enums and numbers and hold no defaults.
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace samplersearch {

// The options as given (by a user, a file or code): unset means "the solver's default".
struct SolverOptions {
  std::optional<int> order;
  std::optional<std::string> method;
  std::optional<bool> lower_order_final;
  std::optional<std::string> variant;
  std::optional<std::string> predict;
  std::optional<double> eta;
  std::vector<double> gamma, delta, rho;
};

// DPM-Solver's step pattern (Lu et al. 2022, §3.4; Lu et al. 2022b, Alg. 1/2).
enum class DpmMethod { singlestep, multistep, singlestep_fixed };
// UniPC's B(h) (Zhao et al. 2023, eq. 8): h or e^h − 1.
enum class UnipcVariant { bh1, bh2 };
// What the update extrapolates: the data prediction x̂0 or the noise prediction ε̂.
enum class Prediction { x0, eps };

// The completed options of one plan, typed (filled by complete_plan from the solver's
// defaults); a kernel reads only the fields its registry row declares.
struct SolverSettings {
  int order = 0;
  DpmMethod method = DpmMethod::multistep;
  bool lower_order_final = false;
  UnipcVariant variant = UnipcVariant::bh1;
  Prediction predict = Prediction::x0;
  double eta = 0.0;
  std::vector<double> gamma, delta, rho;  // one value or one per step
};

// How an option's value is written: an integer, a real, true|false, one of `choices`, or a
// comma-separated list of reals.
enum class OptionKind { integer, real, boolean, choice, real_list };

// One row of the option table.
struct SolverOptionSpec {
  using Field =
      std::variant<std::optional<int> SolverOptions::*, std::optional<double> SolverOptions::*,
                   std::optional<bool> SolverOptions::*,
                   std::optional<std::string> SolverOptions::*,
                   std::vector<double> SolverOptions::*>;
  std::string_view name;  // JSON key
  std::string_view flag;  // command-line flag
  OptionKind kind;
  std::span<const std::string_view> choices;  // kind choice: the valid values, in enum order
  std::string_view help;
  Field field;  // where the given value is kept
  // Copies the completed value into the typed settings.
  void (*settle)(const SolverOptionSpec& spec, const SolverOptions& given, SolverSettings& out);
};

// The table: order, method, lower_order_final, variant, predict, eta, gamma, delta, rho.
std::span<const SolverOptionSpec> solver_option_table();
// The row called `name` (SAMPLERSEARCH_CHECK: names come from the registry, never from users).
const SolverOptionSpec& solver_option(std::string_view name);

// True when `options` carries a value for this option.
bool option_is_set(const SolverOptions& options, const SolverOptionSpec& spec);
// Parses `text` as the command line writes it ("3", "multistep", "true", "0.5", "1,0.9") into
// `options`; ConfigError naming the flag for text of the wrong kind.
void set_option_text(SolverOptions& options, const SolverOptionSpec& spec, std::string_view text);
// The value as JSON (null when unset).
nlohmann::json option_json(const SolverOptions& options, const SolverOptionSpec& spec);
// The index of the chosen value among spec.choices (the option must be set and valid).
int option_choice_index(const SolverOptions& options, const SolverOptionSpec& spec);

// The options as JSON (only the ones that are set).
nlohmann::json options_to_json(const SolverOptions& options);

}  // namespace samplersearch
