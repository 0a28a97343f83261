#!/usr/bin/python3
"""Optuna bridge: newline-delimited JSON requests on stdin, one JSON response per line on stdout.

The protocol (version 1) is written down in search/README.md. One bridge process holds one open
study at a time; create_study / load_study replace it. Nothing but responses is ever written to
stdout: Python's sys.stdout is pointed at stderr before Optuna is imported, and Optuna logs at
WARNING level to stderr.

Why one file of ~650 lines: the C++ side starts exactly this script by path with the system
interpreter (search/bridge_process.cpp), so it must import nothing of ours; splitting it would mean
installing a package or editing sys.path. It reads top to bottom: the name tables (samplers,
storages, states), the value codec, opening studies, then one handler per op.
"""

import contextlib
import datetime
import fcntl
import hashlib
import math
import os
import socket
import sys
import threading
import time
import warnings

PROTOCOL = 1

# Responses go to the real stdout; anything else that prints (libraries, warnings) goes to stderr.
_RESPONSES = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8", newline="\n")
sys.stdout = sys.stderr

import json  # noqa: E402

import optuna  # noqa: E402
from optuna.distributions import CategoricalDistribution  # noqa: E402
from optuna.distributions import FloatDistribution  # noqa: E402
from optuna.distributions import IntDistribution  # noqa: E402
from optuna.trial import TrialState  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.WARNING)
warnings.simplefilter("default")
# The samplers and storages asked for by name are chosen on purpose: no "experimental" notices.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


class _GridSampler(optuna.samplers.GridSampler):
    """GridSampler whose after_trial does not call study.stop(), which Optuna 3.1 only allows
    inside study.optimize; exhaustion is reported in tell's response instead."""

    def after_trial(self, study, trial, state, values):
        pass


def _make_grid(seed=None, search_space=None, **params):
    if search_space is None:
        raise ValueError("the grid sampler needs a 'search_space' param: {name: [values...]}")
    sampler = _GridSampler(search_space, seed=seed, **params)
    sampler.n_grid = math.prod(len(v) for v in search_space.values())
    return sampler


# Sampler name -> constructor taking the request's params as keyword arguments.
SAMPLERS = {
    "tpe": optuna.samplers.TPESampler,
    "cmaes": optuna.samplers.CmaEsSampler,
    "random": optuna.samplers.RandomSampler,
    "qmc": optuna.samplers.QMCSampler,
    "nsga2": optuna.samplers.NSGAIISampler,
    "grid": _make_grid,
}
# Samplers whose sequence is defined by the seed and the storage, so a reopened study keeps it.
_KEEP_SEED_ON_REOPEN = {"qmc", "grid"}

PRUNERS = {
    "none": optuna.pruners.NopPruner,
    "median": optuna.pruners.MedianPruner,
    "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
    "hyperband": optuna.pruners.HyperbandPruner,
}

# Storage kinds by URL scheme (a "+driver" suffix is allowed: postgresql+psycopg2://...): the URL
# form and whether several processes can share a study through it. The C++ side's
# optuna_storage_registry() holds the same rows (test_optuna_bridge ties them).
STORAGES = {
    "memory": ("memory", False),
    "sqlite": ("sqlite:///PATH", False),
    "postgresql": ("postgresql://...", True),
    "journal": ("journal:///PATH", True),
}
STORAGE_SCHEMES = [form for form, _ in STORAGES.values()]
SHARED_STORAGES = [name for name, (_, shared) in STORAGES.items() if shared]

# Optuna's trial states by name; the C++ TrialState table holds the same names.
_STATES = {s.name: s for s in (TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED,
                                TrialState.FAIL, TrialState.WAITING)}
# The states a tell may finish a trial with (TrialState.is_finished()).
_FINISHED = [name for name, s in _STATES.items() if s.is_finished()]


# The user attr that says which trial store (shard) a trial belongs to, and the fail_reason of a
# trial cut off (it does not count toward the budget and is asked again).
OWNER_ATTR = "shard"
HOST_ATTR = "host"
INTERRUPTED = "interrupted"


class BridgeState:
    def __init__(self):
        self.study = None
        self.storage_kind = None
        self.sampler_name = None
        self.storage_url = None
        self.owner = None  # this process's shard name (create/load "owner"), None when unshared
        self.owned = set()  # trial ids asked here and not yet told: their heartbeats are ours
        self.owned_lock = threading.Lock()
        self.heartbeat = None  # seconds between heartbeats (RDB storages with "heartbeat" > 0)
        self.heartbeat_thread = None


def _heartbeat_loop(state):
    """Records a heartbeat for every trial this bridge asked and has not told, every interval
    (Optuna's RDBStorage.record_heartbeat; study.optimize does the same for its own trials)."""
    while True:
        time.sleep(state.heartbeat)
        study = state.study
        if study is None:
            continue
        with state.owned_lock:
            ids = list(state.owned)
        for trial_id in ids:
            try:
                study._storage.record_heartbeat(trial_id)
            except Exception as exc:  # noqa: BLE001 - a lost database is reported by the ops
                print(f"optuna bridge: heartbeat of trial id {trial_id} failed: {exc} "
                      f"({exc.__cause__ or exc.__context__})",
                      file=sys.stderr)


def _number_out(x):
    """JSON has no NaN/Inf: non-finite floats travel as the strings NaN, Infinity, -Infinity."""
    if isinstance(x, float) and not math.isfinite(x):
        return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")
    return x


def _sanitize(obj):
    if isinstance(obj, float):
        return _number_out(obj)
    if isinstance(obj, dict):
        return {str(k): _sanitize(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_sanitize(v) for v in obj]
    if isinstance(obj, (datetime.datetime, datetime.date)):
        return obj.isoformat()
    return obj


def _number_in(x, field):
    if isinstance(x, bool) or not isinstance(x, (int, float, str)):
        raise TypeError(f"'{field}' must be a number or one of NaN, Infinity, -Infinity")
    return float(x)


def _require(req, field):
    if field not in req:
        raise KeyError(f"request is missing field '{field}'")
    return req[field]


def _sqlite_engine_kwargs():
    """SQLAlchemy engine options for an sqlite:/// study, for speed at unchanged durability.

    Optuna commits every suggested parameter and every state change separately. In SQLite's
    default rollback-journal mode each commit syncs the journal and the database file (several
    fsyncs), and SQLAlchemy 1.4 opens a new connection per session for a file database (NullPool).
    Write-ahead logging (SQLite docs, "Write-Ahead Logging") syncs only the log, once a commit,
    with synchronous left at FULL (a committed trial survives a crash or a power loss, as before);
    a pooled connection keeps the log open instead of checkpointing it on every close. Measured
    in bench/bench_search: the ask + tell round trip of a 15-parameter CMA-ES trial."""
    import sqlite3

    import sqlalchemy

    def wal_mode(dbapi_connection, _record):
        if isinstance(dbapi_connection, sqlite3.Connection):
            dbapi_connection.execute("PRAGMA journal_mode=WAL")

    if not getattr(_sqlite_engine_kwargs, "listening", False):
        sqlalchemy.event.listen(sqlalchemy.engine.Engine, "connect", wal_mode)
        _sqlite_engine_kwargs.listening = True
    # The heartbeat thread shares the pool: connections may move between threads.
    return {"poolclass": sqlalchemy.pool.QueuePool,
            "connect_args": {"check_same_thread": False}}


def _open_storage(url, heartbeat=None):
    """(storage object or URL for optuna, kind) for a storage URL; None/''/'memory' is in-memory.
    heartbeat: seconds between trial heartbeats (RDB storages only; Optuna 3.1's journal storage
    has none)."""
    if url is None or url in ("", "memory", ":memory:"):
        return None, "memory"
    if not isinstance(url, str):
        raise TypeError("'storage' must be a string URL or null")
    if url.startswith("journal://"):
        path = url[len("journal://"):]
        if not path:
            raise ValueError("journal storage URL needs a path: journal:///absolute/path.log")
        from optuna.storages import JournalFileStorage, JournalStorage

        return JournalStorage(JournalFileStorage(path)), "journal"
    scheme = url.split(":", 1)[0].split("+", 1)[0]
    if ":" in url and scheme in STORAGES and scheme not in ("memory", "journal"):
        kwargs = {}
        if scheme == "postgresql":
            # A database that stops answering is an error after 10 s, never a hang.
            kwargs["engine_kwargs"] = {"connect_args": {"connect_timeout": 10},
                                       "pool_pre_ping": True}
        elif scheme == "sqlite":
            kwargs["engine_kwargs"] = _sqlite_engine_kwargs()
        if heartbeat:
            kwargs["heartbeat_interval"] = int(heartbeat)
        # Several processes opening a new database at once race to create Optuna's tables (one
        # gets a unique-violation from PostgreSQL's catalog): the loser tries again.
        for attempt in range(5):
            try:
                return optuna.storages.RDBStorage(url, **kwargs), "rdb"
            except Exception as exc:  # noqa: BLE001 - re-raised after the last attempt
                if attempt == 4 or "OperationalError" in type(exc).__name__ + repr(exc):
                    raise
                time.sleep(0.5 + attempt)
    raise ValueError(
        f"unknown storage URL '{url}' (valid: {', '.join(STORAGE_SCHEMES)})")


def _make_sampler(spec, seed_offset):
    spec = spec or {"name": "tpe"}
    name = spec.get("name", "tpe")
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler '{name}' (valid: {', '.join(SAMPLERS)})")
    params = dict(spec.get("params") or {})
    seed = params.get("seed")
    if seed is not None and seed_offset and name not in _KEEP_SEED_ON_REOPEN:
        params["seed"] = seed + seed_offset
    return SAMPLERS[name](**params), name, params.get("seed")


def _make_pruner(spec):
    spec = spec or {"name": "none"}
    name = spec.get("name", "none")
    if name not in PRUNERS:
        raise ValueError(f"unknown pruner '{name}' (valid: {', '.join(PRUNERS)})")
    return PRUNERS[name](**(spec.get("params") or {}))


def _study_info(state):
    study = state.study
    return {
        "study_name": study.study_name,
        "directions": [d.name.lower() for d in study.directions],
        "n_trials": len(study.get_trials(deepcopy=False)),
        "storage_kind": state.storage_kind,
        "sampler": state.sampler_name,
    }


def _open_study(state, req, create):
    heartbeat = req.get("heartbeat")
    storage, kind = _open_storage(req.get("storage"), heartbeat)
    sampler, sampler_name, _ = _make_sampler(req.get("sampler"), 0)
    pruner = _make_pruner(req.get("pruner"))
    if create:
        directions = req.get("directions")
        direction = req.get("direction")
        if directions is None and direction is None:
            direction = "minimize"
        study = optuna.create_study(
            storage=storage,
            sampler=sampler,
            pruner=pruner,
            study_name=req.get("study_name"),
            direction=direction,
            directions=directions,
            # a retried create (the bridge died after creating it) opens what it created
            load_if_exists=bool(req.get("load_if_exists", False) or req.get("retry", False)),
        )
    else:
        study = optuna.load_study(
            study_name=_require(req, "study_name"), storage=storage, sampler=sampler, pruner=pruner)
    # A reopened study with trials gets seed + n_trials, so a resume does not replay the
    # first run's random draws (QMC and grid keep their seed: their sequence lives in storage).
    n_trials = len(study.get_trials(deepcopy=False))
    effective_seed = ((req.get("sampler") or {}).get("params") or {}).get("seed")
    if n_trials > 0 and effective_seed is not None:
        study.sampler, _, effective_seed = _make_sampler(req.get("sampler"), n_trials)
    state.study, state.storage_kind, state.sampler_name = study, kind, sampler_name
    state.storage_url = req.get("storage")
    state.owner = req.get("owner")
    with state.owned_lock:
        # A restarted bridge keeps the heartbeats of its shard's trials that are still running.
        state.owned = {t._trial_id for t in study.get_trials(deepcopy=False,
                                                             states=(TrialState.RUNNING,))
                       if state.owner is not None and t.user_attrs.get(OWNER_ATTR) == state.owner}
    if kind == "rdb" and heartbeat:
        state.heartbeat = float(heartbeat)
        if state.heartbeat_thread is None:
            state.heartbeat_thread = threading.Thread(target=_heartbeat_loop, args=(state,),
                                                      daemon=True)
            state.heartbeat_thread.start()
    info = _study_info(state)
    info["effective_seed"] = effective_seed
    return info


def _study(state):
    if state.study is None:
        raise RuntimeError("no study is open: send create_study or load_study first")
    return state.study


def _trial_id(study, number):
    if isinstance(number, bool) or not isinstance(number, int):
        raise TypeError("'number' must be an integer trial number")
    try:
        return study._storage.get_trial_id_from_study_id_trial_number(study._study_id, number)
    except KeyError:
        raise ValueError(f"trial {number} does not exist in study '{study.study_name}'") from None


def _distribution(d):
    kind = _require(d, "type")
    if kind == "float":
        return FloatDistribution(float(d["low"]), float(d["high"]), log=bool(d.get("log", False)),
                                 step=None if d.get("step") is None else float(d["step"]))
    if kind == "int":
        return IntDistribution(int(d["low"]), int(d["high"]), log=bool(d.get("log", False)),
                               step=int(d.get("step") or 1))
    if kind == "categorical":
        return CategoricalDistribution(_require(d, "choices"))
    raise ValueError(f"unknown distribution type '{kind}' (valid: float, int, categorical)")


def _frozen(t):
    return {
        "number": t.number,
        "state": t.state.name,
        "params": t.params,
        "values": t.values,
        "intermediate_values": [[s, v] for s, v in sorted(t.intermediate_values.items())],
        "user_attrs": t.user_attrs,
        "datetime_start": t.datetime_start,
        "datetime_complete": t.datetime_complete,
    }


def _grid_exhausted(study):
    n_grid = getattr(study.sampler, "n_grid", None)
    if n_grid is None:
        return None
    visited = {t.system_attrs.get("grid_id") for t in study.get_trials(deepcopy=False)
               if t.state.is_finished() or t.state == TrialState.RUNNING}
    visited.discard(None)
    return len(visited) >= n_grid


# ---- operations: each takes (state, request) and returns the response's fields ----

def op_hello(state, req):
    return {"protocol": PROTOCOL, "optuna": optuna.__version__, "pid": os.getpid(),
            "samplers": list(SAMPLERS), "pruners": list(PRUNERS), "storages": STORAGE_SCHEMES}


def op_describe(state, req):
    """The bridge's name tables, for the test that ties them to the C++ registries."""
    return {"samplers": list(SAMPLERS), "pruners": list(PRUNERS), "storages": list(STORAGES),
            "shared_storages": SHARED_STORAGES, "states": list(_STATES),
            "finished_states": _FINISHED}


def op_create_study(state, req):
    return _open_study(state, req, create=True)


def op_load_study(state, req):
    return _open_study(state, req, create=False)


def op_study_info(state, req):
    _study(state)
    info = _study_info(state)
    info["grid_exhausted"] = _grid_exhausted(state.study)
    return info


def _counted(study, fail_untagged=False):
    """Trials holding a budget slot: running ones and finished ones except FAIL 'interrupted'.

    With fail_untagged (a shared study's ask, under the budget lock), every RUNNING trial without
    the shard attr is made FAIL 'interrupted' in the same pass, and so not counted: inside the lock
    a process asks a trial and tags it, so an untagged RUNNING trial there was asked by a process
    that died (or lost its database) before tagging it, and it has no heartbeat either, so
    Optuna's stale-trial rule would never free its budget slot."""
    storage = study._storage
    n = 0
    for t in study.get_trials(deepcopy=False):
        if fail_untagged and t.state == TrialState.RUNNING and OWNER_ATTR not in t.user_attrs:
            try:
                storage.set_trial_user_attr(t._trial_id, "fail_reason", INTERRUPTED)
                storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
                continue
            except RuntimeError:  # finished meanwhile: counted as it finished
                t = storage.get_trial(t._trial_id)
        if t.state == TrialState.WAITING:
            continue
        if t.state == TrialState.FAIL and t.user_attrs.get("fail_reason") == INTERRUPTED:
            continue
        n += 1
    return n


@contextlib.contextmanager
def _budget_lock(state):
    """Serializes count-then-ask across every process on the study: a PostgreSQL advisory lock
    (held in a transaction of its own) or an exclusive flock on a file beside a file storage."""
    url = state.storage_url or ""
    if url.startswith("postgresql"):
        import sqlalchemy

        digest = hashlib.sha256(("samplersearch:" + state.study.study_name).encode()).digest()
        key = int.from_bytes(digest[:8], "big", signed=True)
        backend = getattr(state.study._storage, "_backend", state.study._storage)
        with backend.engine.begin() as conn:
            conn.execute(sqlalchemy.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
            yield
        return
    path = None
    if url.startswith("journal://"):
        path = url[len("journal://"):]
    elif url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
    if not path:
        yield  # in-memory: one process
        return
    with open(path + ".budget.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def op_ask(state, req):
    study = _study(state)
    dists = {}
    for d in req.get("distributions") or []:
        name = _require(d, "name")
        if name in dists:
            raise ValueError(f"distribution '{name}' given twice")
        dists[name] = _distribution(d)
    budget = req.get("budget")
    if budget is None:
        trial = study.ask(fixed_distributions=dists)
    else:
        # Shared study: the budget is counted over every process, and a slot is taken atomically.
        with _budget_lock(state):
            if _counted(study, fail_untagged=state.owner is not None) >= int(budget):
                return {"number": None, "exhausted": True}
            trial = study.ask(fixed_distributions=dists)
            if state.owner is not None:
                study._storage.set_trial_user_attr(trial._trial_id, OWNER_ATTR, state.owner)
                study._storage.set_trial_user_attr(trial._trial_id, HOST_ATTR,
                                                   socket.gethostname())
    if state.heartbeat:
        study._storage.record_heartbeat(trial._trial_id)
        with state.owned_lock:
            state.owned.add(trial._trial_id)
    return {"number": trial.number, "params": trial.params}


def op_counted(state, req):
    study = _study(state)
    return {"counted": _counted(study)}


def op_stale_trials(state, req):
    """RUNNING trials whose heartbeat is older than the grace period (Optuna's fail_stale_trials
    criterion), with the shard that asked them; they are not changed here."""
    study = _study(state)
    storage = study._storage
    if not state.heartbeat or not hasattr(storage, "_get_stale_trial_ids"):
        return {"trials": []}
    out = []
    for trial_id in storage._get_stale_trial_ids(study._study_id):
        t = storage.get_trial(trial_id)
        with state.owned_lock:
            if trial_id in state.owned:
                continue
        out.append({"number": t.number, "shard": t.user_attrs.get(OWNER_ATTR),
                    "params": t.params})
    return {"trials": out}


def op_fail_trial(state, req):
    """FAIL a trial that is still RUNNING, with user attr fail_reason; false if it had finished
    (another process got there first)."""
    study = _study(state)
    number = _require(req, "number")
    trial_id = _trial_id(study, number)
    storage = study._storage
    if storage.get_trial(trial_id).state != TrialState.RUNNING:
        return {"failed": False}
    try:
        storage.set_trial_user_attr(trial_id, req.get("key", "fail_reason"),
                                    req.get("reason", INTERRUPTED))
        ok = storage.set_trial_state_values(trial_id, state=TrialState.FAIL)
    except RuntimeError:  # finished meanwhile
        ok = False
    _forget(state, trial_id)
    return {"failed": bool(ok)}


def op_claim(state, req):
    """Study user attr `key` = owner unless someone holds it; answers who holds it now."""
    study = _study(state)
    key = "claim:" + str(_require(req, "key"))
    with _budget_lock(state):
        holder = study.user_attrs.get(key)
        if holder is None:
            holder = str(_require(req, "owner"))
            study.set_user_attr(key, holder)
    return {"owner": holder}


def _forget(state, trial_id):
    with state.owned_lock:
        state.owned.discard(trial_id)


def op_tell(state, req):
    study = _study(state)
    number = _require(req, "number")
    state_name = req.get("state", "COMPLETE")
    if state_name not in _FINISHED:
        raise ValueError(f"cannot tell state '{state_name}' (valid: {', '.join(_FINISHED)})")
    values = None
    if "values" in req and req["values"] is not None:
        values = [_number_in(v, "values") for v in req["values"]]
    elif "value" in req and req["value"] is not None:
        values = [_number_in(req["value"], "value")]
    # A retried tell (the bridge died after storing it) must not fail on the finished trial.
    frozen = study.tell(number, values, _STATES[state_name],
                        skip_if_finished=bool(req.get("retry", False)))
    _forget(state, frozen._trial_id)
    out = _frozen(frozen)
    exhausted = _grid_exhausted(study)
    if exhausted is not None:
        out["grid_exhausted"] = exhausted
    return out


def op_report(state, req):
    study = _study(state)
    if len(study.directions) > 1:
        raise NotImplementedError("report/should_prune is not supported for multi-objective studies")
    number = _require(req, "number")
    step = _require(req, "step")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"'step' must be a non-negative integer, got {step!r}")
    value = _number_in(_require(req, "value"), "value")
    trial_id = _trial_id(study, number)
    storage = study._storage
    if step not in storage.get_trial(trial_id).intermediate_values:  # first report of a step wins
        storage.set_trial_intermediate_value(trial_id, step, value)
    return {"should_prune": bool(study.pruner.prune(study, storage.get_trial(trial_id)))}


def op_enqueue(state, req):
    study = _study(state)
    study.enqueue_trial(_require(req, "params"), user_attrs=req.get("user_attrs"),
                        skip_if_exists=bool(req.get("skip_if_exists", False) or req.get("retry")))
    waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    return {"n_waiting": len(waiting)}


def op_trials(state, req):
    study = _study(state)
    states = None
    if req.get("states"):
        states = tuple(_STATES[s] for s in req["states"])
    return {"trials": [_frozen(t) for t in study.get_trials(deepcopy=False, states=states)]}


def op_best_trials(state, req):
    study = _study(state)
    if len(study.directions) == 1:
        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        return {"trials": [_frozen(study.best_trial)] if done else []}
    return {"trials": [_frozen(t) for t in study.best_trials]}


def op_set_user_attr(state, req):
    study = _study(state)
    trial_id = _trial_id(study, _require(req, "number"))
    study._storage.set_trial_user_attr(trial_id, _require(req, "key"), req.get("value"))
    return {}


def op_fail_running(state, req):
    study = _study(state)
    reason = req.get("reason", "interrupted")
    key = req.get("key", "fail_reason")
    failed = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study._storage.set_trial_user_attr(_trial_id(study, t.number), key, reason)
        study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
        failed.append(t.number)
    return {"failed": failed}


def op_sleep(state, req):
    time.sleep(float(req.get("seconds", 0)))
    return {}


def op_shutdown(state, req):
    return {}


OPS = {name[3:]: fn for name, fn in globals().items() if name.startswith("op_")}


def _respond(obj):
    _RESPONSES.write(json.dumps(_sanitize(obj), allow_nan=False, separators=(",", ":")) + "\n")
    _RESPONSES.flush()


def _error(rid, exc):
    message = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    return {"id": rid, "ok": False, "error": {"type": type(exc).__name__, "message": message}}


def handle(state, line):
    """One request line -> (response dict, whether to exit)."""
    try:
        req = json.loads(line)
        if not isinstance(req, dict):
            raise TypeError("a request must be a JSON object")
    except Exception as exc:  # noqa: BLE001 - a malformed line is answered, never fatal
        return _error(None, exc), False
    rid = req.get("id")
    op = req.get("op")
    if op not in OPS:
        return _error(rid, ValueError(f"unknown op '{op}' (valid: {', '.join(OPS)})")), False
    try:
        result = OPS[op](state, req)
    except Exception as exc:  # noqa: BLE001 - every Python error goes back to the client
        return _error(rid, exc), False
    response = {"id": rid, "ok": True}
    response.update(result)
    return response, op == "shutdown"


def main():
    state = BridgeState()
    stdin = sys.stdin.buffer
    while True:
        line = stdin.readline()
        if not line:
            return 0  # the client closed its end
        if not line.strip():
            continue
        response, done = handle(state, line)
        _respond(response)
        if done:
            return 0


if __name__ == "__main__":
    sys.exit(main())
