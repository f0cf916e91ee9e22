"""bootstrap_reference.py: the percentile bootstrap of the mean that
controller/report/statistics.c computes, written here from its definitions for the
tests to check the C against (statistics_check.py, run_check.py).

The generator is the project's (model/rng.c) re-implemented from its
published definition: xoshiro256** (Blackman & Vigna), its state four
outputs of splitmix64 from the seed, a uniform from the top 53 bits of an
output; a resample's index is floor(uniform × n). The interval's bounds are
numpy's linear-interpolation percentiles of the resampled means.
"""
import numpy as np

MASK = (1 << 64) - 1

# The closed loop's evaluation intervals (controller.h,
# stats_evaluation_interval): resamples, level and the kinds the seed counts.
EVALUATION_RESAMPLES = 2000
EVALUATION_LEVEL = 0.95
# The stimulus kinds in the order of stimulus/stimulus_base.h (its index the kind).
EVALUATION_KINDS = ("mei", "best_natural", "gabor", "rf", "least", "least_natural", "natural",
                    "diverse", "masked", "surround", "surround_most", "surround_least", "tone",
                    "search", "pattern", "pattern_natural")


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
        self.s, state = [], seed & MASK
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
    """(mean, low, high) of the values x (floats, in the order given)."""
    rng, n, means = Xoshiro256StarStar(seed), len(x), []
    for _ in range(resamples):
        total = 0.0
        for _ in range(n):
            total += x[int(rng.uniform() * n)]
        means.append(total / n)
    low, high = np.percentile(means, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    mean = float(np.mean(x))
    return mean, min(low, mean), max(high, mean)


def bootstrap_statistic(n, statistic, seed, resamples, level):
    """(low, high): the percentile bootstrap of statistic(rows) over n rows
    (stats_bootstrap), each resample's n row indices drawn as bootstrap's, in
    draw order; no clamp to a point estimate."""
    rng, values = Xoshiro256StarStar(seed), []
    for _ in range(resamples):
        values.append(statistic([int(rng.uniform() * n) for _ in range(n)]))
    low, high = np.percentile(values, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return float(low), float(high)


def evaluation_interval(x, neuron, kind):
    """The interval a run records and its report shows for one target's
    responses to one closed-loop stimulus kind."""
    k = EVALUATION_KINDS.index(kind)
    # The MEI and its controls as since the first records; the kinds of
    # mei.kinds in a seed range of their own (controller.h).
    seed = neuron * 4 + k if k < 4 else (1 << 62) + neuron * 16 + k
    return bootstrap(x, seed, EVALUATION_RESAMPLES, EVALUATION_LEVEL)
