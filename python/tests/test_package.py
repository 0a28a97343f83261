"""samplersearch_py's loaders and writers against NumPy and the C++ files, its error messages,
the papers' table, sigma lists, and installing the package with pip from the checkout."""

import json
import os
import shutil
import subprocess
import sys
import unittest
import zipfile

import numpy as np
import torch

import samplersearch_py as ss
from . import support

# Zheng & Zheng (2025), Table 15 (5 steps, ScoreSDE VP, time-quadratic), verbatim.
TABLE_15 = """time\t0.650\t0.375\t0.176\t0.051\t0.001\tmarginal coeff
0.650\t1\t0\t0\t0\t0\t0.118
0.375\t-0.291\t1\t0\t0\t0\t0.487
0.176\t0\t0.133\t1\t0\t0\t0.85
0.051\t0\t0\t-0.337\t1\t0\t0.985
0.001\t0\t0\t0\t-0.583\t1\t1
"""


def members(path):
    with zipfile.ZipFile(path) as z:
        return [(n, z.read(n)) for n in z.namelist()]


class NaturalDiffusionFiles(unittest.TestCase):
    def test_paper_files_read_as_numpy_does(self):
        for steps in (5, 10, 15):
            path = support.paper_path(steps)
            m = ss.load(path)
            with np.load(path) as d:
                x, e, node = d["past_xstart_coeff"], d["past_epsilon_coeff"], d["node_coeff"]
            self.assertEqual(m.schedule.name, "vp-linear")
            self.assertEqual(m.steps, steps)
            self.assertEqual(m.times, node[:, 0].tolist())
            np.testing.assert_array_equal(m.signal[1:], x)  # paper row r = our row r+1
            np.testing.assert_array_equal(m.noise[1:, :steps], e)
            self.assertEqual(m.noise[0, 0], 1.0)
            np.testing.assert_allclose(m.row_sums()[1:], m.alphas[1:], atol=1e-12)

    def test_round_trip_is_bit_exact(self):
        d = support.temp_dir(self)
        for steps in (5, 10, 15):
            m = ss.load(support.paper_path(steps))
            ss.save_npz(m, os.path.join(d, "a.npz"))
            self.assertEqual(members(os.path.join(d, "a.npz")),
                             members(support.paper_path(steps)))
            ss.save_json(m, os.path.join(d, "a.json"))  # JSON keeps node_coeff's α, σ too
            ss.save_npz(ss.load(os.path.join(d, "a.json")), os.path.join(d, "b.npz"))
            self.assertEqual(members(os.path.join(d, "b.npz")),
                             members(support.paper_path(steps)))

    def test_cpp_conversions_read_the_same(self):
        d = support.temp_dir(self)
        src = support.paper_path(10)
        for ext in ("json", "h5"):
            out = os.path.join(d, "m." + ext)
            code, output = support.cli("convert", src, out)
            self.assertEqual(code, 0, output)
            m, ref = ss.load(out), ss.load(src)
            self.assertEqual(m.times, ref.times)
            np.testing.assert_array_equal(m.signal, ref.signal)
            np.testing.assert_array_equal(m.noise, ref.noise)
            self.assertEqual(m.options["node_coeff_sigma"], ref.options["node_coeff_sigma"])

    def test_malformed_files_name_file_array_and_reason(self):
        d = support.temp_dir(self)
        with np.load(support.paper_path(5)) as z:
            good = {k: z[k].copy() for k in z.files}

        def error(**changes):
            arrays = {**good, **changes}
            path = os.path.join(d, "bad.npz")
            np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
            with self.assertRaises(ValueError) as c:
                ss.load(path)
            message = str(c.exception)
            self.assertTrue(message.startswith(path + ": "), message)
            return message[len(path) + 2:]

        self.assertEqual(error(past_xstart_coeff=np.zeros((5, 4))),
                         "past_xstart_coeff: must be N×N = 5×5, is (5, 4)")
        self.assertEqual(error(past_epsilon_coeff=np.zeros((5, 7))),
                         "past_epsilon_coeff: must be 5×6 or 5×5, is (5, 7)")
        x = good["past_xstart_coeff"].copy()
        x[1, 0] = np.nan
        self.assertEqual(error(past_xstart_coeff=x),
                         "past_xstart_coeff: entry [1, 0] is not finite")
        x = good["past_xstart_coeff"].copy()
        x[1, 3] = 0.25
        self.assertEqual(error(past_xstart_coeff=x),
                         "past_xstart_coeff: has entries right of the diagonal")
        x = good["past_xstart_coeff"].copy()
        x[3, 2] = -x[3, 3]
        self.assertEqual(error(past_xstart_coeff=x), "past_xstart_coeff: row 3 sums to 0")
        self.assertTrue(error(node_coeff=None).startswith("has no array 'node_coeff'"))
        self.assertEqual(error(past_xstart_coeff=np.eye(5, dtype=np.int64)),
                         "past_xstart_coeff: dtype int64 is not float64")
        path = os.path.join(d, "cut.npz")
        with open(support.paper_path(5), "rb") as f, open(path, "wb") as g:
            g.write(f.read()[:700])
        with self.assertRaisesRegex(ValueError, "^" + path + ": not a readable .npz archive"):
            ss.load(path)
        with self.assertRaisesRegex(ValueError, "node_coeff: row 0 .* but vp-cosine has α = "):
            ss.load(support.paper_path(5), schedule="vp-cosine")


class OtherFormats(unittest.TestCase):
    def test_table_15_is_the_paper_matrix(self):
        vp = ss.make_schedule("vp-linear")
        times = ss.timesteps("time-quadratic", vp, 5, 1.0, 1e-3)
        table = ss.load_table(TABLE_15, vp, times=times)
        paper = ss.load(support.paper_path(5))
        # 3 decimals of ratios to the diagonal, which reaches 2.4 (row 5): off by < 0.0005·2.4·2.
        self.assertLess(np.abs(table.signal - paper.signal).max(), 2.5e-3)
        np.testing.assert_allclose(table.row_sums()[1:], table.alphas[1:], rtol=1e-15)
        self.assertEqual(ss.load_table(TABLE_15, "vp-linear", t0=1.0).times,
                         [1.0, 0.65, 0.375, 0.176, 0.051, 0.001])
        with self.assertRaisesRegex(ValueError, r"^t15: row 1: marginal coeff 0.3 differs"):
            ss.load_table(TABLE_15.replace("0.118", "0.3"), vp, times=times, origin="t15")

    def test_bad_json_names_the_field(self):
        d = support.temp_dir(self)
        path = os.path.join(d, "m.json")
        doc = ss.matrices_to_dict(ss.load(support.paper_path(5)))
        doc["signal"][1][3] = 0.5
        with open(path, "w") as f:
            json.dump(doc, f)
        with self.assertRaisesRegex(ValueError, "^" + path + ": signal: must be strictly "
                                    r"lower-triangular: entry \[1\]\[3\] is not 0"):
            ss.load(path)
        with self.assertRaisesRegex(ValueError, "unknown matrix file extension '.pt'"):
            ss.load("model.pt")

    def test_sigma_list(self):
        m = ss.load(support.paper_path(10))
        sl = m.sigma_list()
        for t, s in zip(sl["t"], sl["sigmas"]):
            # σ/α = √(1/α² − 1), 1/α² = exp(½β_d t² + β_min t) on vp-linear.
            self.assertAlmostEqual(s, np.sqrt(np.expm1(0.5 * 19.9 * t * t + 0.1 * t)),
                                   delta=1e-12 * s)
        self.assertEqual(len(sl["sigmas"]), 11)
        self.assertIn("coefficient matrices C", sl["note"])


class Misuse(unittest.TestCase):
    def test_wrong_sigmas_and_step_counts(self):
        m = ss.load(support.paper_path(5))
        x = torch.zeros(1, 2, dtype=torch.float64)
        with self.assertRaisesRegex(ValueError, "^sigmas: these matrices were made for the 6 "):
            ss.sample_matrices(lambda x, s: x, x, torch.linspace(80, 0.01, 6), matrices=m)
        scheduler = ss.MatrixScheduler(m)
        with self.assertRaisesRegex(ValueError, "make exactly 5 model calls, got 10"):
            scheduler.set_timesteps(10)
        with self.assertRaisesRegex(ValueError, "timestep 0.5 is not step 0's 1.0"):
            scheduler.step(x, 0.5, x)
        for t in scheduler.timesteps:
            x = scheduler.step(torch.zeros_like(x), t, x).prev_sample
        with self.assertRaisesRegex(ValueError, "all 5 steps are done"):
            scheduler.step(x, 0.001, x)


class Install(unittest.TestCase):
    def test_pip_installs_offline_from_the_checkout(self):
        d = support.temp_dir(self)
        src = os.path.join(d, "src")  # a copy: the build leaves files beside pyproject.toml
        shutil.copytree(os.path.join(support.SOURCE_DIR, "python"), src,
                        ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
        target = os.path.join(d, "site")
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-build-isolation",
                        "--no-deps", "--no-index", "--target", target, src], check=True,
                       cwd=d, env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
        out = subprocess.run(
            [sys.executable, "-c", "import samplersearch_py as s; print(s.__file__); "
             f"print(s.load({support.paper_path(5)!r}).steps)"],
            check=True, capture_output=True, text=True, cwd=d,
            env={**os.environ, "PYTHONPATH": target}).stdout.split()
        self.assertTrue(out[0].startswith(target), out)
        self.assertEqual(out[1], "5")


if __name__ == "__main__":
    unittest.main()
