// Experiment files: the schema table, validation with defaults, diffs and durations.
#include "samplersearch/experiments/experiment.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "samplersearch/common/check.hpp"
#include "samplersearch/common/error.hpp"
#include "samplersearch/common/registry.hpp"
#include "samplersearch/experiments/model_registry.hpp"
#include "samplersearch/experiments/trial_store.hpp"
#include "samplersearch/metrics/metric.hpp"
#include "samplersearch/samplers/discretization.hpp"
#include "samplersearch/samplers/model.hpp"
#include "samplersearch/samplers/schedule.hpp"
#include "samplersearch/samplers/solver.hpp"
#include "samplersearch/search/optuna_bridge.hpp"
#include "samplersearch/search/space.hpp"

namespace samplersearch {
namespace {

using nlohmann::json;

template <class Table>
std::vector<std::string> names_of(Table table) {
  return registry_names(table);
}

std::vector<std::string> model_names() { return names_of(model_registry()); }
std::vector<std::string> schedule_names() { return names_of(schedule_registry()); }
std::vector<std::string> discretization_names() { return names_of(discretization_registry()); }
std::vector<std::string> space_names() { return names_of(space_registry()); }
std::vector<std::string> metric_names() { return names_of(metric_registry()); }
std::vector<std::string> sampler_names() { return names_of(optuna_sampler_registry()); }
std::vector<std::string> pruner_names() { return names_of(optuna_pruner_registry()); }
std::vector<std::string> parameterization_names() { return names_of(parameterization_registry()); }
std::vector<std::string> time_input_names() { return names_of(time_input_registry()); }
std::vector<std::string> dtype_names() { return names_of(dtype_registry()); }
std::vector<std::string> sum_dtype_names() {
  std::vector<std::string> out;
  for (const DtypeEntry& d : dtype_registry())
    if (d.for_sums) out.emplace_back(d.name);
  return out;
}
std::vector<std::string> classic_labels() {
  std::vector<std::string> out;
  for (const ClassicSampler& c : classic_catalogue()) out.push_back(c.label);
  return out;
}

json all_classic_labels() { return classic_labels(); }

const std::vector<ExperimentField>& fields() {
  using K = FieldKind;
  static const std::vector<ExperimentField> table = {
      {"name", K::string, "experiment", "names the study, the output file and the report"},
      {"description", K::string, "", "free text, kept with the results"},
      {"model.kind", K::string, "fashion-mnist", "the x0-model", model_names},
      {"model.data_size", K::integer, 10000,
       "fashion-mnist: training images the exact denoiser is built on", nullptr, 1, 60000},
      {"model.path", K::string, "", "torchscript: the module file (torch.jit.save)"},
      {"model.parameterization", K::string, "eps", "torchscript: what the network outputs",
       parameterization_names},
      {"model.time_input", K::string, "999t", "torchscript: how t is fed to the network",
       time_input_names},
      {"model.dtype", K::string, "float32",
       "torchscript: the type the network runs in (half types are a GPU feature)", dtype_names},
      {"model.sum_dtype", K::string, "float32",
       "the type of the samples and of the Natural Inference sums over past predictions",
       sum_dtype_names},
      {"model.shape", K::number_list, json::array(),
       "torchscript: one sample's shape, e.g. [3, 32, 32]", nullptr, 1, 65536},
      {"model.data", K::string, "",
       "torchscript: HDF5 file of data samples `images` [n,c,h,w] in "
       "[-1,1] for data-side statistics (or use metric.statistics), or fashion-mnist-test"},
      {"schedule.name", K::string, "vp-linear", "the noise schedule α(t), σ(t)", schedule_names},
      {"schedule.params", K::object, json::object(), "overrides of the schedule's parameters"},
      {"times.discretization", K::string, "time-quadratic", "how t_0 … t_N are placed",
       discretization_names},
      {"times.t_start", K::number, 1.0, "t_0 (the first model call)", nullptr, 0, 1e6},
      {"times.t_end", K::number, 1e-3, "t_N (the output time)", nullptr, 0, 1e6},
      {"times.explicit", K::number_list, json::array(),
       "explicit t_0 > … > t_N (steps+1 values; replaces the discretization)", nullptr, 0, 1e6},
      {"steps", K::integer, 10, "N: model calls per sample (NFE)", nullptr, 1, 1000},
      {"space.name", K::string, "matrix", "what is searched", space_names},
      {"space.options", K::object, json::object(), "the space's options (see --help of search)"},
      {"space.warm_starts", K::string_list, json::array(),
       "matrix: named samplers (classic, paper:N) enqueued first, the first is CMA-ES's mean "
       "(empty: "
       "dpmsolver++(2M), dpmsolver++(3M), ddim, unipc(bh1), deis(tAB3))",
       classic_labels},
      {"baselines", K::string_list, all_classic_labels(),
       "named samplers measured before the search at the same NFE (the paper's matrices only "
       "where schedule, grid and N are theirs)",
       classic_labels},
      {"metric.name", K::string, "excess", "the objective (lower is better)", metric_names},
      {"metric.params", K::object, json{{"metric", "fd"}, {"features", "classifier"}},
       "the metric's options"},
      {"metric.samples", K::number_list, json::array({1000}),
       "sample counts: growing fidelities, the last is the full count", nullptr, 1, 1e9},
      {"metric.chunk", K::integer, 250, "samples per chunk (sample counts are multiples of it)",
       nullptr, 1, 1e7},
      {"metric.reference.sampler", K::string, "dpmsolver++(3M)",
       "the reference solution of bias-aware metrics (excess, trajectory_mse)", classic_labels},
      {"metric.reference.steps", K::integer, 100, "its NFE", nullptr, 1, 100000},
      {"metric.inception_weights", K::string, "",
       "HDF5 FID Inception weights (features = inception)"},
      {"metric.statistics", K::string, "",
       "HDF5 statistics file of the data side (e.g. CIFAR-10 train FID statistics)"},
      {"metric.cache", K::string, ".samplersearch-cache", "statistics and classifier cache folder"},
      {"seed", K::integer, 0, "noise stream of the search", nullptr, 0, 9.007e15},
      {"validation.seed", K::integer, 1000, "noise stream the results are re-measured on (unseen)",
       nullptr, 0, 9.007e15},
      {"validation.samples", K::integer, 0,
       "samples of the re-scoring and of the baselines' unseen-noise values (0: 4 × the full "
       "count)",
       nullptr, 0, 1e9},
      {"validation.top", K::integer, 5,
       "best in-sample trials re-scored on unseen noise before the winner (the best re-scored) "
       "is named; 0: nothing is re-measured, the baselines neither",
       nullptr, 0, 1000},
      {"optuna.sampler", K::string, "cmaes", "Optuna sampler", sampler_names},
      {"optuna.sampler_params", K::object, json::object(), "its options (seed is set from seed)"},
      {"optuna.sigma0", K::number, 0.1, "cmaes: initial step size around the first warm start",
       nullptr, 1e-9, 1e6},
      {"optuna.pruner", K::string, "none", "Optuna pruner", pruner_names},
      {"optuna.pruner_params", K::object, json::object(), "its options"},
      {"optuna.storage", K::string, "",
       "Optuna storage URL (\"\": sqlite:///<output>.db beside the output file)"},
      {"optuna.study", K::string, "", "study name (\"\": the experiment's name)"},
      {"optuna.heartbeat", K::integer, 30,
       "shared postgresql study: seconds between trial heartbeats; a trial silent for twice that "
       "is settled by another process (0: none)",
       nullptr, 0, 3600},
      {"devices", K::string_list, json::array({"cpu"}),
       "device pool: cpu, cpu:N, cuda:0, cuda:1, …"},
      {"concurrency", K::integer, 1, "trials in flight", nullptr, 1, 1024},
      {"threads", K::integer, 0, "intra-op threads (0: all cores)", nullptr, 0, 1024},
      {"budget.trials", K::integer, 100, "trials to finish (0: no limit)", nullptr, 0, 1e9},
      {"budget.timeout", K::duration, 0, "wall-clock budget: seconds or \"8h\", \"30m\" (0: none)"},
      {"output", K::string, "", "HDF5 trial store (\"\": runs/<name>.h5)"},
  };
  return table;
}

std::string kind_name(FieldKind k) {
  switch (k) {
    case FieldKind::string:
      return "string";
    case FieldKind::integer:
      return "integer";
    case FieldKind::number:
      return "number";
    case FieldKind::boolean:
      return "true/false";
    case FieldKind::object:
      return "object";
    case FieldKind::string_list:
      return "list of strings";
    case FieldKind::number_list:
      return "list of numbers";
    case FieldKind::duration:
      return "duration";
  }
  return "?";
}

const json* find_path(const json& doc, std::string_view path) {
  const json* node = &doc;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string key(
        path.substr(start, dot == std::string_view::npos ? path.npos : dot - start));
    if (!node->is_object() || !node->contains(key)) return nullptr;
    node = &node->at(key);
    if (dot == std::string_view::npos) return node;
    start = dot + 1;
  }
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// Rejects keys that are neither a field nor on the way to one (objects of kind `object` are open).
void reject_unknown(const json& node, const std::string& prefix, const std::string& origin) {
  for (const auto& [key, value] : node.items()) {
    const std::string path = prefix.empty() ? key : prefix + "." + key;
    bool leaf = false, inner = false;
    std::vector<std::string> siblings;
    for (const ExperimentField& f : fields()) {
      const std::string_view fp = f.path;
      if (fp == path) leaf = true;
      if (fp.size() > path.size() && fp.substr(0, path.size() + 1) == path + ".") inner = true;
      const std::string parent = prefix.empty() ? "" : prefix + ".";
      if (fp.substr(0, parent.size()) == parent) {
        std::string rest(fp.substr(parent.size()));
        rest = rest.substr(0, rest.find('.'));
        if (std::find(siblings.begin(), siblings.end(), rest) == siblings.end())
          siblings.push_back(rest);
      }
    }
    if (leaf) continue;
    if (inner) {
      if (!value.is_object()) throw ConfigError(origin + ": " + path, "must be an object");
      reject_unknown(value, path, origin);
      continue;
    }
    throw ConfigError(origin + ": " + path, "unknown field (valid here: " + join(siblings) + ")");
  }
}

void check_field(const ExperimentField& f, const json& v, const std::string& origin) {
  const std::string where = origin + ": " + std::string(f.path);
  auto in_range = [&](const json& x) {
    const double d = x.get<double>();
    if (!(d >= f.min && d <= f.max))
      throw ConfigError(where, "is " + x.dump() + ", outside [" + json(f.min).dump() + ", " +
                                   json(f.max).dump() + "]");
  };
  auto in_choices = [&](const std::string& s) {
    if (!f.choices) return;
    const auto names = f.choices();
    if (std::find(names.begin(), names.end(), s) == names.end())
      throw ConfigError(where, "unknown name '" + s + "' (valid: " + join(names) + ")");
  };
  switch (f.kind) {
    case FieldKind::string:
      if (!v.is_string()) throw ConfigError(where, "must be a string, got " + v.dump());
      in_choices(v.get<std::string>());
      break;
    case FieldKind::integer:
      if (!v.is_number_integer()) throw ConfigError(where, "must be an integer, got " + v.dump());
      in_range(v);
      break;
    case FieldKind::number:
      if (!v.is_number()) throw ConfigError(where, "must be a number, got " + v.dump());
      in_range(v);
      break;
    case FieldKind::boolean:
      if (!v.is_boolean()) throw ConfigError(where, "must be true or false, got " + v.dump());
      break;
    case FieldKind::object:
      if (!v.is_object()) throw ConfigError(where, "must be an object, got " + v.dump());
      break;
    case FieldKind::string_list:
      if (!v.is_array()) throw ConfigError(where, "must be a list of strings, got " + v.dump());
      for (const json& e : v) {
        if (!e.is_string()) throw ConfigError(where, "must be a list of strings, got " + v.dump());
        in_choices(e.get<std::string>());
      }
      break;
    case FieldKind::number_list:
      if (!v.is_array()) throw ConfigError(where, "must be a list of numbers, got " + v.dump());
      for (const json& e : v) {
        if (!e.is_number()) throw ConfigError(where, "must be a list of numbers, got " + v.dump());
        in_range(e);
      }
      break;
    case FieldKind::duration:
      parse_duration(v, where);
      break;
  }
}

double num(const json& doc, std::string_view path) { return find_path(doc, path)->get<double>(); }
std::string str(const json& doc, std::string_view path) {
  return find_path(doc, path)->get<std::string>();
}

// Rules that involve more than one field.
void check_across(const json& doc, const std::string& origin) {
  auto fail = [&](const std::string& field, const std::string& reason) {
    throw ConfigError(origin + ": " + field, reason);
  };
  const int steps = static_cast<int>(num(doc, "steps"));
  const json& explicit_times = *find_path(doc, "times.explicit");
  if (explicit_times.empty()) {
    if (!(num(doc, "times.t_start") > num(doc, "times.t_end")))
      fail("times.t_start", "must be greater than times.t_end");
  } else {
    if (explicit_times.size() != static_cast<size_t>(steps) + 1)
      fail("times.explicit", "needs steps + 1 = " + std::to_string(steps + 1) + " times, got " +
                                 std::to_string(explicit_times.size()));
    for (size_t i = 1; i < explicit_times.size(); ++i)
      if (!(explicit_times[i].get<double>() < explicit_times[i - 1].get<double>()))
        fail("times.explicit", "times must decrease strictly (t_0 > … > t_N)");
  }
  const json& counts = *find_path(doc, "metric.samples");
  const auto chunk = static_cast<int64_t>(num(doc, "metric.chunk"));
  if (counts.empty()) fail("metric.samples", "needs at least one sample count");
  for (size_t i = 0; i < counts.size(); ++i) {
    const double c = counts[i].get<double>();
    if (c != std::floor(c) || static_cast<int64_t>(c) % chunk != 0)
      fail("metric.samples", "sample counts must be whole multiples of metric.chunk = " +
                                 std::to_string(chunk) + ", got " + counts[i].dump());
    if (i > 0 && !(c > counts[i - 1].get<double>()))
      fail("metric.samples", "sample counts must increase, got " + counts.dump());
  }
  const auto validation = static_cast<int64_t>(num(doc, "validation.samples"));
  if (validation % chunk != 0)
    fail("validation.samples", "must be a multiple of metric.chunk = " + std::to_string(chunk));
  if (num(doc, "validation.seed") == num(doc, "seed"))
    fail("validation.seed", "must differ from seed (the re-measurement is on unseen noise)");
  if (find_path(doc, "devices")->empty()) fail("devices", "needs at least one device");
  // A malformed storage URL is refused here, before the model and metric are set up.
  try {
    optuna_storage_kind(str(doc, "optuna.storage"));
  } catch (const ConfigError& e) {
    std::string reason = e.what();
    reason.erase(0, e.field().size() + 2);  // "storage: "
    fail("optuna.storage", reason);
  }
  if (str(doc, "model.kind") == "torchscript") {
    if (str(doc, "model.path").empty())
      fail("model.path", "is required for model.kind torchscript");
    if (find_path(doc, "model.shape")->empty()) {
      // An exported file's metadata fills model.shape before validation
      // (docs/bring-your-own-model.md); without it the field has to be given.
      std::error_code ec;
      const std::string file = str(doc, "model.path");
      if (!std::filesystem::is_regular_file(file, ec))
        fail("model.path", "'" + file +
                               "' is not a file (relative paths are read from the "
                               "working directory, " +
                               std::filesystem::current_path(ec).string() + ")");
      fail("model.shape", "is required for model.kind torchscript (e.g. [3, 32, 32]) when '" +
                              file + "' has no samplersearch.json metadata");
    }
    if (str(doc, "model.data").empty() && str(doc, "metric.statistics").empty())
      fail("model.data",
           "torchscript models need data samples (model.data) or data statistics "
           "(metric.statistics) for the metric's data side");
  }
  if (str(doc, "space.name") != "matrix" && !find_path(doc, "space.warm_starts")->empty())
    fail("space.warm_starts", "only the matrix space takes classic warm starts; the " +
                                  str(doc, "space.name") + " space has its own");
}

}  // namespace

std::span<const ExperimentField> experiment_fields() { return fields(); }

ExperimentSpec experiment_spec(const json& doc) {
  // A field the document leaves out (e.g. a store written before the field existed) reads as
  // the table's default.
  auto at = [&](std::string_view path) -> const json& {
    if (const json* v = find_path(doc, path)) return *v;
    for (const ExperimentField& f : fields())
      if (f.path == path) return f.default_value;
    SS_CHECK(false) << "experiment_spec reads " << path << ", which the field table lacks";
    return doc;
  };
  auto text = [&](std::string_view path) { return at(path).get<std::string>(); };
  ExperimentSpec s;
  s.name = text("name");
  s.description = text("description");
  s.model = {text("model.kind"),       at("model.data_size").get<int64_t>(),
             text("model.path"),       text("model.parameterization"),
             text("model.time_input"), text("model.dtype"),
             text("model.sum_dtype"),  at("model.shape").get<std::vector<int64_t>>(),
             text("model.data")};
  s.schedule = {text("schedule.name"), at("schedule.params")};
  s.times = {text("times.discretization"), at("times.t_start").get<double>(),
             at("times.t_end").get<double>(), at("times.explicit").get<std::vector<double>>()};
  s.steps = at("steps").get<int>();
  s.space = {text("space.name"), at("space.options"),
             at("space.warm_starts").get<std::vector<std::string>>()};
  s.baselines = at("baselines").get<std::vector<std::string>>();
  s.metric = {text("metric.name"),
              at("metric.params"),
              at("metric.samples").get<std::vector<int64_t>>(),
              at("metric.chunk").get<int64_t>(),
              text("metric.reference.sampler"),
              at("metric.reference.steps").get<int>(),
              text("metric.inception_weights"),
              text("metric.statistics"),
              text("metric.cache")};
  s.seed = at("seed").get<uint64_t>();
  s.validation = {at("validation.seed").get<uint64_t>(), at("validation.samples").get<int64_t>(),
                  at("validation.top").get<int>()};
  s.optuna = {
      text("optuna.sampler"), at("optuna.sampler_params"),      at("optuna.sigma0").get<double>(),
      text("optuna.pruner"),  at("optuna.pruner_params"),       text("optuna.storage"),
      text("optuna.study"),   at("optuna.heartbeat").get<int>()};
  s.devices = at("devices").get<std::vector<std::string>>();
  s.concurrency = at("concurrency").get<int>();
  s.threads = at("threads").get<int>();
  s.budget = {at("budget.trials").get<int>(),
              parse_duration(at("budget.timeout"), "budget.timeout")};
  s.output = text("output");
  return s;
}

std::string Experiment::text() const { return doc.dump(2) + "\n"; }

std::string Experiment::hash() const { return sha256_hex(text()); }

void set_field(json& doc, std::string_view path, json value) {
  json* node = &doc;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string key(
        path.substr(start, dot == std::string_view::npos ? path.npos : dot - start));
    if (!node->is_object()) *node = json::object();
    if (dot == std::string_view::npos) {
      (*node)[key] = std::move(value);
      return;
    }
    node = &(*node)[key];
    start = dot + 1;
  }
}

void apply_assignments(json& doc, const std::vector<std::string>& assignments,
                       const std::string& flag) {
  for (const std::string& assignment : assignments) {
    const size_t eq = assignment.find('=');
    if (eq == std::string::npos || eq == 0)
      throw ConfigError(flag, "expected FIELD=VALUE, got '" + assignment + "'");
    const std::string text = assignment.substr(eq + 1);
    json value;
    try {
      value = json::parse(text);
    } catch (const json::exception&) {
      value = text;
    }
    set_field(doc, assignment.substr(0, eq), std::move(value));
  }
}

Experiment make_experiment(json doc, const std::string& origin) {
  if (!doc.is_object()) throw ConfigError(origin, "an experiment file is a JSON object");
  reject_unknown(doc, "", origin);
  apply_model_metadata(doc);
  // metric.params' default belongs to the default metric (excess); other metrics start empty.
  if (const json* name = find_path(doc, "metric.name");
      name && *name != "excess" && !find_path(doc, "metric.params"))
    set_field(doc, "metric.params", json::object());
  for (const ExperimentField& f : fields()) {
    if (const json* v = find_path(doc, f.path)) {
      check_field(f, *v, origin);
    } else {
      set_field(doc, f.path, f.default_value);
    }
  }
  check_across(doc, origin);
  ExperimentSpec spec = experiment_spec(doc);
  return Experiment{std::move(doc), std::move(spec)};
}

Experiment parse_experiment(std::string_view text, const std::string& origin) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for numbers beyond double
    throw ConfigError(origin, std::string("not valid JSON: ") + e.what());
  }
  return make_experiment(std::move(doc), origin);
}

Experiment load_experiment(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FileError(path, "cannot be read (no such file or no permission)");
  std::stringstream text;
  text << in.rdbuf();
  return parse_experiment(text.str(), path);
}

std::vector<std::string> experiment_diff(const json& before, const json& after) {
  std::vector<std::string> out;
  auto walk = [&](auto&& self, const json* a, const json* b, const std::string& path) -> void {
    if (a && b && a->is_object() && b->is_object()) {
      std::vector<std::string> keys;
      for (const auto& [k, v] : a->items()) keys.push_back(k);
      for (const auto& [k, v] : b->items())
        if (!a->contains(k)) keys.push_back(k);
      for (const auto& k : keys)
        self(self, a->contains(k) ? &a->at(k) : nullptr, b->contains(k) ? &b->at(k) : nullptr,
             path.empty() ? k : path + "." + k);
      return;
    }
    if (a && b && *a == *b) return;
    out.push_back(path + ": " + (a ? a->dump() : "(absent)") + " → " +
                  (b ? b->dump() : "(absent)"));
  };
  walk(walk, &before, &after, "");
  return out;
}

double parse_duration(const json& value, const std::string& field) {
  constexpr double kLongest = 366.0 * 86400;  // a year: longer budgets are a typo
  auto checked = [&](double s) {
    if (!(s >= 0 && s <= kLongest))
      throw ConfigError(field, "a duration must be between 0 seconds and a year");
    return s;
  };
  if (value.is_number()) return checked(value.get<double>());
  if (!value.is_string())
    throw ConfigError(field, "must be seconds or a string like \"8h\", \"30m\", \"1h30m\"");
  const std::string text = value.get<std::string>();
  {
    size_t used = 0;  // a plain number of seconds, e.g. "3600"
    try {
      const double s = std::stod(text, &used);
      if (used == text.size()) return checked(s);
    } catch (const std::exception&) {
    }
  }
  double total = 0;
  size_t i = 0;
  bool any = false;
  while (i < text.size()) {
    size_t used = 0;
    double amount = 0;
    try {
      amount = std::stod(text.substr(i), &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || !(amount >= 0) || i + used >= text.size())
      throw ConfigError(field,
                        "cannot read duration \"" + text + "\" (use e.g. 8h, 30m, 1h30m, 90s)");
    i += used;
    const char unit = text[i++];
    const double scale = unit == 'h'   ? 3600
                         : unit == 'm' ? 60
                         : unit == 's' ? 1
                         : unit == 'd' ? 86400
                                       : -1;
    if (scale < 0)
      throw ConfigError(field, "unknown unit '" + std::string(1, unit) + "' in \"" + text +
                                   "\" (use d, h, m or s)");
    total += amount * scale;
    any = true;
  }
  if (!any) throw ConfigError(field, "empty duration");
  return checked(total);
}

std::string experiment_help() {
  std::ostringstream out;
  for (const ExperimentField& f : fields()) {
    out << "  " << f.path << " (" << kind_name(f.kind) << ", default " << f.default_value.dump()
        << ")\n      " << f.summary << "\n";
    if (f.choices) out << "      one of: " << join(f.choices()) << "\n";
  }
  return out.str();
}

}  // namespace samplersearch
