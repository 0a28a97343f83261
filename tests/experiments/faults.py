"""Resource faults in a real `samplersearch search`: a full disk, a file-size limit, a trial that runs
out of memory, a model that returns NaN. Each case checks the user sees a clear error or FAIL
trials, that nothing stored before the fault is lost, and that the search finishes its budget.

Cases (--case):
  disk-full   the store lives on a small tmpfs (mounted by the test; we run as root) that the test
              fills once 3 trials are stored (where the write then fails: see below). The search
              must stop with an error naming the store file and "No space left on device", exit 3
              (a bad file), not crash, and leave every stored trial readable with h5py and equal
              to what Optuna holds; after the filler is removed `samplersearch resume` finishes
              the budget exactly with nothing RUNNING.
  file-size   the same with a soft RLIMIT_FSIZE set on the running search (prlimit) just above the
              store's size: writes fail with EFBIG ("File too large").
  oom         a TorchScript model that asks for 4 TiB whenever its input leaves [-8, 8] (samplers
              that blow up), run under RLIMIT_AS = 64 GiB: those trials are FAIL with a reason
              naming the model and "can't allocate memory", the loop goes on, the budget completes.
  nan         the same model returning NaN instead: those trials are FAIL with a reason naming the
              model and "forward returned NaN or Inf".
  unwritable  a store, export and sample output under a regular file (a path that cannot be made):
              each command exits with an error naming the path and the reason, writing nothing.

The store's chunks hold 14-64 rows, written when first touched, so after the fault the trials go
on into space already taken and the first write needing more (here the first validation row)
fails; the search then stops, with every trial of the budget stored.

Usage: faults.py --cli build/samplersearch --case CASE [--dir D] [--keep]
Exit status 0 when every check holds, 77 when the case cannot run here (tmpfs mount refused).
"""
import argparse
import errno
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import soak
from soak import DUMP, Run

SKIP = 77
INTERRUPTED = "interrupted"
BUDGET = 12
FAULT_AFTER = 3  # trials stored before the disk fills
# What `unwritable` expects: (exit code, last stderr line) with {bad} the path asked for and
# {parent} the regular file standing where a directory is needed.
EXPECT_SEARCH = (3, "samplersearch: error: {parent}: output: cannot create the store's directory: "
                    "Not a directory")
EXPECT_EXPORT = {
    "json": (3, "samplersearch: error: {bad}: cannot create the export directory: Not a directory"),
    "markdown": (3, "samplersearch: error: {bad}: cannot be written: Not a directory")}
EXPECT_SAMPLE = {
    ".png": (3, "samplersearch: error: {bad}: cannot write: Not a directory"),
    ".h5": (3, "samplersearch: error: {bad}: cannot write 'images' (cannot create the file: "
               "Not a directory)"),
    "": (3, "samplersearch: error: {bad}: cannot create the folder: Not a directory")}

# A TorchScript ε-model, exact for Gaussian data N(0, s²I) on vp-linear fed τ = 999·t
# (ε̂ = σx/(α²s² + σ²)), that misbehaves when its input leaves [-8, 8]: the samplers' states stay
# within a few noise standard deviations, an unstable trial's do not.
MODEL_SCRIPT = r'''
import sys, torch

class Misbehaving(torch.nn.Module):
    def __init__(self, mode: str):
        super().__init__()
        self.mode = mode
    def forward(self, x: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        if bool(x.abs().max() > 8.0):
            if self.mode == "oom":  # 2^40 float32 = 4 TiB
                return torch.empty([1 << 40], dtype=x.dtype)[: x.numel()].view(x.shape)
            return torch.full_like(x, float("nan"))
        t = tau / 999.0
        a = torch.exp(-0.25 * 19.9 * t * t - 0.5 * 0.1 * t)
        sig = torch.sqrt(1.0 - a * a)
        while a.dim() < x.dim():
            a = a.unsqueeze(-1)
            sig = sig.unsqueeze(-1)
        s = 0.5
        return sig * x / (a * a * s * s + sig * sig)

torch.jit.save(torch.jit.script(Misbehaving(sys.argv[2])), sys.argv[1])
'''


def experiment(d, out, model=None, trials=BUDGET):
    """soak.py's small search, with two baselines, a SQLite study beside it and the store at out."""
    doc = soak.experiment(d, trials)
    doc.update({"name": "faults", "baselines": ["ddim", "dpmsolver++(2M)"], "output": out})
    doc["optuna"]["storage"] = "sqlite:///" + os.path.join(d, "faults.optuna.db")
    if model:
        doc["model"] = {"kind": "torchscript", "path": model, "parameterization": "eps",
                        "time_input": "999t", "shape": [1, 28, 28], "data": "fashion-mnist-test"}
    return doc


class Checks:
    def __init__(self):
        self.failures = []

    def __call__(self, cond, what):
        if not cond:
            self.failures.append(what)
            print("FAIL:", what, file=sys.stderr)
        return cond


def dump(python, store):
    return json.loads(subprocess.run([python, DUMP, store], check=True, capture_output=True,
                                     text=True).stdout)[0]


def optuna_trials(python, d):
    script = (
        "import json, optuna, sys\n"
        "optuna.logging.set_verbosity(optuna.logging.ERROR)\n"
        "s = optuna.load_study(study_name='faults', storage='sqlite:///' + sys.argv[1])\n"
        "print(json.dumps({t.number: [t.state.name, t.value, t.user_attrs.get('fail_reason')]"
        " for t in s.trials}))\n")
    told = json.loads(subprocess.run([python, "-c", script, os.path.join(d, "faults.optuna.db")],
                                     check=True, capture_output=True, text=True).stdout)
    return {int(k): v for k, v in told.items()}


def check_against_optuna(check, stored, told, when):
    """Every stored trial is in Optuna in the same state, with the same value or fail reason."""
    for t in stored:
        o = told.get(t["number"])
        if not check(o is not None, f"{when}: stored trial {t['number']} unknown to Optuna"):
            continue
        check(o[0] == t["state"], f"{when}: trial {t['number']} {t['state']} stored, {o[0]} in Optuna")
        if t["state"] == "COMPLETE":
            check(o[1] == t["value"], f"{when}: trial {t['number']} value {t['value']} vs {o[1]}")
        if t["state"] == "FAIL":
            check(o[2] == t["reason"], f"{when}: trial {t['number']} reason {t['reason']!r} vs {o[2]!r}")


def check_finished(check, python, store, d, budget):
    """The store after the last run: budget met exactly, nothing RUNNING, equal to Optuna."""
    after = dump(python, store)
    check(after["plain_open"], "the store is still marked open for writing")
    trials = after["trials"]
    numbers = sorted(t["number"] for t in trials)
    check(numbers == list(range(len(numbers))), f"trial numbers {numbers}")
    check(all(t["state"] != "RUNNING" for t in trials), "a RUNNING trial in the store")
    counted = [t for t in trials if not (t["state"] == "FAIL" and t["reason"] == INTERRUPTED)]
    check(len(counted) == budget, f"{len(counted)} counted trials, budget {budget}")
    told = optuna_trials(python, d)
    check(all(v[0] != "RUNNING" for v in told.values()), f"RUNNING in Optuna: {told}")
    check(sorted(told) == numbers, f"Optuna has {sorted(told)}, the store {numbers}")
    check_against_optuna(check, trials, told, "after resume")
    return after


def fill(directory):
    """Writes a file into `directory` until the file system is full; returns the bytes written."""
    written = 0
    block = b"\0" * (1 << 16)
    with open(os.path.join(directory, "filler"), "wb", buffering=0) as f:
        while True:
            try:
                written += f.write(block)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                break
    return written


def resource_fault(a, d, check, kind):
    """disk-full / file-size: the fault after FAULT_AFTER trials, then a resume after freeing."""
    disk = os.path.join(d, "disk")
    os.makedirs(disk)
    mounted = False
    if kind == "disk-full":
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", disk],
                           capture_output=True, text=True)
        if r.returncode != 0:
            print(f"SKIP: cannot mount a tmpfs (mount exited {r.returncode}: {r.stderr.strip()})")
            return SKIP
        mounted = True
    try:
        store = os.path.join(disk, "faults.h5")
        exp = os.path.join(d, "faults.json")
        with open(exp, "w") as f:
            json.dump(experiment(d, store), f, indent=2)
        run = Run([a.cli, "search", exp, "--json"], d)
        trials_seen, faulted, t0 = 0, False, time.monotonic()
        while run.poll_lines(0.05) and time.monotonic() - t0 < 600:
            trials_seen = sum(ev.get("event") == "trial" for ev in run.lines)
            if not faulted and trials_seen >= FAULT_AFTER:
                if kind == "disk-full":
                    print(f"filled the tmpfs with {fill(disk)} bytes after {trials_seen} trials")
                else:
                    limit = os.path.getsize(store) + 4096
                    # A soft limit, as `ulimit -S -f` sets it (the hard one stays unlimited).
                    resource.prlimit(run.p.pid, resource.RLIMIT_FSIZE,
                                     (limit, resource.RLIM_INFINITY))
                    print(f"RLIMIT_FSIZE = {limit} bytes after {trials_seen} trials")
                faulted = True
        if run.p.poll() is None:
            run.kill_group()
        code, err = run.wait()
        print(f"search exited {code} after {trials_seen} trials; stderr:\n{err}")
        check(faulted, "the search ended before the fault was injected")
        # A clean error: a bad file (exit 3), not a signal, an abort or HDF5's shutdown loop.
        check(code == 3, f"the search exited {code}, expected 3 (a bad file)")
        reason = "No space left on device" if kind == "disk-full" else "File too large"
        lines = [ln for ln in err.splitlines() if ln.startswith("samplersearch: error: ")]
        check(any(ln.startswith("samplersearch: error: " + store + ": ") and reason in ln
                  for ln in lines), f"no error naming {store} and '{reason}': {lines}")
        check("infinite loop closing library" not in err, "HDF5 could not close the library")
        check("HDF5-DIAG" not in err and "Abort" not in err, "HDF5 diagnostics or an abort")

        # Everything stored before the fault is readable with h5py and equal to Optuna's.
        before = dump(a.python, store)
        stored = [t for t in before["trials"] if t["state"] != "RUNNING"]
        check(len(stored) >= FAULT_AFTER, f"only {len(stored)} trials readable after the fault")
        check_against_optuna(check, stored, optuna_trials(a.python, d), "after the fault")

        # Space again: the resume finishes the budget exactly.
        if kind == "disk-full":
            os.remove(os.path.join(disk, "filler"))
        code, err = Run([a.cli, "resume", store, "--json"], d).wait()
        check(code == 0, f"resume exited {code}: {err}")
        after = check_finished(check, a.python, store, d, BUDGET)
        by_number = {t["number"]: t for t in after["trials"]}
        for t in stored:  # nothing stored before the fault changed, matrices included
            check(by_number.get(t["number"]) == t, f"trial {t['number']} changed by the resume")
        print(json.dumps({"case": kind, "stored_before_fault": len(stored),
                          "trials_after_resume": len(after["trials"]), "budget": BUDGET}))
    finally:
        if mounted:
            subprocess.run(["umount", disk], check=False)
    return 0


def trial_fault(a, d, check, kind):
    """oom / nan: a model failing for some inputs; those trials FAIL and the budget completes."""
    model = os.path.join(d, f"{kind}.pt")
    script = os.path.join(d, "make_model.py")  # torch.jit.script reads the class's source file
    with open(script, "w") as f:
        f.write(MODEL_SCRIPT)
    subprocess.run([a.python, script, model, kind], check=True)
    store = os.path.join(d, "faults.h5")
    exp = os.path.join(d, "faults.json")
    with open(exp, "w") as f:
        json.dump(experiment(d, store, model), f, indent=2)
    limit = 64 << 30

    def limit_address_space():  # the 4 TiB request fails whatever the overcommit setting
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    p = subprocess.run([a.cli, "search", exp], capture_output=True, text=True,
                       preexec_fn=limit_address_space if kind == "oom" else None, timeout=900)
    print(f"search exited {p.returncode}; stderr:\n{p.stderr[-3000:]}")
    check(p.returncode == 0, f"the search exited {p.returncode}")
    after = check_finished(check, a.python, store, d, BUDGET)
    failed = [t for t in after["trials"] if t["state"] == "FAIL"]
    complete = [t for t in after["trials"] if t["state"] == "COMPLETE"]
    want = "can't allocate memory" if kind == "oom" else "forward returned NaN or Inf"
    check(len(failed) >= 1, f"no trial failed: {[t['state'] for t in after['trials']]}")
    check(len(complete) >= 1, "no trial completed")
    for t in failed:
        check(t["reason"].startswith("model " + model + ": ") and want in t["reason"],
              f"trial {t['number']}: reason {t['reason']!r} does not name the model and '{want}'")
    print(json.dumps({"case": kind, "failed": len(failed), "complete": len(complete),
                      "budget": BUDGET, "reason": failed[0]["reason"][:300] if failed else None}))
    return 0


def unwritable(a, d, check):
    """search / export / sample to a path under a regular file: an error naming it, nothing made."""
    blocker = os.path.join(d, "a_file")
    with open(blocker, "w") as f:
        f.write("not a directory\n")
    bad = os.path.join(blocker, "out")

    def cli(*args):
        p = subprocess.run([a.cli, *args], capture_output=True, text=True, timeout=900)
        last = (p.stderr.strip().splitlines() or [""])[-1]
        print(f"$ samplersearch {' '.join(args)}\n-> exit {p.returncode}: {last}")
        return p.returncode, last

    exp = os.path.join(d, "faults.json")
    with open(exp, "w") as f:
        json.dump(experiment(d, bad + ".h5", trials=2), f, indent=2)
    got = cli("search", exp)
    check(got == (EXPECT_SEARCH[0], EXPECT_SEARCH[1].format(parent=blocker)), f"search: {got}")
    check(not os.path.exists(os.path.join(d, "faults.optuna.db")), "search made a study")

    store = os.path.join(d, "faults.h5")
    with open(exp, "w") as f:
        json.dump(experiment(d, store, trials=2), f, indent=2)
    code, err = cli("search", exp)
    check(code == 0, f"the small search exited {code}: {err}")
    for fmt, out in [("json", bad), ("markdown", bad + ".md")]:
        got = cli("export", store, "--format", fmt, "--out", out)
        want = EXPECT_EXPORT[fmt]
        check(got == (want[0], want[1].format(bad=out)), f"export {fmt}: {got}")

    exported = os.path.join(d, "exported")
    code, err = cli("export", store, "--format", "json", "--out", exported)
    check(code == 0, f"export exited {code}: {err}")
    matrix = os.path.join(exported, sorted(os.listdir(exported))[0])
    for ext in (".png", ".h5", ""):
        got = cli("sample", "--matrix", matrix, "--samples", "4", "--out", bad + ext)
        want = EXPECT_SAMPLE[ext]
        check(got == (want[0], want[1].format(bad=bad + ext)), f"sample {ext or 'folder'}: {got}")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cli", required=True)
    ap.add_argument("--case", required=True, choices=["disk-full", "file-size", "oom", "nan", "unwritable"])
    ap.add_argument("--dir", default="")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    d = a.dir or tempfile.mkdtemp(prefix="ss_faults_")
    os.makedirs(d, exist_ok=True)
    check = Checks()
    if a.case in ("disk-full", "file-size"):
        status = resource_fault(a, d, check, a.case)
    elif a.case == "unwritable":
        status = unwritable(a, d, check)
    else:
        status = trial_fault(a, d, check, a.case)
    if status == 0 and check.failures:
        status = 1
    if status != 1 and not a.keep and not a.dir:
        shutil.rmtree(d, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
