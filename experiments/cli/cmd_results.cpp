// samplersearch status / export / report / evaluate: reading an experiment's store, and scoring
// matrix files.
#include <ATen/ATen.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>

#include "commands.hpp"
#include "samplersearch/common/format.hpp"
#include "samplersearch/common/registry.hpp"
#include "samplersearch/experiments/driver.hpp"
#include "samplersearch/experiments/export.hpp"
#include "samplersearch/experiments/report.hpp"
#include "samplersearch/experiments/results.hpp"
#include "samplersearch/experiments/shards.hpp"
#include "samplersearch/metrics/inception.hpp"
#include "samplersearch/samplers/matrix_io.hpp"

namespace samplersearch::cli {
namespace {

using nlohmann::json;

// The stores named on the command line: one file, several shards, or a directory of shards.
struct StoreArgs {
  std::string path;                // the first argument (names outputs)
  std::vector<std::string> files;  // every store file, a directory expanded
};

// The positional help of status, export and report.
constexpr const char* kStoresHelp =
    "the experiment's trial store, or several shards of one shared study (or their directory)\n"
    "read as one experiment";

StoreArgs store_arguments(const Args& args, const char* command) {
  if (args.positional().empty())
    throw ConfigError(command, std::string("takes a store file, several shards or their directory "
                                           "(samplersearch ") +
                                   command + " STORE.h5 …)");
  return {args.positional()[0], store_files(args.positional())};
}

// Trials and devices per host of merged shards (empty for one store).
std::map<std::string, std::pair<int, std::set<std::string>>> by_host(const StoreContents& c) {
  std::map<std::string, std::pair<int, std::set<std::string>>> out;
  for (const TrialRecord& r : c.trials)
    if (!r.host.empty()) {
      ++out[r.host].first;
      if (!r.device.empty()) out[r.host].second.insert(r.device);
    }
  return out;
}

// Values in the status text: "-" for one not measured.
constexpr NumberFormat kMissingAsDash{.nan = "-"};

}  // namespace

void declare_status(CLI::App& app) {
  app.description(
      "Progress of an experiment (also while it runs): trials by state, the budget, the best\n"
      "in-sample value so far (on the search's own noise), the winner once the best trials were\n"
      "re-scored on unseen noise, its matrix (the papers' table), and the classic baselines.\n"
      "Several shards of one shared study (or their directory) read as one experiment.\n");
  add_positionals(app, "STORE.h5", kStoresHelp);
  add_switch(app, "--json", "one JSON object instead of text");
}

int run_status(const Args& args) {
  const StoreArgs stores = store_arguments(args, "status");
  const std::string& path = stores.path;
  const bool as_json = args.flag("json");
  const StoreContents contents = read_stores(stores.files);
  const ExperimentSpec experiment =
      experiment_spec(json::parse(current_experiment(stores.files.front(), contents)));
  const StoreSummary s = summarize(contents);
  const int budget = experiment.budget.trials;
  if (as_json) {
    json out = {{"store", path},
                {"experiment", experiment.name},
                {"hash", contents.experiment_hash},
                {"steps", contents.steps},
                {"by_state", s.by_state},
                {"counted", s.counted},
                {"budget", budget},
                {"baselines", json::array()}};
    if (s.best) {
      out["best"] = {
          {"trial", s.best->number}, {"value", *s.best->value}, {"warm_start", s.best->warm_start}};
      if (auto it = contents.validations.find(s.best->number); it != contents.validations.end())
        out["best"]["validation"] = it->second;
    }
    out["rescored"] = s.rescored;
    for (const auto& [host, row] : by_host(contents))
      out["hosts"][host] = {{"trials", row.first}, {"devices", row.second}};
    if (s.winner)
      out["winner"] = {{"trial", s.winner->number},
                       {"in_sample", *s.winner->value},
                       {"rescored", s.winner_rescored},
                       {"warm_start", s.winner->warm_start}};
    for (const Baseline& b : contents.baselines)
      out["baselines"].push_back(
          {{"label", b.label},
           {"value", std::isnan(b.value) ? json() : json(b.value)},
           {"validation", std::isnan(b.validation) ? json() : json(b.validation)}});
    std::printf("%s\n", out.dump(2).c_str());
    return kOk;
  }
  std::printf("experiment  %s  (%s…)\nstore       %s\nsteps       %d\n", experiment.name.c_str(),
              contents.experiment_hash.substr(0, 12).c_str(), path.c_str(), contents.steps);
  std::printf("trials      %d", s.counted);
  if (budget > 0) std::printf(" of %d (%.0f%%)", budget, 100.0 * s.counted / budget);
  std::printf(" counted;");
  for (const auto& [state, n] : s.by_state) std::printf(" %s %d", state.c_str(), n);
  std::printf("\n");
  for (const auto& [host, row] : by_host(contents)) {
    std::string devices;
    for (const std::string& d : row.second) devices += (devices.empty() ? "" : ", ") + d;
    std::printf("shard       %s: %d trials on %s\n", host.c_str(), row.first, devices.c_str());
  }
  const Baseline* dpm = find_baseline(contents, kRatioBaseline);
  if (s.best) {
    std::printf("in-sample   best %s at trial %d%s",
                format_number(*s.best->value, kMissingAsDash).c_str(), s.best->number,
                s.best->warm_start.empty() ? "" : (" (" + s.best->warm_start + ")").c_str());
    if (dpm && dpm->value > 0)
      std::printf(", %.3f× %s", *s.best->value / dpm->value, kRatioBaseline);
    std::printf(" (on the search's own noise)\n");
  } else {
    std::printf("in-sample   - (no COMPLETE trial yet)\n");
  }
  if (s.winner) {
    std::printf("winner      trial %d%s: re-scored %s", s.winner->number,
                s.winner->warm_start.empty() ? "" : (" (" + s.winner->warm_start + ")").c_str(),
                format_number(s.winner_rescored, kMissingAsDash).c_str());
    if (dpm && dpm->validation > 0)
      std::printf(", %.3f× %s", s.winner_rescored / dpm->validation, kRatioBaseline);
    std::printf(" (unseen noise; best of %d re-scored; in-sample %s)\n", s.rescored,
                format_number(*s.winner->value, kMissingAsDash).c_str());
  } else if (s.best) {
    std::printf("winner      - (named after the search, when the best trials are re-scored)\n");
  }
  if (!contents.baselines.empty()) {
    std::printf("\nbaselines   %-18s %12s %14s\n", "", "in-sample", "re-scored");
    for (const Baseline& b : contents.baselines)
      std::printf("            %-18s %12s %14s\n", b.label.c_str(),
                  format_number(b.value, kMissingAsDash).c_str(),
                  format_number(b.validation, kMissingAsDash).c_str());
  }
  if (const TrialRecord* shown = s.winner ? s.winner : s.best; shown && shown->matrices)
    std::printf("\n%s matrix (rows = target times, divided by the newest entry):\n%s",
                s.winner ? "winner's" : "best in-sample",
                matrices_to_table(*shown->matrices).c_str());
  return kOk;
}

void declare_export(CLI::App& app) {
  std::string formats;
  for (const ExportFormatEntry& f : export_format_registry())
    formats += "\n  " + std::string(f.name) + ": " + std::string(f.summary);
  app.description(
      "The best K trials (default 1) beside every classic sampler measured as a baseline.\n"
      "Text formats print to stdout (or --out FILE); file formats write one matrix file per\n"
      "sampler into --out DIR (default <store>-export/), which `samplersearch sample --matrix`\n"
      "and read_matrices load back unchanged.\n");
  add_positionals(app, "STORE.h5", kStoresHelp);
  add_text(app, "--format", "FORMAT", "one of:" + formats);
  add_integer(app, "--top", "K", "the best K trials (default 1)");
  add_text(app, "--out", "PATH", "the file (text formats) or directory (file formats)");
}

int run_export(const Args& args) {
  const StoreArgs stores = store_arguments(args, "export");
  const std::string& path = stores.path;
  const ExportFormatEntry& format = export_format(args.require("format"));
  const int top = args.get_int("top").value_or(1);
  if (top < 0) throw ConfigError("--top", "must be >= 0");
  const auto out = args.get("out");
  const StoreContents contents = read_stores(stores.files);
  const std::vector<ExportEntry> entries = ranked_entries(contents, top);
  const ExperimentSpec experiment =
      experiment_spec(json::parse(current_experiment(stores.files.front(), contents)));
  ExportContext context;
  context.experiment_name = experiment.name;
  context.metric = experiment.metric.name + " " + experiment.metric.params.dump();
  context.baseline = find_baseline(contents, kRatioBaseline) ? kRatioBaseline : "";
  if (format.text) {
    if (!out) {
      format.write_text(entries, context, std::cout);
      return kOk;
    }
    std::ofstream file(*out);
    if (!file) throw FileError(*out, std::string("cannot be written: ") + std::strerror(errno));
    format.write_text(entries, context, file);
    std::printf("wrote %s\n", out->c_str());
    return kOk;
  }
  const std::string dir =
      out.value_or(std::filesystem::path(path).replace_extension("").string() + "-export");
  for (const std::string& file : format.write_files(entries, context, dir))
    std::printf("%s\n", file.c_str());
  return kOk;
}

void declare_report(CLI::App& app) {
  app.description(
      "Writes DIR/index.html (default <store>-report/): the optimization history, the best\n"
      "matrix as a heat map beside DPM-Solver++(2M)'s, and sample grids (PNG) of the best trial\n"
      "and the best classic sampler drawn from the same (unseen) noise. Viewing it needs no\n"
      "network.\n");
  add_positionals(app, "STORE.h5", kStoresHelp);
  add_text(app, "--out", "DIR", "the report's directory (default <store>-report/)");
  add_integer(app, "--samples", "N", "images per grid (default 64)");
}

int run_report(const Args& args) {
  const StoreArgs stores = store_arguments(args, "report");
  const std::string& path = stores.path;
  const std::string dir = args.get("out").value_or(
      std::filesystem::path(path).replace_extension("").string() + "-report");
  const int count = args.get_int("samples").value_or(64);
  if (count < 1) throw ConfigError("--samples", "must be >= 1");
  const StoreContents contents = read_stores(stores.files);
  const StoreSummary s = summarize(contents);
  if (!s.best) throw ConfigError("report", path + " has no COMPLETE trial yet");
  ExperimentRun run(stored_experiment(stores.files.front(), contents));
  ReportInput input;
  input.title = run.experiment().name();
  input.experiment = current_experiment(stores.files.front(), contents);
  input.metric = run.metric_description();
  input.trials = contents.trials;
  input.baselines = contents.baselines;
  const TrialRecord* shown = s.winner ? s.winner : s.best;  // the winner once re-scored
  for (const TrialRecord& r : input.trials)
    if (r.number == shown->number) input.best = &r;
  if (const auto it = contents.validations.find(shown->number); it != contents.validations.end())
    input.best_validation = it->second;
  const Baseline* dpm = find_baseline(contents, kRatioBaseline);
  Matrices dpm_matrices;
  if (!dpm) dpm_matrices = run.classic(kRatioBaseline);
  input.classic = dpm ? &dpm->matrices : &dpm_matrices;
  input.classic_label = kRatioBaseline;
  // The best classic sampler: lowest unseen-noise value (search value when not measured).
  const Baseline* best_classic = nullptr;
  auto key = [](const Baseline& b) { return std::isnan(b.validation) ? b.value : b.validation; };
  for (const Baseline& b : contents.baselines)
    if (!std::isnan(key(b)) && (!best_classic || key(b) < key(*best_classic))) best_classic = &b;
  input.best_grid = run.samples(*input.best->matrices, count);
  const Matrices& classic_for_grid = best_classic ? best_classic->matrices : *input.classic;
  input.classic_grid = run.samples(classic_for_grid, count);
  input.classic_grid_label = best_classic ? best_classic->label : kRatioBaseline;
  const std::string index = write_report(input, dir);
  std::printf("%s\n", index.c_str());
  return kOk;
}

namespace {

// The experiment (a file, or the embedded default) set to the matrices' schedule, steps and times;
// a file whose schedule differs from the matrices' is refused (a trained network has one schedule).
json experiment_for(const Matrices& m, const std::optional<std::string>& file) {
  json doc = file ? load_experiment(*file).doc : json::object();
  if (file) {
    const Experiment e = make_experiment(doc, *file);
    const ScheduleSpec& s = e.spec.schedule;
    if (s.name != m.schedule->name() ||
        make_schedule(s.name, s.params)->params() != m.schedule->params())
      throw ConfigError("--matrix", "was made for schedule " + std::string(m.schedule->name()) +
                                        " " + m.schedule->params().dump() + ", the model's is " +
                                        e.doc["schedule"].dump());
  }
  set_field(doc, "steps", m.steps());
  set_field(doc, "times.explicit", m.times);
  set_field(doc, "schedule.name", std::string(m.schedule->name()));
  set_field(doc, "schedule.params", m.schedule->params());
  return doc;
}

}  // namespace

void declare_evaluate(CLI::App& app) {
  app.description(
      "Scores matrix files (and classic samplers at the same times) with the experiment's metric\n"
      "(default: the embedded default's bias-free excess FD in classifier features) on\n"
      "`--samples` samples of the noise stream `--seed` (defaults: the experiment's full count,\n"
      "1000). The first matrix file fixes the schedule, steps and times.\n");
  add_text(app, "--matrix", "FILE[,FILE...]", "the matrix files to score");
  add_text(app, "--classic", "LABEL,...", "classic samplers to score at the same times");
  add_text(app, "--experiment", "EXP.json", "the experiment (default: the embedded one)");
  add_integer(app, "--samples", "N", "samples (default: the experiment's full count)");
  add_integer(app, "--seed", "S", "noise stream (default 1000)");
  add_repeated(app, "--set", "FIELD=VALUE", "any experiment field; repeatable");
}

int run_evaluate(const Args& args) {
  const auto given = args.get_strings("matrix");
  if (!given) throw ConfigError("--matrix", "is required (see 'evaluate --help')");
  const std::vector<std::string> files = *given;
  const std::vector<std::string> labels =
      args.get_strings("classic").value_or(std::vector<std::string>{});
  const auto experiment_file = args.get("experiment");
  const auto samples = args.get_int("samples");
  const int seed = args.get_int("seed").value_or(1000);
  const auto sets = args.get_all("set");
  std::vector<Matrices> matrices;
  for (const std::string& f : files) {
    matrices.push_back(read_matrices(f));
    const Matrices& a = matrices.front();
    const Matrices& b = matrices.back();
    if (b.times.front() != a.times.front() || b.times.back() != a.times.back() ||
        b.steps() != a.steps() || b.schedule->name() != a.schedule->name() ||
        b.schedule->params() != a.schedule->params())
      throw ConfigError("--matrix", f + " has another schedule, step count or time range than " +
                                        files.front() + "; evaluate them separately");
  }
  json doc = experiment_for(matrices.front(), experiment_file);
  apply_assignments(doc, sets, "--set");
  set_field(doc, "validation.seed", seed);
  set_field(doc, "seed", seed + 1);
  // Without --samples: the full count of the search (not the re-scoring's larger default).
  set_field(doc, "validation.samples",
            samples ? json(*samples)
                    : json(make_experiment(doc, experiment_file.value_or("evaluate"))
                               .spec.metric.samples.back()));
  ExperimentRun run(make_experiment(doc, experiment_file.value_or("evaluate")));
  std::printf("%s on %s samples of noise stream %d:\n", run.metric_description().c_str(),
              samples ? std::to_string(*samples).c_str() : "the full count of", seed);
  std::optional<double> first;
  auto show = [&](const std::string& label, const Matrices& m) {
    const double v = run.validate(m);
    if (!first) first = v;
    std::printf("  %-40s %14.6g %10.3f\n", label.c_str(), v, v / *first);
    std::fflush(stdout);
  };
  for (const std::string& l : labels) show(l, run.classic(l));
  for (size_t i = 0; i < files.size(); ++i) show(files[i], matrices[i]);
  return kOk;
}

}  // namespace samplersearch::cli
