"""statistics_check.py: independent answers (numpy, plain enumeration) to the
statistics test_statistics.c computes in C.

Usage: statistics_check.py CASES EXPECTED. Each line of CASES is either
  "pair x1 x2 ... | y1 y2 ..."        -> "w_plus p_wilcoxon p_sign"
  "boot SEED RESAMPLES LEVEL x1 ..."  -> "mean low high"
Wilcoxon: zeros dropped, average ranks for ties; for up to 20 pairs the exact
p by enumerating all 2^n sign assignments of the ranks, above that the normal
approximation with tie-corrected variance and continuity correction. The sign
test sums binomial terms with math.comb. The bootstrap is
bootstrap_reference.py's (the generator re-implemented from its published
definition, numpy's percentile).
"""
import itertools
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bootstrap_reference import bootstrap  # noqa: E402

def average_ranks(values):
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    sorted_values = values[order]
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and sorted_values[j + 1] == sorted_values[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def wilcoxon(x, y):
    d = x - y
    d = d[d != 0]
    n = len(d)
    if n == 0:
        return 0.0, 1.0
    ranks = average_ranks(np.abs(d))
    w_plus = float(ranks[d > 0].sum())
    if n <= 20:
        sums = np.array([sum(r for r, s in zip(ranks, signs) if s)
                         for signs in itertools.product((0, 1), repeat=n)])
        low = np.mean(sums <= w_plus + 1e-9)
        high = np.mean(sums >= w_plus - 1e-9)
        return w_plus, min(1.0, 2 * min(low, high))
    _, ties = np.unique(np.abs(d), return_counts=True)
    var = n * (n + 1) * (2 * n + 1) / 24.0 - np.sum(ties ** 3 - ties) / 48.0
    z = max(abs(w_plus - n * (n + 1) / 4.0) - 0.5, 0.0) / math.sqrt(var)
    return w_plus, min(1.0, math.erfc(z / math.sqrt(2)))


def sign_test(x, y):
    pos, neg = int(np.sum(x > y)), int(np.sum(x < y))
    m, k = pos + neg, min(pos, neg)
    if m == 0:
        return 1.0
    return min(1.0, 2 * sum(math.comb(m, i) for i in range(k + 1)) / 2 ** m)


def main():
    out = []
    for line in open(sys.argv[1]):
        words = line.split()
        if words[0] == "pair":
            bar = words.index("|")
            x = np.array([float(v) for v in words[1:bar]])
            y = np.array([float(v) for v in words[bar + 1:]])
            w, p = wilcoxon(x, y)
            out.append("%.17g %.17g %.17g" % (w, p, sign_test(x, y)))
        else:
            x = [float(v) for v in words[4:]]
            out.append("%.17g %.17g %.17g" % bootstrap(x, int(words[1]), int(words[2]),
                                                      float(words[3])))
    open(sys.argv[2], "w").write("\n".join(out) + "\n")


main()
