// samplersearch convert: matrix files between JSON, HDF5, NaturalDiffusion .npz and the papers'
// table format.
#include <fstream>
#include <iostream>
#include <sstream>

#include "commands.hpp"
#include "samplersearch/common/error.hpp"
#include "samplersearch/common/registry.hpp"
#include "samplersearch/samplers/discretization.hpp"
#include "samplersearch/samplers/matrix_io.hpp"

namespace samplersearch::cli {
namespace {

bool is_table(const std::string& path) {
  for (const char* ext : {".txt", ".tsv", ".md"})
    if (path.size() > 4 && path.rfind(ext) == path.size() - std::string(ext).size()) return true;
  return false;
}

}  // namespace

void declare_convert(CLI::App& app) {
  app.description(
      "Converts a matrix file; the format is chosen by extension: .json, .h5/.hdf5, .npz\n"
      "(NaturalDiffusion's past_xstart_coeff, past_epsilon_coeff, node_coeff), or the papers'\n"
      "table (.txt/.tsv/.md: rows = target times, diagonal-normalized, 'marginal coeff' column).\n"
      "An .npz does not name its schedule: it is inferred from node_coeff's (t, α, σ), or\n"
      "checked against --schedule.\n"
      "A table does not say its schedule or t_0: give --schedule and either the discretization it\n"
      "was made on (its N+1 exact times; the table's rounded times are checked) or --t0.\n");
  add_positionals(app, "FILES", "IN OUT: the file to read and the file to write");
  add_text(app, "--schedule", "NAME", "one of:\n" + registry_help(schedule_registry()));
  add_text(app, "--discretization", "NAME", "one of:\n" + registry_help(discretization_registry()));
  add_number(app, "--t-start", "T", "the discretization's start (default: the schedule's)");
  add_number(app, "--t-end", "E", "the discretization's end (default: the schedule's)");
  add_number(app, "--t0", "T", "the table's first time, instead of --discretization");
}

int run_convert(const Args& args) {
  const auto& pos = args.positional();
  if (pos.size() != 2) throw ConfigError("convert", "needs IN and OUT (see 'convert --help')");
  const std::string& in = pos[0];
  const std::string& out = pos[1];
  Matrices m;
  if (is_table(in)) {
    auto schedule = make_schedule(args.require("schedule"));
    std::ifstream file(in);
    if (!file) throw FileError(in, "cannot open");
    std::stringstream text;
    text << file.rdbuf();
    const auto disc = args.get("discretization");
    const auto t0 = args.get_double("t0");
    std::vector<double> times;
    if (disc) {
      int rows = 0;
      std::istringstream count(text.str());
      for (std::string line; std::getline(count, line);)
        if (line.find_first_not_of(" \t|") != std::string::npos && line.rfind("time", 0) != 0 &&
            line.find("---") == std::string::npos)
          ++rows;
      times = make_timesteps(*disc, *schedule, rows,
                             GridSpec{args.get_double("t-start").value_or(schedule->t_max()),
                                      args.get_double("t-end").value_or(schedule->t_min())});
    } else if (t0) {
      times = {*t0};
    } else {
      throw ConfigError("--discretization", "a table needs --discretization or --t0");
    }
    try {
      m = matrices_from_table(text.str(), schedule, times, "");
    } catch (const ConfigError& e) {
      throw FileError(in, e.what());
    }
  } else {
    for (const char* flag : {"discretization", "t0", "t-start", "t-end"})
      if (args.get(flag))
        throw ConfigError(std::string("--") + flag, "applies to a table input only");
    const auto schedule = args.get("schedule");
    m = read_matrices(in, schedule ? make_schedule(*schedule) : nullptr);
  }
  write_matrices(m, out);
  std::cerr << "wrote " << out << " (" << m.steps() << " steps, " << m.schedule->name() << ")\n";
  return kOk;
}

}  // namespace samplersearch::cli
