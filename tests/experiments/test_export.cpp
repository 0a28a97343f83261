// Export formats: the papers' tables in markdown / LaTeX / CSV (read back and checked against the
// matrices and a hand-written α(t) of vp-linear), CSV through Python's csv module, and the json /
// hdf5 matrix files round-tripping bit for bit through read_matrices.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "samplersearch/common/error.hpp"
#include "samplersearch/experiments/export.hpp"
#include "samplersearch/samplers/matrix_io.hpp"
#include "samplersearch/samplers/solver.hpp"

namespace samplersearch {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// α(t) of vp-linear written out here (docs/equations.md §1), independent of the library's schedule.
double vp_alpha(double t) { return std::exp(-0.25 * 19.9 * t * t - 0.5 * 0.1 * t); }

Matrices classic(const std::string& name, int steps, SolverOptions options = {}) {
  return solver_matrices(name, SolverPlan{make_schedule("vp-linear"),
                                          TimeGrid("time-quadratic", {1.0, 1e-3}), steps, options});
}

// DPM-Solver++(2M) with every lower-triangular entry perturbed, rows rescaled to sum α(t_k).
Matrices searched_matrices() {
  Matrices m = classic("dpmsolver++", 5);
  for (Eigen::Index k = 1; k <= 5; ++k) {
    for (Eigen::Index j = 0; j < k; ++j)
      m.signal(k, j) += 0.05 * std::sin(static_cast<double>(3 * k + j));
    m.signal.row(k) *= vp_alpha(m.times[static_cast<size_t>(k)]) / m.signal.row(k).sum();
  }
  m.solver = "searched";
  m.validate("searched");
  return m;
}

ExportEntry entry(std::string label, bool searched, int trial, double value, double validation,
                  Matrices m) {
  ExportEntry e;
  e.label = std::move(label);
  e.searched = searched;
  e.trial = trial;
  e.value = value;
  e.validation = validation;
  e.matrices = std::move(m);
  return e;
}

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Best first, as the caller ranks them; ddim and trial 7 were not measured on unseen noise.
std::vector<ExportEntry> test_entries() {
  SolverOptions eta;
  eta.eta = 1.0;
  return {entry("trial 42", true, 42, 2.718281828, 2.9, searched_matrices()),
          entry("dpmsolver++(2M)", false, -1, 3.14159265, 3.3, classic("dpmsolver++", 5)),
          entry("ddim", false, -1, 4.5, kNaN, classic("ddim", 5)),
          entry("trial 7, \"short\"", true, 7, 6.02214076, kNaN, classic("ddim", 3, eta))};
}

ExportContext test_context() {
  return {"cifar_5 step & 50% #1", "excess fd", "dpmsolver++(2M)", 3};
}

std::string text_of(const std::string& format, const std::vector<ExportEntry>& entries,
                    const ExportContext& context) {
  std::ostringstream out;
  export_format(format).write_text(entries, context, out);
  return out.str();
}

double number(const std::string& s) {
  size_t used = 0;
  const double v = std::stod(s, &used);
  EXPECT_EQ(used, s.size()) << "'" << s << "'";
  return v;
}

std::string temp_dir(const std::string& name) {
  return (fs::temp_directory_path() /
          ("samplersearch_test_export_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

// The paper-table cells of entry m, checked against its matrices: the times, C[k][j]/C[k][k−1]
// to the printed digits, "1.000" on the diagonal and α(t_k) in the last column.
void expect_paper_table(const std::vector<std::vector<std::string>>& cells, const Matrices& m,
                        const std::string& what) {
  const size_t n = static_cast<size_t>(m.steps());
  ASSERT_EQ(cells.size(), n + 1) << what;
  ASSERT_EQ(cells[0].size(), n + 2) << what;
  EXPECT_EQ(cells[0].front(), "time");
  EXPECT_EQ(cells[0].back(), "marginal coeff");
  for (size_t k = 1; k <= n; ++k) {
    EXPECT_NEAR(number(cells[0][k]), m.times[k], 5e-4 + 1e-12) << what;
    const auto& row = cells[k];
    ASSERT_EQ(row.size(), n + 2) << what;
    EXPECT_NEAR(number(row[0]), m.times[k], 5e-4 + 1e-12) << what;
    const double diag = m.signal(static_cast<Eigen::Index>(k), static_cast<Eigen::Index>(k - 1));
    for (size_t j = 0; j < n; ++j) {
      const double v = m.signal(static_cast<Eigen::Index>(k), static_cast<Eigen::Index>(j)) / diag;
      EXPECT_NEAR(number(row[j + 1]), v, 5e-4 + 1e-12) << what << " row " << k << " col " << j;
    }
    EXPECT_EQ(row[k], "1.000") << what << " row " << k;
    EXPECT_NEAR(number(row.back()), vp_alpha(m.times[k]), 5e-4 + 1e-12) << what;
  }
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(' ');
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(' ') - b + 1);
}

// Markdown: every "|…|" block as cells (the separator row dropped), keyed by the heading above it.
std::vector<std::pair<std::string, std::vector<std::vector<std::string>>>> markdown_tables(
    const std::string& text) {
  std::vector<std::pair<std::string, std::vector<std::vector<std::string>>>> tables;
  std::istringstream in(text);
  std::string heading;
  bool in_table = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("#", 0) == 0) heading = line;
    if (line.empty() || line[0] != '|') {
      in_table = false;
      continue;
    }
    if (!in_table) tables.push_back({heading, {}});
    in_table = true;
    EXPECT_EQ(line.back(), '|') << line;
    std::vector<std::string> cells;
    std::istringstream cell_in(line.substr(1, line.size() - 2));
    for (std::string c; std::getline(cell_in, c, '|');) cells.push_back(trim(c));
    if (cells[0].find("---") == std::string::npos) tables.back().second.push_back(cells);
  }
  return tables;
}

TEST(Registry, NamesKindsAndUnknownFormat) {
  std::vector<std::string> names;
  for (const ExportFormatEntry& e : export_format_registry()) {
    names.emplace_back(e.name);
    EXPECT_EQ(e.text, e.write_text != nullptr) << e.name;
    EXPECT_EQ(!e.text, e.write_files != nullptr) << e.name;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"markdown", "csv", "latex", "json", "hdf5", "npz",
                                             "sigmas"}));
  EXPECT_EQ(export_format("latex").name, "latex");
  try {
    export_format("xlsx");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "format: unknown name 'xlsx' (valid: markdown, csv, latex, json, hdf5, npz, sigmas)");
  }
}

TEST(Markdown, ComparisonAndPaperTablesReadBack) {
  const auto entries = test_entries();
  const std::string text = text_of("markdown", entries, test_context());
  const auto tables = markdown_tables(text);
  // Comparison, then trial 42, the baseline dpmsolver++(2M), trial 7 (not ddim).
  ASSERT_EQ(tables.size(), 4u) << text;
  const auto& cmp = tables[0].second;
  ASSERT_EQ(cmp.size(), 5u);
  EXPECT_EQ(cmp[0],
            (std::vector<std::string>{"rank", "label", "kind", "trial", "in-sample",
                                      "in-sample ratio", "re-scored (unseen)", "re-scored ratio"}));
  // The text says which numbers are in-sample and which are not.
  EXPECT_NE(text.find("In-sample: on the noise the search selected with"), std::string::npos);
  EXPECT_NE(text.find("Re-scored: on a fresh noise stream the search never saw, with more samples"),
            std::string::npos);
  const char* kinds[] = {"searched", "classic", "classic", "searched"};
  const char* trials[] = {"42", "", "", "7"};
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& row = cmp[i + 1];
    EXPECT_EQ(row[0], std::to_string(i + 1));
    EXPECT_EQ(row[1], entries[i].label);
    EXPECT_EQ(row[2], kinds[i]);
    EXPECT_EQ(row[3], trials[i]);
    EXPECT_NEAR(number(row[4]), entries[i].value, 5e-6 * entries[i].value);
    EXPECT_NEAR(number(row[5]), entries[i].value / 3.14159265, 5e-5);
    if (std::isnan(entries[i].validation)) {
      EXPECT_EQ(row[6], "");
      EXPECT_EQ(row[7], "");
    } else {
      EXPECT_NEAR(number(row[6]), entries[i].validation, 5e-6 * entries[i].validation);
      EXPECT_NEAR(number(row[7]), entries[i].validation / 3.3, 5e-5);
    }
  }
  EXPECT_EQ(cmp[1][4], "2.71828");
  EXPECT_EQ(cmp[1][7], "0.8788");
  EXPECT_EQ(cmp[2][5], "1.0000");
  EXPECT_EQ(tables[1].first,
            "### trial 42 (in-sample 2.71828, ratio 0.8653; re-scored 2.9, ratio 0.8788)");
  EXPECT_EQ(tables[2].first,
            "### dpmsolver++(2M) (in-sample 3.14159, ratio 1.0000; re-scored 3.3, ratio 1.0000)");
  EXPECT_EQ(tables[3].first.rfind("### trial 7, \"short\" (in-sample 6.02214", 0), 0u);
  expect_paper_table(tables[1].second, entries[0].matrices, "trial 42");
  expect_paper_table(tables[2].second, entries[1].matrices, "dpm++");
  expect_paper_table(tables[3].second, entries[3].matrices, "trial 7");
  // The searched rows sum to α(t_k) before normalization: the marginal column is that sum.
  const auto sums = entries[0].matrices.row_sums();
  for (size_t k = 1; k <= 5; ++k)
    EXPECT_NEAR(number(tables[1].second[k].back()), sums[k], 5e-4 + 1e-12);
  // The reading rule of Zheng & Zheng 2025 (divide by the row sum, multiply by α) gives C back
  // (table reader).
  const auto& m = entries[0].matrices;
  std::string block;
  for (const auto& r : tables[1].second) {
    for (const auto& c : r) block += "| " + c + " ";
    block += "|\n";
  }
  const Matrices back = matrices_from_table(block, m.schedule, m.times, "markdown");
  EXPECT_LE((back.signal - m.signal).cwiseAbs().maxCoeff(), 2e-3);
  EXPECT_NE(text.find("stochastic: its noise matrix B"), std::string::npos);
  EXPECT_NE(text.find("\n\nValue: excess fd. Ratio: value / value of dpmsolver++(2M). In-sample:"),
            std::string::npos);
  EXPECT_EQ(text.find("### ddim"), std::string::npos);
}

TEST(Markdown, WithoutBaselineOrValidationTheColumnsStayBlankOrGo) {
  // "" and a label that no entry has (the CLI passes "dpmsolver++(2M)" whether or not it was
  // measured) both leave the ratios blank and show only the searched entries' tables.
  for (const char* baseline : {"", "dpmsolver++"}) {
    ExportContext context = test_context();
    context.baseline = baseline;
    auto entries = test_entries();
    for (ExportEntry& e : entries) e.validation = kNaN;
    entries[2].value = kNaN;  // a baseline that failed
    const std::string text = text_of("markdown", entries, context);
    EXPECT_EQ(text.find("Ratio:"), std::string::npos);
    const auto tables = markdown_tables(text);
    ASSERT_EQ(tables.size(), 3u) << baseline;
    EXPECT_EQ(tables[0].second[0].size(), 6u);  // no unseen-noise columns
    for (size_t i = 1; i < tables[0].second.size(); ++i) EXPECT_EQ(tables[0].second[i][5], "");
    EXPECT_EQ(tables[0].second[3][4], "");  // NaN value: blank
    EXPECT_EQ(tables[1].first, "### trial 42 (in-sample 2.71828)");
    EXPECT_NE(text.find("In-sample: on the noise"), std::string::npos);
    EXPECT_EQ(text.find("Re-scored:"), std::string::npos);  // nothing was re-scored
    EXPECT_EQ(tables[2].first.rfind("### trial 7", 0), 0u);
  }
}

TEST(Csv, PythonCsvModuleReadsEveryMatrixRow) {
  const auto entries = test_entries();
  const std::string dir = temp_dir("csv");
  fs::create_directories(dir);
  const std::string csv_path = dir + "/export.csv", json_path = dir + "/rows.json";
  std::ofstream(csv_path) << text_of("csv", entries, test_context());
  const char* python = std::getenv("SAMPLERSEARCH_PYTHON");
  const std::string cmd =
      std::string("'") + (python && *python ? python : "/usr/bin/python3") +
      "' -c 'import csv, json, sys; r = csv.reader(open(sys.argv[1], newline=\"\")); "
      "json.dump(list(r), open(sys.argv[2], \"w\"))' '" +
      csv_path + "' '" + json_path + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  json rows;
  std::ifstream(json_path) >> rows;
  fs::remove_all(dir);
  // Header + 5 + 5 + 5 + 3 matrix rows, every line 10 + N_max + 1 = 16 fields.
  ASSERT_EQ(rows.size(), 19u);
  const std::vector<std::string> header{"rank",      "label",
                                        "kind",      "trial",
                                        "in_sample", "in_sample_ratio",
                                        "rescored",  "rescored_ratio",
                                        "row",       "time",
                                        "c_1",       "c_2",
                                        "c_3",       "c_4",
                                        "c_5",       "marginal"};
  EXPECT_EQ(rows[0].get<std::vector<std::string>>(), header);
  size_t line = 1;
  for (size_t i = 0; i < entries.size(); ++i) {
    const Matrices& m = entries[i].matrices;
    for (Eigen::Index k = 1; k <= m.steps(); ++k, ++line) {
      const auto r = rows[line].get<std::vector<std::string>>();
      ASSERT_EQ(r.size(), header.size());
      EXPECT_EQ(r[0], std::to_string(i + 1));
      EXPECT_EQ(r[1], entries[i].label);
      EXPECT_EQ(r[2], entries[i].searched ? "searched" : "classic");
      EXPECT_NEAR(number(r[4]), entries[i].value, 5e-6 * entries[i].value);
      EXPECT_NEAR(number(r[5]), entries[i].value / 3.14159265, 5e-5);
      if (std::isnan(entries[i].validation)) {
        EXPECT_EQ(r[6] + r[7], "");
      } else {
        EXPECT_NEAR(number(r[6]), entries[i].validation, 5e-6 * entries[i].validation);
        EXPECT_NEAR(number(r[7]), entries[i].validation / 3.3, 5e-5);
      }
      EXPECT_EQ(r[8], std::to_string(k));
      EXPECT_NEAR(number(r[9]), m.times[static_cast<size_t>(k)], 5e-4 + 1e-12);
      for (Eigen::Index j = 0; j < 5; ++j) {
        const std::string& c = r[10 + static_cast<size_t>(j)];
        if (j >= m.steps()) {
          EXPECT_EQ(c, "");
          continue;
        }
        EXPECT_NEAR(number(c), m.signal(k, j) / m.signal(k, k - 1), 5e-4 + 1e-12);
      }
      EXPECT_EQ(r[10 + static_cast<size_t>(k) - 1], "1.000");
      EXPECT_NEAR(number(r[15]), vp_alpha(m.times[static_cast<size_t>(k)]), 5e-4 + 1e-12);
    }
  }
}

TEST(Latex, BalancedEnvironmentsColumnCountsAndEscapes) {
  const std::string text = text_of("latex", test_entries(), test_context());
  std::vector<std::string> stack;
  std::vector<size_t> columns;  // of each tabular
  int tabulars = 0, rows = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    for (size_t p = 0; (p = line.find("\\begin{", p)) != std::string::npos; ++p) {
      const std::string env = line.substr(p + 7, line.find('}', p) - p - 7);
      stack.push_back(env);
      if (env == "tabular") {
        const size_t open = line.find('{', line.find('}', p)) + 1;
        const std::string spec = line.substr(open, line.find('}', open) - open);
        columns.push_back(spec.find_first_not_of("lrc") == std::string::npos ? spec.size() : 0);
        ++tabulars;
      }
    }
    for (size_t p = 0; (p = line.find("\\end{", p)) != std::string::npos; ++p) {
      const std::string env = line.substr(p + 5, line.find('}', p) - p - 5);
      ASSERT_FALSE(stack.empty()) << line;
      EXPECT_EQ(stack.back(), env);
      stack.pop_back();
    }
    if (line.size() > 3 && line.substr(line.size() - 3) == " \\\\") {
      size_t cells = 1;
      for (size_t p = 0; p < line.size(); ++p)
        if (line[p] == '&' && (p == 0 || line[p - 1] != '\\')) ++cells;
      ASSERT_FALSE(columns.empty());
      EXPECT_EQ(cells, columns.back()) << line;
      ++rows;
    }
  }
  EXPECT_TRUE(stack.empty());
  EXPECT_EQ(tabulars, 4);
  // Comparison 1 + 4, paper tables (1 + 5) · 2 + (1 + 3).
  EXPECT_EQ(rows, 5 + 12 + 4);
  EXPECT_EQ(columns, (std::vector<size_t>{8, 7, 7, 5}));
  for (const char* rule : {"\\toprule", "\\midrule", "\\bottomrule"}) {
    int count = 0;
    for (size_t p = 0; (p = text.find(rule, p)) != std::string::npos; ++p) ++count;
    EXPECT_EQ(count, 4) << rule;
  }
  EXPECT_NE(text.find("\\caption{cifar\\_5 step \\& 50\\% \\#1: excess fd; ratio to "
                      "dpmsolver++(2M). In-sample: on the noise the search selected with "
                      "(optimistic for the searched trials). Re-scored: on a fresh noise stream "
                      "the search never saw, with more samples; the searched trials are ranked "
                      "by it (the first is the winner).}"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("1 & trial 42 & searched & 42 & 2.71828 & 0.8653 & 2.9 & 0.8788 \\\\"),
            std::string::npos);
}

TEST(Files, JsonHdf5AndNpzExportsLoadBackBitIdentical) {
  const auto entries = test_entries();
  for (const std::string format : {"json", "hdf5", "npz"}) {
    const std::string dir = temp_dir(format) + "/nested/out";
    const auto paths = export_format(format).write_files(entries, test_context(), dir);
    const std::string ext = format == "json" ? ".json" : format == "hdf5" ? ".h5" : ".npz";
    EXPECT_EQ(paths, (std::vector<std::string>{
                         dir + "/01_trial-42" + ext, dir + "/02_dpmsolver++(2M)" + ext,
                         dir + "/03_ddim" + ext, dir + "/04_trial-7---short-" + ext}));
    for (size_t i = 0; i < paths.size() && i < entries.size(); ++i) {
      const Matrices r = read_matrices(paths[i]);
      const Matrices& m = entries[i].matrices;
      EXPECT_EQ(r.times, m.times) << paths[i];
      ASSERT_EQ(r.signal.rows(), m.signal.rows());
      ASSERT_EQ(r.noise.cols(), m.noise.cols());
      EXPECT_EQ((r.signal - m.signal).cwiseAbs().maxCoeff(), 0.0) << paths[i];
      EXPECT_EQ((r.noise - m.noise).cwiseAbs().maxCoeff(), 0.0) << paths[i];
      EXPECT_EQ(r.schedule->name(), m.schedule->name());
      EXPECT_EQ(r.schedule->params(), m.schedule->params());
      if (format == "npz") continue;  // NaturalDiffusion's file has no solver or options
      EXPECT_EQ(r.solver, m.solver);
      EXPECT_EQ(r.options, m.options);
    }
    EXPECT_FALSE(entries[3].matrices.deterministic());  // B really went through
    fs::remove_all(temp_dir(format));
  }
  // Sigma lists: σ(t_k)/α(t_k) and t_k of every entry, as JSON and as text.
  const std::string dir = temp_dir("sigmas");
  const auto paths = export_format("sigmas").write_files(entries, test_context(), dir);
  ASSERT_EQ(paths.size(), 2 * entries.size());
  EXPECT_EQ(paths[0], dir + "/01_trial-42.sigmas.json");
  EXPECT_EQ(paths[1], dir + "/01_trial-42.sigmas.txt");
  for (size_t i = 0; i < entries.size(); ++i) {
    const Matrices& m = entries[i].matrices;
    const nlohmann::json j = nlohmann::json::parse(std::ifstream(paths[2 * i]));
    ASSERT_EQ(j["t"].size(), m.times.size());
    for (size_t k = 0; k < m.times.size(); ++k) {
      const double a = m.schedule->alpha(m.times[k]), s = m.schedule->sigma(m.times[k]);
      EXPECT_EQ(j["t"][k].get<double>(), m.times[k]);
      EXPECT_NEAR(j["sigmas"][k].get<double>(), s / a, 1e-12 * s / a);
    }
    EXPECT_NE(j["note"].get<std::string>().find("are lost"), std::string::npos);
    std::stringstream text;
    text << std::ifstream(paths[2 * i + 1]).rdbuf();
    EXPECT_NE(text.str().find("\nsigmas = ["), std::string::npos) << text.str();
  }
  fs::remove_all(dir);
  // A file where the directory should be.
  const std::string blocker = temp_dir("blocker");
  std::ofstream(blocker) << "x";
  try {
    export_format("json").write_files(entries, test_context(), blocker);
    FAIL();
  } catch (const FileError& e) {
    EXPECT_EQ(std::string(e.what()).rfind(blocker + ": cannot create the export directory", 0), 0u)
        << e.what();
  }
  fs::remove(blocker);
}

}  // namespace
}  // namespace samplersearch
