#include "samplersearch/samplers/matrices.hpp"

#include <cmath>
#include <string>

#include "samplersearch/common/error.hpp"

namespace samplersearch {

void Matrices::validate(const std::string& origin) const {
  const auto n = signal.cols();
  if (n < 1) throw ConfigError(origin + ": signal", "needs at least one column (one model call)");
  if (signal.rows() != n + 1)
    throw ConfigError(origin + ": signal", "must have N+1 = " + std::to_string(n + 1) +
                                               " rows of N = " + std::to_string(n) + ", has " +
                                               std::to_string(signal.rows()));
  if (noise.rows() != n + 1 || noise.cols() != n + 1)
    throw ConfigError(origin + ": noise", "must be (N+1)×(N+1) = " + std::to_string(n + 1) + "×" +
                                              std::to_string(n + 1));
  if (static_cast<Eigen::Index>(times.size()) != n + 1)
    throw ConfigError(origin + ": timesteps", "must list N+1 = " + std::to_string(n + 1) +
                                                  " times, has " + std::to_string(times.size()));
  for (Eigen::Index k = 0; k <= n; ++k) {
    for (Eigen::Index j = 0; j <= n; ++j) {
      if (j < n && !std::isfinite(signal(k, j)))
        throw ConfigError(origin + ": signal", "entry [" + std::to_string(k) + "][" +
                                                   std::to_string(j) + "] is not finite");
      if (!std::isfinite(noise(k, j)))
        throw ConfigError(origin + ": noise", "entry [" + std::to_string(k) + "][" +
                                                  std::to_string(j) + "] is not finite");
      if (j >= k && j < n && signal(k, j) != 0.0)
        throw ConfigError(origin + ": signal", "must be strictly lower-triangular: entry [" +
                                                   std::to_string(k) + "][" + std::to_string(j) +
                                                   "] is not 0");
      if (j > k && noise(k, j) != 0.0)
        throw ConfigError(origin + ": noise", "must be lower-triangular: entry [" +
                                                  std::to_string(k) + "][" + std::to_string(j) +
                                                  "] is not 0");
    }
  }
  for (double t : times)
    if (!std::isfinite(t)) throw ConfigError(origin + ": timesteps", "must be finite");
}

std::vector<double> Matrices::row_sums() const {
  std::vector<double> out(static_cast<size_t>(signal.rows()));
  for (Eigen::Index k = 0; k < signal.rows(); ++k)
    out[static_cast<size_t>(k)] = signal.row(k).sum();
  return out;
}

std::vector<double> Matrices::noise_norms() const {
  std::vector<double> out(static_cast<size_t>(noise.rows()));
  for (Eigen::Index k = 0; k < noise.rows(); ++k) out[static_cast<size_t>(k)] = noise.row(k).norm();
  return out;
}

bool Matrices::deterministic() const {
  if (noise.cols() <= 1) return true;
  return noise.rightCols(noise.cols() - 1).cwiseAbs().maxCoeff() == 0.0;
}

}  // namespace samplersearch
