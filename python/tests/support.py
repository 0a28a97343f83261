"""Shared by the tests: the exact Gaussian-mixture model, the C++ reference tool, temp folders."""

import math
import os
import subprocess
import tempfile

import torch

SOURCE_DIR = os.environ.get("SAMPLERSEARCH_SOURCE_DIR",
                            os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
PAPER_DIR = os.path.join(SOURCE_DIR, "samplers", "data", "naturaldiffusion")
PAPER_FILES = {5: "step_5_weight_00.npz", 10: "step_10_weight_42.npz",
               15: "step_15_weight_173.npz"}
SHAPE = (3, 4)  # one sample of the agreement tests


def paper_path(steps):
    return os.path.join(PAPER_DIR, PAPER_FILES[steps])


class GaussianMixture(torch.nn.Module):
    """E[x0 | x_t] of p(x0) = Σ_k π_k N(μ_k, s_k² I) on vp-linear (β from 0.1 to 20), exactly:
    with v_k = α²s_k² + σ², r_k ∝ π_k N(x; αμ_k, v_k I) and
    E[x0|x] = Σ_k r_k (μ_k + α s_k²/v_k (x − αμ_k)). forward(x, t) returns it ("x0") or the
    matching noise prediction ε̂ = (x − α x0)/σ ("eps"); float64 buffers."""

    def __init__(self, prediction: str):
        super().__init__()
        g = torch.Generator().manual_seed(3)
        d = SHAPE[0] * SHAPE[1]
        self.register_buffer("means", torch.randn(4, d, generator=g, dtype=torch.float64))
        self.register_buffer("stds", torch.tensor([0.3, 0.5, 0.2, 0.8], dtype=torch.float64))
        self.register_buffer("log_weights",
                             torch.log(torch.tensor([0.1, 0.4, 0.3, 0.2], dtype=torch.float64)))
        self.eps = prediction == "eps"

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        flat = x.reshape(b, -1)
        log_a = (-0.25 * 19.9 * t * t - 0.5 * 0.1 * t).reshape(b, 1)
        a = torch.exp(log_a)
        s2 = -torch.expm1(2.0 * log_a)
        v = a * a * self.stds * self.stds + s2  # [b, K]
        diff = flat.unsqueeze(1) - a.unsqueeze(2) * self.means  # [b, K, d]
        d = float(flat.shape[1])
        logp = self.log_weights - 0.5 * d * torch.log(2.0 * math.pi * v) \
            - (diff * diff).sum(-1) / (2.0 * v)
        r = torch.softmax(logp, dim=1)  # [b, K]
        gain = (a * self.stds * self.stds / v).unsqueeze(2)  # [b, K, 1]
        x0 = (r.unsqueeze(2) * (self.means + gain * diff)).sum(1)
        if self.eps:
            return ((flat - a * x0) / torch.sqrt(s2)).reshape(x.shape)
        return x0.reshape(x.shape)


def scripted(prediction, path):
    """The TorchScript Gaussian mixture saved at ``path`` (as the C++ engine loads it)."""
    module = torch.jit.script(GaussianMixture(prediction))
    torch.jit.save(module, path)
    return module


def engine_reference(*args):
    """Runs tests/python/engine_reference (the C++ side); its path comes from ctest."""
    tool = os.environ.get("SAMPLERSEARCH_ENGINE_REFERENCE")
    if not tool:
        raise RuntimeError("SAMPLERSEARCH_ENGINE_REFERENCE is not set (run through ctest)")
    subprocess.run([tool, *map(str, args)], check=True)


def cli(*args):
    """Runs the samplersearch CLI (path from ctest); returns (exit code, output)."""
    r = subprocess.run([os.environ["SAMPLERSEARCH_CLI"], *map(str, args)], capture_output=True,
                       text=True)
    return r.returncode, r.stdout + r.stderr


def temp_dir(test_case):
    """A temporary folder removed when the test (class) is done."""
    d = tempfile.TemporaryDirectory(prefix="samplersearch_py_")
    test_case.addClassCleanup(d.cleanup) if isinstance(test_case, type) else \
        test_case.addCleanup(d.cleanup)
    return d.name
