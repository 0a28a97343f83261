"""Resource faults of `samplersearch search`/`resume`: a full disk and a model that runs out of memory.

1. Disk full. A small search stores 3 trials; a forced resume to a larger budget then runs under
   RLIMIT_FSIZE (SIGXFSZ ignored, as on a full disk every write past the limit fails with EFBIG)
   set a little above the largest file it writes. It must stop with an error naming the file and
   the reason, keep every trial stored before (read with h5py through dump_trial_store.py), and
   a plain `samplersearch resume` without the limit must then finish at exactly the budget with
   nothing RUNNING in the Optuna study.
2. Out of memory in a trial. A TorchScript eps-model (scripted here with PyTorch) asks for 4 TiB
   whenever its input leaves [-LIMIT, LIMIT], which happens for some sampled matrices and not
   for others. Under RLIMIT_AS = 64 GiB the allocation fails whatever the overcommit setting;
   those trials must be FAIL with a reason naming the module and "can't allocate memory", the others
   COMPLETE, the search must end at its budget, and a resume afterwards must run nothing more.

Usage: resource_faults.py --cli build/samplersearch [--dir D]; prints one JSON summary line.
"""
import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DUMP = os.path.join(HERE, "dump_trial_store.py")

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def run(cli, args, fsize=None, address_space=None):
    def limits():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        if address_space is not None:
            resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    p = subprocess.run([cli] + args, capture_output=True, text=True, preexec_fn=limits,
                       restore_signals=False, timeout=600)
    return p.returncode, p.stdout, p.stderr


def dump(python, store):
    return json.loads(subprocess.run([python, DUMP, store], check=True, capture_output=True,
                                     text=True).stdout)[0]


def optuna_trials(python, db, study):
    script = (
        "import json, optuna, sys\n"
        "optuna.logging.set_verbosity(optuna.logging.ERROR)\n"
        "s = optuna.load_study(study_name=sys.argv[2], storage='sqlite:///' + sys.argv[1])\n"
        "print(json.dumps([[t.number, t.state.name, t.value] for t in s.trials]))\n")
    return json.loads(subprocess.run([python, "-c", script, db, study], check=True,
                                     capture_output=True, text=True).stdout)


def experiment(d, name, trials, **extra):
    doc = {
        "name": name,
        "model": {"data_size": 500},
        "steps": 5,
        "metric": {"name": "trajectory_mse", "params": {}, "samples": [100, 200],
                   "chunk": 100, "reference": {"steps": 20}, "cache": os.path.join(d, "cache")},
        "baselines": ["ddim", "dpmsolver++(2M)"],
        "validation": {"top": 1},
        "optuna": {"sampler": "random"},
        "concurrency": 2,
        "threads": 1,
        "budget": {"trials": trials},
        "output": os.path.join(d, name + ".h5"),
    }
    doc.update(extra)
    path = os.path.join(d, name + ".json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
    return path


def counted(trials):
    return sum(t["state"] != "RUNNING" and not (t["state"] == "FAIL" and
                                                t["reason"] == "interrupted") for t in trials)


def same_trial(a, b):
    keys = ("number", "state", "value", "params", "timesteps", "C", "B", "intermediate")
    return all(a[k] == b[k] for k in keys)


def disk_full(cli, python, d, summary):
    exp = experiment(d, "full", 3)
    store = os.path.join(d, "full.h5")
    db = os.path.join(d, "full.optuna.db")
    code, out, err = run(cli, ["search", exp, "--quiet"])
    check(code == 0, f"disk full: the first search exited {code}: {err}")
    before = dump(python, store)
    sizes = {p: os.path.getsize(p) for p in (store, db)}
    # The limit: the store's size (the Optuna database is smaller and may grow a little), so the
    # first write that extends the store fails.
    limit = sizes[store]
    check(sizes[db] < limit, f"disk full: the Optuna database is larger than the store: {sizes}")
    budget = 12
    code, out, err = run(cli, ["resume", store, "--set", f"budget.trials={budget}", "--force",
                               "--quiet"], fsize=limit)
    summary["disk_full"] = {"limit_bytes": limit, "sizes_before": sizes, "exit": code,
                            "message": err.strip().splitlines()[-1] if err.strip() else ""}
    check(code != 0, f"disk full: the resume under RLIMIT_FSIZE={limit} succeeded: {out}")
    last = err.strip().splitlines()[-1] if err.strip() else ""
    named = store in last or db in last
    check(last.startswith("samplersearch: error: ") and named and
          ("File too large" in last or "disk is full" in last or "EFBIG" in last),
          f"disk full: the error does not name the file and the reason: {err}")
    after = dump(python, store)
    by_number = {t["number"]: t for t in after["trials"]}
    for t in before["trials"]:
        check(t["number"] in by_number and same_trial(t, by_number[t["number"]]),
              f"disk full: trial {t['number']} stored before was lost or changed")
    check(len(after["baselines"]) == len(before["baselines"]), "disk full: baselines lost")
    summary["disk_full"]["trials_when_full"] = len(after["trials"])
    check(counted(after["trials"]) < budget, "disk full: the limit was never reached")

    code, out, err = run(cli, ["resume", store, "--quiet"])
    check(code == 0, f"disk full: the resume after freeing space exited {code}: {err}")
    final = dump(python, store)
    by_number = {t["number"]: t for t in final["trials"]}
    for t in after["trials"]:
        check(t["number"] in by_number and same_trial(t, by_number[t["number"]]),
              f"disk full: trial {t['number']} was lost by the resume")
    numbers = sorted(by_number)
    check(numbers == list(range(len(numbers))), f"disk full: trial numbers {numbers}")
    check(counted(final["trials"]) == budget,
          f"disk full: {counted(final['trials'])} counted trials, budget {budget}")
    told = optuna_trials(python, db, "full")
    check(all(s != "RUNNING" for _, s, _ in told), "disk full: a RUNNING trial in Optuna")
    check(sorted(n for n, _, _ in told) == numbers, "disk full: Optuna and the store differ")
    summary["disk_full"]["trials_final"] = len(final["trials"])


MODEL = r'''
import sys, torch

class OomOutside(torch.nn.Module):
    """eps = x/2 (bounded); asks for 4 TiB when its input leaves [-limit, limit]."""
    def __init__(self, limit: float):
        super().__init__()
        self.limit = limit
    def forward(self, x: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        if bool(x.abs().max() > self.limit):
            return torch.empty([1 << 40], dtype=x.dtype)[: x.numel()].view(x.shape)
        return 0.5 * x

torch.jit.save(torch.jit.script(OomOutside(float(sys.argv[2]))), sys.argv[1])
'''


def out_of_memory(cli, python, d, summary):
    model = os.path.join(d, "oom.pt")
    images = os.path.join(d, "images.h5")
    subprocess.run([python, "-c", MODEL, model, "6.0"], check=True)
    subprocess.run([python, "-c",
                    "import h5py, numpy as np, sys\n"
                    "r = np.random.default_rng(0)\n"
                    "h5py.File(sys.argv[1], 'w')['images'] = r.integers(0, 256, (64, 4, 4, 1),"
                    " dtype=np.uint8)\n", images], check=True)
    budget = 8
    exp = experiment(d, "oom", budget,
                     model={"kind": "torchscript", "path": model, "shape": [1, 4, 4],
                            "data": images})
    store = os.path.join(d, "oom.h5")
    code, out, err = run(cli, ["search", exp, "--json"], address_space=64 << 30)
    check(code == 0, f"oom: the search exited {code}: {err}")
    contents = dump(python, store)
    states = {}
    for t in contents["trials"]:
        states[t["state"]] = states.get(t["state"], 0) + 1
        if t["state"] == "FAIL":
            check(t["reason"].startswith("model " + model + ": forward(x, τ) failed at τ = ") and
                  "can't allocate memory" in t["reason"],
                  f"oom: trial {t['number']} FAIL reason does not name the model and the "
                  f"reason: {t['reason']}")
    summary["out_of_memory"] = {"states": states,
                                "reason": next((t["reason"] for t in contents["trials"]
                                                if t["state"] == "FAIL"), "")}
    check(states.get("FAIL", 0) >= 1, f"oom: no trial ran out of memory: {states}")
    check(states.get("COMPLETE", 0) >= 1, f"oom: every trial ran out of memory: {states}")
    check(counted(contents["trials"]) == budget, f"oom: {states}, budget {budget}")
    code, out, err = run(cli, ["resume", store, "--quiet"], address_space=64 << 30)
    check(code == 0, f"oom: the resume afterwards exited {code}: {err}")
    check(len(dump(python, store)["trials"]) == len(contents["trials"]),
          "oom: the resume of a finished search ran more trials")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cli", required=True)
    ap.add_argument("--dir", default="")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--only", choices=["disk", "oom"], default=None)
    a = ap.parse_args()
    d = a.dir or tempfile.mkdtemp(prefix="ss_faults_")
    os.makedirs(d, exist_ok=True)
    summary = {}
    if a.only in (None, "disk"):
        disk_full(a.cli, a.python, d, summary)
    if a.only in (None, "oom"):
        out_of_memory(a.cli, a.python, d, summary)
    summary["failures"] = len(failures)
    print(json.dumps(summary, ensure_ascii=False))
    if not failures and not a.dir:
        shutil.rmtree(d, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
