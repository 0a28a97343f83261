"""NumPy side of bench_denoiser: the same empirical denoiser, timed on the same machine.

Usage: bench_denoiser.py MANIFEST.json
MANIFEST: {"data_dir", "n", "runs", "float64" (optional, default true), "cases": [{"t", "alpha", "sigma", "queries", "ours64",
"ours32"}]} where the paths hold raw float64 arrays [B, 784]. Reads the first n Fashion-MNIST
training images itself (gzip + NumPy), computes
    x0 = m + softmax((alpha/sigma^2) x'.X'_i - (alpha^2/(2 sigma^2)) |X'_i|^2) @ X'
with m the data mean, X'_i = X_i - m and x' = x - alpha m (the C++ algorithm)
in float32 and float64 (one matrix product for the logits, max subtracted before exp,
subnormal weights dropped), and
prints a JSON list with the median seconds of each and the largest difference from the C++
results.
"""
import gzip
import json
import os
import sys
import time

import numpy as np


def load_train_images(directory, n):
    with gzip.open(os.path.join(directory, "train-images-idx3-ubyte.gz"), "rb") as f:
        raw = f.read(16 + n * 784)
    pixels = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, 784)
    return pixels.astype(np.float64) / 127.5 - 1.0


def denoise(x, data, norms, mean, alpha, sigma):
    """data holds X_i - mean and norms their squared norms, as on the C++ side."""
    logits = (x - alpha * mean) @ data.T
    logits *= alpha / (sigma * sigma)
    logits -= (alpha * alpha / (2 * sigma * sigma)) * norms
    logits -= logits.max(axis=1, keepdims=True)
    # Weights below the smallest normal number are dropped: subnormal operands slow the
    # matrix product down ~100x (the C++ side does the same).
    logits[logits < np.log(np.finfo(logits.dtype).tiny)] = -np.inf
    np.exp(logits, out=logits)
    return (logits @ data) / logits.sum(axis=1, keepdims=True) + mean


def median_seconds(fn, runs):
    fn()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        manifest = json.load(f)
    images = load_train_images(manifest["data_dir"], manifest["n"])
    mean64 = images.mean(axis=0)
    data64 = images - mean64
    mean32 = mean64.astype(np.float32)
    data32 = data64.astype(np.float32)
    norms64 = (data64 * data64).sum(axis=1)
    norms32 = (data32 * data32).sum(axis=1)
    results = []
    for case in manifest["cases"]:
        a, s = case["alpha"], case["sigma"]
        x64 = np.fromfile(case["queries"], dtype=np.float64).reshape(-1, 784)
        x32 = x64.astype(np.float32)
        ours64 = np.fromfile(case["ours64"], dtype=np.float64).reshape(x64.shape)
        ours32 = np.fromfile(case["ours32"], dtype=np.float64).reshape(x64.shape)
        f32 = np.float32
        t32 = median_seconds(lambda: denoise(x32, data32, norms32, mean32, f32(a), f32(s)), manifest["runs"])
        f64 = manifest.get("float64", True)
        t64 = median_seconds(lambda: denoise(x64, data64, norms64, mean64, a, s), manifest["runs"]) if f64 else 0.0
        diff64 = np.abs(denoise(x64, data64, norms64, mean64, a, s) - ours64).max() if f64 else 0.0
        diff32 = np.abs(denoise(x32, data32, norms32, mean32, f32(a), f32(s)).astype(np.float64) - ours32).max()
        results.append({"t": case["t"], "seconds32": t32, "seconds64": t64,
                        "max_diff64": float(diff64), "max_diff32": float(diff32)})
    print(json.dumps(results))


if __name__ == "__main__":
    main()
