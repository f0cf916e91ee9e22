"""statistics_check.py: independent answers (numpy, plain enumeration) to the
statistics test_statistics.c computes in C.

Usage: statistics_check.py CASES EXPECTED. Each line of CASES is either
  "pair x1 x2 ... | y1 y2 ..."        -> "w_plus p_wilcoxon p_sign"
  "boot SEED RESAMPLES LEVEL x1 ..."  -> "mean low high"
Wilcoxon: zeros dropped, average ranks for ties; for up to 20 pairs the exact
p by enumerating all 2^n sign assignments of the ranks, above that the normal
approximation with tie-corrected variance and continuity correction. The sign
test sums binomial terms with math.comb. The bootstrap re-implements the
project's generator from its published definition (xoshiro256**, Blackman &
Vigna, seeded with four splitmix64 outputs; a uniform from the top 53 bits)
and uses numpy's linear-interpolation percentile.
"""
import itertools
import math
import sys

import numpy as np

MASK = (1 << 64) - 1


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


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return state, z ^ (z >> 31)


def rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & MASK


class Xoshiro256StarStar:
    def __init__(self, seed):
        self.s, state = [], seed
        for _ in range(4):
            state, z = splitmix64(state)
            self.s.append(z)

    def next(self):
        s = self.s
        result = (rotl((s[1] * 5) & MASK, 7) * 9) & MASK
        t = (s[1] << 17) & MASK
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def uniform(self):
        return (self.next() >> 11) * 2.0 ** -53


def bootstrap(x, seed, resamples, level):
    rng, n, means = Xoshiro256StarStar(seed), len(x), []
    for _ in range(resamples):
        total = 0.0
        for _ in range(n):
            total += x[int(rng.uniform() * n)]
        means.append(total / n)
    low, high = np.percentile(means, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    mean = float(np.mean(x))
    return mean, min(low, mean), max(high, mean)


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
