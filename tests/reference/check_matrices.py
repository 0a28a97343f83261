"""Compare `samplersearch matrices --format json` with the NumPy references of reference_samplers.py.

Usage: check_matrices.py [PATH_TO_samplersearch]   (default: $SAMPLERSEARCH_CLI)
       check_matrices.py CLI --full                 (every case, not the covering subset)
       check_matrices.py --self-test                (only the reference's own checks)
       check_matrices.py CLI --only SOLVER[,SOLVER] (a subset of the solvers)

1. Self-tests of the references: closed forms and identities that must hold to rounding.
2. A grid of cases (every solver × its options × N × schedules × discretizations; by default a
   covering subset of it, since each CLI call costs ~1 s of LibTorch start-up), each run
   through the CLI and compared entry by entry: |cli − ref| ≤ MATRIX_RTOL·max(1, |ref|).
3. Impossible combinations must exit non-zero with a message that lists the valid values.
Prints the worst difference per solver and exits non-zero on any failure, naming case and entry.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

import reference_samplers as R  # the sibling file: Python puts the script's folder on the path

# |cli − ref| ≤ MATRIX_RTOL · max(1, |ref|) for every time, α, σ, C and B entry.
MATRIX_RTOL = 1e-6
# Identities between references that are exact in real arithmetic (rounding only).
IDENTITY_RTOL = 1e-10
# Marginal identities of exponential integrators (large coefficients cancel: looser).
MARGINAL_RTOL = 1e-6

NS = (1, 2, 3, 5, 6, 10, 15)


# --------------------------------------------------------------------------------------------
# 1. Self-tests of the references
# --------------------------------------------------------------------------------------------
def _close(a, b, tol):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= tol * np.maximum(1.0, np.abs(b))))


def _prior(sch, t0):
    return 1.0 if sch.vp else sch.sigma(t0)


def self_test():
    fails = []

    def expect(cond, what):
        if not cond:
            fails.append(what)

    # Schedules: t(λ(t)) = t across the default ranges; vp-linear α(0.65) worked by hand:
    # log α = −¼·19.9·0.4225 − ½·0.1·0.65 = −2.1344375 → α = 0.118311.
    for name in R.SCHEDULES:
        sch = R.make_schedule(name)
        for t in np.linspace(*sch.t_range, 41):
            expect(abs(sch.t_of_lam(sch.lam(t)) - t) <= 1e-10 * max(1.0, t), f"{name}: t(λ({t})) != t")
    expect(abs(R.make_schedule("vp-linear").alpha(0.65) - math.exp(-2.1344375)) < 1e-15,
           "vp-linear α(0.65)")
    # ddpm-discrete at integers is √ᾱ_n with ᾱ = Π(1 − β_j).
    abar = np.cumprod(1.0 - np.linspace(1e-4, 0.02, 1000))
    dd = R.make_schedule("ddpm-discrete")
    expect(all(abs(dd.alpha(float(n)) - math.sqrt(abar[n])) < 1e-14 for n in (0, 1, 500, 999)),
           "ddpm-discrete α_n != √ᾱ_n")
    # docs/equations.md §4 Table 15 grid: vp-linear time-quadratic N=5 → t = 1, 0.650, 0.375, 0.176, 0.051, 0.001.
    tq = R.discretize(R.make_schedule("vp-linear"), "time-quadratic", 5, 1.0, 1e-3)
    expect(_close(np.round(tq, 3), [1, 0.650, 0.375, 0.176, 0.051, 0.001], 1e-12), f"time-quadratic {tq}")

    combos = [(s, d) for s in ("vp-linear", "vp-cosine", "edm", "flow", "ve", "ddpm-discrete")
              for d in ("time-uniform", "logsnr-uniform", "karras")]
    for sch_name, disc in combos:
        sch = R.make_schedule(sch_name)
        for N in (1, 2, 5, 10):
            run = lambda solver, **o: R.run(solver, sch_name, N, discretization=disc, **o)
            tag = f"{sch_name}/{disc}/N={N}"
            ddim = run("ddim")
            # DDIM closed form: C[k][j] = σ_k(α_{j+1}/σ_{j+1} − α_j/σ_j), B[k][0] = prior·σ_k/σ_0.
            ts = ddim["timesteps"]
            r = np.array([sch.alpha(t) / sch.sigma(t) for t in ts])
            sg = np.array([sch.sigma(t) for t in ts])
            C = np.zeros((N + 1, N))
            for k in range(1, N + 1):
                C[k, :k] = sg[k] * (r[1:k + 1] - r[:k])
            Bc = np.zeros((N + 1, N + 1))
            Bc[:, 0] = _prior(sch, ts[0]) * sg / sg[0]
            expect(_close(ddim["signal"], C, IDENTITY_RTOL) and _close(ddim["noise"], Bc, IDENTITY_RTOL),
                   f"ddim closed form {tag}")
            same = {
                "euler": run("euler"),
                "deis order 0": run("deis", order=0),
                "dpmsolver 1 multistep": run("dpmsolver", order=1),
                "dpmsolver 1 singlestep": run("dpmsolver", order=1, method="singlestep"),
                "dpmsolver++ 1 multistep": run("dpmsolver++", order=1),
                "dpmsolver++ 1 singlestep": run("dpmsolver++", order=1, method="singlestep"),
                "generalized γ=0 ρ=0": run("generalized", gamma=0.0, delta=0.7, rho=0.0),
            }
            for what, m in same.items():
                expect(_close(m["signal"], ddim["signal"], IDENTITY_RTOL)
                       and _close(m["noise"], ddim["noise"], IDENTITY_RTOL), f"{what} != ddim {tag}")
            ddpm = run("ddpm")
            for what, m in {"ddim η=1": run("ddim", eta=1.0),
                            "generalized (1,1,1)": run("generalized", gamma=1.0, delta=1.0, rho=1.0)}.items():
                expect(_close(m["signal"], ddpm["signal"], IDENTITY_RTOL)
                       and _close(m["noise"], ddpm["noise"], IDENTITY_RTOL), f"{what} != ddpm {tag}")
            # Exponential integrators are exact when the model is exact for a point mass:
            # with x_0 = α_0 x0 + σ_0 ε, every row is α_k x0 + σ_k ε:
            #   Σ_j C[k][j] + α_0 B[k][0]/prior = α_k  and  ‖(σ_0 B[k][0]/prior, B[k][1:])‖ = σ_k.
            solvers = [("ddpm", {}), ("ddim", {"eta": 0.5}), ("heun", {}), ("deis", {}),
                       ("dpmsolver", {"order": 3}), ("dpmsolver++", {"order": 3, "method": "singlestep"}),
                       ("dpmsolver", {"order": 2, "method": "singlestep"}),
                       ("unipc", {"order": 3, "variant": "bh2", "predict": "eps"}), ("unipc", {})]
            for solver, opts in solvers:
                if solver in ("dpmsolver", "unipc") and opts.get("method", "multistep") == "multistep" \
                        and N < opts.get("order", 2):
                    continue
                m = run(solver, **opts)
                a0, p = sch.alpha(m["timesteps"][0]), _prior(sch, m["timesteps"][0])
                rows = m["signal"].sum(1) + a0 * m["noise"][:, 0] / p
                B = m["noise"].copy()
                B[:, 0] *= sch.sigma(m["timesteps"][0]) / p
                scale = np.abs(m["signal"]).max(axis=1) + 1.0
                ok = np.all(np.abs(rows - m["alpha"]) <= MARGINAL_RTOL * scale) and \
                    np.all(np.abs(np.linalg.norm(B, axis=1) - m["sigma"]) <= MARGINAL_RTOL * scale)
                expect(ok, f"marginal identity {solver} {opts} {tag}")

    # Order of accuracy on 1-D Gaussian data N(0, ¼) (E[x0|x] = α¼/(α²¼+σ²)·x, exact flow known):
    # observed order between 48 and 96 steps on vp-linear / logsnr-uniform.
    sch = R.make_schedule("vp-linear")

    def flow_error(m, s2=0.25):
        C, B, ts = m["signal"], m["noise"], m["timesteps"]
        ys = []
        for k in range(C.shape[0]):
            x = (C[k, :k] @ np.array(ys) if k else 0.0) + B[k, 0]
            if k < C.shape[1]:
                a, s = sch.alpha(ts[k]), sch.sigma(ts[k])
                ys.append(a * s2 / (a * a * s2 + s * s) * x)
        v = lambda t: sch.alpha(t) ** 2 * s2 + sch.sigma(t) ** 2
        return abs(x - math.sqrt(v(ts[-1]) / v(ts[0])) * B[0, 0])

    # expected orders; dpmsolver 3M is 2: its code's D2 = (D1_0 − D1_1)/(r0+r1) ≈ ½h²m'' meets
    # φ3, whose Taylor term needs h²m'' (the singlestep 'taylor' branch uses 2·(…)), so the
    # reference's third-order multistep update is second-order accurate.
    for solver, opts, mult, expected in [
            ("ddim", {}, 1, 1), ("heun", {}, 2, 2), ("dpmsolver++", {"order": 2}, 1, 2),
            ("dpmsolver", {"order": 3}, 1, 2), ("dpmsolver", {"order": 3, "method": "singlestep"}, 1, 3),
            ("dpmsolver++", {"order": 2, "method": "singlestep"}, 1, 2), ("unipc", {"order": 2}, 1, 3),
            ("unipc", {"order": 1}, 1, 2), ("deis", {"order": 2}, 1, 3), ("deis", {"order": 3}, 1, 3.5),
            ("pf-euler", {}, 1, 1), ("pf-heun", {}, 2, 2),
            ("dpmsolver", {"order": 3, "method": "singlestep_fixed"}, 1, 3)]:
        e1 = flow_error(R.run(solver, "vp-linear", 48 * mult, discretization="logsnr-uniform", **opts))
        e2 = flow_error(R.run(solver, "vp-linear", 96 * mult, discretization="logsnr-uniform", **opts))
        p = math.log2(e1 / e2)
        expect(p > expected - 0.3, f"order of {solver} {opts}: observed {p:.2f}, expected {expected}")
    return fails


# --------------------------------------------------------------------------------------------
# 2. The case grid
# --------------------------------------------------------------------------------------------
def option_sets(solver):
    """Every option combination to test for `solver` ({} = the reference defaults)."""
    if solver in ("ddpm", "euler", "heun", "pf-euler", "pf-heun", "euler-maruyama"):
        return [{}]
    if solver == "ddim":
        return [{}, {"eta": 0.5}, {"eta": 1.0}]
    if solver == "deis":
        return [{}, {"order": 1}, {"order": 2}, {"order": 3}]
    if solver in ("dpmsolver", "dpmsolver++"):
        out = [{}]
        for order in (1, 2, 3):
            out.append({"order": order, "method": "singlestep"})
            if order > 1:
                out.append({"order": order, "method": "singlestep_fixed"})
            for lof in (True, False):
                out.append({"order": order, "method": "multistep", "lower_order_final": lof})
        return out
    if solver == "unipc":
        out = [{}]
        for order in (1, 2, 3):
            for variant in ("bh1", "bh2"):
                for predict in ("x0", "eps"):
                    for lof in (True, False):
                        out.append({"order": order, "variant": variant, "predict": predict,
                                    "lower_order_final": lof})
        return out
    if solver == "generalized":
        return [{"gamma": 0.0, "delta": 1.0, "rho": 0.0}, {"gamma": 0.026, "delta": 1.0, "rho": 0.0},
                {"gamma": 1.25, "delta": 0.95, "rho": 1.0}, {"gamma": 1.0, "delta": 1.0, "rho": 1.0},
                {"gamma": "per-step"}]
    raise ValueError(solver)


def reduced_option_sets(solver):
    """A smaller set for the schedules/discretizations beyond the primary one."""
    full = option_sets(solver)
    if solver in ("dpmsolver", "dpmsolver++"):
        return [{}, {"order": 3, "method": "singlestep"}, {"order": 2, "method": "singlestep"},
                {"order": 3, "method": "singlestep_fixed"},
                {"order": 3, "method": "multistep", "lower_order_final": True},
                {"order": 3, "method": "multistep", "lower_order_final": False}]
    if solver == "unipc":
        return [{}, {"order": 3, "variant": "bh2", "predict": "eps", "lower_order_final": True},
                {"order": 3, "variant": "bh1", "predict": "x0", "lower_order_final": False},
                {"order": 1, "variant": "bh2", "predict": "x0", "lower_order_final": True}]
    if solver == "ddim":
        return [{}, {"eta": 0.5}]
    if solver == "deis":
        return [{}, {"order": 2}]
    if solver == "generalized":
        return [full[2], full[4]]
    return full


def materialize(solver, opts, N):
    """Concrete options (per-step generalized parameters drawn from a fixed seed)."""
    if opts.get("gamma") == "per-step":
        rng = np.random.default_rng(1000 + N)
        return {"gamma": [round(v, 4) for v in rng.uniform(-0.3, 1.5, N)],
                "delta": [round(v, 4) for v in rng.uniform(0.5, 1.5, N)],
                "rho": [round(v, 4) for v in rng.uniform(0.0, 1.2, N)]}
    return dict(opts)


def valid_for_reference(solver, opts, N, schedule):
    if solver in CONTINUOUS_TIME and schedule == "ddpm-discrete":
        return False                 # they step the SDE/ODE in t
    order = opts.get("order", 2)
    if solver in ("dpmsolver", "dpmsolver++") and opts.get("method", "multistep") == "multistep":
        return N >= order            # DPM_Solver.sample asserts steps >= order
    if solver == "unipc":
        return N >= order            # UniPC.sample asserts steps >= order
    return True


def explicit_grid(solver, opts, N, schedule):
    """An explicit grid of the length the solver asks for (integers on ddpm-discrete)."""
    if solver in ("heun", "pf-heun"):
        n = (N + 1) // 2
    else:
        n = N
    if schedule == "ddpm-discrete":
        # guided-diffusion-like respacing: evenly spaced integers from 999 down to 0
        return [float(v) for v in np.round(np.linspace(999, 0, n + 1))]
    sch = R.make_schedule(schedule)
    lo, hi = sch.t_range
    u = np.linspace(0.0, 1.0, n + 1) ** 1.5      # an uneven continuous grid
    return [float(v) for v in hi + u * (lo - hi)]


# (schedule, discretization or "explicit", t_start, t_end, option-set function, N values)
CONFIGS = [
    ("vp-linear", "time-uniform", None, None, option_sets, NS),
    ("vp-linear", "time-quadratic", None, None, reduced_option_sets, (2, 5, 10, 15)),
    ("vp-linear", "logsnr-uniform", None, None, reduced_option_sets, (1, 3, 6, 15)),
    ("vp-cosine", "time-uniform", None, None, reduced_option_sets, (3, 5, 10)),
    ("vp-cosine", "karras", None, None, reduced_option_sets, (2, 6, 15)),
    ("ddpm-discrete", "time-uniform", None, None, reduced_option_sets, (1, 5, 10, 15)),
    ("ddpm-discrete", "explicit", None, None, reduced_option_sets, (3, 6, 10)),
    ("ddpm-discrete", "logsnr-uniform", None, None, reduced_option_sets, (6,)),
    ("edm", "karras", None, None, reduced_option_sets, (1, 5, 10, 15)),
    ("edm", "time-uniform", 20.0, 0.01, reduced_option_sets, (6,)),
    ("flow", "time-uniform", None, None, reduced_option_sets, (2, 5, 10)),
    ("flow", "logsnr-uniform", None, None, reduced_option_sets, (3, 15)),
    ("ve", "logsnr-uniform", None, None, reduced_option_sets, (5,)),
    ("vp-linear", "explicit", None, None, reduced_option_sets, (5, 10)),
]

SOLVERS = ("ddpm", "ddim", "euler", "heun", "deis", "dpmsolver", "dpmsolver++", "unipc", "generalized",
           "pf-euler", "pf-heun", "euler-maruyama")
CONTINUOUS_TIME = ("pf-euler", "pf-heun", "euler-maruyama")


def build_cases(only=None):
    cases = []
    for schedule, disc, t0, t1, sets, ns in CONFIGS:
        for solver in SOLVERS:
            if only and solver not in only:
                continue
            for opts in sets(solver):
                for N in ns:
                    if not valid_for_reference(solver, opts, N, schedule):
                        continue
                    o = materialize(solver, opts, N)
                    grid = {"t_start": t0, "t_end": t1}
                    if disc == "explicit":
                        if solver in ("dpmsolver", "dpmsolver++") and \
                                o.get("method") in ("singlestep", "singlestep_fixed"):
                            continue   # the singlestep grid layout with explicit times is not specified
                        grid["timesteps"] = explicit_grid(solver, o, N, schedule)
                    else:
                        grid["discretization"] = disc
                    cases.append({"solver": solver, "schedule": schedule, "steps": N,
                                  "grid": grid, "options": o})
    return cases


def _features(case):
    cfg = (case["schedule"], case["grid"].get("discretization", "explicit"))
    o = case["options"]
    key = "per-step" if isinstance(o.get("gamma"), list) else json.dumps(o, sort_keys=True)
    so = case["solver"]
    return {("options", so, key), ("schedule", so, cfg[0]), ("grid", so, cfg[1]), ("config", cfg),
            ("steps", so, case["steps"])}


def core_cases(cases):
    """A covering subset (greedy set cover): every solver with each of its option sets, each
    schedule, each discretization and each N at least once, and every configuration."""
    uncovered = set().union(*(_features(c) for c in cases))
    chosen = []
    while uncovered:
        best = max(cases, key=lambda c: len(_features(c) & uncovered))
        chosen.append(best)
        uncovered -= _features(best)
    return chosen


def cli_args(case):
    a = ["matrices", "--solver", case["solver"], "--steps", str(case["steps"]),
         "--schedule", case["schedule"], "--format", "json"]
    g = case["grid"]
    if "timesteps" in g:
        a += ["--timesteps", ",".join(repr(v) for v in g["timesteps"])]
    else:
        a += ["--discretization", g["discretization"]]
    if g.get("t_start") is not None:
        a += ["--t-start", repr(g["t_start"]), "--t-end", repr(g["t_end"])]
    # every option key k is the flag --k with '_' as '-' (the CLI derives its flags that way)
    for key, v in case["options"].items():
        if isinstance(v, bool):
            text = "true" if v else "false"
        elif isinstance(v, list):
            text = ",".join(repr(float(x)) for x in v)
        elif isinstance(v, float):
            text = repr(v)
        else:
            text = str(v)
        a += ["--" + key.replace("_", "-"), text]
    return a


def reference(case):
    g = case["grid"]
    return R.run(case["solver"], case["schedule"], case["steps"],
                 discretization=g.get("discretization", "time-uniform"),
                 t_start=g.get("t_start"), t_end=g.get("t_end"), timesteps=g.get("timesteps"),
                 **case["options"])


def compare(case, out, ref):
    """(worst relative difference, description of the first entry over tolerance or None)."""
    try:
        got = json.loads(out)
    except json.JSONDecodeError as e:
        return math.inf, f"output is not JSON ({e}): {out[:200]!r}"
    worst, bad = 0.0, None
    for key in ("timesteps", "alpha", "sigma", "signal", "noise"):
        if key not in got:
            return math.inf, f"key '{key}' missing"
        g = np.asarray(got[key], dtype=float)
        r = np.asarray(ref[key], dtype=float)
        if g.shape != r.shape:
            return math.inf, f"{key}: shape {g.shape} != reference {r.shape}"
        rel = np.abs(g - r) / np.maximum(1.0, np.abs(r))
        if rel.size:
            idx = np.unravel_index(int(np.argmax(rel)), rel.shape)
            if rel[idx] > worst:
                worst = float(rel[idx])
            if bad is None and rel[idx] > MATRIX_RTOL:
                bad = f"{key}{list(idx)}: cli {g[idx]!r} vs reference {r[idx]!r}"
    if got.get("solver") != case["solver"] or got.get("schedule") != case["schedule"]:
        bad = bad or f"solver/schedule keys {got.get('solver')!r}/{got.get('schedule')!r}"
    return worst, bad


def run_cli(cli, args):
    p = subprocess.run([cli] + args, capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def run_cli_batch(cli, arg_lists):
    """Runs every case in one `samplersearch matrices --batch` process (LibTorch loads once);
    returns (exit code, stdout, stderr) per case as run_cli would."""
    lines = [" ".join(args[1:]) for args in arg_lists]  # drop the "matrices" command word
    p = subprocess.run([cli, "matrices", "--batch"], input="\n".join(lines) + "\n",
                       capture_output=True, text=True, timeout=600)
    outs = p.stdout.splitlines()
    if p.returncode != 0 or len(outs) != len(lines):
        raise RuntimeError(f"batch run failed (exit {p.returncode}): {p.stderr.strip()[:300]}")
    results = []
    for out in outs:
        j = json.loads(out)
        results.append((j["exit"], "", j["error"]) if "error" in j and "signal" not in j
                       else (0, out, ""))
    return results


# --------------------------------------------------------------------------------------------
# 3. Impossible combinations
# --------------------------------------------------------------------------------------------
BASE = ["matrices", "--steps", "5", "--schedule", "vp-linear", "--format", "json"]
NEGATIVE = [
    ("unknown solver", ["--solver", "nope"], ["ddim", "dpmsolver++", "unipc", "generalized"]),
    ("unknown method", ["--solver", "dpmsolver", "--method", "sideways"], ["singlestep", "multistep"]),
    ("order 4 for dpmsolver", ["--solver", "dpmsolver", "--order", "4"], ["1", "3"]),
    ("eta for dpmsolver", ["--solver", "dpmsolver", "--eta", "0.5"], ["eta"]),
    ("unknown unipc variant", ["--solver", "unipc", "--variant", "bh3"], ["bh1", "bh2"]),
    ("unknown unipc prediction", ["--solver", "unipc", "--predict", "v"], ["x0", "eps"]),
    ("order for ddim", ["--solver", "ddim", "--order", "2"], ["order"]),
    ("unknown schedule", ["--solver", "ddim", "--schedule", "nope"], ["vp-linear", "edm", "flow"]),
    ("unknown discretization", ["--solver", "ddim", "--discretization", "nope"],
     ["time-uniform", "logsnr-uniform", "karras"]),
    ("multistep order 3 with 2 steps", ["--solver", "dpmsolver++", "--order", "3", "--steps", "2"], []),
]


def negative_checks(cli):
    fails = []
    for what, extra, must in NEGATIVE:
        args = list(BASE)
        # a later flag overrides an earlier one only if the CLI allows it: drop duplicates instead
        for flag in ("--schedule", "--steps"):
            if flag in extra and flag in args:
                i = args.index(flag)
                del args[i:i + 2]
        rc, out, err = run_cli(cli, args + extra)
        text = out + err
        missing = [m for m in must if m not in text]
        if rc == 0:
            fails.append(f"negative '{what}': exit code 0 (expected non-zero)")
        elif missing:
            fails.append(f"negative '{what}': message lacks {missing}: {text.strip()[:300]!r}")
    return fails


# --------------------------------------------------------------------------------------------
def main(argv):
    only = None
    full = "--full" in argv
    if full:
        argv.remove("--full")
    if "--only" in argv:
        i = argv.index("--only")
        only = set(argv[i + 1].split(","))
        del argv[i:i + 2]
    t_begin = time.time()
    fails = self_test()
    print(f"reference self-tests: {'OK' if not fails else f'{len(fails)} FAILED'} "
          f"({time.time() - t_begin:.1f} s)")
    for f in fails:
        print("  SELF-TEST FAIL:", f)
    if argv[1:2] == ["--self-test"]:
        return 1 if fails else 0
    cli = argv[1] if len(argv) > 1 else os.environ.get("SAMPLERSEARCH_CLI")
    if not cli or not Path(cli).exists():
        print(f"no CLI (argument or SAMPLERSEARCH_CLI): {cli!r}")
        return 1

    cases = build_cases(only)
    if not full:
        cases = core_cases(cases)
    t0 = time.time()
    with ThreadPoolExecutor(max_workers=1) as pool:
        batch = pool.submit(run_cli_batch, cli, [cli_args(c) for c in cases])
        refs = []
        for c in cases:
            try:
                refs.append(reference(c))
            except Exception as e:  # a reference bug must show, not hide the rest
                refs.append(e)
        results = batch.result()
    per_solver = {}
    case_fails = []
    for case, ref, (rc, out, err) in zip(cases, refs, results):
        cmd = "samplersearch " + " ".join(cli_args(case))
        st = per_solver.setdefault(case["solver"], {"cases": 0, "worst": 0.0, "where": "", "failed": 0})
        st["cases"] += 1
        if isinstance(ref, Exception):
            case_fails.append(f"{cmd}\n    reference raised {ref!r}")
            st["failed"] += 1
            continue
        if rc != 0:
            case_fails.append(f"{cmd}\n    exit code {rc}: {err.strip()[:300]}")
            st["failed"] += 1
            continue
        worst, bad = compare(case, out, ref)
        if worst > st["worst"]:
            st["worst"], st["where"] = worst, cmd
        if bad:
            st["failed"] += 1
            case_fails.append(f"{cmd}\n    {bad}")
    neg_fails = negative_checks(cli)

    print(f"{len(cases)} cases, CLI + reference in {time.time() - t0:.1f} s; "
          f"tolerance |diff| <= {MATRIX_RTOL:g}*max(1,|ref|)")
    print(f"{'solver':<12} {'cases':>6} {'failed':>7} {'worst rel diff':>15}  worst case")
    for solver in SOLVERS:
        if solver in per_solver:
            st = per_solver[solver]
            print(f"{solver:<12} {st['cases']:>6} {st['failed']:>7} {st['worst']:>15.3e}  {st['where']}")
    print(f"impossible combinations: {len(NEGATIVE) - len(neg_fails)}/{len(NEGATIVE)} rejected as expected")
    for f in case_fails:
        print("FAIL:", f)
    for f in neg_fails:
        print("FAIL:", f)
    total = len(fails) + len(case_fails) + len(neg_fails)
    print(f"{'OK' if total == 0 else f'{total} FAILURES'} in {time.time() - t_begin:.1f} s")
    return 0 if total == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
