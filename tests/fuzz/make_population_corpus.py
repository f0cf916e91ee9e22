#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_population into tests/fuzz/corpus/population/:
population.npy format version 3 (version, neurons, height, width, three
fractions, seed halves, the energy-conjunction fraction;
model/simulate_file.c), version 2 (the same without the last), version 4
(four zoo fractions more), version 6 (the deep fraction, the baseline rate
and share), valid files and one of each kind of refusal, the old version 1
among them. Needs numpy.
Run with /usr/bin/python3 tests/fuzz/make_population_corpus.py"""
import os

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "population")
F32 = float(np.float32(0.3)), float(np.float32(0.2))

FILES = {
    "valid.npy": [3, 100, 36, 64, F32[0], F32[0], F32[1], 1, 0, F32[1]],
    "valid_version2.npy": [2, 100, 36, 64, F32[0], F32[0], F32[1], 1, 0],
    "no_conjunction.npy": [3, 5, 8, 8, 0.5, 0.5, 0.0, 3, 0, 0.0],
    "big_seed.npy": [3, 5, 8, 8, 0.5, 0.25, 0.25, 4294967295, 4294967295, 0.0],
    "version1.npy": [100, 36, 64, F32[0], F32[0], 1, 0],
    "version3_in_nine.npy": [3, 5, 8, 8, 0.5, 0.25, 0.0, 1, 0],
    "version4.npy": [4, 5, 8, 8, 0.5, 0.25, 0.0, 1, 0, 0.0],
    "fractional_neurons.npy": [3, 5.5, 8, 8, 0.5, 0.25, 0.0, 1, 0, 0.0],
    "fractions_over_one.npy": [3, 5, 8, 8, 0.5, 0.25, 0.0, 1, 0, 0.5],
    "fractions_over_one_v2.npy": [2, 5, 8, 8, 0.5, 0.25, 0.5, 1, 0],
    "negative_fraction.npy": [3, 5, 8, 8, 0.5, 0.25, 0.0, 1, 0, -0.1],
    "nan.npy": [3, float("nan"), 8, 8, 0.5, 0.25, 0.0, 1, 0, 0.0],
    "wrong_count.npy": [3, 5, 8, 8, 0.5],
    "valid_version4.npy": [4, 100, 36, 64, 0.1, 0.1, 0.1, 7, 0, 0.1, 0.15, 0.15, 0.15, 0.15],
    "zoo_over_one.npy": [4, 100, 36, 64, 0.1, 0.1, 0.1, 7, 0, 0.1, 0.3, 0.3, 0.3, 0.3],
    "valid_version6.npy": [6, 40, 36, 64, 0.1, 0.1, 0.1, 7, 0, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1,
                           2.0, 0.5],
    "baseline_negative.npy": [6, 40, 36, 64, 0.1, 0.1, 0.1, 7, 0, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1,
                              -1.0, 0.5],
    "baseline_share_over_one.npy": [6, 40, 36, 64, 0.1, 0.1, 0.1, 7, 0, 0.1, 0.1, 0.1, 0.1, 0.1,
                                    0.1, 2.0, 1.5],
    "baseline_nan.npy": [6, 40, 36, 64, 0.1, 0.1, 0.1, 7, 0, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1,
                         float("nan"), 0.5],
}

os.makedirs(OUT, exist_ok=True)
for old in os.listdir(OUT):
    os.remove(os.path.join(OUT, old))
for name, values in FILES.items():
    np.save(os.path.join(OUT, name), np.array(values, dtype=np.float64))
np.save(os.path.join(OUT, "float32.npy"), np.array(FILES["valid.npy"], dtype=np.float32))
