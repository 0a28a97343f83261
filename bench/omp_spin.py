#!/usr/bin/python3
"""How the OpenMP wait setting changes LAPACK's speed, idle and with busy processes beside it.

A 2048-d symmetric eigenvalue problem (scipy.linalg.eigh, driver evd: LAPACK's dsyevd through the
same OpenBLAS and libgomp that LibTorch and samplersearch load), 2 threads, median of 3, in a
fresh process per setting (libgomp reads the variables when it loads): with libgomp's default,
OMP_WAIT_POLICY=PASSIVE and ACTIVE, and GOMP_SPINCOUNT=10000 (what the CLI and scripts/ set;
kOmpSpinCount in include/samplersearch/common/cpu_kernels.hpp). "loaded" runs with BUSY processes
spinning beside it (default: one per core).

  bench/omp_spin.py [--busy N]
"""
import argparse
import os
import subprocess
import sys

SETTINGS = [
    ("default (spin 300,000)", {}),
    ("OMP_WAIT_POLICY=PASSIVE", {"OMP_WAIT_POLICY": "PASSIVE"}),
    ("OMP_WAIT_POLICY=ACTIVE", {"OMP_WAIT_POLICY": "ACTIVE"}),
    ("GOMP_SPINCOUNT=10000", {"GOMP_SPINCOUNT": "10000"}),
]

CHILD = """
import time, numpy as np, scipy.linalg
a = np.random.default_rng(0).standard_normal((2048, 2048))
m = a @ a.T / 2048
times = []
for _ in range(3):
    start = time.perf_counter()
    scipy.linalg.eigh(m, eigvals_only=True, driver="evd")
    times.append(time.perf_counter() - start)
print(sorted(times)[1])
"""


def seconds(extra_env):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(extra_env, OMP_NUM_THREADS="2")
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True,
                         check=True, timeout=600).stdout
    return float(out.strip())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--busy", type=int, default=os.cpu_count())
    args = parser.parse_args()
    idle = {label: seconds(env) for label, env in SETTINGS}
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    try:
        loaded = {label: seconds(env) for label, env in SETTINGS}
    finally:
        for p in busy:
            p.kill()
            p.wait()
    print(f"| libgomp setting | idle | {args.busy} busy processes |")
    print("|---|---:|---:|")
    for label, _ in SETTINGS:
        print(f"| {label} | {idle[label]:.2f} s | {loaded[label]:.2f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
