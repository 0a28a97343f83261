"""bench/bench_table.py: ROW parsing, goal status, the table and the JSON file."""
import json
import math
import os
import subprocess
import sys
import tempfile
import unittest

import bench_table

LOG = """bench_x: some header
ROW {"name": "A", "sizes": "d=4", "ours": "1 s", "baseline": "SciPy 12 s", "ratio": 12.0, "ratio_of": "SciPy/ours", "goal": [">=", 10], "checks": [["rel. diff", 2e-9, "<=", 1e-6]], "note": "x"}
a line that mentions ROW but does not start with it
ROW {"name": "B", "ratio": 1.05, "goal": ["<=", 1.02]}
ROW {"name": "C", "ratio": 0.02, "goal": null}
"""


class BenchTableTest(unittest.TestCase):
    def test_parses_only_row_lines_in_order(self):
        rows = bench_table.parse_rows(LOG, "/tmp/x.log")
        self.assertEqual([r["name"] for r in rows], ["A", "B", "C"])
        self.assertEqual(rows[0]["ratio"], 12.0)
        self.assertEqual(rows[0]["checks"][0][1], 2e-9)
        self.assertEqual(rows[1]["source"], "x.log")

    def test_status_against_goal_and_checks(self):
        a, b, c = bench_table.parse_rows(LOG, "x.log")
        self.assertEqual(bench_table.status(a), "met")      # 12 >= 10 and 2e-9 <= 1e-6
        self.assertEqual(bench_table.status(b), "MISSED")   # 1.05 > 1.02
        self.assertEqual(bench_table.status(c), "-")        # no goal
        a["checks"][0][1] = 3e-6                             # ratio met, values differ
        self.assertEqual(bench_table.status(a), "MISSED")
        a["checks"][0][1] = 2e-9
        a["ratio"] = 10.0                                    # the bound itself meets >=
        self.assertEqual(bench_table.status(a), "met")
        for bad in (None, math.nan):                         # a ratio the benchmark could not get
            a["ratio"] = bad
            self.assertEqual(bench_table.status(a), "MISSED")

    def test_malformed_rows_name_file_and_line(self):
        with self.assertRaisesRegex(ValueError, r"^f\.log:2: malformed ROW line"):
            bench_table.parse_rows("x\nROW {not json}\n", "f.log")
        with self.assertRaisesRegex(ValueError, r"^f\.log:1: ROW without the field 'ratio'"):
            bench_table.parse_rows('ROW {"name": "A"}\n', "f.log")
        with self.assertRaisesRegex(ValueError, r"^f\.log:1: 'goal' must be"):
            bench_table.parse_rows('ROW {"name": "A", "ratio": 1, "goal": ["==", 1]}\n', "f.log")
        with self.assertRaisesRegex(ValueError, r"^f\.log:1: a check must be"):
            bench_table.parse_rows('ROW {"name": "A", "ratio": 1, "checks": [["x", 1]]}\n',
                                   "f.log")

    def test_table_has_one_line_per_row(self):
        rows = bench_table.parse_rows(LOG, "x.log")
        lines = bench_table.table(rows).splitlines()
        self.assertEqual(len(lines), 2 + 3)
        self.assertTrue(lines[0].startswith("| Row | Sizes | Ours | Baseline | Ratio | Goal |"))
        self.assertIn("| 12 (SciPy/ours) | >= 10, rel. diff <= 1.00e-06 | met |", lines[2])
        self.assertIn("rel. diff 2.00e-09; x", lines[2])
        self.assertIn("| 1.05 | <= 1.02 | MISSED |", lines[3])

    def test_main_writes_json_and_reports_a_failed_benchmark(self):
        with tempfile.TemporaryDirectory() as tmp:
            good = os.path.join(tmp, "bench_good.log")
            failed = os.path.join(tmp, "bench_failed.log")
            out = os.path.join(tmp, "sub", "bench.json")
            with open(good, "w") as f:
                f.write(LOG)
            with open(failed, "w") as f:
                f.write("terminate called after throwing an instance of ...\n")
            result = subprocess.run([sys.executable, bench_table.__file__, "--json", out, good,
                                     failed], capture_output=True, text=True, check=True)
            self.assertIn("4 rows, 1 goals met, 1 missed", result.stdout)
            with open(out) as f:
                rows = json.load(f)["rows"]
            self.assertEqual([r["status"] for r in rows], ["met", "MISSED", "-", "-"])
            self.assertEqual(rows[3]["name"], "bench_failed")
            self.assertIn("no ROW line", rows[3]["note"])


if __name__ == "__main__":
    unittest.main()
