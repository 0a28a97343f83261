"""Independent NumPy float64 references for the Natural Inference matrices of the classic samplers.

Every sampler below is written once, as a short function with the shared signature
``fn(ctx, steps, **options)``, and run on *linear forms*: a value is a coefficient vector over
(y_0 … y_{N-1}, ε_0 … ε_N).  ``ctx.denoise(x, t)`` records the form x as the next row of the
matrices and returns the unit form y_k; ``ctx.noise()`` returns the fresh ε of the row being
formed; ``ctx.eps(x, t)`` is the noise-prediction view ε̂ = (x − α y)/σ of the same call.
``run(...)`` returns the times of the rows, C (N+1 × N) and B (N+1 × N+1).

Each function follows the control flow and defaults of one reference implementation (the comment
above it names which); see README.md in this folder.  Schedules and discretizations follow
docs/equations.md §1–§2.  Only NumPy and SciPy are used.  One file of ~800 lines on purpose: it
mirrors k-diffusion's single sampling.py, every sampler a short function beside the others.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import integrate


# --------------------------------------------------------------------------------------------
# Schedules (docs/equations.md §1).  `lam` is DPM-Solver's half log-SNR  log α − log σ  (= λ_full / 2, λ_full the log-SNR of docs/equations.md §1).
# --------------------------------------------------------------------------------------------
class Schedule:
    name = ""
    vp = False          # α² + σ² = 1 (prior N(0, I))
    discrete = False    # integer times
    t_range = (0.0, 1.0)  # default (t_end, t_start)

    def log_alpha(self, t):
        raise NotImplementedError

    def log_sigma(self, t):
        # VP: σ = √(1 − α²), computed without cancellation.
        return 0.5 * math.log(-math.expm1(2.0 * self.log_alpha(t)))

    def alpha(self, t):
        return math.exp(self.log_alpha(t))

    def sigma(self, t):
        return math.exp(self.log_sigma(t))

    def lam(self, t):
        return self.log_alpha(t) - self.log_sigma(t)

    def t_of_lam(self, lam):
        raise NotImplementedError

    # The forward SDE dx = f(t)x dt + g(t)dw with marginals α, σ (Song et al. 2021, eq. 5 and
    # their Appendix B): f = d log α/dt, g² = dσ²/dt − 2fσ².  Continuous schedules only.
    def f(self, t):
        raise ValueError(f"{self.name}: no SDE in continuous time")

    def dsigma2(self, t):
        raise ValueError(f"{self.name}: no SDE in continuous time")

    def g2(self, t):
        return self.dsigma2(t) - 2.0 * self.f(t) * self.sigma(t) ** 2

    @staticmethod
    def vp_log_alpha_of_lam(lam):
        # α² = 1 / (1 + e^{−2λ}) on a VP schedule.
        return -0.5 * np.logaddexp(0.0, -2.0 * lam)


class VpLinear(Schedule):
    name, vp, t_range = "vp-linear", True, (1e-3, 1.0)
    beta_min, beta_max = 0.1, 20.0

    def log_alpha(self, t):
        return -0.25 * (self.beta_max - self.beta_min) * t * t - 0.5 * self.beta_min * t

    def f(self, t):   # −½β(t), the VP SDE of Song et al. 2021 eq. 11
        return -0.5 * (self.beta_min + t * (self.beta_max - self.beta_min))

    def dsigma2(self, t):   # σ² = 1 − α²
        return -2.0 * self.alpha(t) ** 2 * self.f(t)

    def t_of_lam(self, lam):
        # Solve ¼β_d t² + ½β_min t = L with L = −log α, in the cancellation-free root form.
        L = -self.vp_log_alpha_of_lam(lam)
        bd, b0 = self.beta_max - self.beta_min, self.beta_min
        return 4.0 * L / (math.sqrt(b0 * b0 + 4.0 * bd * L) + b0)


class VpCosine(Schedule):
    name, vp, t_range = "vp-cosine", True, (1e-3, 0.9946)
    s = 0.008

    def _log_alpha0(self):
        return math.log(math.cos(self.s / (1.0 + self.s) * math.pi / 2.0))

    def log_alpha(self, t):
        return math.log(math.cos((t + self.s) / (1.0 + self.s) * math.pi / 2.0)) - self._log_alpha0()

    def f(self, t):
        w = math.pi / 2.0 / (1.0 + self.s)
        return -w * math.tan((t + self.s) * w)

    def dsigma2(self, t):
        return -2.0 * self.alpha(t) ** 2 * self.f(t)

    def t_of_lam(self, lam):
        la = self.vp_log_alpha_of_lam(lam)
        return math.acos(math.exp(la + self._log_alpha0())) * 2.0 * (1.0 + self.s) / math.pi - self.s


class Ve(Schedule):
    name, t_range = "ve", (1e-5, 1.0)
    sigma_min, sigma_max = 0.01, 50.0

    def log_alpha(self, t):
        return 0.0

    def log_sigma(self, t):
        return math.log(self.sigma_min) + t * math.log(self.sigma_max / self.sigma_min)

    def f(self, t):
        return 0.0

    def dsigma2(self, t):
        return 2.0 * self.sigma(t) ** 2 * math.log(self.sigma_max / self.sigma_min)

    def t_of_lam(self, lam):
        return (-lam - math.log(self.sigma_min)) / math.log(self.sigma_max / self.sigma_min)


class Edm(Schedule):
    name, t_range = "edm", (0.002, 80.0)

    def log_alpha(self, t):
        return 0.0

    def log_sigma(self, t):
        return math.log(t)

    def f(self, t):
        return 0.0

    def dsigma2(self, t):
        return 2.0 * t

    def t_of_lam(self, lam):
        return math.exp(-lam)


class Flow(Schedule):
    name, t_range = "flow", (1e-3, 0.999)

    def log_alpha(self, t):
        return math.log1p(-t)

    def log_sigma(self, t):
        return math.log(t)

    def f(self, t):
        return -1.0 / (1.0 - t)

    def dsigma2(self, t):
        return 2.0 * t

    def t_of_lam(self, lam):
        # (1 − t)/t = e^{λ}  ⇒  t = 1/(1 + e^{λ})
        return 0.5 * (1.0 - math.tanh(0.5 * lam))


class DdpmDiscrete(Schedule):
    """DDPM's chain, β linear 1e-4…0.02 over 1000 steps; log α piecewise linear between integers
    (DPM-Solver's NoiseScheduleVP('discrete') interpolation, with the time axis n itself)."""
    name, vp, discrete, t_range = "ddpm-discrete", True, True, (0.0, 999.0)

    def __init__(self, beta_start=1e-4, beta_end=0.02, n=1000):
        betas = np.linspace(beta_start, beta_end, n, dtype=np.float64)
        self.la = 0.5 * np.cumsum(np.log1p(-betas))   # log α_n, decreasing

    def log_alpha(self, t):
        n = len(self.la) - 1
        c = min(max(t, 0.0), float(n))
        i = min(int(math.floor(c)), n - 1)
        w = c - i
        return (1.0 - w) * self.la[i] + w * self.la[i + 1]

    def t_of_lam(self, lam):
        la = self.vp_log_alpha_of_lam(lam)
        # np.interp needs increasing abscissae: log α reversed.
        xs = self.la[::-1]
        ns = np.arange(len(self.la), dtype=np.float64)[::-1]
        return float(np.interp(la, xs, ns))


SCHEDULES = {c.name: c for c in (VpLinear, VpCosine, Ve, Edm, Flow, DdpmDiscrete)}


def make_schedule(name):
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}")
    return SCHEDULES[name]()


# --------------------------------------------------------------------------------------------
# Discretizations (docs/equations.md §2): n+1 times from T = t_start down to ε = t_end.
# --------------------------------------------------------------------------------------------
def discretize(schedule, name, n, t_start, t_end, karras_rho=7.0, round_discrete=True):
    i = np.arange(n + 1, dtype=np.float64) / n
    if name == "time-uniform":
        t = t_start + i * (t_end - t_start)
    elif name == "time-quadratic":           # DPM-Solver's get_time_steps('time_quadratic')
        a, b = math.sqrt(t_start), math.sqrt(t_end)
        t = (a + i * (b - a)) ** 2
    elif name == "logsnr-uniform":           # DPM-Solver's get_time_steps('logSNR')
        l0, l1 = schedule.lam(t_start), schedule.lam(t_end)
        t = np.array([schedule.t_of_lam(l0 + v * (l1 - l0)) for v in i])
        t[0], t[-1] = t_start, t_end
    elif name == "karras":                   # EDM, σ = e^{−λ_full/2} = σ/α, mapped back to t
        a = math.exp(-schedule.lam(t_start)) ** (1.0 / karras_rho)
        b = math.exp(-schedule.lam(t_end)) ** (1.0 / karras_rho)
        t = np.array([schedule.t_of_lam(-math.log((a + v * (b - a)) ** karras_rho)) for v in i])
        t[0], t[-1] = t_start, t_end
    else:
        raise ValueError(f"unknown discretization {name!r}")
    if schedule.discrete and round_discrete:
        t = np.round(t)
    return t


@dataclass
class Grid:
    """Where a solver's times come from: a named discretization over [t_end, t_start] or an
    explicit list (which fixes the number of intervals)."""
    schedule: Schedule
    discretization: str = "time-uniform"
    t_start: float | None = None
    t_end: float | None = None
    explicit: tuple | None = None

    def __post_init__(self):
        if self.t_start is None:
            self.t_start = self.schedule.t_range[1]
        if self.t_end is None:
            self.t_end = self.schedule.t_range[0]

    def times(self, n):
        if self.explicit is not None:
            if len(self.explicit) != n + 1:
                raise ValueError(f"explicit grid has {len(self.explicit)} times, solver needs {n + 1}")
            return np.asarray(self.explicit, dtype=np.float64)
        return discretize(self.schedule, self.discretization, n, self.t_start, self.t_end)

    def between(self, s, t, n):
        # DPM-Solver's get_time_steps(skip_type, t_T=s, t_0=t, N=order) for a singlestep's inner
        # points, not rounded on ddpm-discrete (DPM-Solver's discrete schedule is continuous in t);
        # None for an explicit grid: the caller then uses the fine grid's own points.
        if self.explicit is not None:
            return None
        return discretize(self.schedule, self.discretization, n, s, t, round_discrete=False)


# --------------------------------------------------------------------------------------------
# Linear forms and the context every sampler runs on.
# --------------------------------------------------------------------------------------------
class Context:
    def __init__(self, schedule: Schedule, grid: Grid, steps: int):
        self.schedule, self.grid, self.N = schedule, grid, steps
        self.rows, self.times = [], []
        self._noise_used = set()

    # α(t), σ(t) and DPM-Solver's half log-SNR λ(t).
    def a(self, t):
        return self.schedule.alpha(t)

    def s(self, t):
        return self.schedule.sigma(t)

    def lam(self, t):
        return self.schedule.lam(t)

    def t_of_lam(self, lam):
        return self.schedule.t_of_lam(lam)

    def _unit(self, i):
        v = np.zeros(2 * self.N + 1)
        v[i] = 1.0
        return v

    def noise(self):
        """The fresh ε of the row being formed: ε_k while forming call k's input (ε_N: output)."""
        k = len(self.rows)
        if k in self._noise_used:
            raise RuntimeError(f"two fresh noises for row {k}")
        self._noise_used.add(k)
        return self._unit(self.N + k)

    def prior(self, t0):
        """x_0 = prior_std·ε_0: 1 on VP schedules (randn), σ(t_0) otherwise (σ_max·randn)."""
        self._noise_used.add(0)
        std = 1.0 if self.schedule.vp else self.s(t0)
        return std * self._unit(self.N)

    def denoise(self, x, t):
        """Model call: record x as the next row at time t, return the unit form y_k."""
        k = len(self.rows)
        if k >= self.N:
            raise RuntimeError(f"more than steps={self.N} model calls")
        self.rows.append(np.array(x, dtype=np.float64))
        self.times.append(float(t))
        return self._unit(k)

    def eps(self, x, t):
        """Noise-prediction view of a model call: ε̂ = (x − α_t y)/σ_t."""
        y = self.denoise(x, t)
        return (x - self.a(t) * y) / self.s(t)

    def finish(self, x, t):
        if len(self.rows) != self.N:
            raise RuntimeError(f"{len(self.rows)} model calls, expected {self.N}")
        self.rows.append(np.array(x, dtype=np.float64))
        self.times.append(float(t))
        M = np.vstack(self.rows)
        times = np.array(self.times)
        return {
            "timesteps": times,
            "alpha": np.array([self.a(t) for t in times]),
            "sigma": np.array([self.s(t) for t in times]),
            "signal": M[:, : self.N],
            "noise": M[:, self.N:],
        }


def _per_step(value, steps, name):
    v = np.atleast_1d(np.asarray(value, dtype=np.float64))
    if v.size == 1:
        return np.full(steps, float(v[0]))
    if v.size != steps:
        raise ValueError(f"{name}: {v.size} values for {steps} steps")
    return v


def _sigma2_ts(ctx, t, s):
    """σ²_{t|s} = σ_t² − (α_t/α_s)²σ_s², the forward transition variance from s to t > s."""
    sch = ctx.schedule
    if sch.vp:
        return -math.expm1(2.0 * (sch.log_alpha(t) - sch.log_alpha(s)))
    return ctx.s(t) ** 2 - (ctx.a(t) / ctx.a(s)) ** 2 * ctx.s(s) ** 2


# --------------------------------------------------------------------------------------------
# The samplers.  Shared signature: fn(ctx, steps, **options); the model is ctx.denoise/ctx.eps.
# --------------------------------------------------------------------------------------------

# DDPM ancestral sampling (Zheng & Zheng 2025, eq. 31 = Ho et al. eq. 7): x_s ~ q(x_s | x_t, x0 = y),
# the Gaussian posterior, on every step including the last one to t_N.
def ddpm(ctx, steps):
    ts = ctx.grid.times(steps)
    x = ctx.prior(ts[0])
    for i in range(steps):
        t, s = ts[i], ts[i + 1]
        y = ctx.denoise(x, t)
        v = _sigma2_ts(ctx, t, s)
        st2 = ctx.s(t) ** 2
        mean = (ctx.a(t) / ctx.a(s)) * ctx.s(s) ** 2 / st2 * x + ctx.a(s) * v / st2 * y
        x = mean + math.sqrt(v) * ctx.s(s) / ctx.s(t) * ctx.noise()
    return ctx.finish(x, ts[-1])


# DDIM (Song et al. 2021, eq. 12 with σ_η of eq. 16; Zheng & Zheng 2025, eq. 35 for η = 0):
# x_s = α_s y + √(σ_s² − σ_η²)·ε̂ + σ_η ε,  σ_η = η·(σ_s/σ_t)·σ_{t|s}.
def ddim(ctx, steps, eta=0.0):
    ts = ctx.grid.times(steps)
    x = ctx.prior(ts[0])
    for i in range(steps):
        t, s = ts[i], ts[i + 1]
        y = ctx.denoise(x, t)
        eps = (x - ctx.a(t) * y) / ctx.s(t)
        sig_eta = eta * ctx.s(s) / ctx.s(t) * math.sqrt(_sigma2_ts(ctx, t, s))
        x = ctx.a(s) * y + math.sqrt(ctx.s(s) ** 2 - sig_eta ** 2) * eps
        if eta != 0.0:
            x = x + sig_eta * ctx.noise()
    return ctx.finish(x, ts[-1])


# k-diffusion sampling.py sample_euler (s_churn = 0) in σ-space: x̃ = x/α, σ̃ = σ/α,
# d = (x̃ − denoised)/σ̃, x̃ ← x̃ + d·(σ̃_next − σ̃).  (Zheng & Zheng 2025, eq. 37 on `flow`.)
def euler(ctx, steps):
    ts = ctx.grid.times(steps)
    x = ctx.prior(ts[0])
    for i in range(steps):
        t, s = ts[i], ts[i + 1]
        y = ctx.denoise(x, t)
        xs, sg, sg_next = x / ctx.a(t), ctx.s(t) / ctx.a(t), ctx.s(s) / ctx.a(s)
        d = (xs - y) / sg
        x = ctx.a(s) * (xs + d * (sg_next - sg))
    return ctx.finish(x, ts[-1])


# k-diffusion sampling.py sample_heun (s_churn = 0), σ-space as above.  N calls use ceil(N/2)
# intervals; every interval is a Heun step (2 calls) except, for odd N, the last one, which is an
# Euler step (as k-diffusion's last step to σ = 0).
def heun(ctx, steps):
    M = (steps + 1) // 2
    ts = ctx.grid.times(M)
    x = ctx.prior(ts[0])
    for i in range(M):
        t, s = ts[i], ts[i + 1]
        sg, sg_next = ctx.s(t) / ctx.a(t), ctx.s(s) / ctx.a(s)
        xs = x / ctx.a(t)
        d = (xs - ctx.denoise(x, t)) / sg
        x2s = xs + d * (sg_next - sg)
        if steps % 2 == 1 and i == M - 1:
            x = ctx.a(s) * x2s
            continue
        d2 = (x2s - ctx.denoise(ctx.a(s) * x2s, s)) / sg_next
        x = ctx.a(s) * (xs + 0.5 * (d + d2) * (sg_next - sg))
    return ctx.finish(x, ts[-1])


# The probability-flow ODE (Song et al. 2021, eq. 13): dx/dt = f x − ½g²·score with
# score = −(x − α y)/σ² (the x0-prediction y as the score's Tweedie estimate).
def _pf_drift(ctx, x, y, t):
    sch = ctx.schedule
    return sch.f(t) * x + 0.5 * sch.g2(t) * (x - ctx.a(t) * y) / ctx.s(t) ** 2


# Euler in t on the probability-flow ODE: x_s = x_t + (s − t)·drift(x_t, t).
def pf_euler(ctx, steps):
    ts = ctx.grid.times(steps)
    x = ctx.prior(ts[0])
    for i in range(steps):
        t, s = ts[i], ts[i + 1]
        x = x + (s - t) * _pf_drift(ctx, x, ctx.denoise(x, t), t)
    return ctx.finish(x, ts[-1])


# Heun (explicit trapezoid) in t on the probability-flow ODE; N calls use ceil(N/2) intervals,
# for odd N the last one is an Euler step (the convention of `heun` above).
def pf_heun(ctx, steps):
    M = (steps + 1) // 2
    ts = ctx.grid.times(M)
    x = ctx.prior(ts[0])
    for i in range(M):
        t, s = ts[i], ts[i + 1]
        d1 = _pf_drift(ctx, x, ctx.denoise(x, t), t)
        x_pred = x + (s - t) * d1
        if steps % 2 == 1 and i == M - 1:
            x = x_pred
            continue
        d2 = _pf_drift(ctx, x_pred, ctx.denoise(x_pred, s), s)
        x = x + 0.5 * (s - t) * (d1 + d2)
    return ctx.finish(x, ts[-1])


# Euler–Maruyama on the reverse-time SDE dx = [f x − g²·score]dt + g dw̄ (Song et al. 2021,
# eq. 6), stepping back by Δ = t − s with a fresh ε every step (including the last).
def euler_maruyama(ctx, steps):
    ts = ctx.grid.times(steps)
    x = ctx.prior(ts[0])
    sch = ctx.schedule
    for i in range(steps):
        t, s = ts[i], ts[i + 1]
        dt = t - s
        y = ctx.denoise(x, t)
        score = -(x - ctx.a(t) * y) / ctx.s(t) ** 2
        x = x - dt * (sch.f(t) * x - sch.g2(t) * score) + math.sqrt(sch.g2(t) * dt) * ctx.noise()
    return ctx.finish(x, ts[-1])


def _deis_coefficients(ctx, ts, i, k):
    """tAB-DEIS weights (qsh-zh/deis th_deis multistep.get_ab_eps_coef, exact integral):
    C_j = α(t_{i+1}) ∫_{t_i}^{t_{i+1}} d(σ/α)/dτ · ℓ_j(τ) dτ, ℓ_j the Lagrange basis over
    t_i, t_{i−1}, …, t_{i−k} (j = 0 is the newest).  Substituting u = σ/α = e^{−λ}:
    C_j = α(t_{i+1}) ∫_{u_i}^{u_{i+1}} ℓ_j(τ(u)) du.  Continuous schedules: adaptive quadrature;
    ddpm-discrete: Gauss–Legendre on every integer piece (τ(u) has kinks at the integers)."""
    sch = ctx.schedule
    nodes = np.array([ts[i - j] for j in range(k + 1)])
    denom = np.array([np.prod(nodes[j] - np.delete(nodes, j)) for j in range(k + 1)])

    def ell(tau):   # all k+1 Lagrange basis values at the times tau (any shape) → (..., k+1)
        tau = np.asarray(tau, dtype=np.float64)[..., None]
        diff = tau - nodes
        out = np.empty(diff.shape)
        for j in range(k + 1):
            out[..., j] = np.prod(np.delete(diff, j, axis=-1), axis=-1) / denom[j]
        return out

    u_of = lambda t: math.exp(-sch.lam(t))
    u0, u1 = u_of(ts[i]), u_of(ts[i + 1])
    if sch.discrete:
        lo, hi = sorted((ts[i], ts[i + 1]))
        cuts = np.concatenate(([lo], np.arange(math.floor(lo) + 1, math.ceil(hi)), [hi]))
        ucuts = np.array([u_of(float(c)) for c in cuts])
        xg, wg = np.polynomial.legendre.leggauss(12)
        a, b = ucuts[:-1], ucuts[1:]               # one piece per integer interval
        uq = 0.5 * (a + b)[:, None] + 0.5 * (b - a)[:, None] * xg[None, :]
        tau = np.vectorize(lambda u: sch.t_of_lam(-math.log(u)))(uq)
        val = np.einsum("pq,pqj->j", 0.5 * (b - a)[:, None] * wg[None, :], ell(tau))
        if ts[i] > ts[i + 1]:                      # pieces were integrated from lo to hi
            val = -val
    else:
        val, _ = integrate.quad_vec(lambda u: ell(sch.t_of_lam(-math.log(u))), u0, u1,
                                    epsabs=0.0, epsrel=1e-13, limit=2000)
    return list(ctx.a(ts[i + 1]) * val)


# DEIS, tAB variant (qsh-zh/deis th_deis/sampler.py get_sampler_t_ab, ab_order default 3):
# x_{i+1} = (α_{i+1}/α_i) x_i + Σ_j C_ij ε̂_{i−j}; step i uses polynomial degree min(i, order)
# (warm-up with lower orders), no lower-order final steps.
def deis(ctx, steps, order=3):
    ts = ctx.grid.times(steps)
    x = ctx.prior(ts[0])
    hist = []
    for i in range(steps):
        hist.insert(0, ctx.eps(x, ts[i]))
        k = min(i, order)
        coef = _deis_coefficients(ctx, ts, i, k)
        x = ctx.a(ts[i + 1]) / ctx.a(ts[i]) * x + sum(c * e for c, e in zip(coef, hist))
        del hist[order:]
    return ctx.finish(x, ts[-1])


# ---- DPM-Solver / DPM-Solver++ (LuChengTHU/dpm-solver, dpm_solver_pytorch.py, solver_type
# 'dpmsolver').  `pp` selects algorithm_type 'dpmsolver++' (data prediction) vs 'dpmsolver'.
def _dpm_model(ctx, pp, x, t):
    return ctx.denoise(x, t) if pp else ctx.eps(x, t)


def _dpm_base(ctx, pp, x, s, t, m):
    """First-order part (dpm_solver_first_update): the DDIM step from s to t with model m."""
    h = ctx.lam(t) - ctx.lam(s)
    if pp:
        return ctx.s(t) / ctx.s(s) * x - ctx.a(t) * math.expm1(-h) * m
    return ctx.a(t) / ctx.a(s) * x - ctx.s(t) * math.expm1(h) * m


def _dpm_singlestep(ctx, pp, x, s, t, order, r1, r2):
    """singlestep_dpm_solver_{first,second,third}_update (solver_type 'dpmsolver')."""
    ls, lt = ctx.lam(s), ctx.lam(t)
    h = lt - ls
    m_s = _dpm_model(ctx, pp, x, s)
    if order == 1:
        return _dpm_base(ctx, pp, x, s, t, m_s)
    sg = -1.0 if pp else 1.0   # ++ works with −h, noise prediction with +h
    # scale(u): the coefficient that multiplies the model terms at time u (α_u for ++, σ_u else)
    scale = (lambda u: ctx.a(u)) if pp else (lambda u: ctx.s(u))
    s1 = ctx.t_of_lam(ls + r1 * h)
    x_s1 = _dpm_base(ctx, pp, x, s, s1, m_s)
    if order == 2:
        m_s1 = _dpm_model(ctx, pp, x_s1, s1)
        phi_1 = math.expm1(sg * h)
        return _dpm_base(ctx, pp, x, s, t, m_s) - (0.5 / r1) * scale(t) * phi_1 * (m_s1 - m_s)
    m_s1 = _dpm_model(ctx, pp, x_s1, s1)
    s2 = ctx.t_of_lam(ls + r2 * h)
    phi_22 = math.expm1(sg * r2 * h) / (r2 * h) - sg      # ++: /(r2 h) + 1 ; else − 1
    phi_2 = math.expm1(sg * h) / h - sg
    # ++ adds  (r2/r1)·α_s2·φ22·D ; dpmsolver subtracts (r2/r1)·σ_s2·φ22·D (see the reference).
    x_s2 = _dpm_base(ctx, pp, x, s, s2, m_s) - sg * (r2 / r1) * scale(s2) * phi_22 * (m_s1 - m_s)
    m_s2 = _dpm_model(ctx, pp, x_s2, s2)
    # ++ adds (1/r2)·α_t·φ2·(m_s2 − m_s); dpmsolver subtracts (1/r2)·σ_t·φ2·(m_s2 − m_s).
    return _dpm_base(ctx, pp, x, s, t, m_s) - sg * (1.0 / r2) * scale(t) * phi_2 * (m_s2 - m_s)


def _dpm_multistep(ctx, pp, x, models, times, t, order):
    """multistep_dpm_solver_{first,second,third}_update from times[-1] to t (solver_type
    'dpmsolver')."""
    m0, t0 = models[-1], times[-1]
    if order == 1:
        return _dpm_base(ctx, pp, x, t0, t, m0)
    h = ctx.lam(t) - ctx.lam(t0)
    sg = -1.0 if pp else 1.0
    scale = ctx.a(t) if pp else ctx.s(t)
    phi_1 = math.expm1(sg * h)
    m1, t1 = models[-2], times[-2]
    r0 = (ctx.lam(t0) - ctx.lam(t1)) / h
    D1_0 = (m0 - m1) / r0
    if order == 2:
        return _dpm_base(ctx, pp, x, t0, t, m0) - 0.5 * scale * phi_1 * D1_0
    m2, t2 = models[-3], times[-3]
    r1 = (ctx.lam(t1) - ctx.lam(t2)) / h
    D1_1 = (m1 - m2) / r1
    D1 = D1_0 + r0 / (r0 + r1) * (D1_0 - D1_1)
    D2 = (D1_0 - D1_1) / (r0 + r1)
    phi_2 = phi_1 / h - sg
    phi_3 = phi_2 / h - 0.5
    # ++: + α φ2 D1 − α φ3 D2 ; dpmsolver: − σ φ2 D1 − σ φ3 D2
    return _dpm_base(ctx, pp, x, t0, t, m0) - sg * scale * phi_2 * D1 - scale * phi_3 * D2


def _singlestep_orders(steps, order):
    """get_orders_and_timesteps_for_singlestep_solver: the orders and K."""
    if order == 3:
        K = steps // 3 + 1
        orders = [3] * (K - 2) + [2, 1] if steps % 3 == 0 else \
            [3] * (K - 1) + ([1] if steps % 3 == 1 else [2])
    elif order == 2:
        K = (steps + 1) // 2
        orders = [2] * K if steps % 2 == 0 else [2] * (K - 1) + [1]
    elif order == 1:
        K, orders = steps, [1] * steps
    else:
        raise ValueError("order must be 1, 2 or 3")
    return K, orders


def _dpm_sample(ctx, steps, pp, order, method, lower_order_final):
    """DPM_Solver.sample (method 'multistep' or 'singlestep'; denoise_to_zero False)."""
    if method == "multistep":
        if steps < order:
            raise ValueError("multistep needs steps >= order (the reference asserts it)")
        ts = ctx.grid.times(steps)
        x = ctx.prior(ts[0])
        times, models = [ts[0]], [_dpm_model(ctx, pp, x, ts[0])]
        for step in range(1, order):          # warm-up with lower-order multistep updates
            x = _dpm_multistep(ctx, pp, x, models, times, ts[step], step)
            times.append(ts[step])
            models.append(_dpm_model(ctx, pp, x, ts[step]))
        for step in range(order, steps + 1):
            # the code applies lower_order_final only for steps < 10
            if lower_order_final and steps < 10:
                step_order = min(order, steps + 1 - step)
            else:
                step_order = order
            x = _dpm_multistep(ctx, pp, x, models, times, ts[step], step_order)
            times = times[1:] + [ts[step]]
            if step < steps:
                models = models[1:] + [_dpm_model(ctx, pp, x, ts[step])]
        return ctx.finish(x, ts[-1])
    if method == "singlestep":
        K, orders = _singlestep_orders(steps, order)
        cum = np.cumsum([0] + orders)
        if ctx.grid.discretization == "logsnr-uniform" and ctx.grid.explicit is None:
            fine = None
            outer = ctx.grid.times(K)
        else:
            fine = ctx.grid.times(steps)
            outer = fine[cum]
        x = ctx.prior(outer[0])
        for k, o in enumerate(orders):
            s, t = outer[k], outer[k + 1]
            inner = ctx.grid.between(s, t, o)
            if inner is None:
                inner = fine[cum[k]: cum[k] + o + 1]
            lam_inner = [ctx.lam(v) for v in inner]
            h = lam_inner[-1] - lam_inner[0]
            r1 = (lam_inner[1] - lam_inner[0]) / h if o >= 2 else None
            r2 = (lam_inner[2] - lam_inner[0]) / h if o >= 3 else None
            x = _dpm_singlestep(ctx, pp, x, s, t, o, r1, r2)
        return ctx.finish(x, outer[-1])
    if method == "singlestep_fixed":
        # DPM-Solver's sample(method='singlestep_fixed'): K = steps // order steps of the full
        # order on a K-interval grid, inner points from the same discretization between the outer
        # times.  The reference drops steps % order; here it is one last step of that order.
        orders = [order] * (steps // order) + ([steps % order] if steps % order else [])
        if ctx.grid.explicit is not None:
            raise ValueError("singlestep_fixed needs a discretization")
        outer = ctx.grid.times(len(orders))
        x = ctx.prior(outer[0])
        for k, o in enumerate(orders):
            s, t = outer[k], outer[k + 1]
            lam_inner = [ctx.lam(v) for v in ctx.grid.between(s, t, o)]
            h = lam_inner[-1] - lam_inner[0]
            r1 = (lam_inner[1] - lam_inner[0]) / h if o >= 2 else None
            r2 = (lam_inner[2] - lam_inner[0]) / h if o >= 3 else None
            x = _dpm_singlestep(ctx, pp, x, s, t, o, r1, r2)
        return ctx.finish(x, outer[-1])
    raise ValueError(f"method must be singlestep, multistep or singlestep_fixed, got {method!r}")


# DPM-Solver (algorithm_type 'dpmsolver', noise prediction); sample() defaults: order 2,
# method 'multistep', lower_order_final True, solver_type 'dpmsolver'.
def dpmsolver(ctx, steps, order=2, method="multistep", lower_order_final=True):
    return _dpm_sample(ctx, steps, False, order, method, lower_order_final)


# DPM-Solver++ (algorithm_type 'dpmsolver++', data prediction); same sample() defaults.
def dpmsolver_pp(ctx, steps, order=2, method="multistep", lower_order_final=True):
    return _dpm_sample(ctx, steps, True, order, method, lower_order_final)


# UniPC (wl-zhao/UniPC uni_pc.py, multistep_uni_pc_bh_update + UniPC.sample 'multistep').
# Defaults: order 2, variant 'bh1', algorithm_type 'data_prediction' (predict x0),
# lower_order_final True (applied for every step count).  The corrector runs on every step but
# the last; the model value at the predictor's x_t is reused as the next step's model value.
def unipc(ctx, steps, order=2, variant="bh1", predict="x0", lower_order_final=True):
    if steps < order:
        raise ValueError("UniPC multistep needs steps >= order (the reference asserts it)")
    x0p = predict == "x0"
    model = (lambda x, t: ctx.denoise(x, t)) if x0p else (lambda x, t: ctx.eps(x, t))

    def update(x, models, times, t, k, use_corrector):
        t0, m0 = times[-1], models[-1]
        h = ctx.lam(t) - ctx.lam(t0)
        rks, D1s = [], []
        for i in range(1, k):
            rk = (ctx.lam(times[-(i + 1)]) - ctx.lam(t0)) / h
            rks.append(rk)
            D1s.append((models[-(i + 1)] - m0) / rk)
        rks.append(1.0)
        rks = np.array(rks)
        hh = -h if x0p else h
        h_phi_1 = math.expm1(hh)
        h_phi_k = h_phi_1 / hh - 1.0
        if variant == "bh1":
            B_h = hh
        elif variant == "bh2":
            B_h = math.expm1(hh)
        else:
            raise ValueError(f"variant must be bh1 or bh2, got {variant!r}")
        R, b, fact = [], [], 1
        for i in range(1, k + 1):
            R.append(rks ** (i - 1))
            b.append(h_phi_k * fact / B_h)
            fact *= i + 1
            h_phi_k = h_phi_k / hh - 1.0 / fact
        R, b = np.array(R), np.array(b)
        if D1s:
            rhos_p = np.array([0.5]) if k == 2 else np.linalg.solve(R[:-1, :-1], b[:-1])
        if x0p:
            x_t_ = ctx.s(t) / ctx.s(t0) * x - ctx.a(t) * h_phi_1 * m0
            scale = ctx.a(t)
        else:
            x_t_ = ctx.a(t) / ctx.a(t0) * x - ctx.s(t) * h_phi_1 * m0
            scale = ctx.s(t)
        pred_res = sum(r * d for r, d in zip(rhos_p, D1s)) if D1s else 0.0
        x_t = x_t_ - scale * B_h * pred_res
        model_t = None
        if use_corrector:
            rhos_c = np.array([0.5]) if k == 1 else np.linalg.solve(R, b)
            model_t = model(x_t, t)
            corr_res = sum(r * d for r, d in zip(rhos_c[:-1], D1s)) if D1s else 0.0
            x_t = x_t_ - scale * B_h * (corr_res + rhos_c[-1] * (model_t - m0))
        return x_t, model_t

    ts = ctx.grid.times(steps)
    x = ctx.prior(ts[0])
    times, models = [ts[0]], [model(x, ts[0])]
    for step in range(1, order):
        x, m = update(x, models, times, ts[step], step, True)
        if m is None:
            m = model(x, ts[step])
        times.append(ts[step])
        models.append(m)
    for step in range(order, steps + 1):
        k = min(order, steps + 1 - step) if lower_order_final else order
        x, m = update(x, models, times, ts[step], k, step != steps)
        times = times[1:] + [ts[step]]
        if step < steps:
            if m is None:
                m = model(x, ts[step])
            models = models[1:] + [m]
    return ctx.finish(x, ts[-1])


# The generalized backward step of docs/equations.md §5 (Corollary 1 of "Unified Perspectives on S2N Diffusion Models", sign corrected), λ = the full
# log-SNR log(α²/σ²):  x_s = (α_s/α_t)x_t − ((1+ρ²)/(1+γ))·α_s·[e^{−(1+γ)λ_t/2} − e^{−(1+γ)λ_s/2}]
# ·e^{γλ_t/2}·ε̂ + ρ·α_t·√(e^{−λ_t} − e^{−λ_s})·(α_s/α_t)^{1−δ}·(σ_s/σ_t)^δ·ε.
def generalized(ctx, steps, gamma=0.0, delta=1.0, rho=0.0):
    ts = ctx.grid.times(steps)
    g, d, r = (_per_step(v, steps, n) for v, n in ((gamma, "gamma"), (delta, "delta"), (rho, "rho")))
    x = ctx.prior(ts[0])
    for i in range(steps):
        t, s = ts[i], ts[i + 1]
        eps = ctx.eps(x, t)
        lt, ls = 2.0 * ctx.lam(t), 2.0 * ctx.lam(s)
        at, as_, st, ss = ctx.a(t), ctx.a(s), ctx.s(t), ctx.s(s)
        k = (1.0 + r[i] ** 2) / (1.0 + g[i]) * as_ * \
            (math.exp(-(1.0 + g[i]) * lt / 2.0) - math.exp(-(1.0 + g[i]) * ls / 2.0)) * \
            math.exp(g[i] * lt / 2.0)
        x = as_ / at * x - k * eps
        if r[i] != 0.0:
            x = x + r[i] * at * math.sqrt(math.exp(-lt) - math.exp(-ls)) * \
                (as_ / at) ** (1.0 - d[i]) * (ss / st) ** d[i] * ctx.noise()
    return ctx.finish(x, ts[-1])


SOLVERS = {
    "ddpm": ddpm,
    "ddim": ddim,
    "euler": euler,
    "heun": heun,
    "deis": deis,
    "dpmsolver": dpmsolver,
    "dpmsolver++": dpmsolver_pp,
    "unipc": unipc,
    "generalized": generalized,
    "pf-euler": pf_euler,
    "pf-heun": pf_heun,
    "euler-maruyama": euler_maruyama,
}


def run(solver, schedule, steps, discretization="time-uniform", t_start=None, t_end=None,
        timesteps=None, **options):
    """The matrices of `solver` with `steps` model calls: dict of numpy arrays with the keys the
    CLI prints (timesteps, alpha, sigma, signal, noise)."""
    sch = make_schedule(schedule) if isinstance(schedule, str) else schedule
    grid = Grid(sch, discretization, t_start, t_end,
                tuple(float(v) for v in timesteps) if timesteps is not None else None)
    ctx = Context(sch, grid, steps)
    return SOLVERS[solver](ctx, steps, **options)
