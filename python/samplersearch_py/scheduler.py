"""A scheduler with diffusers' ``set_timesteps`` / ``step`` shape over coefficient matrices
(no dependency on diffusers).

    scheduler = MatrixScheduler.from_file("best.json", prediction_type="epsilon")
    scheduler.set_timesteps(scheduler.num_inference_steps)
    latents = torch.randn(shape) * scheduler.init_noise_sigma
    for t in scheduler.timesteps:
        noise_pred = unet(scheduler.scale_model_input(latents, t), t)
        latents = scheduler.step(noise_pred, t, latents).prev_sample

Step k turns the model output at t_k into y_k and returns the next input
x_{k+1} = Σ_{j≤k} C[k+1][j]·y_j + Σ_{j≤k+1} B[k+1][j]·ε_j (Zheng & Zheng, 2025, §4).
"""

import math
from dataclasses import dataclass
from typing import Optional

import torch

from .io import load
from .sampling import network_time, to_x0

__all__ = ["MatrixScheduler", "SchedulerOutput"]

# diffusers' prediction_type names → samplersearch's parameterizations.
_PREDICTION = {"epsilon": "eps", "sample": "x0", "v_prediction": "v", "eps": "eps", "x0": "x0",
               "v": "v", "score": "score", "flow": "flow"}


@dataclass
class SchedulerOutput:
    """As diffusers' scheduler outputs: the next sample and the current x0-prediction."""

    prev_sample: torch.Tensor
    pred_original_sample: Optional[torch.Tensor] = None


class MatrixScheduler:
    """Steps through the rows of a Matrices; ``timesteps`` are what the network is fed."""

    order = 1

    def __init__(self, matrices, prediction_type="epsilon", time_input="t"):
        if prediction_type not in _PREDICTION:
            raise ValueError(f"prediction_type: unknown '{prediction_type}' "
                             f"(valid: {', '.join(_PREDICTION)})")
        self.matrices = matrices.validate("matrices")
        self.prediction = _PREDICTION[prediction_type]
        self.time_input = time_input
        self.num_inference_steps = matrices.steps
        self.set_timesteps()

    @classmethod
    def from_file(cls, path, schedule=None, **kwargs):
        """The scheduler of a matrix file (any format ``load`` reads)."""
        return cls(load(path, schedule=schedule), **kwargs)

    @property
    def init_noise_sigma(self):
        """The start is x_{t_0} = init_noise_sigma·ε (B[0][0]: 1 on variance-preserving files)."""
        return float(self.matrices.noise[0, 0])

    def set_timesteps(self, num_inference_steps=None, device=None):
        """Restarts at t_0. The step count is the matrices' (N); another one is a ValueError."""
        n = self.matrices.steps
        if num_inference_steps is not None and num_inference_steps != n:
            raise ValueError(f"num_inference_steps: these matrices make exactly {n} model calls, "
                             f"got {num_inference_steps}")
        values = [network_time(self.time_input, self.matrices.schedule, t)
                  for t in self.matrices.times[:n]]
        dtype = torch.int64 if self.time_input == "step" else torch.float64
        self.timesteps = torch.tensor(values, dtype=dtype, device=device)
        self._k, self._ys, self._eps = 0, [], []

    def scale_model_input(self, sample, timestep=None):
        """The network takes x_t as it is."""
        return sample

    def step(self, model_output, timestep, sample, generator=None, variance_noise=None,
             return_dict=True):
        """x_{k+1} from the model output at t_k. A stochastic row draws its fresh ε_{k+1} from
        ``variance_noise`` when given, else ``torch.randn(generator=generator)``."""
        m, k = self.matrices, self._k
        if k >= m.steps:
            raise ValueError(f"step: all {m.steps} steps are done; call set_timesteps again")
        expected = float(self.timesteps[k])
        if not math.isclose(float(timestep), expected, rel_tol=1e-6, abs_tol=1e-9):
            raise ValueError(f"step: timestep {float(timestep)} is not step {k}'s {expected}")
        t = m.times[k]
        if k == 0:
            self._eps = [sample / float(m.noise[0, 0])]
        self._ys.append(to_x0(self.prediction, model_output, sample, m.schedule.alpha(t),
                              m.schedule.sigma(t)))
        row = k + 1
        if m.noise[:, row].any():
            if variance_noise is None:
                variance_noise = torch.randn(sample.shape, generator=generator, dtype=sample.dtype,
                                             device=sample.device)
            self._eps.append(variance_noise)
        else:
            self._eps.append(None)
        out = torch.zeros_like(sample)
        for j, y in enumerate(self._ys):
            if m.signal[row, j] != 0.0:
                out.add_(y, alpha=float(m.signal[row, j]))
        for j, e in enumerate(self._eps):
            if m.noise[row, j] != 0.0:
                out.add_(e, alpha=float(m.noise[row, j]))
        self._k += 1
        if not return_dict:
            return (out,)
        return SchedulerOutput(out, self._ys[-1])

    def __len__(self):
        return self.matrices.steps
