// samplersearch sample: draws samples from a model (an exported network, an experiment's model or
// the embedded exact denoiser) with a classic solver or a matrix file, into uint8 images.
#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "commands.hpp"
#include "samplersearch/experiments/experiment.hpp"
#include "samplersearch/experiments/model_registry.hpp"
#include "samplersearch/experiments/report.hpp"
#include "samplersearch/metrics/inception.hpp"
#include "samplersearch/samplers/engine.hpp"
#include "samplersearch/samplers/matrix_io.hpp"
#include "samplersearch/samplers/solver.hpp"

namespace samplersearch::cli {

namespace {

using nlohmann::json;

const json* find(const json& doc, const std::string& dotted) {
  const json* node = &doc;
  size_t start = 0;
  while (true) {
    const size_t dot = dotted.find('.', start);
    const std::string key =
        dotted.substr(start, dot == std::string::npos ? dotted.npos : dot - start);
    if (!node->is_object() || !node->contains(key)) return nullptr;
    node = &node->at(key);
    if (dot == std::string::npos) return node;
    start = dot + 1;
  }
}

// Every field the document leaves out, set to the experiment table's default.
void fill_defaults(json& doc) {
  for (const ExperimentField& f : experiment_fields())
    if (find(doc, std::string(f.path)) == nullptr) set_field(doc, f.path, f.default_value);
}

// The model's document: an experiment file, an exported network (metadata filled in), or the
// embedded default.
json model_document(const std::optional<std::string>& source, bool& own_schedule) {
  own_schedule = false;
  if (!source) {
    json doc = json::object();
    fill_defaults(doc);
    return doc;
  }
  own_schedule = true;
  const std::string ext = std::filesystem::path(*source).extension().string();
  if (ext == ".json") return load_experiment(*source).doc;
  json doc = {{"model", {{"kind", "torchscript"}, {"path", *source}}}};
  std::error_code ec;
  if (!std::filesystem::is_regular_file(*source, ec)) throw FileError(*source, "no such file");
  apply_model_metadata(doc);
  if (find(doc, "model.parameterization") == nullptr)
    throw FileError(*source,
                    "has no samplersearch.json (export it with scripts/export_model, or give an "
                    "experiment file that describes the network)");
  fill_defaults(doc);
  const ScheduleSpec s = experiment_spec(doc).schedule;
  const auto schedule = make_schedule(s.name, s.params);
  set_field(doc, "times.t_start", schedule->t_max());
  set_field(doc, "times.t_end", schedule->t_min());
  return doc;
}

}  // namespace

void declare_sample(CLI::App& app) {
  app.description(
      "Draws S samples (default 64) of noise stream X (default 0) and writes them as uint8\n"
      "images: OUT.h5 gets `images` [S, H, W, C] (the input of `features`), OUT.png a grid,\n"
      "any other OUT a folder of one PNG per sample (000000.png, …).\n");
  add_text(app, "--model", "FILE.pt|EXP.json",
           "a network exported by scripts/export_model (its schedule,\n"
           "parameterization and time input come from the file) or an\n"
           "experiment file (its model, schedule, times and steps);\n"
           "default: the embedded Fashion-MNIST exact denoiser");
  add_text(app, "--experiment", "EXP.json", "the same as --model EXP.json");
  add_text(app, "--solver", "LABEL",
           "a classic sampler label (default dpmsolver++(2M)) at N steps\n"
           "on the experiment's time grid (a network file:\n"
           "time-quadratic over its schedule's range)");
  add_text(app, "--matrix", "FILE",
           "a matrix file (.json/.h5/.npz, e.g. from export) instead:\n"
           "its schedule, times and steps; it must be the model's\n"
           "schedule (the exact denoiser takes any)");
  add_integer(app, "--steps", "N", "model calls (default: the experiment's, 10 for a network)");
  add_integer(app, "--samples", "S", "how many (default 64)");
  add_integer(app, "--seed", "X", "noise stream (default 0)");
  add_integer(app, "--chunk", "C", "samples per model call (default 250); progress on stderr");
  add_text(app, "--out", "OUT", "OUT.h5 (uint8 images), OUT.png (a grid) or a folder");
}

int run_sample(const Args& args) {
  auto source = args.get("model");
  const auto experiment = args.get("experiment");
  const auto solver = args.get("solver");
  const auto matrix_file = args.get("matrix");
  const auto steps_arg = args.get_int("steps");
  const int count = args.get_int("samples").value_or(64);
  const int seed = args.get_int("seed").value_or(0);
  const int chunk = args.get_int("chunk").value_or(250);
  const std::string out = args.require("out");
  if (source && experiment) throw ConfigError("--model", "give --model or --experiment, not both");
  if (experiment) source = experiment;
  if (solver && matrix_file) throw ConfigError("--solver", "give --solver or --matrix, not both");
  if (count < 1) throw ConfigError("--samples", "must be >= 1");
  if (chunk < 1) throw ConfigError("--chunk", "must be >= 1");
  if (seed < 0) throw ConfigError("--seed", "must be >= 0");
  if (steps_arg && *steps_arg < 1) throw ConfigError("--steps", "must be >= 1");

  bool own_schedule = false;
  const json doc = model_document(source, own_schedule);
  const ExperimentSpec spec = experiment_spec(doc);
  std::shared_ptr<const Schedule> schedule =
      make_schedule(spec.schedule.name, spec.schedule.params);
  Matrices m;
  if (matrix_file) {
    m = read_matrices(*matrix_file);
    if (own_schedule &&
        (m.schedule->name() != schedule->name() || m.schedule->params() != schedule->params()))
      throw ConfigError("--matrix", "was made for schedule " + std::string(m.schedule->name()) +
                                        " " + m.schedule->params().dump() + ", the model's is " +
                                        doc["schedule"].dump());
    if (steps_arg && *steps_arg != m.steps())
      throw ConfigError("--steps", std::to_string(*steps_arg) + " given, but " + *matrix_file +
                                       " has " + std::to_string(m.steps()) + " steps");
    schedule = m.schedule;
  } else {
    const int steps = steps_arg.value_or(source ? spec.steps : 10);
    const TimesSpec& times = spec.times;
    const TimeGrid grid = times.explicit_times.empty()
                              ? TimeGrid(times.discretization, GridSpec{times.t_start, times.t_end})
                              : TimeGrid(times.explicit_times);
    m = classic_matrices(find_classic(solver.value_or("dpmsolver++(2M)"), "--solver"),
                         SolverPlan{schedule, grid, steps, {}});
  }

  const std::string device = spec.devices.empty() ? "cpu" : spec.devices.front();
  const std::unique_ptr<X0Model> model =
      find_model(spec.model.kind).make(spec.model, schedule, device);
  SampleLayout layout{model->sample_shape(), at::kFloat, at::Device(device)};
  std::vector<at::Tensor> parts;
  for (int64_t first = 0; first < count; first += chunk) {
    const int64_t n = std::min<int64_t>(chunk, count - first);
    parts.push_back(
        run_engine(m, *model, static_cast<uint64_t>(seed), first, n, layout).to(at::kCPU));
    std::fprintf(stderr, "\rsample: %lld/%d", static_cast<long long>(first + n), count);
  }
  std::fprintf(stderr, "\n");
  const at::Tensor samples = at::cat(parts, 0);

  const std::string ext = std::filesystem::path(out).extension().string();
  if (ext == ".png") {
    write_png_grid(samples, static_cast<int>(std::ceil(std::sqrt(count))), out);
  } else if (ext == ".h5" || ext == ".hdf5") {
    write_image_file(out, quantize_samples(samples));
  } else if (ext.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(out, ec);
    if (ec) throw FileError(out, "cannot create the folder: " + ec.message());
    char name[32];
    for (int64_t i = 0; i < count; ++i) {
      std::snprintf(name, sizeof name, "%06lld.png", static_cast<long long>(i));
      write_png_grid(samples.slice(0, i, i + 1), 1, (std::filesystem::path(out) / name).string());
    }
  } else {
    throw ConfigError("--out", "must end in .png or .h5, or be a folder, got '" + out + "'");
  }
  std::printf("%d samples (%s, %d steps) → %s\n", count, m.solver.c_str(), m.steps(), out.c_str());
  return kOk;
}

}  // namespace samplersearch::cli
