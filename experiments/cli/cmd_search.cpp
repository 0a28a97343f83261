// samplersearch search / resume: run an experiment file (or the embedded default) into its HDF5
// trial store, or continue one.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "commands.hpp"
#include "progress.hpp"
#include "samplersearch/common/format.hpp"
#include "samplersearch/common/registry.hpp"
#include "samplersearch/experiments/driver.hpp"
#include "samplersearch/experiments/export.hpp"
#include "samplersearch/experiments/results.hpp"
#include "samplersearch/experiments/shards.hpp"
#include "samplersearch/search/shared_study.hpp"

namespace samplersearch::cli {
namespace {

using nlohmann::json;

// Shortcut flags of `search`, each setting one experiment field (--set FIELD=VALUE sets any).
struct FieldFlag {
  std::string_view flag;
  std::string_view field;
  enum { text, integer, number, counts, names, json_value } kind;
};

constexpr FieldFlag kFieldFlags[] = {
    {"name", "name", FieldFlag::text},
    {"steps", "steps", FieldFlag::integer},
    {"space", "space.name", FieldFlag::text},
    {"space-options", "space.options", FieldFlag::json_value},
    {"schedule", "schedule.name", FieldFlag::text},
    {"discretization", "times.discretization", FieldFlag::text},
    {"t-start", "times.t_start", FieldFlag::number},
    {"t-end", "times.t_end", FieldFlag::number},
    {"metric", "metric.name", FieldFlag::text},
    {"metric-params", "metric.params", FieldFlag::json_value},
    {"samples", "metric.samples", FieldFlag::counts},
    {"chunk", "metric.chunk", FieldFlag::integer},
    {"sampler", "optuna.sampler", FieldFlag::text},
    {"sigma0", "optuna.sigma0", FieldFlag::number},
    {"pruner", "optuna.pruner", FieldFlag::text},
    {"storage", "optuna.storage", FieldFlag::text},
    {"trials", "budget.trials", FieldFlag::integer},
    {"timeout", "budget.timeout", FieldFlag::text},
    {"concurrency", "concurrency", FieldFlag::integer},
    {"devices", "devices", FieldFlag::names},
    {"threads", "threads", FieldFlag::integer},
    {"seed", "seed", FieldFlag::integer},
    {"out", "output", FieldFlag::text},
};

// The value of a shortcut flag as the field's JSON (nullopt when the flag is not given).
std::optional<json> flag_value(const FieldFlag& f, const Args& args) {
  const std::string name(f.flag);
  if (f.kind == FieldFlag::names) {
    const auto items = args.get_strings(name);
    return items ? std::optional<json>(*items) : std::nullopt;
  }
  if (f.kind == FieldFlag::counts) {
    const auto values = args.get_doubles(name);
    if (!values) return std::nullopt;
    json out = json::array();
    for (const double v : *values)  // whole counts stay integers (they are hashed as text)
      out.push_back(v == std::floor(v) ? json(static_cast<long long>(v)) : json(v));
    return out;
  }
  const auto text = args.get(name);
  if (!text) return std::nullopt;
  try {
    switch (f.kind) {
      case FieldFlag::text:
        return json(*text);
      case FieldFlag::integer: {
        size_t used = 0;
        const long long v = std::stoll(*text, &used);
        if (used != text->size()) break;
        return json(v);
      }
      case FieldFlag::number: {
        size_t used = 0;
        const double v = std::stod(*text, &used);
        if (used != text->size()) break;
        return json(v);
      }
      case FieldFlag::json_value:
        return json::parse(*text);
      default:
        break;
    }
  } catch (const std::exception&) {
  }
  throw ConfigError("--" + name, "cannot read '" + *text + "'");
}

// The experiment of `search`: the file (or the embedded default), then the shortcut flags, then
// every --set, validated once at the end.
Experiment experiment_from_flags(const Args& args, std::string& origin) {
  json doc = json::object();
  origin = "the embedded default";
  if (!args.positional().empty()) {
    if (args.positional().size() > 1) throw ConfigError("search", "takes one experiment file");
    origin = args.positional()[0];
    doc = load_experiment(origin).doc;
  }
  for (const FieldFlag& f : kFieldFlags)
    if (auto v = flag_value(f, args)) set_field(doc, f.field, std::move(*v));
  apply_assignments(doc, args.get_all("set"), "--set");
  return make_experiment(std::move(doc), origin);
}

// The closing table: the best trials and every classic sampler, on the search's and unseen noise.
void print_results(const StoreContents& contents, const std::string& store_path,
                   const ExperimentRun& run, OutputMode mode) {
  const std::vector<ExportEntry> entries = ranked_entries(contents, 3);
  if (mode == OutputMode::json) {
    json out = {{"event", "results"}, {"store", store_path}, {"entries", json::array()}};
    for (const ExportEntry& e : entries)
      out["entries"].push_back(
          {{"label", e.label},
           {"searched", e.searched},
           {"trial", e.trial},
           {"value", std::isnan(e.value) ? json() : json(e.value)},
           {"validation", std::isnan(e.validation) ? json() : json(e.validation)}});
    std::printf("%s\n", out.dump().c_str());
    return;
  }
  ExportContext context{run.experiment().name(), run.metric_description(), kRatioBaseline, 3};
  std::printf("\n");
  export_format("markdown").write_text(entries, context, std::cout);
  std::cout.flush();
}

int finish_run(const DriverResult& result, const std::string& store_path, ExperimentRun& run,
               OutputMode mode, Progress& progress) {
  progress.clear();
  const bool text = mode == OutputMode::terminal || mode == OutputMode::plain;
  if (result.interrupted) {
    if (text || mode == OutputMode::quiet)
      std::fprintf(stderr,
                   "\ninterrupted after %d of %d trials; everything finished is in %s.\n"
                   "resume with:\n  samplersearch resume %s\n",
                   result.counted, result.budget, store_path.c_str(), store_path.c_str());
    if (mode == OutputMode::json)
      std::printf("%s\n", json{{"event", "interrupted"},
                               {"counted", result.counted},
                               {"resume", "samplersearch resume " + store_path}}
                              .dump()
                              .c_str());
    return kInterrupted;
  }
  // A process of a shared study shows the experiment over every shard (their directory).
  const bool shared = is_shared_storage(run.study_config().storage);
  const std::string shown =
      shared ? std::filesystem::path(store_path).parent_path().string() : store_path;
  const StoreContents contents =
      shared ? read_stores(store_files({shown})) : read_store(store_path);
  if (mode != OutputMode::quiet) print_results(contents, shown, run, mode);
  if (text)
    std::printf(
        "\n%d trials in %s\n  samplersearch status %s\n  samplersearch export %s --format "
        "json --out DIR\n  samplersearch report %s --out %s-report\n",
        result.counted, shown.c_str(), shown.c_str(), shown.c_str(), shown.c_str(),
        std::filesystem::path(shown).replace_extension("").string().c_str());
  return summarize(contents).best ? kOk : kFailure;
}

// `bridge`: from start_bridge() before the experiment loaded (Python imports Optuna meanwhile).
DriverOptions driver_options(Progress& progress, OutputMode mode,
                             std::shared_ptr<OptunaBridge> bridge) {
  DriverOptions o;
  o.bridge = std::move(bridge);
  o.observer = &progress;
  if (mode == OutputMode::terminal || mode == OutputMode::plain)
    o.log = [&progress](const std::string& line) { progress.log(line); };
  else if (mode == OutputMode::json)
    o.log = [](const std::string& line) {
      std::printf("%s\n", json{{"event", "log"}, {"message", line}}.dump().c_str());
      std::fflush(stdout);
    };
  return o;
}

// The experiment of one search seed in a spread: seed S, named <name>-seedS, stored in
// <output stem>-seedS.h5 with its own Optuna study (and Optuna sampler seed).
Experiment seed_experiment(const Experiment& base, int64_t seed) {
  json doc = base.doc;
  const std::string suffix = "-seed" + std::to_string(seed);
  doc["seed"] = seed;
  doc["name"] = base.name() + suffix;
  const std::filesystem::path out(experiment_output(base));
  doc["output"] =
      (out.parent_path() / (out.stem().string() + suffix + out.extension().string())).string();
  const StudySpec& optuna = base.spec.optuna;
  if (!optuna.study.empty()) set_field(doc, "optuna.study", optuna.study + suffix);
  if (optuna.sampler_params.contains("seed")) set_field(doc, "optuna.sampler_params.seed", seed);
  return make_experiment(std::move(doc), "--seeds (seed " + std::to_string(seed) + ")");
}

// Runs (or resumes) one seed of a spread into its store; true when it finished.
bool run_one_seed(const Experiment& e, OutputMode mode) {
  const std::string path = experiment_output(e);
  std::optional<StoreContents> existing;
  if (std::filesystem::exists(path)) {
    existing = read_store(path);
    require_same_experiment(path, *existing, e, "--seeds");
  }
  const std::shared_ptr<OptunaBridge> bridge = start_bridge();
  ExperimentRun run(e);
  const StoreSummary summary = existing ? summarize(*existing) : StoreSummary{};
  const int budget = e.spec.budget.trials;
  Progress progress(mode, std::max(0, budget - summary.counted),
                    std::chrono::seconds(static_cast<long>(e.spec.budget.timeout)), summary.counted,
                    summary.best ? std::optional<double>(*summary.best->value) : std::nullopt,
                    summary.best ? std::optional<int>(summary.best->number) : std::nullopt);
  progress.log("seed " + std::to_string(e.spec.seed) + ": " + (existing ? "resuming " : "") + path);
  const DriverOptions o = driver_options(progress, mode, bridge);
  const DriverResult result = existing ? resume_experiment(run, path, o) : start_experiment(run, o);
  progress.clear();
  return !result.interrupted;
}

// The spread's closing table: each seed's winner re-scored over DPM-Solver++(2M) on the same
// unseen noise, then their median and range.
void print_spread(const std::vector<SeedOutcome>& outcomes, const std::string& baseline,
                  OutputMode mode) {
  const Spread spread = spread_of(outcomes);
  const auto num = [](double v) { return std::isfinite(v) ? json(v) : json(); };
  if (mode == OutputMode::json) {
    json out = {{"event", "spread"},      {"baseline", baseline},
                {"runs", json::array()},  {"median", num(spread.median)},
                {"min", num(spread.min)}, {"max", num(spread.max)}};
    for (const SeedOutcome& o : outcomes)
      out["runs"].push_back({{"seed", o.seed},
                             {"store", o.store},
                             {"winner", o.trial},
                             {"rescored", num(o.rescored)},
                             {"baseline", num(o.baseline)},
                             {"ratio", num(o.ratio)}});
    std::printf("%s\n", out.dump().c_str());
    return;
  }
  if (mode == OutputMode::quiet) return;
  constexpr NumberFormat kSpreadNumber{.digits = 4, .nan = "-"};
  std::printf(
      "\nspread over %zu search seeds (re-scored values: unseen noise, never seen by the "
      "search)\n%-6s %-40s %7s %12s %16s %8s\n",
      outcomes.size(), "seed", "store", "winner", "re-scored", baseline.c_str(), "ratio");
  for (const SeedOutcome& o : outcomes)
    std::printf("%-6lld %-40s %7s %12s %16s %8s\n", static_cast<long long>(o.seed), o.store.c_str(),
                o.trial >= 0 ? std::to_string(o.trial).c_str() : "-",
                format_number(o.rescored, kSpreadNumber).c_str(),
                format_number(o.baseline, kSpreadNumber).c_str(),
                format_number(o.ratio, kSpreadNumber).c_str());
  std::printf("ratio to %s: median %s, range %s – %s over %d runs\n", baseline.c_str(),
              format_number(spread.median, kSpreadNumber).c_str(),
              format_number(spread.min, kSpreadNumber).c_str(),
              format_number(spread.max, kSpreadNumber).c_str(), spread.runs);
}

// The shortcut flags, declared from kFieldFlags (numbers are checked while parsing; the other
// kinds when the experiment is built).
void declare_field_flags(CLI::App& app) {
  for (const FieldFlag& f : kFieldFlags) {
    const std::string flag = "--" + std::string(f.flag);
    const std::string help = "= --set " + std::string(f.field) + "=V";
    if (f.kind == FieldFlag::number)
      add_number(app, flag, "V", help);
    else if (f.kind == FieldFlag::counts)
      add_numbers(app, flag, "V", help);
    else
      add_text(app, flag, "V", help);
  }
}

}  // namespace

void declare_search(CLI::App& app) {
  app.description(
      "Runs an experiment: measures every classic baseline, searches with Optuna, stores every\n"
      "trial in the HDF5 store (the `output` field, default runs/<name>.h5; its Optuna study in\n"
      "runs/<name>.optuna.db), re-measures the best on unseen noise and prints the table.\n"
      "Without a file it runs the embedded default (the Fashion-MNIST exact denoiser).\n"
      "Ctrl-C stops asking, lets running trials finish, and prints the resume command.\n");
  add_positionals(app, "EXPERIMENT.json", "the experiment file (default: the embedded one)");
  declare_field_flags(app);
  add_repeated(app, "--set", "FIELD=VALUE",
               "any experiment field (VALUE is JSON, or a plain string);\nrepeatable");
  add_integer(app, "--seeds", "K",
              "run the experiment K times with search seeds seed … seed+K-1,\n"
              "one store each (<output>-seedS.h5), and print the median and\n"
              "range of the winners' re-scored ratio to dpmsolver++(2M);\n"
              "the same command again resumes the unfinished seeds");
  add_switch(app, "--quiet", "print nothing but errors");
  add_switch(app, "--json", "one JSON object per line");
  app.footer("Experiment fields:\n" + experiment_help());
}

int run_search(const Args& args) {
  std::string origin;
  const Experiment experiment = experiment_from_flags(args, origin);
  const OutputMode mode = output_mode(args.flag("json"), args.flag("quiet"));
  const std::optional<int> seeds = args.get_int("seeds");
  if (seeds) {
    if (*seeds < 1) throw ConfigError("--seeds", "must be >= 1, got " + std::to_string(*seeds));
    const auto first = static_cast<int64_t>(experiment.spec.seed);
    std::vector<Experiment> runs;  // all validated before the first search starts
    for (int k = 0; k < *seeds; ++k) runs.push_back(seed_experiment(experiment, first + k));
    install_stop_handlers();
    const std::string baseline = kRatioBaseline;
    std::vector<SeedOutcome> outcomes;
    for (const Experiment& e : runs) {
      if (!run_one_seed(e, mode)) {
        if (mode != OutputMode::json)
          std::fprintf(stderr,
                       "\ninterrupted in %s; every finished trial is stored.\n"
                       "run the same command again to continue the unfinished seeds.\n",
                       experiment_output(e).c_str());
        else
          std::printf(
              "%s\n",
              json{{"event", "interrupted"}, {"store", experiment_output(e)}}.dump().c_str());
        return kInterrupted;
      }
      const std::string path = experiment_output(e);
      outcomes.push_back(
          seed_outcome(read_store(path), path, static_cast<int64_t>(e.spec.seed), baseline));
    }
    print_spread(outcomes, baseline, mode);
    return std::all_of(outcomes.begin(), outcomes.end(),
                       [](const SeedOutcome& o) { return o.trial >= 0; })
               ? kOk
               : kFailure;
  }
  const std::shared_ptr<OptunaBridge> bridge = start_bridge();
  ExperimentRun run(experiment);
  const int budget = experiment.spec.budget.trials;
  Progress progress(mode, budget,
                    std::chrono::seconds(static_cast<long>(experiment.spec.budget.timeout)), 0,
                    std::nullopt, std::nullopt);
  progress.log("experiment " + experiment.name() + " (" + origin + ") → " + run.output());
  progress.log("objective: " + run.metric_description());
  install_stop_handlers();
  const DriverResult result = start_experiment(run, driver_options(progress, mode, bridge));
  return finish_run(result, result.store.empty() ? run.output() : result.store, run, mode,
                    progress);
}

void declare_resume(CLI::App& app) {
  app.description(
      "Continues a killed, interrupted or finished experiment: trials that were running are\n"
      "marked FAIL (interrupted) and asked again, so the count ends exactly at budget.trials.\n");
  add_positionals(app, "STORE.h5|DIR",
                  "the experiment's trial store; or the directory of a shared study's\n"
                  "shards, which this process joins with a new shard");
  add_text(app, "--experiment", "FILE",
           "the experiment file to continue with; when it differs from the\n"
           "one stored, the difference is printed and resume refuses unless\n"
           "--force");
  add_repeated(app, "--set", "FIELD=VALUE",
               "change a field (e.g. budget.trials=200); needs --force");
  add_switch(app, "--force",
             "accept a changed experiment; it is saved beside the store\n"
             "(STORE.h5.experiment.json) and later resumes, status, export and\n"
             "report use it. What defines the stored trials (name, steps,\n"
             "schedule, times, space, metric, seed, model, study) cannot change.");
  add_switch(app, "--quiet", "print nothing but errors");
  add_switch(app, "--json", "one JSON object per line");
}

namespace {

// The progress display of a run whose stores hold `contents` so far.
Progress resume_progress(OutputMode mode, const Experiment& experiment,
                         const StoreContents& contents) {
  const StoreSummary summary = summarize(contents);
  return Progress(mode, std::max(0, experiment.spec.budget.trials - summary.counted),
                  std::chrono::seconds(static_cast<long>(experiment.spec.budget.timeout)),
                  summary.counted,
                  summary.best ? std::optional<double>(*summary.best->value) : std::nullopt,
                  summary.best ? std::optional<int>(summary.best->number) : std::nullopt);
}

// resume DIR: a new process joins the shared study whose shards DIR holds, with the experiment
// they were made with (unchanged: shards of one study must hold one experiment), writing its own
// shard into DIR; shards whose writer has gone have their RUNNING trials settled first.
int rejoin_shared_study(const std::string& directory, OutputMode mode, bool changes) {
  if (changes)
    throw ConfigError("resume", directory +
                                    " is a directory of shards: it resumes with the experiment "
                                    "its shards hold, without --experiment, --set or --force");
  const std::vector<std::string> files = store_files({directory});
  const StoreContents contents = read_stores(files);  // one experiment in every shard, checked
  json doc = parse_experiment(current_experiment(files.front(), contents),
                              files.front() + " (stored experiment)")
                 .doc;
  const Experiment experiment = make_experiment(std::move(doc), files.front());
  if (!is_shared_storage(experiment.spec.optuna.storage))
    throw ConfigError("resume", directory +
                                    " is a directory, but its experiment's optuna.storage is not "
                                    "shared (postgresql:// or journal://); resume its store file");
  const std::shared_ptr<OptunaBridge> bridge = start_bridge();
  ExperimentRun run(experiment);
  Progress progress = resume_progress(mode, experiment, contents);
  install_stop_handlers();
  DriverOptions o = driver_options(progress, mode, bridge);
  o.shard_directory = directory;
  const DriverResult result = start_experiment(run, o);
  return finish_run(result, result.store, run, mode, progress);
}

}  // namespace

int run_resume(const Args& args) {
  if (args.positional().size() != 1)
    throw ConfigError("resume", "takes one store file (STORE.h5) or a directory of shards");
  const std::string store_path = args.positional()[0];
  const auto file = args.get("experiment");
  const bool force = args.flag("force");
  const OutputMode mode = output_mode(args.flag("json"), args.flag("quiet"));
  const auto sets = args.get_all("set");
  if (std::error_code ec; std::filesystem::is_directory(store_path, ec))
    return rejoin_shared_study(store_path, mode, file || force || !sets.empty());
  const StoreContents contents = read_store(store_path);
  const ResumeDecision decision = decide_resume(store_path, contents, file, sets, force);
  if (!decision.changes.empty())
    std::fprintf(stderr,
                 "continuing with a changed experiment (--force), saved as %s.experiment.json:\n%s",
                 store_path.c_str(), decision.changes.c_str());
  const Experiment& experiment = decision.experiment;
  const std::shared_ptr<OptunaBridge> bridge = start_bridge();
  ExperimentRun run(experiment);
  Progress progress = resume_progress(mode, experiment, contents);
  install_stop_handlers();
  const DriverResult result =
      resume_experiment(run, store_path, driver_options(progress, mode, bridge));
  return finish_run(result, store_path, run, mode, progress);
}

}  // namespace samplersearch::cli
