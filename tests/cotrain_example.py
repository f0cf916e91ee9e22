#!/usr/bin/env python3
"""Co-training with exported neural targets: a worked example, and a test.

    python3 cotrain_example.py EXPORT_DIR --labels LABELS.npy [--steps 60] [--ratio 1]

EXPORT_DIR is what `inception export --images IMAGES.npy` wrote. The example
trains a small convolutional network on two tasks at once, as Safarani et al.
(2021) did with a VGG core and monkey V1:

  * classification of IMAGES.npy (labels from LABELS.npy, cross-entropy), and
  * regression of the model's predicted responses to the same images
    (responses.npy, MSE), from a head on the shared trunk's middle layer,

with the two losses balanced by learned uncertainty weights (Kendall et al.
2018: L = sum_i exp(-s_i) L_i + s_i) and a batch ratio of neural batches per
classification batch (--ratio, 1 = Safarani's 1:1). The export is read with
the inception package (python/: `inception.export.load`, numpy only; `pip
install ./python`, or found from the source tree): the manifest says where the
images came from, in which order, how they were preprocessed, and how well
each neuron is predicted (with `--data`), so neurons can be selected
(--min-correlation).

The similarity target of Li et al. (2019) is in similarity.npy; a sketch of its
use is in docs/export.md.

As a test it checks shapes and that the neural loss on the export decreases,
and exits 1 otherwise. Lines start with '#' so its output reads as TAP
comments.
"""
import argparse
import os
import sys

import numpy as np

try:
    import inception.export
except ImportError:  # run from the source tree: the package is in ../python
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
    import inception.export


def load_export(folder, min_correlation):
    """Images and z-scored response targets, rows aligned, from an export."""
    export = inception.export.load(folder)
    manifest, responses = export.manifest, export.arrays["responses"]
    if manifest["images"]["kind"] != "npy":
        sys.exit("this example reads NPY image sets; for a folder, load the files listed in "
                 "manifest['images']['names'] in that order")
    # The network sees luminance in [0, 1], as the model did (manifest's
    # "preprocessing"); it can take its own input size, since the targets are
    # per image, not per pixel.
    x = export.images()
    keep = np.arange(responses.shape[1])
    corr = export.neuron_metric("test_correlation_to_average")
    if corr is not None and min_correlation is not None:
        keep = np.flatnonzero(corr >= min_correlation)
    y = responses[:, keep]
    y = (y - y.mean(axis=0)) / (y.std(axis=0) + 1e-6)  # each neuron weighs the same
    return manifest, x, y.astype(np.float32), keep


def build_network(torch, n_classes, n_neurons):
    nn = torch.nn

    class TwoHeaded(nn.Module):
        def __init__(self):
            super().__init__()
            self.early = nn.Sequential(nn.Conv2d(1, 16, 5, padding=2), nn.ELU(),
                                       nn.Conv2d(16, 16, 3, padding=1), nn.ELU())
            self.late = nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1),
                                      nn.ELU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
            self.classify = nn.Linear(32, n_classes)
            # The neural head reads the middle of the trunk (Safarani et al.
            # regress V1 from VGG's conv3_1).
            self.neural = nn.Sequential(nn.AdaptiveAvgPool2d((4, 4)), nn.Flatten(),
                                        nn.Linear(16 * 16, n_neurons))
            self.log_var = nn.Parameter(torch.zeros(2))  # learned loss weights

        def forward(self, x):
            mid = self.early(x)
            return self.classify(self.late(mid)), self.neural(mid)

    return TwoHeaded()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("export")
    ap.add_argument("--labels", required=True, help="NPY of int class labels, one per image")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--ratio", type=int, default=1, help="neural batches per task batch")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--min-correlation", type=float, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    import torch
    torch.manual_seed(args.seed)
    # A network this small runs fastest on one thread; raise it for real ones.
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)

    manifest, x, y, keep = load_export(args.export, args.min_correlation)
    labels = np.load(args.labels).astype(np.int64)
    n, m = y.shape
    failures = []

    def expect(cond, what):
        print("# cotrain: %s %s" % ("ok  " if cond else "FAIL", what))
        if not cond:
            failures.append(what)

    expect(x.shape[0] == n == labels.shape[0] == manifest["images"]["count"],
           "images %s, targets %s, labels %s align" % (x.shape, y.shape, labels.shape))
    expect(m == len(keep) and m > 0, "%d neurons kept of %d" % (m, len(manifest["neurons"]["ids"])))

    net = build_network(torch, int(labels.max()) + 1, m)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    xt = torch.from_numpy(x[:, None])
    yt, lt = torch.from_numpy(y), torch.from_numpy(labels)

    def neural_loss_on_export():
        with torch.no_grad():
            return float(torch.nn.functional.mse_loss(net(xt)[1], yt))

    before = neural_loss_on_export()
    for step in range(args.steps):
        task = rng.choice(n, args.batch, replace=False)
        logits, _ = net(xt[task])
        task_loss = torch.nn.functional.cross_entropy(logits, lt[task])
        neural_loss = 0.0
        for _ in range(args.ratio):
            batch = rng.choice(n, args.batch, replace=False)
            neural_loss = neural_loss + torch.nn.functional.mse_loss(net(xt[batch])[1], yt[batch])
        neural_loss = neural_loss / args.ratio
        s = net.log_var
        loss = torch.exp(-s[0]) * task_loss + s[0] + torch.exp(-s[1]) * neural_loss + s[1]
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 20 == 0 or step == args.steps - 1:
            print("# step %3d  task %.4f  neural %.4f" % (step, float(task_loss),
                                                         float(neural_loss)))
    after = neural_loss_on_export()
    with torch.no_grad():
        accuracy = float((net(xt)[0].argmax(1) == lt).float().mean())
    expect(after < 0.9 * before,
           "neural MSE on the export fell from %.4f to %.4f" % (before, after))
    print("# classification accuracy on the set: %.3f" % accuracy)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
