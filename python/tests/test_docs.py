"""Runs the three snippets of python/README.md ("Using a searched sampler in your code") on the
paper's 5-step matrix with a Gaussian-mixture network, and checks they draw the same samples."""

import contextlib
import io
import os
import re
import shutil
import unittest

import torch

import samplersearch_py as ss
from . import support

README = os.path.join(support.SOURCE_DIR, "python", "README.md")


def snippets():
    with open(README, encoding="utf-8") as f:
        return re.findall(r"```python\n(.*?)```", f.read(), flags=re.S)


class ReadmeSnippets(unittest.TestCase):
    def test_the_snippets_run_and_agree(self):
        code = snippets()
        self.assertEqual(len(code), 3, "plain PyTorch, k-diffusion-style, diffusers-style")
        for c in code:
            self.assertLessEqual(len(c.strip().splitlines()), 12, c)
        d = support.temp_dir(self)
        shutil.copy(support.paper_path(5), os.path.join(d, "paper.npz"))
        ss.save_json(ss.load(os.path.join(d, "paper.npz")), os.path.join(d, "best.json"))
        unet = support.GaussianMixture("eps")
        x0_net, schedule = support.GaussianMixture("x0"), ss.make_schedule("vp-linear")

        def denoiser(x, sigma, **extra):  # k-diffusion's wrapper contract over the same model
            t = schedule.t_of_sigma_ratio(sigma[0].item())
            return x0_net(x * schedule.alpha(t), torch.full_like(sigma, t))

        results = []
        cwd = os.getcwd()
        os.chdir(d)
        self.addCleanup(os.chdir, cwd)
        for c in code:
            scope = {"unet": unet, "denoiser": denoiser}
            torch.manual_seed(0)
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(c, README, "exec"), scope)
            results.append(scope)
        plain, kdiff, diffusers = results
        self.assertEqual(tuple(plain["x0"].shape), (16, 3, 4))
        self.assertLess((plain["x0"] - diffusers["latents"]).abs().max().item(), 1e-12)
        # k-diffusion starts from ε·σ(t_0)/α(t_0), i.e. x_{t_0} = σ(t_0)·ε instead of 1·ε: close.
        m = plain["m"]
        kd = kdiff["samples"] * m.alphas[-1]
        self.assertLess((plain["x0"] - kd).abs().max().item(), 1e-3)


if __name__ == "__main__":
    unittest.main()
