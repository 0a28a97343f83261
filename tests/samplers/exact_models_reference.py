"""Independent NumPy references for the exact models (docs/equations.md §3), for test_exact_models.

Usage: exact_models_reference.py INPUT.json OUTPUT.json
INPUT holds {"task": "gmm" | "mixture_moments" | "empirical", ...}; OUTPUT gets the answer.
Everything is float64 and computed the direct way (explicit differences, scipy's logsumexp),
not the way the C++ code does it.
"""
import json
import sys

import numpy as np
from scipy.special import logsumexp


def gmm_posterior_mean(task):
    """E[x0|x_t] = sum_k r_k (mu_k + (a s_k^2 / v_k)(x - a mu_k)), r_k ∝ pi_k N(x; a mu_k, v_k I)."""
    x = np.asarray(task["x"], dtype=np.float64)  # [B, D]
    pi = np.asarray(task["weights"], dtype=np.float64)
    mu = np.asarray(task["means"], dtype=np.float64)  # [K, D]
    s = np.asarray(task["stds"], dtype=np.float64)
    a, sig = float(task["alpha"]), float(task["sigma"])
    d = x.shape[1]
    v = a * a * s * s + sig * sig
    out = np.zeros_like(x)
    for b in range(x.shape[0]):
        diff = x[b][None, :] - a * mu  # [K, D]
        log_density = -0.5 * d * np.log(2 * np.pi * v) - (diff * diff).sum(axis=1) / (2 * v)
        with np.errstate(divide="ignore"):
            log_joint = np.log(pi) + log_density
        r = np.exp(log_joint - logsumexp(log_joint))
        component_means = mu + (a * s * s / v)[:, None] * diff
        out[b] = (r[:, None] * component_means).sum(axis=0)
    return {"x0": out.tolist()}


def mixture_moments(task):
    """Mean sum_k pi_k mu_k and covariance sum_k pi_k (s_k^2 I + mu_k mu_k^T) - mu mu^T."""
    pi = np.asarray(task["weights"], dtype=np.float64)
    mu = np.asarray(task["means"], dtype=np.float64)
    s = np.asarray(task["stds"], dtype=np.float64)
    d = mu.shape[1]
    mean = (pi[:, None] * mu).sum(axis=0)
    second = sum(p * (sk * sk * np.eye(d) + np.outer(m, m)) for p, m, sk in zip(pi, mu, s))
    return {"mean": mean.tolist(), "cov": (second - np.outer(mean, mean)).tolist()}


def empirical_posterior_mean(task):
    """sum_i w_i X_i with w = softmax(-||x - a X_i||^2 / (2 sigma^2)), explicit differences."""
    x = np.asarray(task["x"], dtype=np.float64)
    data = np.asarray(task["data"], dtype=np.float64)
    a, sig = float(task["alpha"]), float(task["sigma"])
    out = np.zeros_like(x)
    for b in range(x.shape[0]):
        diff = x[b][None, :] - a * data
        logits = -(diff * diff).sum(axis=1) / (2 * sig * sig)
        w = np.exp(logits - logsumexp(logits))
        out[b] = w @ data
    return {"x0": out.tolist()}


TASKS = {
    "gmm": gmm_posterior_mean,
    "mixture_moments": mixture_moments,
    "empirical": empirical_posterior_mean,
}


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        task = json.load(f)
    answer = TASKS[task["task"]](task)
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump(answer, f)


if __name__ == "__main__":
    main()
