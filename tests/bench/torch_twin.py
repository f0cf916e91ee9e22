#!/usr/bin/python3
"""torch_twin.py: the reference workload of bench_model.c, built in PyTorch.

The same network (36×64 input, 3 conv layers × 32 channels with kernels
9/7/7, batch norm, ELU; Gaussian readout of 1,000 neurons; ELU + 1 output;
Poisson loss; Adam) timed on the CPU, so that bench_model's figures can be
read against a widely used framework on the same machine. Measures:
  (a) training images/s at batch 64 (forward, backward, Adam step),
  (b) input-gradient steps/s for one image in eval mode (what MEI synthesis
      does), and (c) the same for a batch of 64 images.
Each figure is the median of several timed repeats after a warm-up.

Run with Debian's interpreter, which has python3-torch:
    /usr/bin/python3 tests/bench/torch_twin.py [--threads N] [--seconds S] [--json]
"""
import argparse
import ctypes
import json
import os
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

HEIGHT, WIDTH = 36, 64
CHANNELS = 32
KERNELS = (9, 7, 7)
NEURONS = 1000
BATCH = 64
REPEATS = 5  # timed repeats per measurement; the median resists a stray hiccup


class Core(nn.Module):
    """conv → batch norm → ELU, three times, 'same' padding like the C core."""

    def __init__(self):
        super().__init__()
        layers = []
        cin = 1
        for k in KERNELS:
            layers += [nn.Conv2d(cin, CHANNELS, k, padding=k // 2, bias=True),
                       nn.BatchNorm2d(CHANNELS), nn.ELU()]
            cin = CHANNELS
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x)


class GaussianReadout(nn.Module):
    """One position per neuron in [-1,1]², read bilinearly from the feature map.

    While training, each batch item reads at mu + sigma·N(0,1) so the position
    is learned through a sampled Gaussian; in eval mode it reads at mu. The
    border padding keeps a sample that strays outside the map at the edge
    value instead of zero, as the C readout does.
    """

    def __init__(self, init_mu_range=0.5, init_sigma=0.1):
        super().__init__()
        self.mu = nn.Parameter(torch.empty(NEURONS, 2).uniform_(-init_mu_range, init_mu_range))
        self.sigma = nn.Parameter(torch.full((NEURONS, 2), init_sigma))
        self.features = nn.Parameter(torch.randn(NEURONS, CHANNELS) / CHANNELS)
        self.bias = nn.Parameter(torch.zeros(NEURONS))

    def forward(self, x):
        batch = x.shape[0]
        mu = self.mu.expand(batch, NEURONS, 2)
        if self.training:
            grid = mu + self.sigma * torch.randn_like(mu)
        else:
            grid = mu
        grid = grid.clamp(-1.0, 1.0).unsqueeze(2)  # (B, N, 1, 2): x then y
        sampled = F.grid_sample(x, grid, mode="bilinear", padding_mode="border",
                                align_corners=True)  # (B, C, N, 1)
        sampled = sampled.squeeze(3)
        return torch.einsum("bcn,nc->bn", sampled, self.features) + self.bias


class Model(nn.Module):
    def __init__(self, mean=0.5, std=0.2):
        super().__init__()
        # the C model standardizes its input; cheap, but kept for a fair twin
        self.mean, self.std = mean, std
        self.core = Core()
        self.readout = GaussianReadout()

    def forward(self, images):
        x = (images - self.mean) / self.std
        return F.elu(self.readout(self.core(x))) + 1.0


def poisson_loss(rates, responses):
    """Σ over neurons of r̂ − r·log(r̂ + ε), mean over the batch."""
    return (rates - responses * torch.log(rates + 1e-8)).sum(1).mean()


def rate_of(step, seconds, warmup=3):
    """Calls of `step` per second: median over REPEATS slices of `seconds`."""
    for _ in range(warmup):
        step()
    rates = []
    for _ in range(REPEATS):
        calls, start = 0, time.perf_counter()
        while True:
            step()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds / REPEATS:
                break
        rates.append(calls / elapsed)
    return statistics.median(rates)


def time_training(model, images, responses, seconds):
    model.train()
    for p in model.parameters():
        p.requires_grad_(True)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.005)

    def step():
        optimizer.zero_grad(set_to_none=True)
        poisson_loss(model(images), responses).backward()
        optimizer.step()

    return rate_of(step, seconds) * images.shape[0]


def time_input_gradient(model, images, seconds):
    """Gradient ascent on the images, image b ascending neuron b mod N."""
    model.eval()
    # only the image needs a gradient: parameter grads would be wasted work
    for p in model.parameters():
        p.requires_grad_(False)
    image = images.clone().requires_grad_(True)
    weights = torch.zeros(images.shape[0], NEURONS)
    weights[torch.arange(images.shape[0]), torch.arange(images.shape[0]) % NEURONS] = 1.0

    def step():
        objective = (model(image) * weights).sum()
        (grad,) = torch.autograd.grad(objective, image)
        with torch.no_grad():
            image.add_(grad, alpha=1e-3)

    return rate_of(step, seconds)


def conv_kernel_used(model, images):
    """Which ATen convolution ran (oneDNN or the slow im2col path), by profiling."""
    model.eval()
    with torch.no_grad(), torch.autograd.profiler.profile() as prof:
        model(images)
    names = {e.name for e in prof.function_events}
    for name in ("aten::mkldnn_convolution", "aten::_slow_conv2d_forward",
                 "aten::thnn_conv2d", "aten::_nnpack_spatial_convolution"):
        if name in names:
            return name.split("::")[1]
    return "unknown"


def openblas_library():
    """The OpenBLAS mapped into this process (ctypes handle, path), or (None, None).

    Debian builds torch against the generic libblas.so.3, whose alternative is
    usually OpenBLAS; /proc/self/maps tells which one was actually loaded.
    """
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "libopenblas" in line}
    except OSError:
        return None, None
    if not paths:
        return None, None
    path = sorted(paths)[0]
    lib = ctypes.CDLL(path)
    for symbol in ("openblas_get_corename", "openblas_get_config"):
        getattr(lib, symbol).restype = ctypes.c_char_p
    return lib, path


def set_threads(threads):
    """torch's threads and OpenBLAS's: (the OpenBLAS handle, its path) or (None, None).

    torch.set_num_threads does not reach OpenBLAS (it only tells MKL), and
    OpenBLAS's own workers would otherwise take every core: matched so that
    `threads` really means that many cores.
    """
    torch.set_num_threads(threads)
    lib, path = openblas_library()
    if lib is not None:
        lib.openblas_set_num_threads(threads)
    return lib, path


def blas_info(lib, path):
    info = {"build": "unknown", "library": path or "unknown", "openblas_core": None,
            "openblas_config": None}
    for part in torch.__config__.show().replace(",", "\n").splitlines():
        if "BLAS_INFO=" in part:
            info["build"] = part.split("=", 1)[1].strip()
    if lib is not None:
        info["openblas_core"] = lib.openblas_get_corename().decode()
        info["openblas_config"] = lib.openblas_get_config().decode()
    return info


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5.0,
                        help="time budget per measurement (split over %d repeats)" % REPEATS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    # (BLAS is ~1% of the time here: the convolutions run in oneDNN.)
    openblas, openblas_path = set_threads(args.threads)
    # other jobs on the machine skew the figures; the load says if they ran
    load_before = os.getloadavg()[0]
    torch.manual_seed(1)
    images = torch.rand(BATCH, 1, HEIGHT, WIDTH)
    responses = torch.poisson(torch.full((BATCH, NEURONS), 2.0))
    model = Model()

    train_ips = time_training(model, images, responses, args.seconds)
    single = time_input_gradient(model, images[:1], args.seconds)
    batch = time_input_gradient(model, images, args.seconds)
    kernel = conv_kernel_used(model, images)
    blas = blas_info(openblas, openblas_path)

    result = {
        "impl": "pytorch", "threads": args.threads,
        "train_images_per_s": round(train_ips, 1),
        "grad_steps_per_s_single": round(single, 1),
        "grad_steps_per_s_batch64": round(batch, 2),
        "grad_image_steps_per_s_batch64": round(batch * BATCH, 1),
        "torch_version": torch.__version__,
        "mkldnn": torch.backends.mkldnn.is_available(),
        "conv_kernel": kernel,
        "blas": blas["library"], "blas_build": blas["build"],
        "openblas_core": blas["openblas_core"],
        "loadavg_1min_before": round(load_before, 2),
    }
    if args.json:
        print(json.dumps(result))
        return
    print("PyTorch twin of the reference workload: %d×%d, %d layers × %d channels, "
          "kernels %s, %d neurons (Gaussian readout), %d threads"
          % (HEIGHT, WIDTH, len(KERNELS), CHANNELS, "/".join(map(str, KERNELS)), NEURONS,
             args.threads))
    print("  torch %s, oneDNN available: %s, convolution kernel: %s"
          % (torch.__version__, result["mkldnn"], kernel))
    print("  BLAS: %s (build %s), OpenBLAS core %s, config %s"
          % (blas["library"], blas["build"], blas["openblas_core"], blas["openblas_config"]))
    print("  1-minute load average before the run: %.2f on %d cores"
          % (load_before, os.cpu_count()))
    for line in torch.__config__.parallel_info().splitlines():
        if "get_num_threads" in line or "parallel backend" in line:
            print("  " + line.strip())
    print("  training (batch 64):           %8.1f images/s" % train_ips)
    print("  input gradient, 1 image:       %8.1f steps/s" % single)
    print("  input gradient, 64 images:     %8.2f steps/s   (%.1f images·steps/s)"
          % (batch, batch * BATCH))


if __name__ == "__main__":
    main()
