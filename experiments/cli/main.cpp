#include <unistd.h>

#include <cstdlib>

#include "samplersearch/experiments/cli.hpp"

int main(int argc, char** argv) {
  // OpenBLAS's OpenMP threads spin while they wait; on a loaded machine that collapses throughput
  // (a 2048-d Fréchet distance: 1 s → 12–48 s). The OpenMP runtime reads OMP_WAIT_POLICY when it
  // is loaded, before main, so set it and start again once.
  if (std::getenv("OMP_WAIT_POLICY") == nullptr) {
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    execv("/proc/self/exe", argv);  // on failure, just go on with the spinning default
  }
  return samplersearch::cli::main(argc, argv);
}
