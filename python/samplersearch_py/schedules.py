"""Noise schedules x_t = α(t)·x0 + σ(t)·ε in float64, the same as samplersearch's C++ registry.

Every schedule has α(t), σ(t), λ(t) = log(α²/σ²), its inverse t(λ), and prior_std(t), the
standard deviation of the pure-noise start x_{t_0} (1 on variance-preserving schedules, as
DPM-Solver's randn start; σ(t_0) otherwise, as k-diffusion). Names and parameters are the C++
ones, so a matrix file's ``schedule`` and ``schedule_params`` build the same schedule here.
"""

import math

__all__ = ["Schedule", "make_schedule", "SCHEDULES", "timesteps"]


def _softplus(x):
    """log(1 + e^x) without overflow."""
    return x + math.log1p(math.exp(-x)) if x > 0 else math.log1p(math.exp(x))


class Schedule:
    """α(t), σ(t), λ(t) and t(λ) of one schedule with its parameters."""

    name = ""
    defaults = {}

    def __init__(self, **params):
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            raise ValueError(
                f"schedule_params.{unknown[0]}: not a parameter of schedule '{self.name}' "
                f"(valid: {', '.join(self.defaults)})")
        self.params = {**self.defaults, **{k: float(v) for k, v in params.items()}}

    def alpha(self, t):
        raise NotImplementedError

    def sigma(self, t):
        raise NotImplementedError

    def lambda_(self, t):
        """λ(t) = log(α(t)²/σ(t)²)."""
        return 2.0 * (math.log(self.alpha(t)) - math.log(self.sigma(t)))

    def t_of_lambda(self, lam):
        raise NotImplementedError

    def t_of_sigma_ratio(self, s):
        """The time where σ(t)/α(t) = s (k-diffusion's sigma), s > 0."""
        return self.t_of_lambda(-2.0 * math.log(s))

    def prior_std(self, t):
        return self.sigma(t)

    @property
    def t_min(self):
        return self.params["t_min"]

    @property
    def t_max(self):
        return self.params["t_max"]

    discrete = False

    def __repr__(self):
        return f"make_schedule({self.name!r}, {self.params!r})"


class _Vp(Schedule):
    """Variance preserving: σ = √(1 − α²), prior std 1."""

    def log_alpha(self, t):
        raise NotImplementedError

    def alpha(self, t):
        return math.exp(self.log_alpha(t))

    def sigma(self, t):
        return math.sqrt(-math.expm1(2.0 * self.log_alpha(t)))

    def lambda_(self, t):
        la = self.log_alpha(t)
        return 2.0 * la - math.log(-math.expm1(2.0 * la))

    def prior_std(self, t):
        return 1.0

    @staticmethod
    def _log_alpha_of_lambda(lam):
        return -0.5 * _softplus(-lam)


class VpLinear(_Vp):
    """ScoreSDE VP: log α = −¼(β_max − β_min)t² − ½β_min·t (Song et al., 2021)."""

    name = "vp-linear"
    defaults = {"beta_min": 0.1, "beta_max": 20.0, "t_min": 1e-3, "t_max": 1.0}

    def log_alpha(self, t):
        b0, b1 = self.params["beta_min"], self.params["beta_max"]
        return -0.25 * (b1 - b0) * t * t - 0.5 * b0 * t

    def t_of_lambda(self, lam):
        b0, b1 = self.params["beta_min"], self.params["beta_max"]
        tmp = 2.0 * (b1 - b0) * _softplus(-lam)
        return tmp / (math.sqrt(b0 * b0 + tmp) + b0) / (b1 - b0)


class VpCosine(_Vp):
    """iDDPM cosine: α = cos((t+s)/(1+s)·π/2) / cos(s/(1+s)·π/2) (Nichol & Dhariwal, 2021)."""

    name = "vp-cosine"
    defaults = {"s": 0.008, "t_min": 1e-3, "t_max": 0.9946}

    def _log_alpha0(self):
        s = self.params["s"]
        return math.log(math.cos(s / (1.0 + s) * math.pi / 2.0))

    def log_alpha(self, t):
        s = self.params["s"]
        return math.log(math.cos((t + s) / (1.0 + s) * math.pi / 2.0)) - self._log_alpha0()

    def t_of_lambda(self, lam):
        s = self.params["s"]
        la = self._log_alpha_of_lambda(lam) + self._log_alpha0()
        return 2.0 * (1.0 + s) / math.pi * math.acos(math.exp(la)) - s


class Ve(Schedule):
    """Variance exploding: α = 1, σ = σ_min·(σ_max/σ_min)^t (Song et al., 2021)."""

    name = "ve"
    defaults = {"sigma_min": 0.01, "sigma_max": 50.0, "t_min": 1e-5, "t_max": 1.0}

    def alpha(self, t):
        return 1.0

    def sigma(self, t):
        p = self.params
        return p["sigma_min"] * (p["sigma_max"] / p["sigma_min"]) ** t

    def lambda_(self, t):
        return -2.0 * math.log(self.sigma(t))

    def t_of_lambda(self, lam):
        p = self.params
        return (-0.5 * lam - math.log(p["sigma_min"])) / math.log(p["sigma_max"] / p["sigma_min"])


class Edm(Schedule):
    """EDM: α = 1, σ = t (Karras et al., 2022)."""

    name = "edm"
    defaults = {"t_min": 0.002, "t_max": 80.0}

    def alpha(self, t):
        return 1.0

    def sigma(self, t):
        return t

    def lambda_(self, t):
        return -2.0 * math.log(t)

    def t_of_lambda(self, lam):
        return math.exp(-0.5 * lam)


class Flow(Schedule):
    """Rectified flow / FM-OT: α = 1 − t, σ = t (Liu et al., 2023; Lipman et al., 2023)."""

    name = "flow"
    defaults = {"t_min": 1e-3, "t_max": 0.999}

    def alpha(self, t):
        return 1.0 - t

    def sigma(self, t):
        return t

    def lambda_(self, t):
        return 2.0 * (math.log1p(-t) - math.log(t))

    def t_of_lambda(self, lam):
        return 1.0 / (1.0 + math.exp(0.5 * lam))


class DdpmDiscrete(_Vp):
    """DDPM's chain: ᾱ_n = Π_{j≤n}(1 − β_j), β linear (Ho et al., 2020); log α linear between
    integers (as DPM-Solver's discrete NoiseScheduleVP)."""

    name = "ddpm-discrete"
    defaults = {"beta_start": 1e-4, "beta_end": 0.02, "num_train_timesteps": 1000.0}
    discrete = True

    def __init__(self, **params):
        super().__init__(**params)
        n = self.params["num_train_timesteps"]
        if not (n >= 2 and n == int(n)):
            raise ValueError("schedule_params.num_train_timesteps: must be an integer >= 2")
        n = int(n)
        b0, b1 = self.params["beta_start"], self.params["beta_end"]
        self._log_alpha, log_abar = [], 0.0
        for i in range(n):
            log_abar += math.log1p(-(b0 + (b1 - b0) * i / (n - 1)))
            self._log_alpha.append(0.5 * log_abar)

    def log_alpha(self, t):
        last = len(self._log_alpha) - 1
        c = min(max(t, 0.0), float(last))
        i = int(min(math.floor(c), last - 1))
        w = c - i
        return (1.0 - w) * self._log_alpha[i] + w * self._log_alpha[i + 1]

    def t_of_lambda(self, lam):
        la, table = self._log_alpha_of_lambda(lam), self._log_alpha
        if la >= table[0]:
            return 0.0
        if la <= table[-1]:
            return float(len(table) - 1)
        lo, hi = 0, len(table) - 1  # table decreases: find i with table[i] >= la > table[i+1]
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if table[mid] >= la else (lo, mid)
        return lo + (la - table[lo]) / (table[lo + 1] - table[lo])

    @property
    def t_min(self):
        return 0.0

    @property
    def t_max(self):
        return float(len(self._log_alpha) - 1)


SCHEDULES = {cls.name: cls for cls in (VpLinear, VpCosine, Ve, Edm, Flow, DdpmDiscrete)}


def make_schedule(name, params=None):
    """The schedule ``name`` with ``params`` overriding its defaults (samplersearch's names)."""
    if name not in SCHEDULES:
        raise ValueError(f"schedule: unknown name '{name}' (valid: {', '.join(SCHEDULES)})")
    return SCHEDULES[name](**(params or {}))


def timesteps(discretization, schedule, n, t_start=None, t_end=None, rho=7.0):
    """t_0 > … > t_n: time-uniform, time-quadratic (DPM-Solver's), logsnr-uniform or karras
    (EDM's, uniform in (σ/α)^{1/ρ}) between t_start (default t_max) and t_end (default t_min)."""
    a = schedule.t_max if t_start is None else float(t_start)
    b = schedule.t_min if t_end is None else float(t_end)
    if discretization == "time-uniform":
        t = [a + (b - a) * i / n for i in range(n + 1)]
    elif discretization == "time-quadratic":
        t = [(math.sqrt(a) + (math.sqrt(b) - math.sqrt(a)) * i / n) ** 2 for i in range(n + 1)]
    elif discretization == "logsnr-uniform":
        l0, l1 = schedule.lambda_(a), schedule.lambda_(b)
        t = [schedule.t_of_lambda(l0 + (l1 - l0) * i / n) for i in range(n + 1)]
    elif discretization == "karras":
        s0 = math.exp(-0.5 * schedule.lambda_(a)) ** (1.0 / rho)
        s1 = math.exp(-0.5 * schedule.lambda_(b)) ** (1.0 / rho)
        t = [schedule.t_of_sigma_ratio((s0 + (s1 - s0) * i / n) ** rho) for i in range(n + 1)]
    else:
        raise ValueError(f"discretization: unknown name '{discretization}' (valid: time-uniform, "
                         "time-quadratic, logsnr-uniform, karras)")
    t[0], t[-1] = a, b
    return [float(round(v)) for v in t] if schedule.discrete else t
