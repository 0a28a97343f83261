"""Dumps samplersearch trial stores as JSON, reading them with h5py only.

An independent reader of the schema in experiments/README.md ("The trial store (HDF5)"), used by
test_trial_store to check what the C++ store wrote. Usage: dump_trial_store.py FILE... ; prints one
JSON list with one object per file. NaN becomes null; floats keep all 17 digits (repr).
"""
import hashlib
import json
import math
import sys

import h5py
import numpy as np


def plain(x):
    """numpy -> JSON-ready Python, NaN -> None."""
    a = np.asarray(x)
    if a.dtype.kind == "f":
        return [plain(v) for v in a] if a.ndim else (None if math.isnan(float(a)) else float(a))
    return a.tolist()


def dump(path):
    try:  # a plain read-only open fails while a writer has the file open (or was killed)
        h5py.File(path, "r").close()
        plain_open = True
    except OSError:
        plain_open = False
    with h5py.File(path, "r", swmr=True) as f:
        out = {
            "path": path,
            "plain_open": plain_open,
            "format": f.attrs["format"],
            "format_version": int(f.attrs["format_version"]),
            "experiment": f["experiment"].asstr()[()],
            "experiment_hash": f.attrs["experiment_hash"],
            "experiment_sha256": hashlib.sha256(f["experiment"][()]).hexdigest(),
            "steps": int(f.attrs["steps"]),
            "schedule": f.attrs["schedule"],
            "schedule_params": json.loads(f.attrs["schedule_params"]),
            "sample_counts": plain(f["sample_counts"][:]),
        }
        counts = f["sample_counts"][:]

        def group(name, commit, columns, strings, per_row):
            g = f[name]
            n = len(g[commit])
            data = {c: g[c][:n] for c in columns + strings + [commit]}
            heap = g["text"][:].tobytes()
            rows = []
            for i in range(n):
                if commit == "number" and data["number"][i] < 0:
                    break  # grown by a killed writer, never filled
                if commit == "label" and data["label"][i][0] < 0:
                    break
                row = {}
                for s in strings:
                    o, l = (int(v) for v in data[s][i])
                    assert o >= 0 and o + l <= len(heap), (name, s, i)
                    row[s] = heap[o:o + l].decode()
                for c in columns:
                    row[c] = plain(data[c][i])
                per_row(row, data, i)
                rows.append(row)
            for c in columns + strings:  # every column is written before the commit column
                assert len(g[c]) >= len(rows), (name, c)
            return rows

        def trial(row, data, i):
            row["number"] = int(data["number"][i])
            names = {v: k for k, v in h5py.check_enum_dtype(f["trials/state"].dtype).items()}
            row["state"] = names[int(row["state"])]
            row["params"] = json.loads(row["params"])
            row["intermediate"] = [[int(c), v] for c, v in zip(counts, row["intermediate"])
                                   if v is not None]

        def baseline(row, data, i):
            o, l = (int(v) for v in data["label"][i])
            row["label"] = f["baselines/text"][o:o + l].tobytes().decode()

        out["trials"] = group(
            "trials", "number",
            ["state", "value", "intermediate", "started", "seconds", "timesteps", "C", "B"],
            ["params", "device", "reason", "warm_start", "solver", "options"], trial)
        out["baselines"] = group("baselines", "label",
                                 ["value", "validation", "timesteps", "C", "B"],
                                 ["solver", "options"], baseline)
        v = f["validations"]
        n = len(v["trial"])
        trial, value = v["trial"][:n], v["value"][:n]
        assert len(v["value"]) >= n
        out["validations"] = [[int(t), plain(x)] for t, x in zip(trial, value) if t >= 0]
    return out


if __name__ == "__main__":
    print(json.dumps([dump(p) for p in sys.argv[1:]]))
