#pragma once
// Export of an experiment's best matrices: the papers' tables (rows = target
// times, each row divided by its newest entry, "marginal coeff" column α(t_k); docs/equations.md
// §4) in markdown, CSV and LaTeX, matrix files (JSON, HDF5, NaturalDiffusion .npz) that
// read_matrices loads back unchanged, and sigma lists (the time steps only). The classic samplers
// measured as baselines are listed beside the searched ones for comparison.
#include <iosfwd>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "samplersearch/samplers/matrices.hpp"

namespace samplersearch {

// One exported sampler: a searched trial or a classic baseline.
struct ExportEntry {
  std::string label;     // "trial 42" or "dpmsolver++(2M)"
  bool searched = true;  // false for a classic baseline
  int trial = -1;        // trial number (searched only)
  double value = 0;      // the objective value on the search's noise
  double validation =
      std::numeric_limits<double>::quiet_NaN();  // on unseen noise (NaN: not measured)
  Matrices matrices;
};

// What every format gets besides the entries.
struct ExportContext {
  std::string experiment_name;
  std::string metric;    // e.g. "excess (fd, classifier features), 1000 samples"
  std::string baseline;  // label of the entry ratios are taken against ("" = none)
  int digits = 3;        // digits of the matrix tables
};

// One row of the export-format registry.
struct ExportFormatEntry {
  std::string_view name;  // markdown, csv, latex, json, hdf5, npz, sigmas
  std::string_view summary;
  bool text;  // text formats go to a stream; file formats write matrix files
  // Text formats: the comparison table, then one paper table per searched entry (markdown,
  // latex); csv is one long table, one line per matrix row of every entry.
  void (*write_text)(std::span<const ExportEntry> entries, const ExportContext& context,
                     std::ostream& out);
  // File formats: one matrix file per entry into `dir`, named <rank>_<label>.<ext>; returns paths.
  std::vector<std::string> (*write_files)(std::span<const ExportEntry> entries,
                                          const ExportContext& context, const std::string& dir);
};

std::span<const ExportFormatEntry> export_format_registry();
// The format `name`; ConfigError listing the valid names otherwise.
const ExportFormatEntry& export_format(std::string_view name);

}  // namespace samplersearch
