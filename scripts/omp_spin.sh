# Sourced by scripts/*, from the repository root. OpenMP threads spin at most 10,000 iterations
# at a barrier, then sleep: libgomp's default spins through whole time slices on a loaded
# machine, a passive wait is slow on LAPACK's many small BLAS calls (kOmpSpinCount, the value the
# CLI sets itself, in include/samplersearch/common/cpu_kernels.hpp; bench/omp_spin.py measures
# it). A wait policy or spin count already set is kept.
[[ -n ${OMP_WAIT_POLICY:-} ]] || export GOMP_SPINCOUNT=${GOMP_SPINCOUNT:-10000}
