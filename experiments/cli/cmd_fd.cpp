// `samplersearch fd A.h5 B.h5`: the Fréchet distance between two statistics files.
#include <cstdio>
#include <string>

#include "commands.hpp"
#include "samplersearch/common/error.hpp"
#include "samplersearch/metrics/frechet.hpp"
#include "samplersearch/metrics/statistics_file.hpp"

namespace samplersearch::cli {

// The flags of `fd`: its two statistics files.
void declare_fd(CLI::App& app) {
  app.description(
      "Prints the Frechet distance\n"
      "  FD = |mu_A - mu_B|^2 + Tr S_A + Tr S_B - 2 Tr sqrt(S_A^1/2 S_B S_A^1/2)\n"
      "between two statistics files (HDF5 with float64 'mu' [d] and 'sigma' [d, d], as written\n"
      "by 'samplersearch features'), as a number on the last line of stdout.\n"
      "Computed in double precision by pivoted Cholesky factors and the eigenvalues of a\n"
      "symmetric matrix (LAPACK), so covariances of fewer samples than dimensions are fine.\n");
  add_positionals(app, "FILES", "the two statistics files A.h5 B.h5");
}

// Reads both files, prints FD with 15 significant digits.
int run_fd(const Args& args) {
  const auto& files = args.positional();
  if (files.size() != 2)
    throw ConfigError("fd", "expects exactly two statistics files (fd A.h5 B.h5), got " +
                                std::to_string(files.size()));
  const Statistics a = read_statistics(files[0]);
  const Statistics b = read_statistics(files[1]);
  if (a.dim() != b.dim())
    throw ConfigError("fd", files[1] + " has d = " + std::to_string(b.dim()) + " but " + files[0] +
                                " has d = " + std::to_string(a.dim()));
  std::printf("%.15g\n", frechet_distance(a, b));
  return kOk;
}

}  // namespace samplersearch::cli
