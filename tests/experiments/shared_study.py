#!/usr/bin/python3
"""Several `samplersearch search` processes on one Optuna study in a real PostgreSQL server.

Starts a throw-away PostgreSQL server (tests/search/postgres_fixture.py: initdb + pg_ctl in a
temporary directory on loopback), then:

1. three processes run the same small experiment at once against one study; one of them is
   SIGKILLed (its whole process group, Optuna bridge included) once it has finished a trial, and
   is later resumed from its own shard. The study must end with exactly budget.trials counted
   trials, nothing RUNNING; every trial number is in at most one shard; every COMPLETE trial is in
   exactly one shard, with its value and finite matrices (read with h5py through
   dump_trial_store.py); `status DIR --json` merges the shards (counted = budget, one row per host).
2. the database stops in the middle of a search: the process exits with an error naming the
   storage within a bounded time (no hang), and after the database is back `resume SHARD`
   finishes the budget exactly.
3. without a database server: two processes on a journal file (Optuna's JournalFileStorage) end
   with exactly the budget, one shard each.

Usage: shared_study.py --cli build/samplersearch [--trials 9] [--keep]
Prints one JSON summary line; exit status 0 when every check holds.
"""
import argparse
import importlib.util
import json
import math
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DUMP = os.path.join(HERE, "dump_trial_store.py")
INTERRUPTED = "interrupted"


def load_fixture():
    path = os.path.join(HERE, "..", "search", "postgres_fixture.py")
    spec = importlib.util.spec_from_file_location("postgres_fixture", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def experiment(d, name, url, trials):
    return {
        "name": name,
        "model": {"data_size": 500},
        "steps": 5,
        "metric": {"name": "trajectory_mse", "params": {}, "samples": [200], "chunk": 100,
                   "reference": {"steps": 20}, "cache": os.path.join(d, "cache")},
        "baselines": ["ddim", "dpmsolver++(2M)"],
        "validation": {"top": 1, "samples": 200},
        "optuna": {"sampler": "random", "storage": url, "heartbeat": 2},
        "concurrency": 1,
        "threads": 1,
        "budget": {"trials": trials},
        "output": os.path.join(d, name + ".h5"),
    }


class Proc:
    """A CLI process in its own process group, stdout (JSON lines) read without blocking."""

    def __init__(self, cli, args, cwd):
        self.err = tempfile.TemporaryFile(mode="w+")
        self.p = subprocess.Popen([cli] + args + ["--json"], cwd=cwd, stdout=subprocess.PIPE,
                                  stderr=self.err, start_new_session=True)
        self.lines = []
        self._buf = b""

    def poll_lines(self, timeout=0.1):
        """Reads what is there within `timeout`; False at end of file or when nothing came."""
        r, _, _ = select.select([self.p.stdout], [], [], timeout)
        if not r:
            return False
        chunk = os.read(self.p.stdout.fileno(), 65536)
        self._buf += chunk
        while b"\n" in self._buf:
            line, self._buf = self._buf.split(b"\n", 1)
            try:
                self.lines.append(json.loads(line))
            except ValueError:
                pass
        return bool(chunk)

    def trials(self):
        return [e for e in self.lines if e.get("event") == "trial"]

    def kill(self):
        try:
            os.killpg(self.p.pid, signal.SIGKILL)
        except ProcessLookupError:  # already ended and reaped
            pass
        self.p.wait()

    def wait(self, timeout):
        """The exit code, or None (and the group killed) after `timeout` seconds."""
        end = time.time() + timeout
        while self.p.poll() is None and time.time() < end:
            self.poll_lines(0.2)
        if self.p.poll() is None:
            self.kill()
            return None
        while self.poll_lines(0.2):
            pass
        return self.p.returncode

    def stderr(self):
        self.err.seek(0)
        return self.err.read()


def study_trials(url, name):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = url
    if url.startswith("journal://"):
        storage = optuna.storages.JournalStorage(
            optuna.storages.JournalFileStorage(url[len("journal://"):]))
    s = optuna.load_study(study_name=name, storage=storage)
    return s.get_trials(deepcopy=False)


def dump(files):
    out = subprocess.run([sys.executable, DUMP] + files, check=True, stdout=subprocess.PIPE)
    return json.loads(out.stdout)


def counted(trials):
    from optuna.trial import TrialState

    return sum(1 for t in trials if t.state.is_finished() and not (
        t.state == TrialState.FAIL and t.user_attrs.get("fail_reason") == INTERRUPTED))


def check_study(check, url, name, shard_dir, budget):
    from optuna.trial import TrialState

    trials = study_trials(url, name)
    check(not [t for t in trials if t.state == TrialState.RUNNING], f"{name}: nothing RUNNING")
    check(counted(trials) == budget,
          f"{name}: exactly {budget} counted trials (got {counted(trials)})")
    files = sorted(os.path.join(shard_dir, f) for f in os.listdir(shard_dir) if f.endswith(".h5"))
    stores = dump(files)
    where = {}
    for s in stores:
        for r in s["trials"]:
            check(r["number"] not in where or s["path"] == where[r["number"]][0],
                  f"{name}: trial {r['number']} in one shard only")
            where[r["number"]] = (s["path"], r)
    for t in trials:
        if t.state != TrialState.COMPLETE:
            continue
        hit = where.get(t.number)
        check(hit is not None, f"{name}: COMPLETE trial {t.number} is in a shard")
        if hit:
            r = hit[1]
            check(r["state"] == "COMPLETE" and r["value"] is not None and
                  abs(r["value"] - t.value) <= 1e-12 * max(1.0, abs(t.value)),
                  f"{name}: trial {t.number}'s stored value is Optuna's")
            finite = all(v is not None and math.isfinite(v)
                         for m in (r["C"], r["B"]) for row in m for v in row)
            check(finite, f"{name}: trial {t.number} has finite matrices")
    return trials, files


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--trials", type=int, default=6)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    cli = os.path.abspath(a.cli)
    fixture = load_fixture()
    d = tempfile.mkdtemp(prefix="ss_shared_")
    failures = []
    summary = {}

    def check(cond, what):
        if not cond:
            failures.append(what)
            print("FAILED: " + what, file=sys.stderr)

    t0 = time.time()
    with fixture.PostgresServer() as pg:
        # 1. three processes, one killed midway and resumed.
        exp = os.path.join(d, "shared.json")
        with open(exp, "w") as f:
            json.dump(experiment(d, "shared", pg.url, a.trials), f)
        # The victim starts first and is killed right after its first trial, while it holds
        # its second one RUNNING; starting it alone keeps the other two from spending the
        # whole budget before it has finished anything on a slow machine.
        victim = Proc(cli, ["search", exp], d)
        end = time.time() + 90
        while time.time() < end and victim.p.poll() is None and not victim.trials():
            victim.poll_lines(0.05)
        procs = [Proc(cli, ["search", exp], d) for _ in range(2)]
        check(victim.p.poll() is None and victim.trials(),
              f"the victim finished a trial first (exit {victim.p.poll()}): "
              f"{victim.stderr()[-600:]}")
        victim.kill()
        victim_trials = len(victim.trials())
        codes = [p.wait(120) for p in procs]
        check(codes == [0, 0], f"the two others end with 0 (got {codes}): "
                               f"{procs[0].stderr()[-400:]} {procs[1].stderr()[-400:]}")
        shard_dir = os.path.join(d, "shared")
        victim_shard = [f for f in os.listdir(shard_dir) if f.endswith(f"-{victim.p.pid}.h5")]
        check(len(victim_shard) == 1, "the victim's shard is <host>-<pid>.h5")
        running_before = [t.number for t in study_trials(pg.url, "shared")
                          if t.state.name == "RUNNING"]
        resumed = Proc(cli, ["resume", os.path.join(shard_dir, victim_shard[0])], d)
        code = resumed.wait(120)
        check(code == 0, f"the resumed victim ends with 0 (got {code}): {resumed.stderr()[-600:]}")
        trials, files = check_study(check, pg.url, "shared", shard_dir, a.trials)
        check(len(files) == 3, f"three shards (got {len(files)})")
        status = subprocess.run([cli, "status", shard_dir, "--json"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        check(status.returncode == 0, "status DIR works: " + status.stderr)
        if status.returncode == 0:
            s = json.loads(status.stdout)
            check(s["counted"] == a.trials, f"status counts the budget (got {s['counted']})")
            per_shard = {os.path.basename(x["path"])[:-3]: len(x["trials"]) for x in dump(files)}
            hosts = {h: row["trials"] for h, row in s.get("hosts", {}).items()}
            check(hosts == {h: n for h, n in per_shard.items() if n},
                  f"status shows each shard's trials: {hosts} vs {per_shard}")
            check(len(s["baselines"]) == 2, "each baseline once over the shards")
        summary["kill"] = {
            "victim_trials_before_kill": victim_trials,
            "running_when_resumed": running_before,
            "by_state": {st: sum(1 for t in trials if t.state.name == st)
                         for st in ("COMPLETE", "PRUNED", "FAIL")},
            "interrupted": sum(1 for t in trials
                               if t.user_attrs.get("fail_reason") == INTERRUPTED),
            "per_shard": {os.path.basename(s["path"]): len(s["trials"]) for s in dump(files)},
        }

        # 2. the database stops mid-search: a clear error, then a resume finishes the budget.
        exp2 = os.path.join(d, "dbstop.json")
        with open(exp2, "w") as f:
            json.dump(experiment(d, "dbstop", pg.url, 4), f)
        p = Proc(cli, ["search", exp2], d)
        end = time.time() + 90
        while time.time() < end and p.p.poll() is None and not p.trials():
            p.poll_lines(0.1)
        stopped_at = time.time()
        pg.stop_server("fast")
        code = p.wait(150)
        took = time.time() - stopped_at
        err = p.stderr()
        check(code not in (None, 0), f"the search fails when the database stops (code {code})")
        check(f"samplersearch: error: {pg.url}: the Optuna storage failed" in err and
              "samplersearch resume" in err, "the error names the storage: " + err[-500:])
        check(took < 60, f"the search ends within a minute of the database stopping ({took:.0f} s)")
        pg.resume()
        shard_dir2 = os.path.join(d, "dbstop")
        shard = [f for f in os.listdir(shard_dir2) if f.endswith(".h5")]
        again = Proc(cli, ["resume", os.path.join(shard_dir2, shard[0])], d)
        code2 = again.wait(120)
        check(code2 == 0, f"resume after the database is back ends with 0: {again.stderr()[-600:]}")
        check_study(check, pg.url, "dbstop", shard_dir2, 4)
        summary["database_stop"] = {"exit_code": code, "seconds_to_exit": round(took, 1),
                                    "error": [l for l in err.splitlines()
                                              if "error" in l][-1:]}
    # 3. no database server: a journal file, two processes, the budget exact.
    exp3 = os.path.join(d, "journal.json")
    url3 = "journal://" + os.path.join(d, "journal.log")
    with open(exp3, "w") as f:
        json.dump(experiment(d, "journal", url3, 3), f)
    two = [Proc(cli, ["search", exp3], d) for _ in range(2)]
    codes3 = [p.wait(120) for p in two]
    check(codes3 == [0, 0], f"journal: both end with 0 (got {codes3}) {two[0].stderr()[-300:]}")
    _, files3 = check_study(check, url3, "journal", os.path.join(d, "journal"), 3)
    check(len(files3) == 2, f"journal: two shards (got {len(files3)})")
    # 4. resume DIR on the journal (no heartbeats): a worker killed mid-trial, then a new process
    #    joins with `resume DIR`; the dead shard has no writer, so its RUNNING trial is settled.
    exp4 = os.path.join(d, "rejoin.json")
    url4 = "journal://" + os.path.join(d, "rejoin.log")
    with open(exp4, "w") as f:
        json.dump(experiment(d, "rejoin", url4, 3), f)
    first = Proc(cli, ["search", exp4], d)
    end = time.time() + 90
    while time.time() < end and first.p.poll() is None and not first.trials():
        first.poll_lines(0.05)
    check(first.p.poll() is None and first.trials(),
          f"rejoin: the first worker finished a trial first: {first.stderr()[-600:]}")
    first.kill()
    shard_dir4 = os.path.join(d, "rejoin")
    running4 = [t.number for t in study_trials(url4, "rejoin") if t.state.name == "RUNNING"]
    joined = Proc(cli, ["resume", shard_dir4], os.path.dirname(d))  # another working directory
    code4 = joined.wait(120)
    check(code4 == 0, f"rejoin: resume DIR ends with 0 (got {code4}): {joined.stderr()[-600:]}")
    _, files4 = check_study(check, url4, "rejoin", shard_dir4, 3)
    check(len(files4) == 2, f"rejoin: the new process wrote a second shard in DIR (got {files4})")
    settled = [e for e in joined.lines if e.get("event") == "log" and
               "its shard has no writer any more" in e.get("message", "")]
    check(len(settled) == len(running4),
          f"rejoin: each RUNNING trial of the killed worker settled ({running4}, {settled})")
    bad = subprocess.run([cli, "resume", shard_dir4, "--set", "budget.trials=5"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    check(bad.returncode != 0 and "is a directory of shards: it resumes with the experiment its "
          "shards hold" in bad.stderr, "rejoin: resume DIR refuses changes: " + bad.stderr)
    summary["rejoin"] = {"running_when_killed": running4, "settled": len(settled)}
    summary["seconds"] = round(time.time() - t0, 1)
    summary["failures"] = failures
    print(json.dumps(summary))
    if not a.keep and not failures:
        shutil.rmtree(d, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
