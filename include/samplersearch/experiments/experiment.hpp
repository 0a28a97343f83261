#pragma once
// Experiment files: one JSON document describing a search — model, schedule,
// times, NFE, search space, baselines, metric and sample counts, Optuna sampler/pruner/storage,
// devices, concurrency, seed, budget and output. One field table (experiment_fields) is the schema:
// defaults, validation, `--help` and experiments/README.md's field list all come from it.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace samplersearch {

// What kind of JSON value a field holds.
enum class FieldKind {
  string,
  integer,
  number,
  boolean,
  object,
  string_list,
  number_list,
  duration
};

// One row of the experiment schema. `path` is dotted ("metric.samples"); `choices` (when set)
// lists the valid names, taken from the family's registry.
struct ExperimentField {
  std::string_view path;
  FieldKind kind;
  nlohmann::json default_value;  // null: required (or only meaningful for some model kinds)
  std::string_view summary;
  std::vector<std::string> (*choices)() = nullptr;
  double min = -1e300, max = 1e300;  // integer / number / number_list bounds
};

std::span<const ExperimentField> experiment_fields();

// The typed view of an experiment document, one member per field of experiment_fields(). The
// objects handed to a family's factory (schedule.params, space.options, metric.params, the Optuna
// sampler/pruner params) stay JSON: their owner reads them with an OptionReader.
struct ModelSpec {
  std::string kind;
  int64_t data_size = 0;
  std::string path, parameterization, time_input, dtype, sum_dtype;
  std::vector<int64_t> shape;
  std::string data;
};
struct ScheduleSpec {
  std::string name;
  nlohmann::json params;
};
struct TimesSpec {
  std::string discretization;
  double t_start = 0, t_end = 0;
  std::vector<double> explicit_times;  // "explicit": empty unless the times are given one by one
};
struct SpaceSpec {
  std::string name;
  nlohmann::json options;
  std::vector<std::string> warm_starts;
};
struct MetricSpec {
  std::string name;
  nlohmann::json params;
  std::vector<int64_t> samples;
  int64_t chunk = 0;
  std::string reference_sampler;
  int reference_steps = 0;
  std::string inception_weights, statistics, cache;
};
struct ValidationSpec {
  uint64_t seed = 0;
  int64_t samples = 0;
  int top = 0;
};
struct StudySpec {
  std::string sampler;
  nlohmann::json sampler_params;
  double sigma0 = 0;
  std::string pruner;
  nlohmann::json pruner_params;
  std::string storage, study;
  int heartbeat = 0;
};
struct BudgetSpec {
  int trials = 0;
  double timeout = 0;  // seconds (parse_duration of the field)
};
struct ExperimentSpec {
  std::string name, description;
  ModelSpec model;
  ScheduleSpec schedule;
  TimesSpec times;
  int steps = 0;
  SpaceSpec space;
  std::vector<std::string> baselines;
  MetricSpec metric;
  uint64_t seed = 0;
  ValidationSpec validation;
  StudySpec optuna;
  std::vector<std::string> devices;
  int concurrency = 0, threads = 0;
  BudgetSpec budget;
  std::string output;
};

// The typed view of an experiment document (make_experiment's output, or a stored one); a field
// it leaves out reads as the table's default. The one place that reads a document by path.
ExperimentSpec experiment_spec(const nlohmann::json& doc);

// A validated experiment: every field present, defaults filled; `spec` is the typed view of `doc`.
struct Experiment {
  nlohmann::json doc;
  ExperimentSpec spec;
  // Canonical text: sorted keys, 2-space indent; what the store keeps and the hash is taken of.
  std::string text() const;
  // SHA-256 of text(), 64 hex digits.
  std::string hash() const;
  std::string name() const { return spec.name; }
};

// Parses and validates `text`; ConfigError whose field is "<origin>: <dotted path>" and whose
// reason says what is wrong (unknown field, wrong type, out of range, unknown name + valid names).
Experiment parse_experiment(std::string_view text, const std::string& origin);
// Reads and parses a file; FileError when it cannot be read.
Experiment load_experiment(const std::string& path);
// Validates an already-built document (e.g. from command-line flags) the same way.
Experiment make_experiment(nlohmann::json doc, const std::string& origin);

// Sets the dotted `path` of `doc` to `value` (creating objects on the way).
void set_field(nlohmann::json& doc, std::string_view path, nlohmann::json value);

// Applies "FIELD=VALUE" assignments (e.g. from --set) with set_field; VALUE is JSON when it
// parses as JSON, otherwise the plain string. ConfigError(flag, …) for an assignment without '='.
void apply_assignments(nlohmann::json& doc, const std::vector<std::string>& assignments,
                       const std::string& flag);

// One line per leaf that differs: "path: old → new" (added/removed leaves show "(absent)").
std::vector<std::string> experiment_diff(const nlohmann::json& before, const nlohmann::json& after);

// Seconds of a duration field: a number of seconds or a string like "8h", "30m", "1h30m", "90s".
double parse_duration(const nlohmann::json& value, const std::string& field);

// The schema as help text (one line per field: path, type, default, summary, choices).
std::string experiment_help();

}  // namespace samplersearch
