"""Writes the exported modules test_model_metadata loads into argv[1], through scripts/export_model.

The same Gaussian mixture p(x0) = Σ_k π_k N(μ_k, s_k² I) (MIXTURE, also stored in each file's
metadata `extra.mixture` so the C++ test builds its native model from it) exported as an eps-, v-,
x0- and score-predictor on vp-linear fed τ = t, 999t or σ/α, and as a flow-velocity predictor on
the flow schedule, all float64. The exact outputs follow from E[x0|x_t]:
  x0̂ = Σ_k r_k (μ_k + α s_k²/v_k (x − α μ_k)), v_k = α² s_k² + σ², r = softmax_k(log π_k −
  ‖x − α μ_k‖²/(2 v_k) − D/2 log v_k);  ε̂ = (x − α x0̂)/σ;  v̂ = α ε̂ − σ x0̂;
  ŝ = −ε̂/σ;  û = ε̂ − x0̂.
Also writes files whose metadata or outputs break the contract (the error tests).
"""
import importlib.machinery
import importlib.util
import json
import math
import os
import sys

import torch

SOURCE = os.environ.get("SAMPLERSEARCH_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
loader = importlib.machinery.SourceFileLoader("export_model", os.path.join(SOURCE, "scripts", "export_model"))
spec = importlib.util.spec_from_loader("export_model", loader)
export_model = importlib.util.module_from_spec(spec)
loader.exec_module(export_model)

MIXTURE = {"weights": [0.5, 0.3, 0.2],
           "means": [[1.0, -0.5, 0.25, 0.0], [-1.0, 0.5, 0.0, 0.75], [0.0, 1.5, -1.0, -0.5]],
           "stds": [0.3, 0.5, 0.2]}
SHAPE = [1, 2, 2]


class MixtureNet(torch.nn.Module):
    """A float64 network whose output is the exact `kind` prediction of MIXTURE."""

    def __init__(self, kind: str, schedule: str, time_input: str):
        super().__init__()
        self.kind = kind
        self.schedule = schedule
        self.time_input = time_input
        self.register_buffer("log_w", torch.log(torch.tensor(MIXTURE["weights"], dtype=torch.float64)))
        self.register_buffer("mu", torch.tensor(MIXTURE["means"], dtype=torch.float64))
        self.register_buffer("s2", torch.tensor(MIXTURE["stds"], dtype=torch.float64) ** 2)

    def alpha_sigma(self, tau: torch.Tensor):
        if self.schedule == "flow":
            return 1.0 - tau, tau
        if self.time_input == "sigma":  # τ = σ/α on a VP schedule: α = 1/√(1+τ²)
            a = 1.0 / torch.sqrt(1.0 + tau * tau)
            return a, tau * a
        t = tau / 999.0 if self.time_input == "999t" else tau
        log_a = -0.25 * 19.9 * t * t - 0.05 * t
        return torch.exp(log_a), torch.sqrt(-torch.expm1(2.0 * log_a))

    def forward(self, x: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        xf = x.reshape(b, -1)
        a, s = self.alpha_sigma(tau)
        a, s = a[:, None], s[:, None]                            # [B, 1]
        v = a * a * self.s2[None, :] + s * s                      # [B, K]
        diff = xf[:, None, :] - a[:, :, None] * self.mu[None]     # [B, K, D]
        d = xf.shape[1]
        logits = self.log_w[None] - 0.5 * (diff * diff).sum(2) / v - 0.5 * d * torch.log(v)
        r = torch.softmax(logits, dim=1)
        post = self.mu[None] + (a * self.s2[None] / v)[:, :, None] * diff
        x0 = (r[:, :, None] * post).sum(1)
        eps = (xf - a * x0) / s
        if self.kind == "x0":
            out = x0
        elif self.kind == "eps":
            out = eps
        elif self.kind == "v":
            out = a * eps - s * x0
        elif self.kind == "score":
            out = -eps / s
        else:  # flow
            out = eps - x0
        return out.reshape(x.shape)


class Float32Out(torch.nn.Module):  # float64 weights (so called in float64), float32 output
    def __init__(self):
        super().__init__()
        self.register_buffer("scale", torch.ones(1, dtype=torch.float64))

    def forward(self, x: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        return (x * self.scale).float()


class HalfOut(torch.nn.Module):  # the last pixel row dropped
    def forward(self, x: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        return x[:, :, :1]


class NaNOut(torch.nn.Module):
    def forward(self, x: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        return x * float("nan")


class Identity(torch.nn.Module):
    def forward(self, x: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        return x


def save_raw(module, path, meta):
    """Saves without export_model's checks (the broken files)."""
    files = {} if meta is None else {export_model.METADATA_FILE: json.dumps(meta)}
    torch.jit.save(torch.jit.script(module), path, _extra_files=files)


def main(out):
    extra = {"mixture": MIXTURE}
    for kind, schedule, time_input in [("eps", "vp-linear", "t"), ("v", "vp-linear", "999t"),
                                       ("x0", "vp-linear", "sigma"), ("score", "vp-linear", "t"),
                                       ("flow", "flow", "t")]:
        params = {"beta_min": 0.1, "beta_max": 20.0} if schedule == "vp-linear" else {}
        export_model.export_module(MixtureNet(kind, schedule, time_input).double(),
                                   os.path.join(out, f"mixture_{kind}.pt"), parameterization=kind,
                                   time_input=time_input, schedule=schedule, schedule_params=params,
                                   sample_shape=SHAPE, extra=extra)
    good = export_model.metadata("eps", "t", "vp-linear", {}, SHAPE)
    good["dtype"] = "float64"
    save_raw(Identity(), os.path.join(out, "no_metadata.pt"), None)
    for field in ("parameterization", "time_input", "schedule", "sample_shape", "value_range",
                  "classes", "format"):
        meta = dict(good)
        del meta[field]
        save_raw(Identity(), os.path.join(out, f"missing_{field}.pt"), meta)
    bad = {"bad_parameterization": ("parameterization", "noise"), "bad_time_input": ("time_input", "1000t"),
           "bad_schedule": ("schedule", {"name": "vp-square", "params": {}}),
           "bad_shape": ("sample_shape", [1, 0, 2]), "bad_range": ("value_range", [1, -1]),
           "bad_label": ("classes", 10), "flow_on_vp": ("parameterization", "flow")}
    for name, (field, value) in bad.items():
        meta = dict(good)
        meta[field] = value
        save_raw(Identity(), os.path.join(out, name + ".pt"), meta)
    save_raw(Float32Out(), os.path.join(out, "float32_out.pt"), good)
    save_raw(NaNOut(), os.path.join(out, "nan_out.pt"), good)
    save_raw(HalfOut(), os.path.join(out, "wrong_shape.pt"), good)
    # export_model refuses a module that breaks the contract (ContractError naming the check).
    try:
        export_model.export_module(NaNOut(), os.path.join(out, "refused.pt"), parameterization="eps",
                                   time_input="t", schedule="vp-linear", sample_shape=SHAPE)
        raise SystemExit("export_model accepted a module returning NaN")
    except export_model.ContractError as e:
        assert "NaN" in str(e), e


if __name__ == "__main__":
    main(sys.argv[1])
