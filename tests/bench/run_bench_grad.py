#!/usr/bin/python3
"""run_bench_grad.py: input-gradient steps/s of bench_grad (C) and of the
PyTorch twin (torch_twin.py's model and loop), alternated round by round so
that both see the same load on a shared machine; medians over the rounds,
with the 1-minute load average before each round.

    run_bench_grad.py BENCH_GRAD TORCH_TWIN [--threads N] [--rounds R]
                      [--seconds S] [--batch B]

Rows: one neuron per image (the C side scatters its receptive field) and
every neuron weighted (the C side's FFT backward); PyTorch's step costs the
same for both, so its one figure is the yardstick for both rows."""
import argparse
import importlib.util
import json
import os
import statistics
import subprocess

import torch


def load_twin(path):
    spec = importlib.util.spec_from_file_location("torch_twin", path)
    twin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(twin)
    return twin


def c_rate(exe, threads, batch, seconds, objective):
    out = subprocess.run([exe, "--threads", str(threads), "--batch", str(batch), "--seconds",
                          str(seconds), "--objective", objective],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("bench_grad")
    p.add_argument("torch_twin")
    p.add_argument("--threads", type=int, default=int(os.environ.get("THREADS", 2)))
    p.add_argument("--rounds", type=int, default=int(os.environ.get("ROUNDS", 5)))
    p.add_argument("--seconds", type=float, default=float(os.environ.get("SECONDS_PER_MEASURE", 3)))
    p.add_argument("--batch", type=int, default=int(os.environ.get("BATCH", 1)))
    a = p.parse_args()
    twin = load_twin(a.torch_twin)
    torch.set_num_threads(a.threads)
    openblas, _ = twin.openblas_library()
    if openblas is not None:
        openblas.openblas_set_num_threads(a.threads)
    torch.manual_seed(1)
    model = twin.Model()
    images = torch.rand(a.batch, 1, twin.HEIGHT, twin.WIDTH)
    one, all_, cpu_one, cpu_all, theirs, loads = [], [], [], [], [], []
    for r in range(a.rounds):
        loads.append(os.getloadavg()[0])
        o = c_rate(a.bench_grad, a.threads, a.batch, a.seconds, "one")
        d = c_rate(a.bench_grad, a.threads, a.batch, a.seconds, "all")
        t = twin.time_input_gradient(model, images, a.seconds)
        one.append(o["steps_per_s"])
        cpu_one.append(o["cpu_ms_per_step"])
        all_.append(d["steps_per_s"])
        cpu_all.append(d["cpu_ms_per_step"])
        theirs.append(t)
        print(f"round {r + 1}: load {loads[-1]:.2f}  C one-neuron {one[-1]:.1f}/s  "
              f"C all-neurons {all_[-1]:.1f}/s  PyTorch {t:.1f}/s", flush=True)
    med = statistics.median
    ratios = [x / y for x, y in zip(one, theirs)]
    ratios_all = [x / y for x, y in zip(all_, theirs)]
    print(f"\n{a.batch}-image input-gradient steps/s, {a.threads} threads, {a.rounds} rounds "
          f"(load {min(loads):.2f}..{max(loads):.2f}):")
    print(f"{'':24}{'median':>10}{'min':>10}{'max':>10}{'ratio (median of rounds)':>28}")
    print(f"{'C, one neuron/image':24}{med(one):10.1f}{min(one):10.1f}{max(one):10.1f}"
          f"{med(ratios):28.2f}")
    print(f"{'C, all neurons':24}{med(all_):10.1f}{min(all_):10.1f}{max(all_):10.1f}"
          f"{med(ratios_all):28.2f}")
    print(f"{'PyTorch':24}{med(theirs):10.1f}{min(theirs):10.1f}{max(theirs):10.1f}")
    print(f"C CPU ms/step (median): one neuron {med(cpu_one):.3f}, all neurons {med(cpu_all):.3f}")


if __name__ == "__main__":
    main()
