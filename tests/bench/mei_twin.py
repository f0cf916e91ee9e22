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

With --objective one-hot-mean (r[n] − mean of the others) or one-hot-softmax
(r[n] − T·log Σ_{k≠n} exp(r[k]/T), T = 1) every neuron's rate is in the
objective, as in the C synthesis (issue 16's objectives that weight every
neuron); PyTorch's backward costs the same for all three. --objective pattern:
each image ascends the Pearson correlation between the rates of a group of
256 neurons (spread over the population) and its own random target pattern,
with no blur (as the C side's mei_pattern).

    /usr/bin/python3 tests/bench/mei_twin.py [--neurons 100] [--steps 1000] [--threads 2]
                     [--objective single|one-hot-mean|one-hot-softmax] [--json]
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
    parser.add_argument("--objective", default="single",
                        choices=["single", "one-hot-mean", "one-hot-softmax", "pattern"])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch_twin.set_threads(args.threads)
    torch.manual_seed(1)
    model = torch_twin.Model()
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    B, N = args.neurons, torch_twin.NEURONS
    weights = torch.zeros(B, N)
    target = torch.arange(B) * (N // B)
    weights[torch.arange(B), target] = 1.0
    others = torch.ones(B, N, dtype=torch.bool)
    others[torch.arange(B), target] = False

    group = torch.arange(256) * (N // 256)
    targets = torch.rand(B, 256)
    targets = targets - targets.mean(1, keepdim=True)
    targets = targets / targets.norm(dim=1, keepdim=True)

    def objective(rates):
        """Per image, what it ascends (summed: the images are independent)."""
        if args.objective == "pattern":
            u = rates[:, group]
            u = u - u.mean(1, keepdim=True)
            return ((u * targets).sum(1) / u.norm(dim=1).clamp_min(1e-20)).sum()
        mine = (rates * weights).sum(1)
        if args.objective == "one-hot-mean":
            return (mine - (rates * others).sum(1) / (N - 1)).sum()
        if args.objective == "one-hot-softmax":
            return (mine - torch.logsumexp(rates.masked_fill(~others, -math.inf), 1)).sum()
        return mine.sum()
    kx, ky, r = blur_kernels(1.5)
    x = constrain(0.5 + 0.01 * torch.randn(B, 1, torch_twin.HEIGHT, torch_twin.WIDTH), 0.5, 0.2)
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(args.steps):
        image = x.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(objective(model(image)), image)
        with torch.no_grad():
            g = grad if args.objective == "pattern" else \
                F.conv2d(F.conv2d(grad, kx, padding=(0, r)), ky, padding=(r, 0))
            g = g / g.abs().mean(dim=(2, 3), keepdim=True).clamp_min(1e-20)
            x = constrain(x + 0.01 * g, 0.5, 0.2)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    with torch.no_grad():
        response = (model(x) * weights).sum(1).mean().item()
    result = {"impl": "pytorch", "neurons": B, "steps": args.steps, "threads": args.threads,
              "objective": args.objective,
              "seconds": round(seconds, 2),
              "image_steps_per_s": round(B * args.steps / seconds, 1),
              "cpu_seconds": round(cpu_seconds, 2),
              "mean_response": round(response, 4), "torch_version": torch.__version__}
    if args.json:
        print(json.dumps(result))
    else:
        print("PyTorch MEIs: %d neurons × %d steps (%s), %d threads: %.2f s (%.1f image·steps/s), "
              "CPU %.2f s" % (B, args.steps, args.objective, args.threads, seconds,
                              B * args.steps / seconds, cpu_seconds))


if __name__ == "__main__":
    main()
