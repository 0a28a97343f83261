// The report's SVG charts: the optimization history (trials, running best, baselines) and the
// heat maps of C with their colour bar (experiments/report_parts.hpp).
#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "report_parts.hpp"
#include "samplersearch/common/format.hpp"
#include "samplersearch/samplers/matrix_io.hpp"

namespace samplersearch::report_detail {

// ---- The optimization history -------------------------------------------------------------

// A "nice" step (1, 2 or 5 × 10^k) giving about `count` intervals over `span`.
double nice_step(double span, int count) {
  const double raw = span / count;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / mag;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

// The value axis: log10 when all values are positive and span more than a decade, else linear.
struct ValueAxis {
  bool log = false;
  double lo = 0, hi = 1;  // in axis units (log10 of the value on a log axis)
  double top = 0, bottom = 1;

  double unit(double v) const { return log ? std::log10(v) : v; }
  double y(double v) const { return bottom - (unit(v) - lo) / (hi - lo) * (bottom - top); }

  static ValueAxis fit(const std::vector<double>& values, double top, double bottom) {
    ValueAxis a;
    a.top = top;
    a.bottom = bottom;
    if (values.empty()) return a;
    const auto [mn, mx] = std::minmax_element(values.begin(), values.end());
    a.log = *mn > 0 && *mx / *mn > 10;
    double lo = a.unit(*mn), hi = a.unit(*mx);
    if (hi - lo < 1e-12 * std::max(1.0, std::abs(hi))) {
      const double pad = a.log ? 0.5 : std::max(std::abs(hi) * 0.1, 1e-9);
      lo -= pad;
      hi += pad;
    } else {
      const double pad = 0.06 * (hi - lo);
      lo -= pad;
      hi += pad;
    }
    a.lo = lo;
    a.hi = hi;
    return a;
  }

  // Tick values (not axis units).
  std::vector<double> ticks() const {
    std::vector<double> out;
    if (log) {
      for (double e = std::ceil(lo); e <= hi; ++e) out.push_back(std::pow(10.0, e));
      if (out.size() < 3)
        for (double e = std::floor(lo); e <= hi; ++e)
          for (const double m : {2.0, 5.0})
            if (const double l = e + std::log10(m); l >= lo && l <= hi)
              out.push_back(m * std::pow(10.0, e));
      std::sort(out.begin(), out.end());
    } else {
      const double step = nice_step(hi - lo, 5);
      for (double t = std::ceil(lo / step) * step; t <= hi + 1e-9 * step; t += step)
        out.push_back(std::abs(t) < 1e-9 * step ? 0.0 : t);
    }
    return out;
  }
};

// The value a trial is drawn at, or NaN (FAIL, or no finite value).
double plotted_value(const TrialRecord& t) {
  if (t.state == TrialState::complete && t.value && std::isfinite(*t.value)) return *t.value;
  if (t.state == TrialState::pruned && !t.intermediate.empty() &&
      std::isfinite(t.intermediate.back().second))
    return t.intermediate.back().second;
  return std::numeric_limits<double>::quiet_NaN();
}

std::string trial_tooltip(const TrialRecord& t) {
  std::string s = "trial " + std::to_string(t.number) + ": " + std::string(to_string(t.state));
  if (t.state == TrialState::complete && t.value) s += ", value " + format_number(*t.value);
  if (t.state == TrialState::pruned && !t.intermediate.empty())
    s += ", last value " + format_number(t.intermediate.back().second) + " at " +
         std::to_string(t.intermediate.back().first) + " samples";
  if (!t.reason.empty()) s += " (" + t.reason + ")";
  if (!t.warm_start.empty()) s += ", warm start " + t.warm_start;
  return s;
}

constexpr const char* kBaselineColours[] = {"#1b9e77", "#d95f02", "#7570b3", "#e7298a",
                                            "#66a61e", "#e6ab02", "#a6761d", "#666666"};

// The history as an SVG: x = trial number, y = value; dots, hollow marks, crosses, the running
// best (lower is better) and one dashed line per baseline.
std::string history_svg(const ReportInput& in) {
  std::vector<const TrialRecord*> trials;
  for (const TrialRecord& t : in.trials)
    if (t.state == TrialState::complete || t.state == TrialState::pruned ||
        t.state == TrialState::fail)
      trials.push_back(&t);
  std::sort(trials.begin(), trials.end(),
            [](const TrialRecord* a, const TrialRecord* b) { return a->number < b->number; });

  const double width = 820, height = 360, left = 72, right = 190, top = 34, bottom = 48;
  const double x0 = left, x1 = width - right, y0 = top, y1 = height - bottom;

  std::vector<double> values;
  for (const TrialRecord* t : trials)
    if (const double v = plotted_value(*t); std::isfinite(v)) values.push_back(v);
  for (const Baseline& b : in.baselines)
    if (std::isfinite(b.value)) values.push_back(b.value);
  const ValueAxis ya = ValueAxis::fit(values, y0, y1 - 10);  // 10 units below: the FAIL row

  double nmin = trials.empty() ? 0 : trials.front()->number;
  double nmax = trials.empty() ? 1 : trials.back()->number;
  if (nmax - nmin < 1) {
    nmin -= 1;
    nmax += 1;
  }
  const double xpad = 0.02 * (nmax - nmin);
  const auto x = [&](double n) {
    return x0 + (n - nmin + xpad) / (nmax - nmin + 2 * xpad) * (x1 - x0);
  };

  std::ostringstream s;
  s << "<svg class=\"history\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width
    << "\" height=\"" << height << "\" viewBox=\"0 0 " << width << ' ' << height
    << "\" role=\"img\" aria-label=\"optimization history\">\n";
  s << "<rect x=\"" << x0 << "\" y=\"" << y0 << "\" width=\"" << x1 - x0 << "\" height=\""
    << y1 - y0 << "\" fill=\"#fff\" stroke=\"#999\"/>\n";
  // Value ticks and grid lines.
  for (const double t : ya.ticks()) {
    const double y = ya.y(t);
    if (y < y0 - 0.5 || y > y1 + 0.5) continue;
    s << "<line x1=\"" << x0 << "\" x2=\"" << x1 << "\" y1=\"" << px(y) << "\" y2=\"" << px(y)
      << "\" stroke=\"#eee\"/><text x=\"" << x0 - 6 << "\" y=\"" << px(y + 4)
      << "\" text-anchor=\"end\">" << esc(format_number(t, {.digits = 4})) << "</text>\n";
  }
  // Trial-number ticks.
  const double xstep = std::max(1.0, nice_step(nmax - nmin, 8));
  for (double n = std::ceil(nmin / xstep) * xstep; n <= nmax; n += xstep)
    s << "<line x1=\"" << px(x(n)) << "\" x2=\"" << px(x(n)) << "\" y1=\"" << y1 << "\" y2=\""
      << y1 + 4 << "\" stroke=\"#999\"/><text x=\"" << px(x(n)) << "\" y=\"" << y1 + 17
      << "\" text-anchor=\"middle\">" << format_number(n) << "</text>\n";
  s << "<text x=\"" << (x0 + x1) / 2 << "\" y=\"" << height - 10
    << "\" text-anchor=\"middle\">trial number</text>\n";
  s << "<text transform=\"translate(16 " << (y0 + y1) / 2
    << ") rotate(-90)\" text-anchor=\"middle\">value" << (ya.log ? " (log scale)" : "")
    << "</text>\n";

  // Baselines: dashed lines, labels on the right kept at least 12 units apart.
  struct Label {
    double y;
    std::string text, colour;
  };
  std::vector<Label> labels;
  for (size_t i = 0; i < in.baselines.size(); ++i) {
    const Baseline& b = in.baselines[i];
    if (!std::isfinite(b.value)) continue;
    const std::string colour = kBaselineColours[i % std::size(kBaselineColours)];
    const double y = ya.y(b.value);
    s << "<line class=\"baseline\" x1=\"" << x0 << "\" x2=\"" << x1 << "\" y1=\"" << px(y)
      << "\" y2=\"" << px(y) << "\" stroke=\"" << colour
      << "\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"><title>" << esc(b.label) << ": "
      << esc(format_number(b.value)) << "</title></line>\n";
    labels.push_back({y, b.label + " " + format_number(b.value, {.digits = 4}), colour});
  }
  std::sort(labels.begin(), labels.end(), [](const Label& a, const Label& b) { return a.y < b.y; });
  for (size_t i = 1; i < labels.size(); ++i)
    labels[i].y = std::max(labels[i].y, labels[i - 1].y + 12);
  for (const Label& l : labels)
    s << "<text class=\"baseline-label\" x=\"" << x1 + 6 << "\" y=\"" << px(l.y + 4) << "\" fill=\""
      << l.colour << "\">" << esc(l.text) << "</text>\n";

  // Running best (lower is better), as a step line from the first COMPLETE trial on.
  std::string path;
  double best = std::numeric_limits<double>::infinity();
  for (const TrialRecord* t : trials) {
    if (t->state != TrialState::complete || !t->value || !std::isfinite(*t->value)) continue;
    if (path.empty()) {
      best = *t->value;
      path = "M" + px(x(t->number)) + " " + px(ya.y(best));
    } else if (*t->value < best) {
      best = *t->value;
      path += " H" + px(x(t->number)) + " V" + px(ya.y(best));
    }
  }
  if (!path.empty())
    s << "<path class=\"running-best\" d=\"" << path << " H" << px(x(trials.back()->number))
      << "\" fill=\"none\" stroke=\"#1f4e9c\" stroke-width=\"1.5\"/>\n";

  // The trials.
  for (const TrialRecord* t : trials) {
    const double v = plotted_value(*t);
    const std::string title = "<title>" + esc(trial_tooltip(*t)) + "</title>";
    const double cx = x(t->number);
    if (!std::isfinite(v) && t->state == TrialState::pruned) {  // pruned before any report
      s << "<circle class=\"pruned\" cx=\"" << px(cx) << "\" cy=\"" << px(y1 - 5)
        << "\" r=\"3.5\" fill=\"none\" stroke=\"#e08214\" stroke-width=\"1.3\">" << title
        << "</circle>\n";
    } else if (!std::isfinite(v)) {  // FAIL (or no value): a small cross on the bottom row
      const double cy = y1 - 5;
      s << "<path class=\"fail\" d=\"M" << px(cx - 3) << ' ' << px(cy - 3) << " l6 6 m0 -6 l-6 6\""
        << " stroke=\"#c0392b\" stroke-width=\"1.5\">" << title << "</path>\n";
    } else if (t->state == TrialState::pruned) {
      s << "<circle class=\"pruned\" cx=\"" << px(cx) << "\" cy=\"" << px(ya.y(v))
        << "\" r=\"3.5\" fill=\"none\" stroke=\"#e08214\" stroke-width=\"1.3\">" << title
        << "</circle>\n";
    } else {
      const bool is_best = in.best && in.best->number == t->number;
      s << "<circle class=\"complete" << (is_best ? " best" : "") << "\" cx=\"" << px(cx)
        << "\" cy=\"" << px(ya.y(v)) << "\" r=\"" << (is_best ? 5 : 3) << "\" fill=\""
        << (is_best ? "#d7191c" : "#2b6cb0") << "\">" << title << "</circle>\n";
    }
  }

  // Legend above the plot.
  s << "<g class=\"legend\" transform=\"translate(" << x0 << " 14)\">"
    << "<circle cx=\"4\" cy=\"0\" r=\"3\" fill=\"#2b6cb0\"/><text x=\"12\" y=\"4\">COMPLETE</text>"
    << "<circle cx=\"94\" cy=\"0\" r=\"3.5\" fill=\"none\" stroke=\"#e08214\"/>"
    << "<text x=\"102\" y=\"4\">PRUNED (last value)</text>"
    << "<path d=\"M231 -3 l6 6 m0 -6 l-6 6\" stroke=\"#c0392b\" stroke-width=\"1.5\"/>"
    << "<text x=\"243\" y=\"4\">FAIL</text>"
    << "<line x1=\"290\" x2=\"310\" y1=\"0\" y2=\"0\" stroke=\"#1f4e9c\" stroke-width=\"1.5\"/>"
    << "<text x=\"316\" y=\"4\">best so far</text>"
    << "<line x1=\"400\" x2=\"420\" y1=\"0\" y2=\"0\" stroke=\"#666\" stroke-dasharray=\"6 4\"/>"
    << "<text x=\"426\" y=\"4\">classic baseline</text></g>\n";
  s << "</svg>\n";
  return s.str();
}

// ---- Heat maps ------------------------------------------------------------------------------

// α(t_k) from the schedule, or the row sum Σ_j C[k][j] when the matrices carry none.
double marginal(const Matrices& m, Eigen::Index k) {
  const double t = m.times.at(static_cast<size_t>(k));
  return m.schedule ? m.schedule->alpha(t) : m.signal.row(k).sum();
}

bool heatmap_shape_ok(const Matrices* m) {
  return m && m->signal.cols() >= 1 && m->signal.rows() == m->signal.cols() + 1 &&
         m->times.size() == static_cast<size_t>(m->signal.rows());
}

// Largest |normalized entry| of the lower triangle (the colour scale's half range).
double max_abs_normalized(const Matrices& m) {
  double out = 0;
  for (Eigen::Index k = 1; k < m.signal.rows(); ++k)
    for (Eigen::Index j = 0; j < k; ++j)
      if (const double v = m.signal(k, j) / table_row_scale(m, k); std::isfinite(v))
        out = std::max(out, std::abs(v));
  return out;
}

struct Rgb {
  double r, g, b;
};

// Diverging blue–white–red map (ColorBrewer RdBu) of v / half_range, clamped to [-1, 1].
Rgb diverging(double v, double half_range) {
  static constexpr Rgb stops[] = {
      {33, 102, 172}, {103, 169, 207}, {247, 247, 247}, {239, 138, 98}, {178, 24, 43}};
  double u = half_range > 0 ? v / half_range : 0;
  if (!std::isfinite(u)) u = 0;
  u = (std::clamp(u, -1.0, 1.0) + 1) * 2;  // 0..4 over the stops
  const int i = std::min(3, static_cast<int>(std::floor(u)));
  const double f = u - i;
  const Rgb &a = stops[i], &b = stops[i + 1];
  return {a.r + f * (b.r - a.r), a.g + f * (b.g - a.g), a.b + f * (b.b - a.b)};
}

std::string css_colour(const Rgb& c) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", static_cast<int>(std::lround(c.r)),
                static_cast<int>(std::lround(c.g)), static_cast<int>(std::lround(c.b)));
  return buf;
}

// C as an SVG heat map: rows = target times t_1…t_N, columns = predictions y_0…y_{N-1} (at
// t_0…t_{N-1}), each row divided by C[k][k-1]; a right-hand column lists the marginal α(t_k).
std::string heatmap_svg(const Matrices& m, const std::string& name, double half_range) {
  const Eigen::Index n = m.signal.cols();
  const double cell = std::clamp(360.0 / static_cast<double>(n), 14.0, 46.0);
  const bool numbers = cell >= 30;
  const double left = 86, top = 18, grid = cell * static_cast<double>(n);
  const double width = left + grid + 70, height = top + grid + 64;
  const auto t_of = [&](Eigen::Index k) {
    return format_number(m.times[static_cast<size_t>(k)], {.digits = 3});
  };

  std::ostringstream s;
  s << "<svg class=\"heatmap\" data-name=\"" << esc(name)
    << "\" xmlns=\"http://www.w3.org/2000/svg\""
    << " width=\"" << px(width) << "\" height=\"" << px(height) << "\" viewBox=\"0 0 " << px(width)
    << ' ' << px(height) << "\" role=\"img\" aria-label=\"" << esc("C of " + name) << "\">\n";
  for (Eigen::Index k = 1; k <= n; ++k) {
    const double y = top + cell * static_cast<double>(k - 1);
    const double scale = table_row_scale(m, k), alpha = marginal(m, k);
    const double sum = m.signal.row(k).sum();
    for (Eigen::Index j = 0; j < n; ++j) {
      const double x = left + cell * static_cast<double>(j);
      if (j >= k) {  // structurally zero (C is strictly lower-triangular)
        s << "<rect class=\"na\" x=\"" << px(x) << "\" y=\"" << px(y) << "\" width=\"" << px(cell)
          << "\" height=\"" << px(cell) << "\" fill=\"#fafafa\" stroke=\"#eee\"/>\n";
        continue;
      }
      const double raw = m.signal(k, j), v = raw / scale;
      const Rgb c = diverging(v, half_range);
      s << "<rect class=\"cell\" x=\"" << px(x) << "\" y=\"" << px(y) << "\" width=\"" << px(cell)
        << "\" height=\"" << px(cell) << "\" fill=\"" << css_colour(c)
        << "\" stroke=\"#fff\" stroke-width=\"0.5\"><title>"
        << esc("row t_" + std::to_string(k) + " = " + t_of(k) + ", column y_" + std::to_string(j) +
               " (t_" + std::to_string(j) + " = " + t_of(j) + ")\n" + "C[" + std::to_string(k) +
               "][" + std::to_string(j) + "] / C[" + std::to_string(k) + "][" +
               std::to_string(k - 1) + "] = " + format_number(v, {.digits = 5}) +
               "   (C = " + format_number(raw, {.digits = 6}) + ")\n" + "marginal \u03b1(t_" +
               std::to_string(k) + ") = " + format_number(alpha, {.digits = 5}) +
               ", row sum \u03a3_j C = " + format_number(sum, {.digits = 5}))
        << "</title></rect>\n";
      if (numbers) {
        const double lum = 0.299 * c.r + 0.587 * c.g + 0.114 * c.b;
        s << "<text class=\"value\" x=\"" << px(x + cell / 2) << "\" y=\"" << px(y + cell / 2 + 3.5)
          << "\" text-anchor=\"middle\" font-size=\"10\" pointer-events=\"none\" fill=\""
          << (lum < 110 ? "#fff" : "#222") << "\">" << esc(format_number(v, {.digits = 2}))
          << "</text>\n";
      }
    }
    s << "<text x=\"" << px(left - 5) << "\" y=\"" << px(y + cell / 2 + 4)
      << "\" text-anchor=\"end\">" << esc(t_of(k)) << "</text>";
    s << "<text x=\"" << px(left + grid + 6) << "\" y=\"" << px(y + cell / 2 + 4) << "\">"
      << esc(format_number(alpha, {.digits = 3})) << "</text>\n";
  }
  for (Eigen::Index j = 0; j < n; ++j) {
    const double x = left + cell * (static_cast<double>(j) + 0.5);
    s << "<text x=\"" << px(x) << "\" y=\"" << px(top + grid + 12)
      << "\" text-anchor=\"end\" font-size=\"10\" transform=\"rotate(-45 " << px(x) << ' '
      << px(top + grid + 12) << ")\">" << esc(t_of(j)) << "</text>\n";
  }
  s << "<text x=\"" << px(left + grid + 6) << "\" y=\"" << px(top - 1)
    << "\" font-size=\"10\">\u03b1(t_k)</text>\n";
  s << "<text x=\"" << px(left + grid / 2) << "\" y=\"" << px(height - 6)
    << "\" text-anchor=\"middle\">column: prediction y_j at t_j</text>\n";
  s << "<text transform=\"translate(14 " << px(top + grid / 2)
    << ") rotate(-90)\" text-anchor=\"middle\">row: target time t_k</text>\n";
  s << "</svg>\n";
  return s.str();
}

// The colour bar of the heat maps: -half_range … 0 … +half_range.
std::string colour_bar_svg(double half_range) {
  std::ostringstream s;
  s << "<svg class=\"colourbar\" xmlns=\"http://www.w3.org/2000/svg\" width=\"300\" height=\"40\""
       " viewBox=\"0 0 300 40\">\n<defs><linearGradient id=\"rdbu\">";
  for (int i = 0; i <= 4; ++i)
    s << "<stop offset=\"" << i * 25 << "%\" stop-color=\""
      << css_colour(diverging((i - 2) / 2.0 * half_range, half_range)) << "\"/>";
  s << "</linearGradient></defs>\n<rect x=\"20\" y=\"4\" width=\"260\" height=\"12\" "
       "fill=\"url(#rdbu)\" stroke=\"#999\"/>\n";
  for (int i = 0; i <= 2; ++i)
    s << "<text x=\"" << 20 + 130 * i << "\" y=\"32\" text-anchor=\"middle\">"
      << esc(format_number((i - 1) * half_range, {.digits = 3})) << "</text>";
  s << "\n</svg>\n";
  return s.str();
}

}  // namespace samplersearch::report_detail
