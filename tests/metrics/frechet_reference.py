#!/usr/bin/python3
"""Reference Fréchet distances for tests/metrics/frechet_agreement_test.cpp.

Makes random feature sets, their means and unbiased covariances (numpy.cov), and the distance
exactly as pytorch-fid computes it: scipy.linalg.sqrtm of the product Σ₁Σ₂; when that square
root is not finite, sqrtm again with 1e-6 added to both diagonals; the real part is kept (an
imaginary part above 1e-3 on the diagonal is an error); FD = ‖μ₁−μ₂‖² + Tr Σ₁ + Tr Σ₂ − 2 Tr sqrtm.

usage: frechet_reference.py OUT.h5 CASE [CASE ...]
  CASE = name:d:n1:n2:seed[:flags]   flags: 'c' = some features constant in both sets (exactly
  singular covariances), 's' = the second set from the same distribution as the first.
Writes one group per case with datasets mu1, sigma1, mu2, sigma2 (float64) and attributes
fd, retried (0/1), sqrtm_seconds, and fd_varying: the same formula with sqrtm applied only to the
features that vary in both sets. A zero variance forces its whole row and column of a PSD matrix
to zero, and Tr √(Σ₁^{½}Σ₂Σ₁^{½}) = Tr √(Σ₂^{½}Σ₁Σ₂^{½}) only involves the directions where both
vary, so fd_varying is the exact distance without the offset that the retry adds; it equals fd
when no feature is constant.
"""
import sys
import time

import h5py
import numpy as np
import scipy.linalg


def pytorch_fid_distance(mu1, sigma1, mu2, sigma2, offset=1e-6):
    """FD the way pytorch-fid's calculate_frechet_distance evaluates it; returns (fd, retried)."""
    root, _ = scipy.linalg.sqrtm(sigma1 @ sigma2, disp=False)
    retried = False
    if not np.all(np.isfinite(root)):
        retried = True
        shift = offset * np.eye(sigma1.shape[0])
        root = scipy.linalg.sqrtm((sigma1 + shift) @ (sigma2 + shift))
    if np.iscomplexobj(root):
        if not np.allclose(np.diagonal(root).imag, 0.0, atol=1e-3):
            raise ValueError("imaginary component %g" % np.max(np.abs(root.imag)))
        root = root.real
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(root)), retried


def fd_on_varying_features(mu1, sigma1, mu2, sigma2):
    """pytorch-fid's formula with sqrtm restricted to the features with nonzero variance in both."""
    keep = (np.diagonal(sigma1) != 0) & (np.diagonal(sigma2) != 0)
    if keep.all():
        return None
    root = scipy.linalg.sqrtm(sigma1[np.ix_(keep, keep)] @ sigma2[np.ix_(keep, keep)])
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(root.real))


def feature_model(rng, d):
    """A random Gaussian feature model: a mean and a mixing matrix diag(s)·Qᵀ with Q orthogonal
    and a decaying spectrum s (covariance Q diag(s²) Qᵀ, condition number about 10⁴)."""
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    spectrum = np.exp(-np.arange(d) / (0.3 * d)) * rng.uniform(0.5, 1.5, d)
    return rng.standard_normal(d) * 0.5, spectrum[:, None] * q.T


def draw(rng, model, n):
    mean, mixing = model
    return rng.standard_normal((n, mixing.shape[0])) @ mixing + mean


def main():
    out, specs = sys.argv[1], sys.argv[2:]
    with h5py.File(out, "w") as f:
        for spec in specs:
            parts = spec.split(":")
            name, d, n1, n2, seed = parts[0], int(parts[1]), int(parts[2]), int(parts[3]), int(parts[4])
            flags = parts[5] if len(parts) > 5 else ""
            rng = np.random.default_rng(seed)
            model1 = feature_model(rng, d)
            model2 = model1 if "s" in flags else feature_model(rng, d)
            x1, x2 = draw(rng, model1, n1), draw(rng, model2, n2)
            if "c" in flags:
                x1[:, : d // 8] = 0.25
                x2[:, d // 16 : d // 16 + d // 8] = -1.0
            mu1, sigma1 = x1.mean(axis=0), np.cov(x1, rowvar=False)
            mu2, sigma2 = x2.mean(axis=0), np.cov(x2, rowvar=False)
            start = time.perf_counter()
            fd, retried = pytorch_fid_distance(mu1, sigma1, mu2, sigma2)
            seconds = time.perf_counter() - start
            g = f.create_group(name)
            for key, value in (("mu1", mu1), ("sigma1", sigma1), ("mu2", mu2), ("sigma2", sigma2)):
                g.create_dataset(key, data=np.asarray(value, dtype=np.float64))
            g.attrs["fd"] = fd
            g.attrs["retried"] = int(retried)
            g.attrs["sqrtm_seconds"] = seconds
            varying = fd_on_varying_features(mu1, sigma1, mu2, sigma2)
            g.attrs["fd_varying"] = fd if varying is None else varying


if __name__ == "__main__":
    main()
