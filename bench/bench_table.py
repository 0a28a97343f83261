#!/usr/bin/python3
"""Collects the benchmarks' rows into one table (Markdown on stdout) and one JSON file.

Usage: bench_table.py [--json OUT.json] LOG [LOG ...]

Every benchmark program prints, among its own output, lines of the form
    ROW {"name": ..., "sizes": ..., "ours": ..., "baseline": ..., "ratio": R,
         "ratio_of": ..., "goal": [OP, BOUND] or null, "checks": [[LABEL, VALUE, OP, BOUND], ...],
         "note": ...}
where `ratio` is the quantity the goal is about (what `ratio_of` says it divides), OP is ">=" or
"<=", and `checks` are further conditions of the same goal (e.g. the values agree to 1e-6).
A row meets its goal when the ratio and every check satisfy their bounds; a row without a goal is
reported only. A log without any ROW line (a benchmark that failed) yields a row saying so.
"""
import argparse
import json
import math
import os
import sys

OPS = {">=": lambda v, b: v >= b, "<=": lambda v, b: v <= b}


def parse_rows(text, source):
    """The ROW objects of one log, in order; a malformed ROW line is a ValueError naming it."""
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.startswith("ROW "):
            continue
        try:
            row = json.loads(line[4:])
        except json.JSONDecodeError as e:
            raise ValueError(f"{source}:{number}: malformed ROW line: {e}") from None
        for field in ("name", "ratio"):
            if field not in row:
                raise ValueError(f"{source}:{number}: ROW without the field '{field}'")
        goal = row.get("goal")
        if goal is not None and (len(goal) != 2 or goal[0] not in OPS):
            raise ValueError(f"{source}:{number}: 'goal' must be [\">=\" or \"<=\", bound]")
        for check in row.get("checks", []):
            if len(check) != 4 or check[2] not in OPS:
                raise ValueError(f"{source}:{number}: a check must be [label, value, op, bound]")
        row["source"] = os.path.basename(source)
        rows.append(row)
    return rows


def status(row):
    """'met', 'MISSED' or '-' (no goal) for one row."""
    goal = row.get("goal")
    if goal is None:
        return "-"
    ratio = row["ratio"]
    ok = ratio is not None and math.isfinite(ratio) and OPS[goal[0]](ratio, goal[1])
    for _, value, op, bound in row.get("checks", []):
        ok = ok and value is not None and math.isfinite(value) and OPS[op](value, bound)
    return "met" if ok else "MISSED"


def fmt(x):
    if x is None:
        return "n/a"
    if isinstance(x, str):
        return x
    if x == 0 or 0.01 <= abs(x) < 10000:
        return f"{x:.3g}"
    return f"{x:.2e}"


def goal_text(row):
    goal = row.get("goal")
    if goal is None:
        return "-"
    parts = [f"{goal[0]} {fmt(goal[1])}"]
    parts += [f"{label} {op} {fmt(bound)}" for label, _, op, bound in row.get("checks", [])]
    return ", ".join(parts)


def table(rows):
    """The rows as a Markdown table."""
    head = ["Row", "Sizes", "Ours", "Baseline", "Ratio", "Goal", "Status", "Note"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        checks = "; ".join(f"{label} {fmt(value)}" for label, value, _, _ in r.get("checks", []))
        note = "; ".join(x for x in (checks, r.get("note", "")) if x)
        ratio = fmt(r["ratio"]) + (f" ({r['ratio_of']})" if r.get("ratio_of") else "")
        cells = [r["name"], r.get("sizes", ""), r.get("ours", ""), r.get("baseline", ""), ratio,
                 goal_text(r), status(r), note]
        lines.append("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="where to write the rows as JSON")
    parser.add_argument("logs", nargs="+")
    args = parser.parse_args()
    rows = []
    for log in args.logs:
        with open(log, encoding="utf-8", errors="replace") as f:
            found = parse_rows(f.read(), log)
        if not found:
            found = [{"name": os.path.basename(log).rsplit(".", 1)[0], "ratio": None,
                      "goal": None, "note": f"no ROW line: the benchmark failed (see {log})",
                      "source": os.path.basename(log)}]
        rows += found
    for r in rows:
        r["status"] = status(r)
    print(table(rows))
    missed = sum(r["status"] == "MISSED" for r in rows)
    print(f"\n{len(rows)} rows, {sum(r['status'] == 'met' for r in rows)} goals met, "
          f"{missed} missed")
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
