#pragma once
// The HTML report: optimization history, the best matrix as a heat map beside
// DPM-Solver++'s, and sample grids (PNG) of the best trial and the best classic sampler drawn from
// the same noise. Self-contained: inline SVG and CSS, PNGs beside index.html, no network to view.
#include <ATen/core/Tensor.h>

#include <limits>
#include <string>
#include <vector>

#include "samplersearch/experiments/trial_store.hpp"

namespace samplersearch {

struct ReportInput {
  std::string title;       // experiment name
  std::string experiment;  // the experiment file as run (shown verbatim)
  std::string metric;      // what the values are, e.g. "excess FD (classifier), 1000 samples"
  std::vector<TrialRecord> trials;  // the history (any states)
  std::vector<Baseline> baselines;  // classic samplers' values (drawn as horizontal lines)
  // The winner (best re-scored trial), or the best in-sample trial while none was re-scored.
  const TrialRecord* best = nullptr;
  double best_validation = std::numeric_limits<double>::quiet_NaN();  // its re-scored value
  const Matrices* classic = nullptr;  // DPM-Solver++(2M)'s matrices, shown beside the best
  std::string classic_label;
  at::Tensor best_grid;     // [n, c, h, w] samples of the best trial in [-1, 1]
  at::Tensor classic_grid;  // same noise, the best classic sampler
  std::string classic_grid_label;
};

// Writes DIR/index.html and its PNGs (creating DIR); returns the path of index.html.
std::string write_report(const ReportInput& input, const std::string& dir);

// Writes images [n, c, h, w] in [-1, 1] (c = 1 or 3) as one PNG grid with `columns` columns and a
// 1-pixel gap; 8-bit, grey or RGB.
void write_png_grid(const at::Tensor& images, int columns, const std::string& path);

}  // namespace samplersearch
