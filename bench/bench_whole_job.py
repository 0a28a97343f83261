#!/usr/bin/python3
"""The whole job two ways, wall clock: a hand-written PyTorch/NumPy/Optuna script against
`samplersearch search` doing the same work, on the same machine, in one run.

The job: the exact denoiser of the first DATA Fashion-MNIST training images under the VP-linear
schedule (ScoreSDE: beta_min 0.1, beta_max 20), 5 model calls on DPM-Solver's time-quadratic grid
from t = 1 to 1e-3, 1,000 samples, scored by the Fréchet distance of raw pixels against all
60,000 training images (pytorch-fid's formula, scipy.linalg.sqrtm); first one classic sampler
(DDIM, Song et al. 2021 eq. 12 with sigma = 0), then a CMA-ES search of TRIALS trials with Optuna.
The hand-written search moves DDIM's 4 inner times (the way one would write it in an afternoon);
samplersearch searches its default matrix space at the same cost per trial (5 model calls on
1,000 samples, one Fréchet distance). Both use 2 threads and start from nothing cached.

  bench_whole_job.py --samplersearch BUILD/samplersearch [--trials T] [--data N]
      runs both, prints their outputs' summaries and one "ROW {json}" line (bench/bench_table.py)
  bench_whole_job.py --hand [--trials T] [--data N]
      only the hand-written job; prints the DDIM FD and the best trial's FD
"""
import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time


def hand_written(trials, data_size):
    import numpy as np
    import optuna
    import scipy.linalg
    import torch

    torch.set_num_threads(2)
    directory = os.environ.get("SAMPLERSEARCH_FASHION_MNIST") or "/usr/share/datasets/fashion-mnist"
    with gzip.open(os.path.join(directory, "train-images-idx3-ubyte.gz"), "rb") as f:
        train = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 784)
    train = torch.from_numpy(train.astype(np.float32) / 127.5 - 1.0)
    data = train[:data_size]
    norms = (data * data).sum(1)

    feats = train.double().numpy()
    mu_data, sigma_data = feats.mean(0), np.cov(feats, rowvar=False)

    def log_alpha(t):
        return -0.25 * (20.0 - 0.1) * t * t - 0.5 * 0.1 * t

    def alpha_sigma(t):
        a = float(np.exp(log_alpha(t)))
        return a, float(np.sqrt(1.0 - a * a))

    def denoise(x, t):
        a, s = alpha_sigma(t)
        logits = (a / s**2) * (x @ data.T) - (a * a / (2 * s**2)) * norms
        return torch.softmax(logits, dim=1) @ data

    def ddim(times, n=1000, seed=0):
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(n, 784, generator=g) * alpha_sigma(times[0])[1]
        for t, t_next in zip(times[:-1], times[1:]):
            a, s = alpha_sigma(t)
            a2, s2 = alpha_sigma(t_next)
            y = denoise(x, t)
            x = a2 * y + s2 * (x - a * y) / s
        return x

    def fid(x):
        x = x.double().numpy()
        mu, sigma = x.mean(0), np.cov(x, rowvar=False)
        covmean, _ = scipy.linalg.sqrtm(sigma.dot(sigma_data), disp=False)
        if not np.isfinite(covmean).all():
            offset = np.eye(784) * 1e-6
            covmean = scipy.linalg.sqrtm((sigma + offset).dot(sigma_data + offset))
        d = mu - mu_data
        return float(d @ d + np.trace(sigma) + np.trace(sigma_data) - 2 * np.trace(covmean.real))

    grid = [(1.0 + i / 5 * (1e-3**0.5 - 1.0)) ** 2 for i in range(6)]
    ddim_fd = fid(ddim(grid))

    def objective(trial):
        # 4 inner times as fractions of the remaining interval, so they stay decreasing.
        times, t = [1.0], 1.0
        for i in range(4):
            t = 1e-3 + (t - 1e-3) * trial.suggest_float(f"r{i}", 0.05, 0.95)
            times.append(t)
        return fid(ddim(times + [1e-3]))

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.CmaEsSampler(seed=0))
    study.optimize(objective, n_trials=trials)
    return ddim_fd, study.best_value


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hand", action="store_true")
    parser.add_argument("--samplersearch")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--data", type=int, default=2000)
    args = parser.parse_args()
    if args.hand:
        ddim_fd, best = hand_written(args.trials, args.data)
        print(json.dumps({"ddim_fd": ddim_fd, "best_fd": best}))
        return 0
    if not args.samplersearch:
        parser.error("give --hand or --samplersearch PATH")

    env = dict(os.environ, OMP_NUM_THREADS="2")
    start = time.perf_counter()
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--hand", "--trials",
                          str(args.trials), "--data", str(args.data)],
                         env=env, capture_output=True, text=True, check=True).stdout
    hand_seconds = time.perf_counter() - start
    hand = json.loads(out.strip().splitlines()[-1])

    with tempfile.TemporaryDirectory() as tmp:
        experiment = {
            "name": "whole-job",
            "model": {"kind": "fashion-mnist", "data_size": args.data},
            "steps": 5,
            "metric": {"name": "fd", "params": {"features": "pixels"}, "samples": [1000],
                       "cache": os.path.join(tmp, "cache")},
            "baselines": ["ddim"],
            "validation": {"top": 0},
            "threads": 2,
            "budget": {"trials": args.trials},
            "output": os.path.join(tmp, "whole-job.h5"),
        }
        path = os.path.join(tmp, "whole-job.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(experiment, f)
        start = time.perf_counter()
        result = subprocess.run([args.samplersearch, "search", path], env=env,
                                capture_output=True, text=True)
        ours_seconds = time.perf_counter() - start
        if result.returncode != 0:
            print(result.stdout + result.stderr, file=sys.stderr)
            return 1
    print("samplersearch search's output:")
    print("\n".join("  " + line for line in result.stdout.splitlines()))
    print(f"hand-written: {hand} {hand_seconds:.1f} s; samplersearch {ours_seconds:.1f} s")
    row = {
        "name": "Whole job vs hand-written Python",
        "sizes": f"{args.data} images, 5 steps, 1000 samples, FD on pixels vs 60k; DDIM + "
                 f"{args.trials} CMA-ES trials, 2 threads",
        "ours": f"samplersearch search {ours_seconds:.1f} s",
        "baseline": f"PyTorch/NumPy/Optuna script {hand_seconds:.1f} s",
        "ratio": hand_seconds / ours_seconds,
        "ratio_of": "script s / samplersearch s",
        "goal": [">=", 1.0],
        "checks": [],
        "note": f"script: DDIM FD {hand['ddim_fd']:.4g}, best {hand['best_fd']:.4g}; its "
                "OpenBLAS runs the kernels it detects (samplersearch picks its own at start-up)",
    }
    print("ROW " + json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
