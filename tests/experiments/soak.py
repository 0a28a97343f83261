"""Crash soak of `samplersearch search`/`resume`: SIGKILL at random moments, resume, check nothing is lost.

Runs a small experiment (5 steps, trajectory MSE of 200 samples on an exact 500-image denoiser) into a trial
store and SIGKILLs the whole process group at --kills seeded random moments spread over the
phases of a search: start-up (store creation, bridge start, reconciling a killed run), baselines,
trials, validation on unseen noise, and the closing results. Every kill is followed by a
`samplersearch resume`, which is itself the next run to be killed. --bridge-kills more runs
SIGKILL only the Optuna bridge process (the search must restart it and go on). At the end a
last resume runs to completion and the store is checked with h5py (through dump_trial_store.py,
an independent reader) against the Optuna study (read with Optuna itself):

- the store opens, trial numbers are unique and exactly 0..n-1, nothing is RUNNING;
- every trial Optuna knows is in the store in the same state (COMPLETE with the same value and
  finite matrices and both intermediate values; FAIL with the same fail_reason);
- the counted trials (not interrupted) equal the budget exactly; every baseline once; the best
  `validation.top` trials re-measured once each.

Usage: soak.py --cli build/samplersearch [--kills 20] [--bridge-kills 2] [--seed 1] [--dir D]
Exit status 0 when every check holds; prints one JSON summary line (kills per phase).
"""
import argparse
import json
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DUMP = os.path.join(HERE, "dump_trial_store.py")
BASELINES = ["ddim", "dpmsolver++(2M)", "dpmsolver++(3M)"]
TOP = 2
INTERRUPTED = "interrupted"


def experiment(d, trials):
    return {
        "name": "soak",
        "model": {"data_size": 500},
        "steps": 5,
        "metric": {"name": "trajectory_mse", "params": {}, "samples": [100, 200],
                   "chunk": 100, "reference": {"steps": 20},
                   "cache": os.path.join(d, "cache")},
        "baselines": BASELINES,
        "validation": {"top": TOP},
        "optuna": {"sampler": "random"},
        "concurrency": 2,
        "threads": 1,
        "budget": {"trials": trials},
        "output": os.path.join(d, "soak.h5"),
    }


def phase_of(event):
    """The search phase a --json output line shows the run has reached (None: no change)."""
    kind = event.get("event")
    if kind == "trial":
        return "trials"
    if kind == "results":
        return "report"
    if kind == "log":
        msg = event.get("message", "")
        if msg.startswith("baseline "):
            return "baselines"
        if "on unseen noise" in msg:
            return "validation"
        if msg.startswith("resuming:") or "the budget of" in msg:
            return "resumed"
    return None


def children(pid):
    """Direct child pids of `pid` (from /proc)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                out.append(int(entry))
        except (OSError, IndexError, ValueError):
            pass
    return out


def bridge_pid(cli_pid):
    for c in children(cli_pid):
        try:
            with open(f"/proc/{c}/cmdline", "rb") as f:
                if b"optuna_bridge" in f.read():
                    return c
        except OSError:
            pass
    return None


class Run:
    """One CLI run in its own process group, --json lines read as they come."""

    def __init__(self, args, d):
        self.err_path = os.path.join(d, f"stderr_{time.monotonic_ns()}.txt")
        self.err = open(self.err_path, "w")
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.err,
                                  start_new_session=True)
        self.buf = b""
        self.lines = []
        self.phase = "startup"

    def poll_lines(self, timeout):
        """Reads what is available within `timeout` s; False once stdout is closed."""
        r, _, _ = select.select([self.p.stdout], [], [], max(timeout, 0))
        if not r:
            return True
        chunk = os.read(self.p.stdout.fileno(), 65536)
        if not chunk:
            return False
        self.buf += chunk
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            try:
                ev = json.loads(line)
            except ValueError:
                ev = {"event": "text", "message": line.decode(errors="replace")}
            self.lines.append(ev)
            self.phase = phase_of(ev) or self.phase
        return True

    def kill_group(self):
        try:
            os.killpg(self.p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def wait(self):
        while self.poll_lines(1.0):
            pass
        code = self.p.wait()
        self.err.close()
        with open(self.err_path) as f:
            return code, f.read()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cli", required=True)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--bridge-kills", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--trials", type=int, default=0, help="budget (default: 2*kills + 6)")
    ap.add_argument("--dir", default="")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    d = a.dir or tempfile.mkdtemp(prefix="ss_soak_")
    os.makedirs(d, exist_ok=True)
    trials = a.trials or 2 * a.kills + 6
    exp_path = os.path.join(d, "soak.json")
    with open(exp_path, "w") as f:
        json.dump(experiment(d, trials), f, indent=2)
    store = os.path.join(d, "soak.h5")
    failures = []

    def check(cond, what):
        if not cond:
            failures.append(what)
            print("FAIL:", what, file=sys.stderr)

    # The plan: which phase each kill aims at, in the order a search goes through them; the
    # bridge kills go among the first trial-phase rounds (while trials are left to run).
    n_early = max(1, a.kills // 5)
    n_late = max(1, a.kills // 5)
    plan = (["startup", "baselines"] * n_early)[:n_early] + ["trials"] * max(
        0, a.kills - n_early - n_late) + (["validation", "report"] * n_late)[:n_late]
    plan = plan[:a.kills]
    for k in range(a.bridge_kills):
        plan.insert(min(len(plan), n_early + rng.randint(0, 2 * k + 1)), "bridge")
    order = ["startup", "resumed", "baselines", "trials", "validation", "report"]
    killed_in = {}
    bridge_kills = 0
    kills_done = 0
    runs = 0
    for target in plan:
        # A kill before the store was created leaves nothing to resume: search again.
        args = ([a.cli, "search", exp_path, "--json"] if not os.path.exists(store) else
                [a.cli, "resume", store, "--json"])
        run = Run(args, d)
        runs += 1
        if target == "bridge":
            # SIGKILL the bridge alone after a trial finished: the search must restart it, say
            # so, and finish more trials; then the whole group is killed for the next round.
            killed_bridge, restarted, trials_after = False, False, 0
            t0 = time.monotonic()
            alive = True
            while alive and trials_after < 2 and time.monotonic() - t0 < 300:
                n_before = len(run.lines)
                alive = run.poll_lines(0.05)
                if killed_bridge:
                    # Trials in flight when the bridge died may still report; count only those
                    # after the search said it restarted the bridge.
                    if not restarted:
                        with open(run.err_path) as f:
                            restarted = "restarted it" in f.read()
                    else:
                        trials_after += sum(ev.get("event") == "trial"
                                            for ev in run.lines[n_before:])
                elif run.phase == "trials":
                    time.sleep(rng.uniform(0, 0.3))
                    b = bridge_pid(run.p.pid)
                    if b:
                        os.kill(b, signal.SIGKILL)
                        killed_bridge = True
            run.kill_group()
            code, err = run.wait()
            check(killed_bridge, f"run {runs}: no bridge to kill (phase {run.phase})")
            check(trials_after >= 1 or code == 0,
                  f"run {runs}: no trial finished after the bridge was killed (exit {code}): {err}")
            check("the Optuna bridge failed" in err and "restarted it" in err,
                  f"run {runs}: no message about the restarted bridge: {err}")
            bridge_kills += killed_bridge
            continue
        # Kill after a random number (1-2) of the target phase's lines, or of any later phase's,
        # plus a random delay; "startup" kills at a random moment before any output.
        want_lines = 0 if target == "startup" else rng.randint(1, 2)
        delay = rng.uniform(0, 1.5) if target == "startup" else rng.uniform(0, 0.4)
        seen = 0
        t_hit = time.monotonic() if target == "startup" else None
        alive = True
        while alive:
            n_before = len(run.lines)
            alive = run.poll_lines(0.02)
            for ev in run.lines[n_before:]:
                p = phase_of(ev)
                if p and order.index(p) >= order.index(target):
                    seen += 1
            if t_hit is None and seen >= want_lines:
                t_hit = time.monotonic()
            if t_hit is not None and time.monotonic() - t_hit >= delay:
                break
        phase = run.phase
        run.kill_group()
        code, err = run.wait()
        if code == -signal.SIGKILL:
            kills_done += 1
            killed_in[phase] = killed_in.get(phase, 0) + 1
        else:  # it finished before the moment came
            check(code == 0, f"run {runs} ({target}) exited {code}: {err}")
            killed_in["finished first"] = killed_in.get("finished first", 0) + 1

    # The last resume runs to the end.
    run = Run([a.cli, "resume", store, "--json"], d)
    runs += 1
    code, err = run.wait()
    check(code == 0, f"final resume exited {code}: {err}")

    dumped = json.loads(subprocess.run([a.python, DUMP, store], check=True, capture_output=True,
                                       text=True).stdout)[0]
    check(dumped["plain_open"], "the store is still marked open for writing")
    trials_stored = dumped["trials"]
    numbers = [t["number"] for t in trials_stored]
    check(len(set(numbers)) == len(numbers), f"trial numbers stored twice: {sorted(numbers)}")
    check(sorted(numbers) == list(range(len(numbers))), f"numbers not 0..n-1: {sorted(numbers)}")
    check(all(t["state"] != "RUNNING" for t in trials_stored), "a RUNNING trial in the store")
    counted = [t for t in trials_stored
               if t["state"] != "RUNNING" and not (t["state"] == "FAIL" and
                                                   t["reason"] == INTERRUPTED)]
    check(len(counted) == trials, f"{len(counted)} counted trials, budget {trials}")
    for t in trials_stored:
        if t["state"] == "COMPLETE":  # a value, both intermediate values, finite matrices
            flat = [x for m in ("C", "B") for row in t[m] for x in row]
            check(t["value"] is not None and len(t["intermediate"]) == 2 and
                  None not in t["timesteps"] and any(x not in (None, 0.0) for x in flat),
                  f"trial {t['number']} is COMPLETE without its data: {t}")
    labels = [b["label"] for b in dumped["baselines"]]
    check(sorted(labels) == sorted(BASELINES), f"baselines {labels}")
    validated = [v[0] for v in dumped["validations"]]
    check(len(validated) == TOP and len(set(validated)) == TOP, f"validations {validated}")

    script = (
        "import json, optuna, sys\n"
        "optuna.logging.set_verbosity(optuna.logging.ERROR)\n"
        "s = optuna.load_study(study_name=sys.argv[2], storage='sqlite:///' + sys.argv[1])\n"
        "print(json.dumps([[t.number, t.state.name, t.value, t.user_attrs.get('fail_reason')]"
        " for t in s.trials]))\n")
    told = json.loads(subprocess.run(
        [a.python, "-c", script, os.path.join(d, "soak.optuna.db"), "soak"], check=True,
        capture_output=True, text=True).stdout)
    by_number = {t["number"]: t for t in trials_stored}
    check(sorted(t[0] for t in told) == sorted(by_number),
          f"Optuna has trials {sorted(t[0] for t in told)}, the store {sorted(by_number)}")
    for number, state, value, reason in told:
        s = by_number.get(number)
        check(state != "RUNNING", f"trial {number} RUNNING in Optuna")
        if s is None:
            check(False, f"trial {number} told to Optuna ({state}) is not in the store")
            continue
        check(s["state"] == state, f"trial {number}: {state} in Optuna, {s['state']} stored")
        if state == "COMPLETE":
            check(value is not None and s["value"] is not None and abs(value - s["value"]) <= 0,
                  f"trial {number}: value {value} in Optuna, {s['value']} stored")
        if state == "FAIL":
            check(reason == s["reason"], f"trial {number}: reason {reason!r} vs {s['reason']!r}")

    summary = {"kills": kills_done, "bridge_kills": bridge_kills, "runs": runs,
               "killed_in": killed_in, "trials_stored": len(trials_stored),
               "interrupted": len(trials_stored) - len(counted), "budget": trials,
               "failures": len(failures), "dir": d}
    print(json.dumps(summary))
    if not failures and not a.keep and not a.dir:
        shutil.rmtree(d, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
