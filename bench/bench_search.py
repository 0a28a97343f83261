"""Python side of bench_search: Optuna's own ask + tell, in process, as the bridge runs them.

Usage: bench_search.py TRIALS DIMS [STORAGE]
Creates a study with CMA-ES (seed 0) in STORAGE (an Optuna storage URL with Optuna's defaults,
e.g. sqlite:///x.db, as a user would write it; default in memory), asks TRIALS trials over DIMS
floats in [-2, 2] with fixed distributions, tells each the sum of squares, and prints the seconds
per trial.
"""
import sys
import time

import optuna


def main():
    trials, dims = int(sys.argv[1]), int(sys.argv[2])
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = sys.argv[3] if len(sys.argv) > 3 else None
    study = optuna.create_study(storage=storage, sampler=optuna.samplers.CmaEsSampler(seed=0))
    dist = {f"p{i}": optuna.distributions.FloatDistribution(-2, 2) for i in range(dims)}
    start = time.perf_counter()
    for _ in range(trials):
        trial = study.ask(dist)
        study.tell(trial, sum(v * v for v in trial.params.values()))
    print((time.perf_counter() - start) / trials)


if __name__ == "__main__":
    main()
