#!/usr/bin/python3
"""CMA-ES on one study shared by two bridge processes, trials finishing out of generation order.

What samplersearch does (search/README.md, "Shared studies"): it keeps Optuna's CmaEsSampler rule.
A trial belongs to the generation the optimizer was at when it was asked (system attr
cma:generation); the optimizer advances once `popsize` trials of its current generation are
COMPLETE, whichever process told them and in whatever order; a result that arrives after its
generation has advanced is stored and counted but not fed to the covariance update (Hansen 2016,
"The CMA Evolution Strategy: A Tutorial", eq. 39-47, updates from one generation's samples).

Checked through the bridge protocol (search/optuna_bridge.py) on an SQLite study:
- after a first trial (sampled independently until one is COMPLETE), six trials asked alternately
  from two bridges before any is told are all generation 0;
- telling four of them in reverse order (6, 5, 4, 3) from both bridges moves the next ask to
  generation 1, and its mean is the weighted recombination of those four (not of 1 and 2);
- telling the late 1 and 2 afterwards leaves the next ask at generation 1;
- generations never go back in ask order, whichever process asked. (The optimizer is restored
  from the newest COMPLETE trial that stored one, so while a generation's first trial is still
  running another process may rebuild the same update from the first popsize COMPLETE trials by
  number; Optuna's CmaEsSampler accepts that waste, see its TODO on parallel optimization.)
Exit status 0 when every check holds.
"""
import json
import os
import pickle
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
BRIDGE = os.path.join(HERE, "..", "..", "search", "optuna_bridge.py")


class Bridge:
    def __init__(self):
        self.p = subprocess.Popen([sys.executable, BRIDGE], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)

    def __call__(self, **req):
        self.p.stdin.write(json.dumps(req) + "\n")
        self.p.stdin.flush()
        resp = json.loads(self.p.stdout.readline())
        assert resp["ok"], resp
        return resp

    def close(self):
        self.p.stdin.close()
        self.p.wait()


def main():
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    d = tempfile.mkdtemp(prefix="ss_cma_")
    url = "sqlite:///" + os.path.join(d, "s.db")
    sampler = {"name": "cmaes", "params": {"seed": 3, "popsize": 4, "sigma0": 0.3,
                                           "x0": {"x": 0.0, "y": 0.0}}}
    a, b = Bridge(), Bridge()
    a(op="create_study", storage=url, study_name="s", sampler=sampler)
    b(op="load_study", storage=url, study_name="s", sampler=sampler)
    dists = [{"name": n, "type": "float", "low": -1, "high": 1} for n in ("x", "y")]
    # CmaEsSampler infers its search space from COMPLETE trials: the first trial is sampled
    # independently (no generation) and is told before the population starts.
    first = a(op="ask", distributions=dists)
    a(op="tell", number=first["number"], values=[1.0])
    asked = [first]
    for k in range(1, 7):
        asked.append((a if k % 2 == 0 else b)(op="ask", distributions=dists))

    def f(p):
        return (p["x"] - 0.5) ** 2 + (p["y"] + 0.25) ** 2

    storage = optuna.storages.RDBStorage(url)
    study_id = storage.get_study_id_from_name("s")

    def attrs_of(number):
        return storage.get_trial(
            storage.get_trial_id_from_study_id_trial_number(study_id, number)).system_attrs

    def generation(number):
        return attrs_of(number).get("cma:generation")

    def mean_after(number):
        """The optimizer mean stored with trial `number` (Optuna pickles it into system attrs)."""
        attrs = attrs_of(number)
        keys = sorted((k for k in attrs if k.startswith("cma:optimizer:")),
                      key=lambda k: int(k.rsplit(":", 1)[1]))
        blob = bytes.fromhex("".join(attrs[k] for k in keys))
        return pickle.loads(blob)._mean

    failures = []

    def check(cond, what):
        if not cond:
            failures.append(what)
            print("FAILED: " + what, file=sys.stderr)

    check([generation(t["number"]) for t in asked[1:]] == [0] * 6,
          "six asks before any tell: gen 0")
    for n in (6, 5, 4, 3):
        (a if n % 2 == 0 else b)(op="tell", number=n, values=[f(asked[n]["params"])])
    t6 = a(op="ask", distributions=dists)
    check(generation(t6["number"]) == 1, "four COMPLETE of gen 0, told out of order: gen 1")
    # The new mean: CMA-ES weighted recombination (Hansen 2016, eq. 39) of the best mu = 2 of the
    # four told, in the optimizer's coordinates (the box [-1, 1]^2 as is).
    told = sorted((f(asked[n]["params"]), n) for n in (3, 4, 5, 6))
    mu = 2
    w = np.log((4 + 1) / 2) - np.log(np.arange(1, mu + 1))
    w = w / w.sum()
    expected = sum(wi * np.array([asked[n]["params"]["x"], asked[n]["params"]["y"]])
                   for wi, (_, n) in zip(w, told))
    got = mean_after(t6["number"])
    check(np.allclose(got, expected, atol=1e-9),
          f"gen 1's mean recombines trials {[n for _, n in told[:mu]]}: {got} vs {expected}")
    for n in (2, 1):
        b(op="tell", number=n, values=[f(asked[n]["params"])])
    t7 = b(op="ask", distributions=dists)
    check(generation(t7["number"]) == 1, "late gen-0 results do not start another generation")
    gen1 = [t6, t7] + [(a if k % 2 else b)(op="ask", distributions=dists) for k in range(2)]
    check([generation(t["number"]) for t in gen1] == [1] * 4, "four gen-1 trials")
    for t in reversed(gen1):
        a(op="tell", number=t["number"], values=[f(t["params"])])
    t8 = b(op="ask", distributions=dists)
    gens = [generation(n) for n in range(1, t8["number"] + 1)]
    check(all(x <= y for x, y in zip(gens, gens[1:])),
          f"generations never go back in ask order, whichever bridge asked: {gens}")
    a.close()
    b.close()
    print(json.dumps({"failures": failures}))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
