"""metrics_check.py: NumPy's answer to the metrics test_metrics.c computes in C.

Usage: metrics_check.py DIR. DIR holds what the test wrote: shape.txt
("trials neurons values"), pred.f32 and resp.f32 (trials x neurons, float32
little-endian), ids.i64 (trials, int64), values.f32 (values, float32, may hold
NaN). Writes DIR/expected.f64: per neuron single-trial correlation,
correlation to average, FEVE, FEV, oracle (neurons x 5), then the summary of
values: mean, median, q25, q75, min, max.
"""
import os
import sys

import numpy as np


def corr(a, b):
    """Pearson correlation, 0 when either side is constant."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if np.all(a == a[0]) or np.all(b == b[0]):
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def neuron_metrics(pred, resp, ids):
    single = corr(pred, resp)
    images, counts = np.unique(ids, return_counts=True)
    repeated = images[counts >= 2]
    if len(repeated) == 0:
        return [single, np.nan, np.nan, np.nan, np.nan]
    groups = [np.flatnonzero(ids == i) for i in repeated]
    trials = np.concatenate(groups)
    r = resp[trials].astype(np.float64)
    p = pred[trials].astype(np.float64)
    noise_var = np.mean([np.var(resp[g].astype(np.float64), ddof=1) for g in groups])
    total_var = np.var(r, ddof=1)
    mse = np.mean((p - r) ** 2)
    fev = (total_var - noise_var) / total_var if total_var > 0 else 0.0
    feve = 1 - (mse - noise_var) / (total_var - noise_var) if total_var > noise_var else np.nan
    to_average = corr([pred[g].astype(np.float64).mean() for g in groups],
                      [resp[g].astype(np.float64).mean() for g in groups])
    others = []
    for g in groups:
        x = resp[g].astype(np.float64)
        for k in range(len(g)):
            others.append(np.delete(x, k).mean())
    oracle = corr(r, others)
    return [single, to_average, feve, fev, oracle]


def main():
    folder = sys.argv[1]
    with open(os.path.join(folder, "shape.txt")) as f:
        trials, neurons, count = (int(v) for v in f.read().split())
    pred = np.fromfile(os.path.join(folder, "pred.f32"), dtype="<f4").reshape(trials, neurons)
    resp = np.fromfile(os.path.join(folder, "resp.f32"), dtype="<f4").reshape(trials, neurons)
    ids = np.fromfile(os.path.join(folder, "ids.i64"), dtype="<i8")
    values = np.fromfile(os.path.join(folder, "values.f32"), dtype="<f4").astype(np.float64)
    assert ids.shape == (trials,) and values.shape == (count,)
    out = [neuron_metrics(pred[:, n], resp[:, n], ids) for n in range(neurons)]
    out = np.array(out, dtype=np.float64).ravel()
    summary = [np.nanmean(values), np.nanmedian(values), np.nanpercentile(values, 25),
               np.nanpercentile(values, 75), np.nanmin(values), np.nanmax(values)]
    np.concatenate([out, summary]).astype("<f8").tofile(os.path.join(folder, "expected.f64"))


if __name__ == "__main__":
    main()
