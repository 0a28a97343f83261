#include "samplersearch/experiments/export.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <ostream>
#include <sstream>

#include "samplersearch/common/error.hpp"
#include "samplersearch/common/format.hpp"
#include "samplersearch/common/registry.hpp"
#include "samplersearch/samplers/matrix_io.hpp"
#include "samplersearch/samplers/sigma_list.hpp"

// What each format holds.
//  • markdown, latex: the comparison table of every entry (rank, label, kind, trial, the in-sample
//    value — on the noise the search selected with — and its ratio to context.baseline's; the
//    re-scored value — a fresh noise stream the search never saw, more samples — and its ratio
//    when some entry was re-scored; blank where not measured), then one paper table
//    (matrices_to_table: rows t_1…t_N, each divided by its newest entry, last column α(t_k)) per
//    searched entry, plus the baseline entry's table when it is a classic one, so a reader can set
//    the searched coefficients beside it (the other classic samplers' matrices are in the json/hdf5
//    export).
//  • csv: one long table that pandas.read_csv / Python's csv module load in one go (RFC 4180
//    quoting, LF line ends), columns rank,label,kind,trial,in_sample,in_sample_ratio,rescored,
//    rescored_ratio,row,time,c_1…c_N,marginal: one line per matrix row k = 1…N of EVERY entry
//    (machine-readable, so nothing is left out); c_j are the paper table's normalized entries, N
//    is the largest NFE (shorter entries leave the extra c_j blank).
//  • json, hdf5, npz: one write_matrices file per entry, <rank>_<label>.<ext>, exact (read_matrices
//    gives back the same C, B, times and schedule; npz is NaturalDiffusion's archive).
//  • sigmas: per entry <rank>_<label>.sigmas.json and .sigmas.txt, the time steps as the σ/α and
//    t lists that hosts taking only a noise schedule accept (matrices_to_sigma_list).
// rank is the 1-based position in `entries`: the caller orders them (best first).

namespace samplersearch {
namespace {

namespace fs = std::filesystem;

// An objective value, "" for NaN (not measured).
std::string format_value(double v) { return format_number(v, {.nan = ""}); }

// v / base to four decimals, "" when either is not finite or base is 0.
std::string format_ratio(double v, double base) {
  if (!std::isfinite(v) || !std::isfinite(base) || base == 0) return "";
  return format_number(v / base, {.digits = 4, .notation = Notation::fixed});
}

// What the two kinds of values mean, said wherever they are shown.
constexpr const char* kInSampleNote =
    "In-sample: on the noise the search selected with (optimistic for the searched trials).";
constexpr const char* kRescoredNote =
    "Re-scored: on a fresh noise stream the search never saw, with more samples; the searched "
    "trials are ranked by it (the first is the winner).";

// The comparison columns of one entry, as text ("" where there is nothing to show).
struct Summary {
  std::string rank, label, kind, trial, value, ratio, validation, validation_ratio;
};

// The baseline entry's index; −1 when context.baseline is "" or names no entry (the ratio columns
// stay blank: a store without a measured DPM-Solver++(2M) still exports).
int baseline_index(std::span<const ExportEntry> entries, const ExportContext& context) {
  if (context.baseline.empty()) return -1;
  for (size_t i = 0; i < entries.size(); ++i)
    if (entries[i].label == context.baseline) return static_cast<int>(i);
  return -1;
}

std::vector<Summary> summarize(std::span<const ExportEntry> entries, const ExportContext& context) {
  const int base = baseline_index(entries, context);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double base_value = base >= 0 ? entries[static_cast<size_t>(base)].value : nan;
  const double base_validation = base >= 0 ? entries[static_cast<size_t>(base)].validation : nan;
  std::vector<Summary> rows;
  for (size_t i = 0; i < entries.size(); ++i) {
    const ExportEntry& e = entries[i];
    rows.push_back({std::to_string(i + 1), e.label, e.searched ? "searched" : "classic",
                    e.searched && e.trial >= 0 ? std::to_string(e.trial) : "",
                    format_value(e.value), format_ratio(e.value, base_value),
                    format_value(e.validation), format_ratio(e.validation, base_validation)});
  }
  return rows;
}

// True when some entry was measured on unseen noise: the text tables then show those columns.
bool any_validation(std::span<const ExportEntry> entries) {
  return std::any_of(entries.begin(), entries.end(),
                     [](const ExportEntry& e) { return !std::isnan(e.validation); });
}

// The comparison table's header and row cells, with or without the unseen-noise columns.
std::vector<std::string> summary_header(bool validation) {
  std::vector<std::string> h{"rank", "label", "kind", "trial", "in-sample", "in-sample ratio"};
  if (validation) h.insert(h.end(), {"re-scored (unseen)", "re-scored ratio"});
  return h;
}

std::vector<std::string> summary_cells(const Summary& s, bool validation) {
  std::vector<std::string> c{s.rank, s.label, s.kind, s.trial, s.value, s.ratio};
  if (validation) c.insert(c.end(), {s.validation, s.validation_ratio});
  return c;
}

// Whether the text formats print this entry's paper table.
bool shows_matrix(std::span<const ExportEntry> entries, const ExportContext& context, size_t i) {
  return entries[i].searched || (!context.baseline.empty() && entries[i].label == context.baseline);
}

// "<label> (in-sample v[, ratio r][; re-scored w[, ratio q]])", the title of a paper table.
std::string matrix_title(const Summary& s) {
  std::string t = s.label + " (in-sample " + (s.value.empty() ? "-" : s.value);
  if (!s.ratio.empty()) t += ", ratio " + s.ratio;
  if (!s.validation.empty()) t += "; re-scored " + s.validation;
  if (!s.validation_ratio.empty()) t += ", ratio " + s.validation_ratio;
  return t + ")";
}

std::string matrix_note(const Matrices& m) {
  std::string note = std::to_string(m.steps()) + " steps on " + std::string(m.schedule->name());
  if (!m.deterministic()) note += "; stochastic: its noise matrix B is in the json/hdf5 export";
  return note;
}

constexpr const char* kHowToRead =
    "Rows are the target times t_k; each row is divided by its newest entry (so the diagonal is "
    "1); to use a row divide it by its sum and multiply by the marginal coeff α(t_k).";

// ---- markdown --------------------------------------------------------------------------------

std::string md_cell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += '\\';
    out += c;
  }
  return out;
}

void md_row(std::ostream& out, const std::vector<std::string>& cells) {
  out << '|';
  for (const std::string& c : cells) out << ' ' << md_cell(c) << " |";
  out << '\n';
}

void write_markdown(std::span<const ExportEntry> entries, const ExportContext& context,
                    std::ostream& out) {
  const auto rows = summarize(entries, context);
  out << "## " << md_cell(context.experiment_name) << "\n\n";
  std::string intro;
  if (!context.metric.empty()) intro += "Value: " + context.metric + ".";
  if (baseline_index(entries, context) >= 0) {
    if (!intro.empty()) intro += ' ';
    intro += "Ratio: value / value of " + context.baseline + ".";
  }
  const bool validation = any_validation(entries);
  if (!intro.empty()) intro += ' ';
  intro += kInSampleNote;
  if (validation) intro += std::string(" ") + kRescoredNote;
  out << intro << "\n\n";
  md_row(out, summary_header(validation));
  out << "|---:|---|---|---:|---:|---:|" << (validation ? "---:|---:|" : "") << '\n';
  for (const Summary& s : rows) md_row(out, summary_cells(s, validation));
  bool first = true;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (!shows_matrix(entries, context, i)) continue;
    out << "\n### " << md_cell(matrix_title(rows[i])) << "\n\n"
        << matrix_note(entries[i].matrices) << '.' << (first ? std::string(" ") + kHowToRead : "")
        << "\n\n";
    first = false;
    const auto cells = matrices_table_cells(entries[i].matrices, context.digits);
    md_row(out, cells[0]);
    out << "|---:|";
    for (size_t c = 1; c < cells[0].size(); ++c) out << "---:|";
    out << '\n';
    for (size_t r = 1; r < cells.size(); ++r) md_row(out, cells[r]);
  }
}

// ---- LaTeX -----------------------------------------------------------------------------------

std::string tex(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
      case '%':
      case '$':
      case '#':
      case '_':
      case '{':
      case '}':
        out += '\\';
        out += c;
        break;
      case '~':
        out += "\\textasciitilde{}";
        break;
      case '^':
        out += "\\textasciicircum{}";
        break;
      case '\\':
        out += "\\textbackslash{}";
        break;
      default:
        out += c;
    }
  }
  return out;
}

void tex_row(std::ostream& out, const std::vector<std::string>& cells) {
  for (size_t c = 0; c < cells.size(); ++c) out << (c ? " & " : "") << tex(cells[c]);
  out << " \\\\\n";
}

void write_latex(std::span<const ExportEntry> entries, const ExportContext& context,
                 std::ostream& out) {
  const auto rows = summarize(entries, context);
  out << "% samplersearch export of " << context.experiment_name
      << " (needs \\usepackage{booktabs})\n"
      << "\\begin{table}[ht]\n\\centering\n\\caption{" << tex(context.experiment_name);
  if (!context.metric.empty()) out << ": " << tex(context.metric);
  if (baseline_index(entries, context) >= 0) out << "; ratio to " << tex(context.baseline);
  const bool validation = any_validation(entries);
  out << ". " << tex(kInSampleNote);
  if (validation) out << ' ' << tex(kRescoredNote);
  out << "}\n\\begin{tabular}{rlllrr" << (validation ? "rr" : "") << "}\n\\toprule\n";
  tex_row(out, summary_header(validation));
  out << "\\midrule\n";
  for (const Summary& s : rows) tex_row(out, summary_cells(s, validation));
  out << "\\bottomrule\n\\end{tabular}\n\\end{table}\n";
  for (size_t i = 0; i < entries.size(); ++i) {
    if (!shows_matrix(entries, context, i)) continue;
    const auto cells = matrices_table_cells(entries[i].matrices, context.digits);
    out << "\n\\begin{table}[ht]\n\\centering\n\\caption{" << tex(matrix_title(rows[i])) << ": "
        << tex(matrix_note(entries[i].matrices)) << "}\n\\begin{tabular}{"
        << std::string(cells[0].size(), 'r') << "}\n\\toprule\n";
    tex_row(out, cells[0]);
    out << "\\midrule\n";
    for (size_t r = 1; r < cells.size(); ++r) tex_row(out, cells[r]);
    out << "\\bottomrule\n\\end{tabular}\n\\end{table}\n";
  }
}

// ---- CSV -------------------------------------------------------------------------------------

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

void write_csv(std::span<const ExportEntry> entries, const ExportContext& context,
               std::ostream& out) {
  const auto rows = summarize(entries, context);
  int n_max = 0;
  for (const ExportEntry& e : entries) n_max = std::max(n_max, e.matrices.steps());
  out << "rank,label,kind,trial,in_sample,in_sample_ratio,rescored,rescored_ratio,row,time";
  for (int j = 1; j <= n_max; ++j) out << ",c_" << j;
  out << ",marginal\n";
  for (size_t i = 0; i < entries.size(); ++i) {
    const Summary& s = rows[i];
    const auto cells = matrices_table_cells(entries[i].matrices, context.digits);
    for (size_t r = 1; r < cells.size(); ++r) {
      const auto& c = cells[r];  // time, c_1…c_N, marginal
      out << s.rank << ',' << csv_field(s.label) << ',' << s.kind << ',' << s.trial << ','
          << s.value << ',' << s.ratio << ',' << s.validation << ',' << s.validation_ratio << ','
          << r << ',' << c.front();
      for (int j = 1; j <= n_max; ++j)
        out << ',' << (j + 1 < static_cast<int>(c.size()) ? c[static_cast<size_t>(j)] : "");
      out << ',' << c.back() << '\n';
    }
  }
}

// ---- matrix files ----------------------------------------------------------------------------

// The label with every character outside [A-Za-z0-9_.+()-] replaced by '-'.
std::string file_label(const std::string& label) {
  std::string out;
  for (char c : label) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    std::string_view("_.+()-").find(c) != std::string_view::npos;
    out += ok ? c : '-';
  }
  return out.empty() ? "entry" : out;
}

// <dir>/<rank>_<label> for every entry (creating dir).
std::vector<std::string> entry_stems(std::span<const ExportEntry> entries, const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir))
    throw FileError(dir, "cannot create the export directory" + (ec ? ": " + ec.message() : ""));
  const size_t width = std::max<size_t>(2, std::to_string(entries.size()).size());
  std::vector<std::string> stems;
  for (size_t i = 0; i < entries.size(); ++i) {
    std::string rank = std::to_string(i + 1);
    rank.insert(0, width - rank.size(), '0');
    stems.push_back((fs::path(dir) / (rank + "_" + file_label(entries[i].label))).string());
  }
  return stems;
}

std::vector<std::string> write_matrix_files(std::span<const ExportEntry> entries,
                                            const std::string& dir, const std::string& ext) {
  std::vector<std::string> paths = entry_stems(entries, dir);
  for (size_t i = 0; i < entries.size(); ++i) {
    paths[i] += "." + ext;
    write_matrices(entries[i].matrices, paths[i]);
  }
  return paths;
}

std::vector<std::string> write_json(std::span<const ExportEntry> entries, const ExportContext&,
                                    const std::string& dir) {
  return write_matrix_files(entries, dir, "json");
}

std::vector<std::string> write_hdf5(std::span<const ExportEntry> entries, const ExportContext&,
                                    const std::string& dir) {
  return write_matrix_files(entries, dir, "h5");
}

std::vector<std::string> write_npz(std::span<const ExportEntry> entries, const ExportContext&,
                                   const std::string& dir) {
  return write_matrix_files(entries, dir, "npz");
}

void write_text_file(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  if (!(out << text) || !out.flush()) throw FileError(path, "cannot be written");
}

std::vector<std::string> write_sigmas(std::span<const ExportEntry> entries, const ExportContext&,
                                      const std::string& dir) {
  const std::vector<std::string> stems = entry_stems(entries, dir);
  std::vector<std::string> paths;
  for (size_t i = 0; i < entries.size(); ++i) {
    paths.push_back(stems[i] + ".sigmas.json");
    write_text_file(paths.back(), matrices_to_sigma_list(entries[i].matrices).dump(2) + "\n");
    paths.push_back(stems[i] + ".sigmas.txt");
    write_text_file(paths.back(), sigma_list_text(entries[i].matrices, entries[i].label));
  }
  return paths;
}

constexpr std::array kFormats{
    ExportFormatEntry{"markdown",
                      "comparison table and paper tables (GitHub pipe tables) to stdout", true,
                      write_markdown, nullptr},
    ExportFormatEntry{"csv",
                      "one long CSV table: every entry's normalized matrix rows with its value",
                      true, write_csv, nullptr},
    ExportFormatEntry{"latex", "comparison table and paper tables as booktabs tabulars", true,
                      write_latex, nullptr},
    ExportFormatEntry{"json", "one exact matrix file per entry, <rank>_<label>.json", false,
                      nullptr, write_json},
    ExportFormatEntry{"hdf5", "one exact matrix file per entry, <rank>_<label>.h5", false, nullptr,
                      write_hdf5},
    ExportFormatEntry{"npz",
                      "one NaturalDiffusion .npz per entry (past_xstart_coeff, "
                      "past_epsilon_coeff, node_coeff), <rank>_<label>.npz",
                      false, nullptr, write_npz},
    ExportFormatEntry{"sigmas",
                      "the time steps only, as σ/α and t lists for hosts that take a sigma "
                      "schedule (k-diffusion, AYS/GITS-style), <rank>_<label>.sigmas.json/.txt",
                      false, nullptr, write_sigmas},
};

}  // namespace

std::span<const ExportFormatEntry> export_format_registry() { return kFormats; }

const ExportFormatEntry& export_format(std::string_view name) {
  return registry_find(export_format_registry(), name, "format");
}

}  // namespace samplersearch
