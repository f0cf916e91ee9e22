#!/usr/bin/python3
"""sound_mei_twin.py: bench_sound_mei's most-exciting-sound loop in PyTorch.

The same loop as stimulus/synthesis/sound_mei.c with model/clip_ascent.c:
waveform (0.5 s at 16 kHz) → torch.stft (periodic Hann window of 400, hop
160, FFT 400, no centring: cochleagram.c's frames) / Σw → power |X|² → the
same 32 mel triangles (recomputed here from cochleagram.c's formulas, in
float64 then float32, as the C code does) → log(1e-7 + ·) → the model of an
audio session (default: protocols/demo_audio.yaml's 2 conv layers × 8
channels, kernels 7/5, 'same' padding, batch norm in eval mode, ELU,
factorized readout of 16 neurons, ELU + 1; the C model's initial weight
scales, random) → the neuron's rate → backward to the samples → clip_ascend's
step (the gradient times the ramp, normalized to the budget's RMS, times a
step of 0.05 falling linearly to 0, applied to the ramp-undone clip) and its
projection back to −30 dBFS with no sample past 0.99 (a scale; the bisection
for clamped samples runs only when a sample passes 0.99, as in C), keeping
the best clip seen.

Sound j ascends neuron j mod 16 from a start at the budget. The batched run
takes all sounds as one batch (as PyTorch naturally would); --one-at-a-time
K runs the first K sounds one after the other with batch 1 (what the C loop
does). --check DIR compares this cochleagram with the C one of the clip
bench_sound_mei --check DIR wrote, and prints the largest difference.

    /usr/bin/python3 tests/bench/sound_mei_twin.py [--sounds 100] [--steps 1000]
                     [--threads 2] [--one-at-a-time K] [--check DIR] [--json]
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_twin  # noqa: E402  (its thread setting)

RATE, SAMPLES, WINDOW, HOP, BANDS = 16000, 8000, 400, 160, 32
LOW_HZ, HIGH_HZ, EPSILON = 100.0, 7600.0, 1e-7
FRAMES = 1 + (SAMPLES - WINDOW) // HOP
RMS_DB, RAMP_MS, STEP_SIZE = -30.0, 5.0, 0.05


def mel(hz):
    return 2595.0 * math.log10(1.0 + hz / 700.0)


def mel_to_hz(m):
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


def mel_filters():
    """cochleagram.c's make_filters: bands × bins, triangles in Hz between mel points."""
    lo, hi = mel(LOW_HZ), mel(HIGH_HZ)
    edge = [mel_to_hz(lo + (hi - lo) * i / (BANDS + 1)) for i in range(BANDS + 2)]
    bins = WINDOW // 2 + 1
    f = np.zeros((BANDS, bins), dtype=np.float64)
    for b in range(BANDS):
        a, m, z = edge[b], edge[b + 1], edge[b + 2]
        for i in range(bins):
            hz = i * RATE / WINDOW
            if a < hz <= m:
                f[b, i] = (hz - a) / (m - a)
            elif m < hz < z:
                f[b, i] = (z - hz) / (z - m)
    return torch.from_numpy(f.astype(np.float32))


class Cochleagram(nn.Module):
    def __init__(self):
        super().__init__()
        n = np.arange(WINDOW)
        w = 0.5 - 0.5 * np.cos(2 * np.pi * n / WINDOW)
        self.register_buffer("window", torch.from_numpy(w.astype(np.float32)))
        self.window_sum = float(np.float32(w.sum()))
        self.register_buffer("filters", mel_filters())

    def forward(self, x):
        """(B, samples) → (B, bands, frames)."""
        X = torch.stft(x, n_fft=WINDOW, hop_length=HOP, win_length=WINDOW, window=self.window,
                       center=False, return_complex=True) / self.window_sum
        power = X.real ** 2 + X.imag ** 2  # (B, bins, frames)
        return torch.log(EPSILON + torch.matmul(self.filters, power))


class Model(nn.Module):
    """The C model (network.c) of an audio session, factorized readout."""

    def __init__(self, channels, kernels, neurons, mean, std):
        super().__init__()
        self.mean, self.std = mean, std
        layers, cin = [], 1
        for k in kernels:
            conv = nn.Conv2d(cin, channels, k, padding=k // 2, bias=True)
            nn.init.normal_(conv.weight, std=math.sqrt(2.0 / (cin * k * k)))
            nn.init.zeros_(conv.bias)
            layers += [conv, nn.BatchNorm2d(channels), nn.ELU()]
            cin = channels
        self.core = nn.Sequential(*layers)
        hw = BANDS * FRAMES
        self.mask = nn.Parameter(torch.randn(neurons, hw) / math.sqrt(hw))
        self.features = nn.Parameter(torch.randn(neurons, channels) / channels)
        self.bias = nn.Parameter(torch.zeros(neurons))

    def forward(self, images):
        x = (images.unsqueeze(1) - self.mean) / self.std
        f = self.core(x).flatten(2)  # (B, C, HW)
        pooled = torch.einsum("bcs,ns->bnc", f, self.mask)
        return F.elu((pooled * self.features).sum(2) + self.bias) + 1.0


def ramp(n, samples):
    r = np.ones(samples, dtype=np.float32)
    for i in range(n):
        w = np.float32(0.5 - 0.5 * math.cos(math.pi * i / n))
        r[i] *= w
        r[samples - 1 - i] *= w
    return torch.from_numpy(r)


def project(x, rms):
    """Each clip to `rms` with no sample past 0.99 (clip_ascent.c's project)."""
    n = x.shape[1]
    target = rms * rms * n
    s = x.double().pow(2).sum(1, keepdim=True)
    g = torch.sqrt(target / s)
    if bool(((g * x.double()).abs() > 0.99).any()):
        # clamped samples: bisection on log g for Σ min(g|x|, 0.99)² = target
        lo = g
        hi = 0.99 / x.abs().double().masked_fill(x == 0, math.inf).min(1, keepdim=True).values
        for _ in range(60):
            mid = torch.sqrt(lo * hi)
            low = (mid * x.double().abs()).clamp(max=0.99).pow(2).sum(1, keepdim=True) < target
            lo = torch.where(low, mid, lo)
            hi = torch.where(low, hi, mid)
        g = torch.sqrt(lo * hi)
    return (g * x.double()).clamp(-0.99, 0.99).float()


def ascend(cochlea, model, starts, neurons, steps):
    """clip_ascend on a batch of clips; the best clips and their values."""
    B, n = starts.shape
    rms = 10.0 ** (RMS_DB / 20)
    r = ramp(int(round(RAMP_MS * RATE / 1000)), n)
    x = project(starts * r, rms)
    best, top = x.clone(), torch.full((B,), -math.inf)
    rows = torch.arange(B)
    for step in range(steps + 1):
        z = torch.where(r > 0, x / r, torch.zeros_like(x))
        clip = x.clone().requires_grad_(True)
        values = model(cochlea(clip))[rows, neurons]
        (g,) = torch.autograd.grad(values.sum(), clip)
        with torch.no_grad():
            better = values > top
            best[better] = x[better]
            top = torch.maximum(top, values)
            if step == steps:
                break
            g = g * r
            scale = STEP_SIZE * (1.0 - step / steps) * rms / torch.sqrt(g.pow(2).mean(1, keepdim=True))
            x = project(r * (z + scale * g), rms)
    return best, top


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sounds", type=int, default=100)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--neurons", type=int, default=16)
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--kernels", default="7,5")
    parser.add_argument("--one-at-a-time", type=int, default=0, metavar="K",
                        help="also run the first K sounds one at a time (batch 1)")
    parser.add_argument("--check", metavar="DIR",
                        help="compare with bench_sound_mei --check DIR's cochleagram")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch_twin.set_threads(args.threads)
    torch.manual_seed(1)
    cochlea = Cochleagram()
    result = {"impl": "pytorch", "sounds": args.sounds, "steps": args.steps,
              "threads": args.threads, "torch_version": torch.__version__,
              "loadavg_1min_before": round(os.getloadavg()[0], 2)}
    mean, std = -9.0, 3.0
    if args.check:
        clip = torch.from_numpy(np.load(os.path.join(args.check, "clip.npy")))
        theirs = torch.from_numpy(np.load(os.path.join(args.check, "cochleagram.npy")))
        mean, std = (float(v) for v in np.load(os.path.join(args.check, "standardization.npy")))
        with torch.no_grad():
            mine = cochlea(clip.unsqueeze(0))[0]
        diff = (mine - theirs).abs()
        result["cochleagram_shape"] = list(mine.shape)
        result["cochleagram_max_abs_diff"] = float(diff.max())
        # relative to the band power: log differences are relative power differences
        result["cochleagram_range"] = [float(theirs.min()), float(theirs.max())]
    model = Model(args.channels, [int(k) for k in args.kernels.split(",")], args.neurons,
                  mean, std)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    # starts: white noise at the budget (the speed does not depend on the start)
    starts = torch.randn(args.sounds, SAMPLES)
    neurons = torch.arange(args.sounds) % args.neurons

    # torch's first calls set up threads and kernels (~1 s on the shared
    # machine): a 2-step ascent of each shape first, outside the timing
    ascend(cochlea, model, starts, neurons, 2)
    ascend(cochlea, model, starts[:1], neurons[:1], 2)
    t0, c0 = time.perf_counter(), time.process_time()
    _, top = ascend(cochlea, model, starts, neurons, args.steps)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    rate = args.sounds * args.steps / wall
    result.update({"batched_seconds": round(wall, 2), "batched_cpu_seconds": round(cpu, 2),
                   "batched_sound_steps_per_s": round(rate, 1),
                   "batched_projected_100x1000_s": round(1e5 / rate, 1),
                   "mean_predicted": round(float(top.mean()), 4)})
    k = min(args.one_at_a_time, args.sounds)
    if k > 0:
        t0, c0 = time.perf_counter(), time.process_time()
        for j in range(k):
            ascend(cochlea, model, starts[j:j + 1], neurons[j:j + 1], args.steps)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        rate = k * args.steps / wall
        result.update({"single_sounds": k, "single_seconds": round(wall, 2),
                       "single_cpu_seconds": round(cpu, 2),
                       "single_sound_steps_per_s": round(rate, 1),
                       "single_projected_100x1000_s": round(1e5 / rate, 1)})
    if args.json:
        print(json.dumps(result))
        return
    if args.check:
        print("cochleagram (torch.stft) against the C one of the same clip: %d × %d, values "
              "%.2f..%.2f, max |difference| %.2e" % (*result["cochleagram_shape"],
                                                      *result["cochleagram_range"],
                                                      result["cochleagram_max_abs_diff"]))
    print("PyTorch sound MEIs (all in one batch): %d sounds × %d steps, %d threads: %.2f s wall, "
          "%.2f s CPU, %.1f sound·steps/s; 100 × 1,000 would take %.1f s"
          % (args.sounds, args.steps, args.threads, result["batched_seconds"],
             result["batched_cpu_seconds"], result["batched_sound_steps_per_s"],
             result["batched_projected_100x1000_s"]))
    if k > 0:
        print("PyTorch sound MEIs (one at a time): %d sounds × %d steps, %d threads: %.2f s "
              "wall, %.2f s CPU, %.1f sound·steps/s (%.3f ms a step); 100 × 1,000 would take "
              "%.1f s" % (k, args.steps, args.threads, result["single_seconds"],
                          result["single_cpu_seconds"], result["single_sound_steps_per_s"],
                          1000.0 / result["single_sound_steps_per_s"],
                          result["single_projected_100x1000_s"]))


if __name__ == "__main__":
    main()
