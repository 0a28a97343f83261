#!/usr/bin/python3
"""Reference data for the FID Inception agreement test (and the timing side of bench_inception).

Builds pytorch-fid's "FID Inception v3" from torchvision's Inception3 with the FID block changes
(written here from the facts of pytorch-fid: average pools that do not count padded zeros in the
A, C and first E block; a max pool in the last E block's pool branch), gives it random weights
including BatchNorm running statistics calibrated so activations stay O(1) through the depth, saves
the state_dict as a .pth, converts it with scripts/convert_inception_weights --no-verify, and
computes pool3 features of a few uint8 images with pytorch-fid's preprocessing (PIL convert('RGB'),
ToTensor, bilinear resize to 299 with align_corners=False, 2x - 1).

  inception_reference.py --converter PATH --out DIR
      writes DIR/weights.pth (removed at the end unless --keep-pth), DIR/weights.h5 (through the
      converter), DIR/reference.h5
      (groups grey/ and rgb/ with `images` uint8 [N, H, W, C] and `features` float32 [N, 2048]),
      DIR/images.h5 (`images`: the RGB images, for the CLI), and broken weights files
      DIR/missing.h5, DIR/wrong_shape.h5, DIR/truncated.h5 (the first two name their bad key in
      the attribute `bad_key`), and DIR/stats.npz (pytorch-fid statistics with 4-d hand values).

  inception_reference.py --weights DIR/weights.pth --time IMAGES.h5 --threads 2 --repeats R
      prints "pytorch_nchw <images/s>" and "pytorch_channels_last <images/s>": PyTorch's own
      throughput on the same network and images (uint8 -> features, preprocessing included),
      from the median of R timed passes over all the images after one warm-up pass.
"""
import argparse
import os
import subprocess
import sys
import time

import h5py
import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from PIL import Image
from torchvision.models import inception as tv_inception
from torchvision.transforms import functional as TF


def avg_pool_tf(x):
    # TF's average pool divides by the number of real (unpadded) pixels in the window.
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class FidBlockA(tv_inception.InceptionA):
    def forward(self, x):
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(avg_pool_tf(x))
        return torch.cat([b1, b5, b3, bp], 1)


class FidBlockC(tv_inception.InceptionC):
    def forward(self, x):
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4,
                      self.branch7x7dbl_5):
            bd = layer(bd)
        bp = self.branch_pool(avg_pool_tf(x))
        return torch.cat([b1, b7, bd, bp], 1)


class FidBlockE(tv_inception.InceptionE):
    """pytorch-fid's FIDInceptionE_1 (max_pool=False) and FIDInceptionE_2 (max_pool=True)."""

    def __init__(self, in_channels, max_pool):
        super().__init__(in_channels)
        self.max_pool = max_pool

    def forward(self, x):
        b1 = self.branch1x1(x)
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        if self.max_pool:
            pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        else:
            pooled = avg_pool_tf(x)
        return torch.cat([b1, b3, bd, self.branch_pool(pooled)], 1)


def fid_inception():
    net = torchvision.models.inception_v3(weights=None, aux_logits=False, num_classes=1008,
                                          init_weights=False)
    net.Mixed_5b = FidBlockA(192, pool_features=32)
    net.Mixed_5c = FidBlockA(256, pool_features=64)
    net.Mixed_5d = FidBlockA(288, pool_features=64)
    net.Mixed_6b = FidBlockC(768, channels_7x7=128)
    net.Mixed_6c = FidBlockC(768, channels_7x7=160)
    net.Mixed_6d = FidBlockC(768, channels_7x7=160)
    net.Mixed_6e = FidBlockC(768, channels_7x7=192)
    net.Mixed_7b = FidBlockE(1280, max_pool=False)
    net.Mixed_7c = FidBlockE(2048, max_pool=True)
    return net


def resize_299(x):
    return F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)


def pool3(net, x):
    """pytorch-fid's InceptionV3 (block 3 output) on x in [0, 1], [N, 3, H, W]."""
    x = resize_299(x)
    x = 2 * x - 1
    x = net.Conv2d_2b_3x3(net.Conv2d_2a_3x3(net.Conv2d_1a_3x3(x)))
    x = F.max_pool2d(x, kernel_size=3, stride=2)
    x = net.Conv2d_4a_3x3(net.Conv2d_3b_1x1(x))
    x = F.max_pool2d(x, kernel_size=3, stride=2)
    for block in (net.Mixed_5b, net.Mixed_5c, net.Mixed_5d, net.Mixed_6a, net.Mixed_6b,
                  net.Mixed_6c, net.Mixed_6d, net.Mixed_6e, net.Mixed_7a, net.Mixed_7b,
                  net.Mixed_7c):
        x = block(x)
    return F.adaptive_avg_pool2d(x, (1, 1)).flatten(1)


def randomize(net, generator, calibration):
    """Random conv/BN parameters. Each BatchNorm's running statistics are those of its own input on
    the `calibration` batch (in eval mode, layer after layer, so upstream choices are seen),
    slightly perturbed: every BatchNorm output stays O(1) however deep."""
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
            m.weight.data = torch.randn(m.weight.shape, generator=generator) * (2.0 / fan_in) ** 0.5
        elif isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data = 0.5 + torch.rand(m.num_features, generator=generator)
            m.bias.data = 0.4 * torch.rand(m.num_features, generator=generator) - 0.2
        elif isinstance(m, torch.nn.Linear):
            m.weight.data = torch.randn(m.weight.shape, generator=generator) * 0.02
            m.bias.data.zero_()

    def calibrate(bn, inputs):
        x = inputs[0]
        n = bn.num_features
        var = x.var(dim=(0, 2, 3))
        bn.running_mean.copy_(x.mean(dim=(0, 2, 3)) + 0.05 * var.sqrt() * torch.randn(n, generator=generator))
        bn.running_var.copy_(var * (0.8 + 0.4 * torch.rand(n, generator=generator)))

    hooks = [m.register_forward_pre_hook(calibrate) for m in net.modules()
             if isinstance(m, torch.nn.BatchNorm2d)]
    net.eval()
    with torch.no_grad():
        pool3(net, calibration)
    for h in hooks:
        h.remove()


def to_unit_float(images):
    """pytorch-fid's loading: PIL image -> convert('RGB') -> ToTensor, for uint8 [N, H, W, C]."""
    tensors = []
    for img in images:
        pil = Image.fromarray(img[:, :, 0], mode="L") if img.shape[2] == 1 else Image.fromarray(img, mode="RGB")
        tensors.append(TF.to_tensor(pil.convert("RGB")))
    return torch.stack(tensors)


def test_images(rng):
    """Smooth random patterns plus noise, using the full 0..255 range."""
    def make(n, h, w, c):
        yy, xx = np.meshgrid(np.linspace(0, 1, h), np.linspace(0, 1, w), indexing="ij")
        out = np.empty((n, h, w, c), dtype=np.uint8)
        for i in range(n):
            for ch in range(c):
                f = rng.uniform(1, 6, size=2)
                wave = 0.5 + 0.5 * np.sin(2 * np.pi * (f[0] * xx + f[1] * yy) + rng.uniform(0, 6))
                v = 255 * wave + rng.normal(0, 20, size=(h, w))
                out[i, :, :, ch] = np.clip(np.rint(v), 0, 255).astype(np.uint8)
        out[0, 0, 0, :] = 0
        out[0, 0, 1, :] = 255
        return out
    return make(3, 28, 28, 1), make(3, 40, 56, 3)


def write_metadata_copy(path, specs, drop=None, reshape=None):
    """A weights file with every dataset declared but no data written (HDF5 allocates lazily)."""
    with h5py.File(path, "w") as f:
        for key, shape in specs:
            if key == drop:
                continue
            if key == reshape:
                shape = tuple(reversed(shape))
            f.create_dataset(key, shape=shape, dtype=np.float32)
        f.attrs["bad_key"] = drop or reshape


def make_reference(args):
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(20151205)
    rng = np.random.default_rng(7)
    net = fid_inception()
    # BatchNorm statistics from images like the test's (another draw), so every layer sees O(1)
    # inputs on them.
    calib_grey, calib_rgb = test_images(np.random.default_rng(11))
    randomize(net, generator, torch.cat([resize_299(to_unit_float(calib_grey[:2])),
                                         resize_299(to_unit_float(calib_rgb[:2]))]))

    os.makedirs(args.out, exist_ok=True)
    pth = os.path.join(args.out, "weights.pth")
    h5 = os.path.join(args.out, "weights.h5")
    torch.save(net.state_dict(), pth)  # includes num_batches_tracked and fc.*, as the real file may
    subprocess.run([sys.executable, args.converter, "--no-verify", pth, h5], check=True,
                   stdout=subprocess.DEVNULL)

    grey, rgb = test_images(rng)
    with torch.no_grad(), h5py.File(os.path.join(args.out, "reference.h5"), "w") as f:
        for name, images in (("grey", grey), ("rgb", rgb)):
            feats = pool3(net, to_unit_float(images)).numpy().astype(np.float32)
            g = f.create_group(name)
            g.create_dataset("images", data=images)
            g.create_dataset("features", data=feats)
    with h5py.File(os.path.join(args.out, "images.h5"), "w") as f:
        f.create_dataset("images", data=rgb)

    specs = [(k, tuple(v.shape)) for k, v in net.state_dict().items()
             if not k.endswith("num_batches_tracked") and not k.startswith("fc.")]
    write_metadata_copy(os.path.join(args.out, "missing.h5"), specs,
                        drop="Mixed_6c.branch7x7dbl_3.bn.running_var")
    write_metadata_copy(os.path.join(args.out, "wrong_shape.h5"), specs,
                        reshape="Mixed_7b.branch3x3_2a.conv.weight")
    # pytorch-fid statistics for the --npz-stats conversion (float32 here; the .h5 gets float64):
    # mu_i = i/2, sigma_ij = (i+1)(j+1)/4 + [i == j].
    idx = np.arange(4)
    np.savez(os.path.join(args.out, "stats.npz"), mu=(idx / 2).astype(np.float32),
             sigma=(np.outer(idx + 1, idx + 1) / 4 + np.eye(4)).astype(np.float32))
    truncated = os.path.join(args.out, "truncated.h5")
    with open(h5, "rb") as src, open(truncated, "wb") as dst:
        dst.write(src.read(4 << 20))  # an interrupted copy: the first 4 MiB
    if not args.keep_pth:
        os.remove(pth)


def time_pytorch(args):
    torch.set_num_threads(args.threads)
    net = fid_inception()
    net.load_state_dict(torch.load(args.weights, map_location="cpu", weights_only=True))
    net.eval()
    with h5py.File(args.time, "r") as f:
        images = torch.from_numpy(f["images"][()])
    for label, memory_format in (("pytorch_nchw", torch.contiguous_format),
                                 ("pytorch_channels_last", torch.channels_last)):
        net = net.to(memory_format=memory_format)

        def run():
            x = images.permute(0, 3, 1, 2).float().div(255)
            if x.shape[1] == 1:
                x = x.repeat(1, 3, 1, 1)
            return pool3(net, x.contiguous(memory_format=memory_format))

        with torch.inference_mode():
            run()  # warm-up
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                run()
                times.append(time.perf_counter() - start)
        median = sorted(times)[len(times) // 2]
        print(f"{label} {images.shape[0] / median:.3f}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--converter", help="path of scripts/convert_inception_weights")
    parser.add_argument("--out", help="directory for the reference files")
    parser.add_argument("--weights", help="a weights.pth written by this script (timing mode)")
    parser.add_argument("--time", help="an images.h5 to time PyTorch on (timing mode)")
    parser.add_argument("--keep-pth", action="store_true", help="keep DIR/weights.pth")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.time:
        time_pytorch(args)
    elif args.converter and args.out:
        make_reference(args)
    else:
        parser.error("give --converter and --out, or --weights and --time")


if __name__ == "__main__":
    main()
