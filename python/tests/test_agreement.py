"""The Python samplers against samplersearch's C++ engine: the same matrix files (made by the C++
code), the same TorchScript Gaussian mixture in float64 and the same noise (the C++ side writes
every ε_j it used), for a searched matrix, a classic one and a (γ, δ, ρ) one. Also the Python
schedules against the C++ ones."""

import json
import os
import unittest

import h5py
import torch

import samplersearch_py as ss
from . import support

TOLERANCE = 1e-6  # max |Python − C++| over all samples; both in float64
CASES = [("searched.json", "eps"), ("classic.h5", "x0"), ("gdr.npz", "eps")]


class AgreementWithTheCppEngine(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = support.temp_dir(cls)
        cls.models = {p: support.scripted(p, os.path.join(cls.dir, p + ".pt"))
                      for p in ("x0", "eps")}
        support.engine_reference(cls.dir)  # the matrix files, their samples, schedules.json
        cls.reference = {}
        for name, prediction in CASES:
            with h5py.File(os.path.join(cls.dir, name + ".samples.h5"), "r") as f:
                cls.reference[name] = (torch.from_numpy(f["samples"][()]),
                                       torch.from_numpy(f["noise"][()]))

    def matrices(self, name):
        return ss.load(os.path.join(self.dir, name))

    def assert_close(self, got, want, what):
        err = (got - want).abs().max().item()
        self.assertLessEqual(err, TOLERANCE, f"{what}: max |Python − C++| = {err:.3g}")

    def test_the_three_kinds_are_what_they_claim(self):
        searched, classic, gdr = (self.matrices(n) for n, _ in CASES)
        self.assertFalse(searched.deterministic())
        self.assertEqual(searched.options["times"], "free")
        self.assertEqual(classic.solver, "dpmsolver++")
        self.assertTrue(classic.deterministic())
        self.assertFalse(gdr.deterministic())
        self.assertEqual(gdr.options["past_epsilon_coeff_columns"], 7)  # N×(N+1): uses ε_N
        # The grids are the C++ discretizations: time-quadratic exactly, logsnr-uniform via t(λ).
        vp = ss.make_schedule("vp-linear")
        self.assertEqual(classic.times, ss.timesteps("time-quadratic", vp, 6, 1.0, 1e-3))
        for a, b in zip(gdr.times, ss.timesteps("logsnr-uniform", vp, 6, 1.0, 1e-3)):
            self.assertAlmostEqual(a, b, delta=1e-12)

    def test_model_sampler(self):
        for name, prediction in CASES:
            samples, noise = self.reference[name]
            out = ss.sample_model(self.models[prediction], self.matrices(name), list(noise),
                                  prediction=prediction)
            self.assert_close(out, samples, f"sample_model {name}")

    def test_kdiffusion_sampler(self):
        for name, prediction in CASES:
            samples, noise = self.reference[name]
            m = self.matrices(name)
            net, schedule = self.models["x0"], m.schedule
            sigmas = torch.tensor(m.sigmas(), dtype=torch.float64)

            def denoiser(x, sigma):  # k-diffusion's contract: x = x0 + σ·ε in, x0 out
                t = schedule.t_of_sigma_ratio(sigma[0].item())
                return net(x * schedule.alpha(t), torch.full_like(sigma, t))

            def noise_sampler(sigma, sigma_next):
                return noise[m.sigmas().index(float(sigma_next))]

            x = noise[0] * float(m.noise[0, 0]) / m.alphas[0]
            seen = []
            out = ss.sample_matrices(denoiser, x, sigmas, callback=seen.append, disable=True,
                                     matrices=m, noise_sampler=noise_sampler)
            self.assert_close(out * m.alphas[-1], samples, f"sample_matrices {name}")
            self.assertEqual([s["i"] for s in seen], list(range(m.steps)))
            # A final 0 adds k-diffusion's last denoising call.
            last = ss.sample_matrices(denoiser, x, torch.cat([sigmas, sigmas.new_zeros(1)]),
                                      matrices=m, noise_sampler=noise_sampler)
            x0 = net(samples, torch.full((samples.shape[0],), m.times[-1], dtype=torch.float64))
            self.assert_close(last, x0, f"sample_matrices to 0 {name}")

    def test_scheduler(self):
        for name, prediction in CASES:
            samples, noise = self.reference[name]
            scheduler = ss.MatrixScheduler.from_file(
                os.path.join(self.dir, name),
                prediction_type={"eps": "epsilon", "x0": "sample"}[prediction])
            scheduler.set_timesteps(len(scheduler))
            latents = noise[0] * scheduler.init_noise_sigma
            for k, t in enumerate(scheduler.timesteps):
                model_input = scheduler.scale_model_input(latents, t)
                output = self.models[prediction](model_input, t.expand(latents.shape[0]))
                latents = scheduler.step(output, t, latents, variance_noise=noise[k + 1]).prev_sample
            self.assert_close(latents, samples, f"MatrixScheduler {name}")

    def test_schedules_equal_the_cpp_ones(self):
        with open(os.path.join(self.dir, "schedules.json")) as f:
            reference = json.load(f)
        self.assertEqual(sorted(reference), sorted(ss.SCHEDULES))
        for name, entry in reference.items():
            s = ss.make_schedule(name)
            self.assertEqual({k: float(v) for k, v in entry["params"].items()}, s.params)
            for row in entry["values"]:
                t = row["t"]
                for key, value in (("alpha", s.alpha(t)), ("sigma", s.sigma(t)),
                                   ("lambda", s.lambda_(t)), ("prior_std", s.prior_std(t)),
                                   ("t_of_lambda", s.t_of_lambda(row["lambda"]))):
                    self.assertAlmostEqual(value, row[key], delta=1e-12 * max(1.0, abs(row[key])),
                                           msg=f"{name} {key}({t})")


if __name__ == "__main__":
    unittest.main()
