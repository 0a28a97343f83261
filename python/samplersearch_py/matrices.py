"""Natural Inference coefficient matrices (Zheng & Zheng, 2025, §4): every sampler is

    x_0 = B[0][0]·ε_0,   x_k = Σ_{j<k} C[k][j]·y_j + Σ_{j≤k} B[k][j]·ε_j   (k = 1…N),

with y_k = f(x_k, t_k) the model's x0-prediction at time t_k; the output is x_N.
C ("signal", (N+1)×N) is strictly lower-triangular, B ("noise", (N+1)×(N+1)) lower-triangular.
"""

import math
from dataclasses import dataclass, field

import numpy as np

from .schedules import Schedule

__all__ = ["Matrices", "SIGMA_LIST_NOTE"]

SIGMA_LIST_NOTE = (
    "Only the time steps: a host that takes a sigma list runs its own solver (Euler, "
    "DPM-Solver++(2M), ...) on them, so the coefficient matrices C (how the past x0-predictions "
    "are combined) and B (the noise) are lost, and with them whatever the search found besides "
    "the times. N model calls at sigmas[0..N-1] end at sigmas[N]; hosts whose lists end in 0 "
    "(k-diffusion's get_sigmas_*) add one call when 0 is appended, or keep N calls when the last "
    "value is replaced by 0. To run the searched sampler itself, load the matrix file "
    "(.json, .h5, .npz) with the samplersearch_py package.")


@dataclass
class Matrices:
    """Times t_0…t_N, C, B and the schedule they were made for (float64 NumPy arrays)."""

    schedule: Schedule
    times: list
    signal: np.ndarray  # C, (N+1)×N
    noise: np.ndarray  # B, (N+1)×(N+1)
    solver: str = ""
    options: dict = field(default_factory=dict)

    def __post_init__(self):
        self.times = [float(t) for t in self.times]
        self.signal = np.asarray(self.signal, dtype=np.float64)
        self.noise = np.asarray(self.noise, dtype=np.float64)

    @property
    def steps(self):
        """N, the number of model calls."""
        return self.signal.shape[1] if self.signal.ndim == 2 else 0

    def validate(self, origin="matrices"):
        """Shapes, finiteness and triangularity; ValueError naming ``origin`` otherwise."""
        n = self.steps
        if self.signal.ndim != 2 or n < 1:
            raise ValueError(f"{origin}: signal: needs at least one column (one model call)")
        if self.signal.shape != (n + 1, n):
            raise ValueError(f"{origin}: signal: must have N+1 = {n + 1} rows of N = {n}, "
                             f"is {self.signal.shape[0]}×{self.signal.shape[1]}")
        if self.noise.shape != (n + 1, n + 1):
            raise ValueError(f"{origin}: noise: must be (N+1)×(N+1) = {n + 1}×{n + 1}")
        if len(self.times) != n + 1:
            raise ValueError(f"{origin}: timesteps: must list N+1 = {n + 1} times, "
                             f"has {len(self.times)}")
        for name, a in (("signal", self.signal), ("noise", self.noise)):
            bad = np.argwhere(~np.isfinite(a))
            if len(bad):
                raise ValueError(f"{origin}: {name}: entry [{bad[0][0]}][{bad[0][1]}] is not finite")
        upper = np.argwhere(np.triu(self.signal, 0) != 0)
        if len(upper):
            k, j = upper[0]
            raise ValueError(f"{origin}: signal: must be strictly lower-triangular: "
                             f"entry [{k}][{j}] is not 0")
        upper = np.argwhere(np.triu(self.noise, 1) != 0)
        if len(upper):
            k, j = upper[0]
            raise ValueError(f"{origin}: noise: must be lower-triangular: entry [{k}][{j}] is not 0")
        if not all(math.isfinite(t) for t in self.times):
            raise ValueError(f"{origin}: timesteps: must be finite")
        return self

    @property
    def alphas(self):
        """α(t_k), k = 0…N."""
        return [self.schedule.alpha(t) for t in self.times]

    @property
    def sigmas_vp(self):
        """σ(t_k), k = 0…N (the schedule's own noise coefficient)."""
        return [self.schedule.sigma(t) for t in self.times]

    def sigmas(self):
        """k-diffusion's sigmas σ(t_k)/α(t_k), k = 0…N (x = x0 + σ·ε scaling), float64 list."""
        return [self.schedule.sigma(t) / self.schedule.alpha(t) for t in self.times]

    def deterministic(self):
        """True when only ε_0 is used."""
        return not np.any(self.noise[:, 1:])

    def row_sums(self):
        """Σ_j C[k][j], to compare with α(t_k)."""
        return self.signal.sum(axis=1)

    def sigma_list(self):
        """The time steps as hosts taking only a sigma schedule accept them (see SIGMA_LIST_NOTE
        for what is lost): the same dict as ``samplersearch export --format sigmas``."""
        return {"schedule": self.schedule.name, "schedule_params": dict(self.schedule.params),
                "steps": self.steps,
                "times_searched": self.options.get("times") == "free",
                "t": list(self.times), "sigmas": self.sigmas(), "alpha": self.alphas,
                "sigma": self.sigmas_vp, "note": SIGMA_LIST_NOTE}
