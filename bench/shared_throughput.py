#!/usr/bin/python3
"""Throughput of 1, 2 and 3 `samplersearch search` processes on one Optuna study in PostgreSQL.

Starts a throw-away PostgreSQL server (tests/search/postgres_fixture.py), then for P in --procs
(in the order given, and again reversed with --both-orders to even out a drifting machine load)
runs P processes of the same small experiment (one trial in flight, one thread each) on a fresh
study with budget --trials, and measures the steady rate: finished trials between the first and
the last trial event seen from any process, per hour. Prints one ROW line per run and the ratios to
P = 1 measured in the same run.

Usage: bench/shared_throughput.py --cli build/samplersearch [--trials 24] [--procs 1 2 3]
"""
import argparse
import importlib.util
import json
import os
import select
import shutil
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def load_fixture():
    path = os.path.join(HERE, "..", "tests", "search", "postgres_fixture.py")
    spec = importlib.util.spec_from_file_location("postgres_fixture", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def experiment(d, name, url, trials, data_size, samples):
    return {
        "name": name,
        "model": {"data_size": data_size},
        "steps": 5,
        "metric": {"name": "trajectory_mse", "params": {}, "samples": [samples], "chunk": 250,
                   "reference": {"steps": 20}, "cache": os.path.join(d, "cache")},
        "baselines": ["ddim"],
        "validation": {"top": 1, "samples": samples},
        "optuna": {"sampler": "random", "storage": url},
        "concurrency": 1,
        "threads": 1,
        "budget": {"trials": trials},
        "output": os.path.join(d, name + ".h5"),
    }


def run(cli, d, url, procs, trials, data_size, samples, tag):
    name = f"p{procs}-{tag}"
    path = os.path.join(d, name + ".json")
    with open(path, "w") as f:
        json.dump(experiment(d, name, url, trials, data_size, samples), f)
    ps = [subprocess.Popen([cli, "search", path, "--json"], cwd=d, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL) for _ in range(procs)]
    stamps = []
    bufs = {p.stdout.fileno(): b"" for p in ps}
    open_fds = set(bufs)
    while open_fds:
        ready, _, _ = select.select(list(open_fds), [], [], 1.0)
        for fd in ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                open_fds.discard(fd)
                continue
            bufs[fd] += chunk
            while b"\n" in bufs[fd]:
                line, bufs[fd] = bufs[fd].split(b"\n", 1)
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if event.get("event") == "trial":
                    stamps.append(time.time())
    codes = [p.wait() for p in ps]
    stamps.sort()
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0]) * 3600 if len(stamps) > 1 else 0.0
    return {"procs": procs, "trials": len(stamps), "codes": codes,
            "seconds": round(stamps[-1] - stamps[0], 1) if stamps else 0,
            "trials_per_hour": round(rate)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", default="build/samplersearch")
    ap.add_argument("--trials", type=int, default=24)
    ap.add_argument("--procs", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--both-orders", action="store_true")
    ap.add_argument("--data-size", type=int, default=2000)
    ap.add_argument("--samples", type=int, default=1000)
    a = ap.parse_args()
    cli = os.path.abspath(a.cli)
    d = tempfile.mkdtemp(prefix="ss_throughput_")
    order = list(a.procs) + (list(reversed(a.procs)) if a.both_orders else [])
    results = []
    with load_fixture().PostgresServer() as pg:
        for k, p in enumerate(order):
            r = run(cli, d, pg.url, p, a.trials, a.data_size, a.samples, str(k))
            results.append(r)
            print("ROW " + json.dumps(r), flush=True)
    by = {}
    for r in results:
        by.setdefault(r["procs"], []).append(r["trials_per_hour"])
    base = sum(by[min(by)]) / len(by[min(by)])
    print(f"\nload average at the end: {os.getloadavg()}, cores: {os.cpu_count()}")
    print(f"{'procs':>5} {'trials/h':>10} {'ratio':>7}")
    for p in sorted(by):
        mean = sum(by[p]) / len(by[p])
        print(f"{p:>5} {mean:>10.0f} {mean / base:>7.2f}")
    shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
