#pragma once
// The Natural Inference coefficient matrices (docs/equations.md §4), the engine's only input:
//   x_0 = B[0][0]·ε_0,   x_k = Σ_{j<k} C[k][j]·y_j + Σ_{j≤k} B[k][j]·ε_j,   y_k = f(x_k, t_k).
#include <Eigen/Core>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "samplersearch/samplers/schedule.hpp"

namespace samplersearch {

using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Times t_0…t_N of the rows, C ((N+1)×N, strictly lower-triangular), B ((N+1)×(N+1),
// lower-triangular) and the schedule they were made for.
struct Matrices {
  std::shared_ptr<const Schedule> schedule;
  std::vector<double> times;
  RowMatrix signal;        // C
  RowMatrix noise;         // B
  std::string solver;      // where they came from ("ddim", "searched", "table", …)
  nlohmann::json options;  // the solver options that produced them

  // N: the number of model calls.
  int steps() const { return static_cast<int>(signal.cols()); }
  // Checks shapes and triangularity; throws ConfigError naming `origin` otherwise.
  void validate(const std::string& origin) const;
  // Σ_j C[k][j], to compare with α(t_k).
  std::vector<double> row_sums() const;
  // √(Σ_j B[k][j]²), to compare with σ(t_k).
  std::vector<double> noise_norms() const;
  // True when only ε_0 is used (a deterministic sampler).
  bool deterministic() const;
};

}  // namespace samplersearch
