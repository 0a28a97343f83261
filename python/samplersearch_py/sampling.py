"""Sampling with coefficient matrices: one engine and two calling conventions.

* ``sample_matrices(model, x, sigmas, ...)``: k-diffusion's convention (``model(x, sigma)`` is a
  denoiser returning x0 in the x = x0 + σ·ε scaling, ``sigmas`` are σ(t)/α(t)).
* ``sample_model(model, matrices, noise, ...)``: a network ``model(x, t)`` predicting x0, ε, v,
  the score or a flow velocity, on the schedule named in the matrix file.

Both evaluate x_k = Σ_{j<k} C[k][j]·y_j + Σ_{j≤k} B[k][j]·ε_j (Zheng & Zheng, 2025, §4), keeping
only the y_j and ε_j that a later row still uses, as samplersearch's C++ engine does.
"""

import math

import torch

__all__ = ["run_matrices", "sample_matrices", "sample_model", "to_x0", "network_time"]


def _progress(iterable, disable):
    if disable:
        return iterable
    try:
        from tqdm.auto import tqdm  # optional, as k-diffusion's trange
    except ImportError:
        return iterable
    return tqdm(iterable, disable=disable)


def run_matrices(denoise, matrices, noise, *, callback=None, disable=True):
    """x_N of the matrices. ``denoise(x_k, k)`` returns y_k = E[x0 | x_k] at t_k (the schedule's
    own scaling x = α·x0 + σ·ε); ``noise(j)`` returns ε_j (called once per used column j of B,
    in increasing j, ε_0 first); ``callback({'i': k, 'x': x_k, 'denoised': y_k})`` after each
    call. Coefficients are applied in the dtype of the tensors."""
    matrices.validate("matrices")
    c, b, n = matrices.signal, matrices.noise, matrices.steps
    y_last = [max((k for k in range(n + 1) if c[k, j] != 0.0), default=-1) for j in range(n)]
    e_last = [max((k for k in range(n + 1) if b[k, j] != 0.0), default=-1) for j in range(n + 1)]
    ys, eps = {}, {}
    x = None
    for k in _progress(range(n + 1), disable):
        terms = [(float(c[k, j]), ys[j]) for j in range(min(k, n)) if c[k, j] != 0.0]
        for j in range(k + 1):
            if b[k, j] != 0.0:
                if j not in eps:
                    eps[j] = noise(j)
                terms.append((float(b[k, j]), eps[j]))
        if not terms:
            raise ValueError(f"matrices: row {k} has no non-zero coefficient")
        x = torch.zeros_like(terms[0][1])
        for coeff, tensor in terms:
            x.add_(tensor, alpha=coeff)
        ys = {j: v for j, v in ys.items() if y_last[j] > k}
        eps = {j: v for j, v in eps.items() if e_last[j] > k}
        if k < n and y_last[k] >= 0:
            ys[k] = denoise(x, k)
            if callback is not None:
                callback({"i": k, "x": x, "denoised": ys[k]})
    return x


def sample_matrices(model, x, sigmas, extra_args=None, callback=None, disable=None, *,
                    matrices, noise_sampler=None, rtol=1e-4):
    """k-diffusion's sampler signature over coefficient matrices.

    ``x`` is the start in k-diffusion's scaling (``torch.randn(shape) * sigmas[0]``); ``sigmas``
    must be the matrices' ``matrices.sigmas()`` (σ(t_k)/α(t_k), k = 0…N, checked to ``rtol``),
    optionally followed by 0: then one more call returns the denoised output, as k-diffusion's
    samplers end. ``model(x, sigma * s_in, **extra_args)`` returns the x0-prediction;
    ``noise_sampler(sigma, sigma_next)`` gives the fresh ε_k of a stochastic matrix at step k
    (default ``torch.randn_like``); ``callback`` gets k-diffusion's dict {x, i, sigma,
    sigma_hat, denoised}. Returns x at sigmas[-1] in k-diffusion's scaling.
    """
    extra_args = {} if extra_args is None else extra_args
    n, schedule = matrices.steps, matrices.schedule
    given = [float(s) for s in sigmas]
    denoise_to_zero = len(given) == n + 2 and given[-1] == 0.0
    expected = matrices.sigmas()
    if len(given) - int(denoise_to_zero) != n + 1 or any(
            not math.isclose(g, e, rel_tol=rtol) for g, e in zip(given, expected)):
        raise ValueError(f"sigmas: these matrices were made for the {n + 1} sigmas "
                         f"{[round(s, 6) for s in expected]} (matrices.sigmas(), optionally "
                         f"followed by 0), got {[round(s, 6) for s in given]}")
    alphas = matrices.alphas
    s_in = x.new_ones([x.shape[0]])
    sigma_t = torch.as_tensor(given, dtype=x.dtype, device=x.device)
    if noise_sampler is None:
        def noise_sampler(sigma, sigma_next):
            return torch.randn_like(x)

    def denoise(xk, k):
        # Natural-scale x_k = α_k·x̃_k: k-diffusion's denoiser sees x̃_k = x_k/α_k.
        return model(xk / alphas[k], sigma_t[k] * s_in, **extra_args)

    def noise(j):
        if j == 0:  # x_0 = B[0][0]·ε_0 = α_0·x
            return x * (alphas[0] / float(matrices.noise[0, 0]))
        return noise_sampler(sigma_t[j - 1], sigma_t[j])

    def report(info):
        if callback is not None:
            k = info["i"]
            callback({"x": info["x"] / alphas[k], "i": k, "sigma": sigma_t[k],
                      "sigma_hat": sigma_t[k], "denoised": info["denoised"]})

    out = run_matrices(denoise, matrices, noise, callback=report, disable=disable)
    if denoise_to_zero:
        return model(out / alphas[n], sigma_t[n] * s_in, **extra_args)
    return out / alphas[n]


def network_time(time_input, schedule, t):
    """The number fed to a network at time t: "t", "999t", "sigma" (σ/α), "edm" (EDM's c_noise
    = ¼·ln(σ/α)) or "step" (the integer step of a discrete schedule)."""
    if time_input == "t":
        return t
    if time_input == "999t":
        return 999.0 * t
    if time_input == "sigma":
        return schedule.sigma(t) / schedule.alpha(t)
    if time_input == "edm":
        return 0.25 * math.log(schedule.sigma(t) / schedule.alpha(t))
    if time_input == "step":
        return float(round(t))
    raise ValueError(f"time_input: unknown '{time_input}' (valid: t, 999t, sigma, edm, step)")


def to_x0(prediction, output, x, alpha, sigma):
    """x0 from a network output: "x0"; "eps" x0 = (x − σε̂)/α; "score" x0 = (x + σ²s)/α;
    "v" (v = αε − σx0) x0 = (αx − σv)/(α² + σ²); "flow" (u = ε − x0, α = 1−t, σ = t) x0 = x − σu."""
    if prediction == "x0":
        return output
    if prediction == "eps":
        return (x - sigma * output) / alpha
    if prediction == "score":
        return (x + sigma * sigma * output) / alpha
    if prediction == "v":
        return (alpha * x - sigma * output) / (alpha * alpha + sigma * sigma)
    if prediction == "flow":
        return x - sigma * output
    raise ValueError(f"prediction: unknown '{prediction}' (valid: x0, eps, score, v, flow)")


def sample_model(model, matrices, noise, *, prediction="eps", time_input="t", extra_args=None,
                 generator=None, callback=None, denoise_to_zero=False, disable=True):
    """Samples with a network ``model(x, t_batch, **extra_args)`` on the matrices' schedule.

    ``noise`` is ε_0 (the start is x_0 = B[0][0]·ε_0, so for a VP file just ``torch.randn``), a
    sequence ε_0…ε_N, or a callable j → ε_j; fresh ε_j of a stochastic matrix not given are drawn
    with ``torch.randn(..., generator=generator)``. The network gets ``t_batch``, a tensor [batch]
    of ``network_time(time_input, schedule, t_k)`` in x's dtype, and its output is converted to
    x0 by ``to_x0(prediction, …)``. Returns x_N (or f(x_N, t_N) with ``denoise_to_zero``).
    """
    extra_args = {} if extra_args is None else extra_args
    schedule, times = matrices.schedule, matrices.times
    if callable(noise):
        get = noise
    elif isinstance(noise, torch.Tensor):
        first = noise

        def get(j):
            if j == 0:
                return first
            return torch.randn(first.shape, generator=generator, dtype=first.dtype,
                               device=first.device)
    else:
        given = list(noise)

        def get(j):
            return given[j]

    def predict(xk, t):
        tt = torch.full((xk.shape[0],), network_time(time_input, schedule, t), dtype=xk.dtype,
                        device=xk.device)
        return to_x0(prediction, model(xk, tt, **extra_args), xk, schedule.alpha(t),
                     schedule.sigma(t))

    out = run_matrices(lambda xk, k: predict(xk, times[k]), matrices, get, callback=callback,
                       disable=disable)
    return predict(out, times[-1]) if denoise_to_zero else out
