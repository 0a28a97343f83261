// write_report: one self-contained HTML page (inline SVG and CSS, two PNGs beside it) showing an
// experiment's optimization history, the best matrix beside DPM-Solver++'s as heat maps, and
// sample grids. All text from the inputs is HTML-escaped; the page needs no script and no network.
#include "samplersearch/experiments/report.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "report_parts.hpp"
#include "samplersearch/common/error.hpp"
#include "samplersearch/common/format.hpp"

namespace samplersearch {
namespace report_detail {

std::string esc(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string px(double v) { return format_number(v, {.digits = 1, .notation = Notation::fixed}); }

}  // namespace report_detail

namespace {

namespace fs = std::filesystem;
using namespace report_detail;  // NOLINT: the page is assembled from the report parts

// Labels compared loosely: lower case without spaces, '-' and '_'.
std::string label_key(std::string_view s) {
  std::string out;
  for (const char c : s)
    if (c != ' ' && c != '-' && c != '_')
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The baseline every ratio is taken against: DPM-Solver++(2M), if it was measured.
const Baseline* reference_baseline(const std::vector<Baseline>& baselines) {
  for (const Baseline& b : baselines)
    if (label_key(b.label) == "dpmsolver++(2m)" && std::isfinite(b.value) && b.value != 0)
      return &b;
  return nullptr;
}

// ---- Sample grids ---------------------------------------------------------------------------

// Writes one grid (columns = ⌈√n⌉) and returns its <figure>, or a note when there is none.
std::string grid_figure(const at::Tensor& images, const std::string& dir, const std::string& file,
                        const std::string& field, const std::string& caption) {
  std::ostringstream s;
  s << "<figure class=\"grid\">\n";
  if (!images.defined()) {
    s << "<p class=\"missing\">no samples</p>";
  } else {
    if (images.dim() != 4 || (images.size(1) != 1 && images.size(1) != 3) || images.size(0) < 1)
      throw ConfigError(field, "expected samples [n, c, h, w] with n >= 1 and c = 1 or 3");
    const int64_t n = images.size(0), h = images.size(2), w = images.size(3);
    const int columns = static_cast<int>(std::ceil(std::sqrt(static_cast<double>(n)) - 1e-9));
    const int64_t rows = (n + columns - 1) / columns;
    const int64_t width = columns * w + columns - 1, height = rows * h + rows - 1;
    write_png_grid(images, columns, (fs::path(dir) / file).string());
    const int64_t zoom = std::max<int64_t>(1, 360 / width);
    s << "<img src=\"" << esc(file) << "\" width=\"" << width * zoom << "\" height=\""
      << height * zoom << "\" alt=\"" << esc(caption) << "\">\n";
  }
  s << "<figcaption>" << esc(caption) << "</figcaption>\n</figure>\n";
  return s.str();
}

// ---- The page -------------------------------------------------------------------------------

constexpr const char* kCss = R"(
body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;max-width:1120px;
margin:1.5em auto;padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.6em;margin-bottom:.2em}
h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6em 0}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.searched{background:#fdf1e6}
svg{font-size:11px;font-family:inherit;overflow:visible}
.row{display:flex;flex-wrap:wrap;gap:2em;align-items:flex-start}
figure{margin:0}
figcaption{font-size:.95em;margin-top:.3em;max-width:420px}
img{image-rendering:pixelated;image-rendering:crisp-edges;border:1px solid #ccc}
pre{background:#f6f6f6;border:1px solid #ddd;padding:.7em;overflow:auto;font-size:12px;
max-height:40em}
.note{color:#555;font-size:.92em}
.missing{color:#a00}
)";

// Self-check only (the page needs no script): records on <body> which images loaded.
constexpr const char* kImageCheck = R"(<script>
window.addEventListener("load", function () {
  var d = document, m = d.images, ok = [];
  for (var i = 0; i < m.length; i++)
    if (m[i].complete && m[i].naturalWidth > 0)
      ok.push(m[i].getAttribute("src") + ":" + m[i].naturalWidth + "x" + m[i].naturalHeight);
  d.body.setAttribute("data-images-loaded", ok.length);
  d.body.setAttribute("data-images-total", m.length);
  d.body.setAttribute("data-images", ok.join(" "));
});
</script>)";

std::string summary_html(const ReportInput& in) {
  int complete = 0, pruned = 0, failed = 0, running = 0, waiting = 0;
  for (const TrialRecord& t : in.trials) {
    switch (t.state) {
      case TrialState::complete:
        ++complete;
        break;
      case TrialState::pruned:
        ++pruned;
        break;
      case TrialState::fail:
        ++failed;
        break;
      case TrialState::running:
        ++running;
        break;
      case TrialState::waiting:
        ++waiting;
        break;
    }
  }
  const Baseline* ref = reference_baseline(in.baselines);
  const auto ratio = [&](double v) {
    return ref ? format_number(v / ref->value, {.digits = 4}) : std::string("—");
  };

  std::ostringstream s;
  s << "<table class=\"summary\">\n<tr><th>metric</th><td>" << esc(in.metric)
    << " (lower is better)</td></tr>\n";
  if (in.best && in.best->value && !std::isnan(in.best_validation))
    s << "<tr><th>winner</th><td><b>" << esc(format_number(in.best_validation))
      << "</b> re-scored (trial " << in.best->number
      << ": the best of the re-scored trials on a fresh noise stream the search never saw); "
      << esc(format_number(*in.best->value)) << " in-sample</td></tr>\n";
  else if (in.best && in.best->value)
    s << "<tr><th>best in-sample value</th><td><b>" << esc(format_number(*in.best->value))
      << "</b> (trial " << in.best->number << "; not re-scored yet)</td></tr>\n";
  else
    s << "<tr><th>best value</th><td>no COMPLETE trial yet</td></tr>\n";
  s << "<tr><th>trials</th><td>";
  s << in.trials.size() << ": " << complete << " COMPLETE, " << pruned << " PRUNED, " << failed
    << " FAIL";
  if (running) s << ", " << running << " RUNNING";
  if (waiting) s << ", " << waiting << " WAITING";
  s << "</td></tr>\n</table>\n";

  // Values on unseen noise (the re-measurement) get two more columns when any was measured.
  bool unseen = !std::isnan(in.best_validation);
  for (const Baseline& b : in.baselines) unseen = unseen || !std::isnan(b.validation);
  const auto unseen_ratio = [&](double v) {
    return ref && !std::isnan(ref->validation) && !std::isnan(v)
               ? format_number(v / ref->validation, {.digits = 4})
               : std::string("—");
  };
  const auto unseen_cells = [&](double v) {
    if (!unseen) return std::string();
    return "<td class=\"num\">" + esc(std::isnan(v) ? std::string("—") : format_number(v)) +
           "</td><td class=\"num\">" + esc(unseen_ratio(v)) + "</td>";
  };
  s << "<p class=\"note\">In-sample: on the noise the search selected with (optimistic for "
       "searched trials). Re-scored: on a fresh noise stream the search never saw, with more "
       "samples.</p>\n";
  s << "<table class=\"baselines\">\n<tr><th>sampler</th><th>in-sample</th><th>ratio to "
    << (ref ? esc(ref->label) : "DPM-Solver++(2M) (not measured)") << "</th>"
    << (unseen ? "<th>re-scored (unseen)</th><th>ratio</th>" : "") << "</tr>\n";
  if (in.best && in.best->value)
    s << "<tr class=\"searched\"><td>searched, trial " << in.best->number
      << "</td><td class=\"num\">" << esc(format_number(*in.best->value))
      << "</td><td class=\"num\">" << esc(ratio(*in.best->value)) << "</td>"
      << unseen_cells(in.best_validation) << "</tr>\n";
  for (const Baseline& b : in.baselines)
    s << "<tr><td>" << esc(b.label) << "</td><td class=\"num\">" << esc(format_number(b.value))
      << "</td><td class=\"num\">" << esc(ratio(b.value)) << "</td>" << unseen_cells(b.validation)
      << "</tr>\n";
  s << "</table>\n";
  return s.str();
}

std::string best_details_html(const TrialRecord& best) {
  std::ostringstream s;
  s << "<p class=\"note\">Trial " << best.number;
  if (!best.warm_start.empty()) s << " (warm start " << esc(best.warm_start) << ")";
  if (!best.device.empty()) s << " on " << esc(best.device);
  s << ", " << esc(format_number(best.seconds, {.digits = 3}))
    << " s. Parameters:</p>\n<pre class=\"params\">" << esc(best.params.dump(2)) << "</pre>\n";
  return s.str();
}

std::string page(const ReportInput& in, const std::string& dir) {
  std::ostringstream s;
  s << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    << "<title>" << esc(in.title) << " — samplersearch report</title>\n<style>" << kCss
    << "</style>\n</head>\n<body>\n";
  s << "<h1>" << esc(in.title) << "</h1>\n<p class=\"metric\">Objective: " << esc(in.metric)
    << ". Lower is better.</p>\n";

  s << "<h2>Summary</h2>\n" << summary_html(in);

  s << "<h2>Optimization history</h2>\n"
    << history_svg(in)
    << "<p class=\"note\">Each dot is a COMPLETE trial; PRUNED trials are drawn at their last "
       "intermediate value, FAIL trials as crosses on the bottom row. The line is the best value "
       "so far; dashed lines are the classic samplers measured before the search. Hover a mark "
       "for details.</p>\n";

  s << "<h2>Signal matrix C</h2>\n<p class=\"note\">Rows are the target times t_1…t_N, columns "
       "the model predictions y_0…y_{N−1} (labelled by their times); each row is divided by its "
       "newest entry C[k][k−1] as in the papers' tables, so the diagonal is 1. The right-hand "
       "column is the marginal α(t_k) (a row of the table times α(t_k) / its sum gives C). Hover "
       "a cell for its exact value.</p>\n";
  const bool show_best =
      in.best && heatmap_shape_ok(in.best->matrices ? &*in.best->matrices : nullptr);
  const bool show_classic = heatmap_shape_ok(in.classic);
  double half_range = 0;
  if (show_best) half_range = std::max(half_range, max_abs_normalized(*in.best->matrices));
  if (show_classic) half_range = std::max(half_range, max_abs_normalized(*in.classic));
  if (half_range <= 0) half_range = 1;
  const std::string best_name = in.best ? "best trial " + std::to_string(in.best->number) : "";
  s << "<div class=\"row\">\n<figure>\n";
  if (show_best)
    s << heatmap_svg(*in.best->matrices, best_name, half_range);
  else
    s << "<p class=\"missing\">no matrices of a best trial</p>\n";
  s << "<figcaption>"
    << esc(in.best ? best_name + (in.best->value
                                      ? ", value " + format_number(*in.best->value, {.digits = 4})
                                      : "")
                   : "best trial")
    << "</figcaption>\n</figure>\n"
    << "<figure>\n";
  if (show_classic)
    s << heatmap_svg(*in.classic, in.classic_label, half_range);
  else
    s << "<p class=\"missing\">no classic matrices</p>\n";
  s << "<figcaption>" << esc(in.classic_label.empty() ? "classic sampler" : in.classic_label)
    << "</figcaption>\n</figure>\n</div>\n"
    << colour_bar_svg(half_range);
  if (in.best && in.best->matrices) s << best_details_html(*in.best);

  s << "<h2>Samples</h2>\n<p class=\"note\">Both grids start from the same noise.</p>\n"
    << "<div class=\"row\">\n"
    << grid_figure(in.best_grid, dir, "best.png", "best_grid",
                   in.best ? "searched sampler (trial " + std::to_string(in.best->number) + ")"
                           : "searched sampler")
    << grid_figure(in.classic_grid, dir, "classic.png", "classic_grid",
                   in.classic_grid_label.empty() ? "classic sampler" : in.classic_grid_label)
    << "</div>\n";

  s << "<h2>Experiment</h2>\n<pre class=\"experiment\">" << esc(in.experiment) << "</pre>\n";
  s << kImageCheck << "\n</body>\n</html>\n";
  return s.str();
}

}  // namespace

std::string write_report(const ReportInput& input, const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw FileError(dir, "cannot create the report directory: " + ec.message());
  if (!fs::is_directory(dir, ec)) throw FileError(dir, "is not a directory");
  const std::string html = page(input, dir);  // writes the PNGs
  const std::string path = (fs::path(dir) / "index.html").string();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw FileError(path, std::string("cannot write: ") + std::strerror(errno));
  out << html;
  out.close();
  if (!out) throw FileError(path, std::string("write failed: ") + std::strerror(errno));
  return path;
}

}  // namespace samplersearch
