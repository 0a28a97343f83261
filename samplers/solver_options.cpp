// The one table of classic-sampler options and what is derived from it: text parsing, JSON and
// the typed settings. Which solver takes an option and its default there: solver_registry.cpp.
#include "samplersearch/samplers/solver_options.hpp"

#include <array>
#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "samplersearch/common/check.hpp"
#include "samplersearch/common/error.hpp"

namespace samplersearch {
namespace {

using nlohmann::json;

constexpr std::array<std::string_view, 3> kMethods{"singlestep", "multistep", "singlestep_fixed"};
constexpr std::array<std::string_view, 2> kVariants{"bh1", "bh2"};
constexpr std::array<std::string_view, 2> kPredictions{"x0", "eps"};

// settle() of each kind: the given (completed) value into the typed settings.
template <auto Out>
void settle_value(const SolverOptionSpec& spec, const SolverOptions& o, SolverSettings& s) {
  std::visit(
      [&](auto member) {
        const auto& v = o.*member;
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, std::vector<double>>) {
          if constexpr (std::is_same_v<std::decay_t<decltype(s.*Out)>, std::vector<double>>)
            s.*Out = v;
        } else if constexpr (std::is_same_v<typename V::value_type, std::string>) {
          if (v) s.*Out = static_cast<std::decay_t<decltype(s.*Out)>>(option_choice_index(o, spec));
        } else if constexpr (!std::is_same_v<std::decay_t<decltype(s.*Out)>, std::vector<double>>) {
          if (v) s.*Out = static_cast<std::decay_t<decltype(s.*Out)>>(*v);
        }
      },
      spec.field);
}

const std::array<SolverOptionSpec, 9> kOptions{{
    {"order",
     "--order",
     OptionKind::integer,
     {},
     "polynomial order (deis: the tAB degree, 0 = DDIM)",
     &SolverOptions::order,
     settle_value<&SolverSettings::order>},
    {"method", "--method", OptionKind::choice, kMethods,
     "step pattern; singlestep_fixed: steps/order steps of the full order (Lu et al. 2022 §3.4), "
     "a shorter last step for the remainder",
     &SolverOptions::method, settle_value<&SolverSettings::method>},
    {"lower_order_final",
     "--lower-order-final",
     OptionKind::boolean,
     {},
     "lower orders on the last steps (DPM-Solver applies it below 10 steps, as its code does)",
     &SolverOptions::lower_order_final,
     settle_value<&SolverSettings::lower_order_final>},
    {"variant", "--variant", OptionKind::choice, kVariants, "UniPC's B(h)", &SolverOptions::variant,
     settle_value<&SolverSettings::variant>},
    {"predict", "--predict", OptionKind::choice, kPredictions, "data or noise prediction",
     &SolverOptions::predict, settle_value<&SolverSettings::predict>},
    {"eta",
     "--eta",
     OptionKind::real,
     {},
     "stochasticity η (1 = ancestral)",
     &SolverOptions::eta,
     settle_value<&SolverSettings::eta>},
    {"gamma",
     "--gamma",
     OptionKind::real_list,
     {},
     "γ: one value or one per step",
     &SolverOptions::gamma,
     settle_value<&SolverSettings::gamma>},
    {"delta",
     "--delta",
     OptionKind::real_list,
     {},
     "δ: one value or one per step",
     &SolverOptions::delta,
     settle_value<&SolverSettings::delta>},
    {"rho",
     "--rho",
     OptionKind::real_list,
     {},
     "ρ: one value or one per step",
     &SolverOptions::rho,
     settle_value<&SolverSettings::rho>},
}};

double parse_real(std::string_view flag, const std::string& text) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(v))
    throw ConfigError(std::string(flag), "expected a finite number, got '" + text + "'");
  return v;
}

}  // namespace

std::span<const SolverOptionSpec> solver_option_table() { return kOptions; }

const SolverOptionSpec& solver_option(std::string_view name) {
  for (const SolverOptionSpec& s : kOptions)
    if (s.name == name) return s;
  SS_CHECK(false) << "no solver option '" << name << "'";
  return kOptions[0];
}

bool option_is_set(const SolverOptions& o, const SolverOptionSpec& spec) {
  return std::visit(
      [&](auto member) {
        const auto& v = o.*member;
        if constexpr (std::is_same_v<std::decay_t<decltype(v)>, std::vector<double>>)
          return !v.empty();
        else
          return v.has_value();
      },
      spec.field);
}

void set_option_text(SolverOptions& o, const SolverOptionSpec& spec, std::string_view text_in) {
  const std::string text(text_in);
  const std::string flag(spec.flag);
  std::visit(
      [&](auto member) {
        auto& v = o.*member;
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, std::vector<double>>) {
          v.clear();
          size_t start = 0;
          while (true) {
            const size_t comma = text.find(',', start);
            v.push_back(parse_real(flag, text.substr(start, comma - start)));
            if (comma == std::string::npos) break;
            start = comma + 1;
          }
        } else if constexpr (std::is_same_v<V, std::optional<int>>) {
          char* end = nullptr;
          const long n = std::strtol(text.c_str(), &end, 10);
          if (text.empty() || end != text.c_str() + text.size() || n < -1000000000 ||
              n > 1000000000)
            throw ConfigError(flag, "expected an integer, got '" + text + "'");
          v = static_cast<int>(n);
        } else if constexpr (std::is_same_v<V, std::optional<double>>) {
          v = parse_real(flag, text);
        } else if constexpr (std::is_same_v<V, std::optional<bool>>) {
          if (text == "true" || text == "1")
            v = true;
          else if (text == "false" || text == "0")
            v = false;
          else
            throw ConfigError(flag, "expected true or false, got '" + text + "'");
        } else {
          v = text;
        }
      },
      spec.field);
}

json option_json(const SolverOptions& o, const SolverOptionSpec& spec) {
  return std::visit(
      [&](auto member) -> json {
        const auto& v = o.*member;
        if constexpr (std::is_same_v<std::decay_t<decltype(v)>, std::vector<double>>)
          return v.empty() ? json() : json(v);
        else
          return v ? json(*v) : json();
      },
      spec.field);
}

int option_choice_index(const SolverOptions& o, const SolverOptionSpec& spec) {
  const auto* member = std::get_if<std::optional<std::string> SolverOptions::*>(&spec.field);
  SS_CHECK(member != nullptr && (o.**member).has_value()) << spec.name << " is not a set choice";
  for (size_t i = 0; i < spec.choices.size(); ++i)
    if (spec.choices[i] == *(o.**member)) return static_cast<int>(i);
  SS_CHECK(false) << spec.name << ": '" << *(o.**member) << "' is not a valid choice";
  return -1;
}

json options_to_json(const SolverOptions& o) {
  json j = json::object();
  for (const SolverOptionSpec& spec : kOptions)
    if (option_is_set(o, spec)) j[std::string(spec.name)] = option_json(o, spec);
  return j;
}

}  // namespace samplersearch
