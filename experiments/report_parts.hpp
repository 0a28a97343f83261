#pragma once
// Private to experiments/: the pieces of write_report shared by report.cpp (the page) and
// report_charts.cpp (the SVG charts).
#include <string>
#include <string_view>

#include "samplersearch/experiments/report.hpp"
#include "samplersearch/samplers/matrices.hpp"

namespace samplersearch::report_detail {

// Text as HTML/SVG character data or attribute value: & < > " ' escaped.
std::string esc(std::string_view s);
// A coordinate in SVG user units.
std::string px(double v);

// The history as an SVG: x = trial number, y = value; dots, hollow marks, crosses, the running
// best (lower is better) and one dashed line per baseline.
std::string history_svg(const ReportInput& in);
// Whether m is a heat map's shape: C of N+1 rows by N >= 1 columns with N+1 times.
bool heatmap_shape_ok(const Matrices* m);
// Largest |normalized entry| of the lower triangle (the colour scale's half range).
double max_abs_normalized(const Matrices& m);
// C as an SVG heat map: rows = target times t_1…t_N, columns = predictions y_0…y_{N-1} (at
// t_0…t_{N-1}), each row divided by C[k][k-1]; a right-hand column lists the marginal α(t_k).
std::string heatmap_svg(const Matrices& m, const std::string& name, double half_range);
// The colour bar of the heat maps: -half_range … 0 … +half_range.
std::string colour_bar_svg(double half_range);

}  // namespace samplersearch::report_detail
