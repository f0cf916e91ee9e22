#!/usr/bin/python3
"""mei_twin.py: bench_mei's MEI loop in PyTorch, on torch_twin.py's model.

Per step, for a batch of one image per neuron (image b ascends neuron b·N/B):
the input gradient in eval mode, a Gaussian blur of it (σ 1.5, zero padding,
kernel radius ⌈3σ⌉), normalization by its mean absolute value, a step of 0.01,
then the constraint: mean luminance 0.5, RMS contrast ≤ 0.2, pixels in [0,1].
The C side finds clip(a + s·d) with the largest s within the budget by
bisection and Newton on the offset; here the constraint is the one-pass
version (centre, scale down to the budget, clip), cheaper in PyTorch, so the
comparison slightly favours PyTorch.

    /usr/bin/python3 tests/bench/mei_twin.py [--neurons 100] [--steps 1000] [--threads 2] [--json]
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_twin  # noqa: E402  (the same model as the model benchmark)


def blur_kernels(sigma):
    r = int(math.ceil(3 * sigma))
    x = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * x * x / sigma ** 2)
    k = k / k.sum()
    return k.view(1, 1, 1, -1), k.view(1, 1, -1, 1), r


def constrain(x, mean, contrast):
    d = x - x.mean(dim=(2, 3), keepdim=True)
    sd = d.pow(2).mean(dim=(2, 3), keepdim=True).sqrt()
    scale = torch.clamp(contrast / (sd + 1e-12), max=1.0)
    return (mean + d * scale).clamp(0.0, 1.0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, default=100)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    openblas, _ = torch_twin.openblas_library()
    if openblas is not None:
        openblas.openblas_set_num_threads(args.threads)
    torch.manual_seed(1)
    model = torch_twin.Model()
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    B, N = args.neurons, torch_twin.NEURONS
    weights = torch.zeros(B, N)
    weights[torch.arange(B), torch.arange(B) * (N // B)] = 1.0
    kx, ky, r = blur_kernels(1.5)
    x = constrain(0.5 + 0.01 * torch.randn(B, 1, torch_twin.HEIGHT, torch_twin.WIDTH), 0.5, 0.2)
    start = time.perf_counter()
    for _ in range(args.steps):
        image = x.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad((model(image) * weights).sum(), image)
        with torch.no_grad():
            g = F.conv2d(F.conv2d(grad, kx, padding=(0, r)), ky, padding=(r, 0))
            g = g / g.abs().mean(dim=(2, 3), keepdim=True).clamp_min(1e-20)
            x = constrain(x + 0.01 * g, 0.5, 0.2)
    seconds = time.perf_counter() - start
    with torch.no_grad():
        response = (model(x) * weights).sum(1).mean().item()
    result = {"impl": "pytorch", "neurons": B, "steps": args.steps, "threads": args.threads,
              "seconds": round(seconds, 2),
              "image_steps_per_s": round(B * args.steps / seconds, 1),
              "mean_response": round(response, 4), "torch_version": torch.__version__}
    if args.json:
        print(json.dumps(result))
    else:
        print("PyTorch MEIs: %d neurons × %d steps, %d threads: %.2f s (%.1f image·steps/s)"
              % (B, args.steps, args.threads, seconds, B * args.steps / seconds))


if __name__ == "__main__":
    main()
