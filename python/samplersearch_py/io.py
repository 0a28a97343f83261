"""Matrix files: samplersearch's JSON and HDF5, NaturalDiffusion's .npz and the papers' table.

``load(path)`` chooses by extension. Every reader returns a validated ``Matrices``; a bad file is a
``ValueError`` whose message starts with the file and names the field or array and the reason.
"""

import json
import math
import os
import re
import zipfile

import numpy as np

from .matrices import Matrices
from .schedules import SCHEDULES, make_schedule

__all__ = ["load", "load_json", "load_hdf5", "load_npz", "load_table", "save_json", "save_npz",
           "matrices_from_dict", "matrices_to_dict", "NODE_COEFF_TOLERANCE"]

FORMAT_VERSION = 1
# |α − α(t)|, |σ − σ(t)| allowed between a NaturalDiffusion node_coeff and the schedule.
NODE_COEFF_TOLERANCE = 1e-6
_ND_ARRAYS = ("past_xstart_coeff", "past_epsilon_coeff", "node_coeff")


def _schedule(schedule, params=None):
    return make_schedule(schedule, params) if isinstance(schedule, str) else schedule


def load(path, schedule=None, times=None, t0=None):
    """The matrices of ``path``: .json, .h5/.hdf5, .npz (NaturalDiffusion; ``schedule`` is checked
    against its node_coeff, or inferred) or .txt/.tsv/.md (the papers' table; needs ``schedule``
    and ``times`` (all N+1) or ``t0``)."""
    ext = os.path.splitext(str(path))[1].lower()
    if ext == ".json":
        return load_json(path)
    if ext in (".h5", ".hdf5"):
        return load_hdf5(path)
    if ext == ".npz":
        return load_npz(path, schedule)
    if ext in (".txt", ".tsv", ".md"):
        if schedule is None:
            raise ValueError(f"{path}: a table does not name its schedule: pass schedule=")
        with open(path, encoding="utf-8") as f:
            return load_table(f.read(), schedule, times=times, t0=t0, origin=str(path))
    raise ValueError(f"{path}: unknown matrix file extension '{ext}' "
                     "(valid: .json, .h5, .hdf5, .npz, .txt, .tsv, .md)")


def matrices_to_dict(m):
    """samplersearch's JSON matrix document."""
    return {"format_version": FORMAT_VERSION, "solver": m.solver, "options": m.options,
            "schedule": m.schedule.name, "schedule_params": m.schedule.params,
            "timesteps": list(m.times), "alpha": m.alphas, "sigma": m.sigmas_vp,
            "signal": m.signal.tolist(), "noise": m.noise.tolist()}


def matrices_from_dict(d, origin="matrices"):
    """Inverse of matrices_to_dict."""
    if not isinstance(d, dict):
        raise ValueError(f"{origin}: must be a JSON object")
    for key in ("schedule", "timesteps", "signal", "noise"):
        if key not in d:
            raise ValueError(f"{origin}: {key}: is missing")
    if d.get("format_version", FORMAT_VERSION) != FORMAT_VERSION:
        raise ValueError(f"{origin}: format_version: is {d['format_version']}, "
                         f"this package reads {FORMAT_VERSION}")
    try:
        schedule = make_schedule(d["schedule"], d.get("schedule_params") or {})
    except ValueError as e:
        raise ValueError(f"{origin}: {e}") from None
    n = len(d["timesteps"]) - 1
    signal, noise = np.array(d["signal"], dtype=np.float64), np.array(d["noise"], dtype=np.float64)
    if signal.shape != (n + 1, n):
        raise ValueError(f"{origin}: signal: must be {n + 1} rows of {n} numbers")
    if noise.shape != (n + 1, n + 1):
        raise ValueError(f"{origin}: noise: must be {n + 1} rows of {n + 1} numbers")
    return Matrices(schedule, d["timesteps"], signal, noise, d.get("solver", ""),
                    d.get("options") or {}).validate(origin)


def load_json(path):
    """A samplersearch JSON matrix file."""
    with open(path, encoding="utf-8") as f:
        try:
            d = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON: {e}") from None
    return matrices_from_dict(d, str(path))


def save_json(m, path):
    """Writes samplersearch's JSON matrix file (exact: doubles round-trip through repr)."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(matrices_to_dict(m), f, indent=2)
        f.write("\n")


def load_hdf5(path):
    """A samplersearch HDF5 matrix file (needs h5py)."""
    import h5py  # optional dependency

    def text(v):
        return v.decode() if isinstance(v, bytes) else str(v)

    with h5py.File(path, "r") as f:
        d = {}
        for key in ("timesteps", "signal", "noise"):
            if key not in f:
                raise ValueError(f"{path}: missing dataset '{key}'")
            d[key] = f[key][()].tolist()
        for key in ("solver", "schedule", "schedule_params", "options"):
            if key not in f.attrs:
                raise ValueError(f"{path}: missing attribute '{key}'")
            d[key] = text(f.attrs[key])
        d["schedule_params"] = json.loads(d["schedule_params"])
        d["options"] = json.loads(d["options"])
    return matrices_from_dict(d, str(path))


def _node_mismatch(node, schedule):
    """First row of node_coeff whose α, σ differ from the schedule beyond the tolerance, or None."""
    for k, (t, a, s) in enumerate(node):
        if not (abs(a - schedule.alpha(t)) <= NODE_COEFF_TOLERANCE
                and abs(s - schedule.sigma(t)) <= NODE_COEFF_TOLERANCE):
            return k
    return None


def load_npz(path, schedule=None):
    """NaturalDiffusion's archive (past_xstart_coeff N×N, past_epsilon_coeff N×(N+1) or N×N,
    node_coeff (N+1)×3 rows (t, α, σ)): paper row r is the input of the next model call, at
    t_{r+1}, so C[r+1] = past_xstart_coeff[r] and B[r+1] = past_epsilon_coeff[r];
    B[0][0] = prior_std(t_0). ``schedule`` (a name or Schedule) is checked against node_coeff;
    None takes the one schedule with default parameters that matches it."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path}: not a readable .npz archive, truncated or damaged: {e}") \
            from None
    for name in _ND_ARRAYS:
        if name not in arrays:
            raise ValueError(f"{path}: has no array '{name}' (a NaturalDiffusion file holds "
                             f"{', '.join(_ND_ARRAYS)}; this one holds {', '.join(arrays)})")
    x, e, node = (arrays[k] for k in _ND_ARRAYS)
    for name, a in zip(_ND_ARRAYS, (x, e, node)):
        if a.dtype != np.float64:
            raise ValueError(f"{path}: {name}: dtype {a.dtype} is not float64")
        bad = np.argwhere(~np.isfinite(a))
        if len(bad):
            raise ValueError(f"{path}: {name}: entry {list(bad[0])} is not finite")
    if node.ndim != 2 or node.shape[1] != 3 or node.shape[0] < 2:
        raise ValueError(f"{path}: node_coeff: must be (N+1)×3 rows of (t, α, σ), is {node.shape}")
    n = node.shape[0] - 1
    if x.shape != (n, n):
        raise ValueError(f"{path}: past_xstart_coeff: must be N×N = {n}×{n}, is {x.shape}")
    if e.shape not in ((n, n), (n, n + 1)):
        raise ValueError(f"{path}: past_epsilon_coeff: must be {n}×{n + 1} or {n}×{n}, "
                         f"is {e.shape}")
    if np.any(np.triu(x, 1)):
        raise ValueError(f"{path}: past_xstart_coeff: has entries right of the diagonal")
    if np.any(np.triu(e, 2)):
        raise ValueError(f"{path}: past_epsilon_coeff: has entries right of the diagonal")
    zero = np.flatnonzero(np.abs(x.sum(axis=1)) < 1e-12)
    if len(zero):
        raise ValueError(f"{path}: past_xstart_coeff: row {zero[0]} sums to 0")
    if not np.all(np.diff(node[:, 0]) < 0):
        raise ValueError(f"{path}: node_coeff: times must decrease")
    if schedule is None:
        for name in SCHEDULES:
            candidate = make_schedule(name)
            if _node_mismatch(node, candidate) is None:
                schedule = candidate
                break
        else:
            raise ValueError(f"{path}: node_coeff: its α, σ match no schedule with default "
                             "parameters; pass schedule=")
    else:
        schedule = _schedule(schedule)
        k = _node_mismatch(node, schedule)
        if k is not None:
            t = node[k, 0]
            raise ValueError(f"{path}: node_coeff: row {k} (t, α, σ) = {tuple(node[k])} but "
                             f"{schedule.name} has α = {schedule.alpha(t)!r}, "
                             f"σ = {schedule.sigma(t)!r}: the file was made for another schedule")
    signal, noise = np.zeros((n + 1, n)), np.zeros((n + 1, n + 1))
    signal[1:, :] = x
    noise[1:, :e.shape[1]] = e
    noise[0, 0] = schedule.prior_std(node[0, 0])
    options = {"node_coeff_alpha": node[:, 1].tolist(), "node_coeff_sigma": node[:, 2].tolist(),
               "past_epsilon_coeff_columns": int(e.shape[1])}
    return Matrices(schedule, node[:, 0].tolist(), signal, noise, "naturaldiffusion",
                    options).validate(str(path))


def save_npz(m, path):
    """Writes NaturalDiffusion's archive (arrays in the order its script unpacks them):
    past_epsilon_coeff N×N when ε_N is unused (or the imported width), else N×(N+1)."""
    n = m.steps
    width = n + 1 if (np.any(m.noise[:, n]) or
                      m.options.get("past_epsilon_coeff_columns") == n + 1) else n
    alpha, sigma = m.options.get("node_coeff_alpha"), m.options.get("node_coeff_sigma")
    if not (alpha and sigma and len(alpha) == len(sigma) == n + 1 and
            _node_mismatch(list(zip(m.times, alpha, sigma)), m.schedule) is None):
        alpha, sigma = m.alphas, m.sigmas_vp
    node = np.column_stack([np.array(m.times), np.array(alpha), np.array(sigma)])
    np.savez(path, past_xstart_coeff=np.ascontiguousarray(m.signal[1:, :]),
             past_epsilon_coeff=np.ascontiguousarray(m.noise[1:, :width]), node_coeff=node)


def load_table(text, schedule, times=None, t0=None, origin="table"):
    """The papers' table (Zheng & Zheng, 2025, Tables 15–17): a header "time t_1 … t_N marginal
    coeff", then per target time t_k the time, C[k][·] divided by its newest entry, and α(t_k).
    Rows are scaled back to sum α(t_k); B[k][0] = σ(t_k) (deterministic). ``times``: all N+1
    times of the rows (checked against the table's rounded ones), or ``t0`` alone."""
    schedule = _schedule(schedule)
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        cells = re.sub(r"[|\t,&]", " ", line).split()
        if not cells or cells[0] == "time" or "---" in cells[0]:
            continue
        try:
            rows.append([float(c) for c in cells])
        except ValueError:
            raise ValueError(f"{origin}: line {number}: not a row of numbers") from None
    n = len(rows)
    if n < 1:
        raise ValueError(f"{origin}: has no rows (expected: time, N coefficients, marginal coeff)")
    for k, r in enumerate(rows, 1):
        if len(r) != n + 2:
            raise ValueError(f"{origin}: row {k}: has {len(r)} cells, expected time + {n} "
                             "coefficients + marginal coeff")
    if times is not None:
        times = [float(t) for t in times]
        if len(times) != n + 1:
            raise ValueError(f"{origin}: needs the N+1 = {n + 1} times of its rows, or t0 alone")
        for k, r in enumerate(rows, 1):
            if abs(r[0] - times[k]) > 5e-3 * max(1.0, abs(r[0])):
                raise ValueError(f"{origin}: row {k}: time {r[0]} does not match t_{k} = {times[k]}")
    elif t0 is not None:
        times = [float(t0)] + [r[0] for r in rows]
    else:
        raise ValueError(f"{origin}: needs times= (all N+1) or t0=")
    signal, noise = np.zeros((n + 1, n)), np.zeros((n + 1, n + 1))
    noise[0, 0] = schedule.prior_std(times[0])
    for k, r in enumerate(rows, 1):
        alpha = schedule.alpha(times[k])
        if abs(r[-1] - alpha) > 5e-3:
            raise ValueError(f"{origin}: row {k}: marginal coeff {r[-1]} differs from "
                             f"α({times[k]}) = {alpha} of {schedule.name}")
        coeffs = r[1:-1]
        if any(v != 0.0 for v in coeffs[k:]):
            raise ValueError(f"{origin}: row {k}: has entries right of the diagonal")
        total = sum(coeffs)
        if abs(total) < 1e-12:
            raise ValueError(f"{origin}: row {k}: coefficients sum to 0")
        signal[k, :k] = [v / total * alpha for v in coeffs[:k]]
        noise[k, 0] = schedule.sigma(times[k])
    if any(not math.isfinite(t) for t in times):
        raise ValueError(f"{origin}: times must be finite")
    return Matrices(schedule, times, signal, noise, "table", {}).validate(origin)
