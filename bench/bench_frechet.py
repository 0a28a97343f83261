"""SciPy side of bench_frechet: the Fréchet distance as pytorch-fid computes it, timed.

Usage: bench_frechet.py A.h5 B.h5
Reads `mu` and `sigma` of two statistics files and evaluates
    FD = |mu_a - mu_b|^2 + Tr S_a + Tr S_b - 2 Tr sqrtm(S_a S_b)
with scipy.linalg.sqrtm of the product (retrying with 1e-6 added to both diagonals when the
root is not finite, then keeping the real part), once, and prints one JSON object
{"fd": ..., "seconds": ..., "retried": ...}.
"""
import json
import sys
import time

import h5py
import numpy as np
import scipy.linalg


def load(path):
    with h5py.File(path, "r") as f:
        return np.asarray(f["mu"][...], dtype=np.float64), np.asarray(f["sigma"][...], dtype=np.float64)


def main():
    mu_a, s_a = load(sys.argv[1])
    mu_b, s_b = load(sys.argv[2])
    start = time.perf_counter()
    root, _ = scipy.linalg.sqrtm(s_a @ s_b, disp=False)
    retried = not np.all(np.isfinite(root))
    if retried:
        shift = 1e-6 * np.eye(s_a.shape[0])
        root = scipy.linalg.sqrtm((s_a + shift) @ (s_b + shift))
    root = root.real
    diff = mu_a - mu_b
    fd = float(diff @ diff + np.trace(s_a) + np.trace(s_b) - 2.0 * np.trace(root))
    seconds = time.perf_counter() - start
    print(json.dumps({"fd": fd, "seconds": seconds, "retried": bool(retried)}))


if __name__ == "__main__":
    main()
