#include <csignal>

#include "samplersearch/common/cpu_kernels.hpp"
#include "samplersearch/experiments/cli.hpp"

int main(int argc, char** argv) {
  // Past a file-size limit (RLIMIT_FSIZE, setrlimit(2)) a write fails with EFBIG, which the store
  // reports as a bad file naming it; the default action of SIGXFSZ would kill us instead.
  std::signal(SIGXFSZ, SIG_IGN);
  // One restart (at most) before any work: the fast OpenBLAS kernels for this CPU, and a bounded
  // spin of the OpenMP threads (GOMP_SPINCOUNT, kOmpSpinCount) -- with libgomp's default they
  // spin long enough to collapse throughput on a loaded machine (a 2048-d Fréchet distance: 1 s →
  // 12–48 s). Both variables are read when the libraries load, before main. README.md, "Fast BLAS
  // kernels".
  samplersearch::start_with_fast_kernels(argv, /*bounded_omp_spin=*/true);
  return samplersearch::cli::main(argc, argv);
}
