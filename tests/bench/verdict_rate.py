#!/usr/bin/env python3
"""How often two 95% percentile-bootstrap intervals of the mean lie apart in a
given direction when both stimuli drive the cell equally (Poisson counts of
the same mean): the rate at which "the MEI beats the control" is claimed by
chance (stats_interval_verdict on stats_evaluation_interval's intervals,
2,000 resamples). Written from the method's definition with numpy, not from
the C code. docs/controls.md gives the figures; run_check.py bounds the
disagreements of its sessions with them.

Usage: verdict_rate.py [SESSIONS]   (default 3000 per cell of the table)"""
import sys

import numpy as np

rng = np.random.default_rng(1)
RESAMPLES = 2000


def interval(x):
    idx = rng.integers(0, len(x), size=(RESAMPLES, len(x)))
    means = np.sort(x[idx].mean(axis=1))
    low, high = np.quantile(means, 0.025), np.quantile(means, 0.975)
    return min(low, x.mean()), max(high, x.mean())


sessions = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
print("mean count  repeats  false 'beats' (%)")
for lam in (3.0, 10.0):
    for n in (3, 4, 5, 6, 8, 12):
        hits = 0
        for _ in range(sessions):
            a = rng.poisson(lam, n).astype(float)
            b = rng.poisson(lam, n).astype(float)
            hits += interval(a)[0] > interval(b)[1]
        print("%10.1f  %7d  %6.2f" % (lam, n, 100.0 * hits / sessions))
