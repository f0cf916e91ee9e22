#!/usr/bin/env python3
"""NumPy's side of test_export, run as: export_check.py <export dir> <model file>.

Recomputes from an `inception export` folder, independently of the C code:
the similarity from responses.npy (z-score each neuron across images, then
Pearson correlation between images); the shuffled controls from the recorded
permutation; the Gaussian control's mean and covariance against the responses'
(within sampling error); and the manifest (parsed with json, shapes and dtypes
equal to the files', the model's SHA-256 equal to hashlib's). Lines start with
'#' (TAP comments). Exit status: 0 passed, 1 a check failed, 3 no numpy.
"""
import hashlib
import json
import os
import sys

try:
    import numpy as np
except ImportError:
    print("# export_check.py: numpy is not installed (apt install python3-numpy)")
    sys.exit(3)

failures = []


def expect(cond, what):
    print("# numpy: %s %s" % ("ok  " if cond else "FAIL", what))
    if not cond:
        failures.append(what)


def similarity(r):
    r = r.astype(np.float64)
    sd = r.std(axis=0)
    z = np.where(sd > 0, (r - r.mean(axis=0)) / np.where(sd > 0, sd, 1), 0.0)
    z = z - z.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(z, axis=1, keepdims=True)
    u = np.where(norm > 0, z / np.where(norm > 0, norm, 1), 0.0)
    return u @ u.T


def main():
    d, model_path = sys.argv[1], sys.argv[2]
    with open(os.path.join(d, "manifest.json")) as f:
        man = json.load(f)
    expect(man["format"] == "inception export 1", "manifest parses with json")
    with open(model_path, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    expect(man["model"]["sha256"] == sha, "model SHA-256 equals hashlib's")
    for name, entry in man["files"].items():
        a = np.load(os.path.join(d, name))
        expect(list(a.shape) == entry["shape"] and str(a.dtype) == entry["dtype"],
               "%s has the manifest's shape %s and dtype %s" % (name, entry["shape"],
                                                                entry["dtype"]))
    r = np.load(os.path.join(d, "responses.npy"))
    n, m = r.shape
    expect(man["images"]["count"] == n and len(man["neurons"]["ids"]) == m,
           "manifest counts %d images and %d neurons" % (n, m))

    s = np.load(os.path.join(d, "similarity.npy"))
    ref = similarity(r)
    err = np.abs(s - ref).max()
    expect(err < 2e-5, "similarity equals NumPy's z-scored Pearson (max error %.2g)" % err)
    expect(np.allclose(s, s.T, atol=1e-6), "similarity is symmetric")

    p = np.load(os.path.join(d, "permutation.npy"))
    expect(p.dtype == np.int64 and np.array_equal(np.sort(p), np.arange(n))
           and not np.array_equal(p, np.arange(n)), "permutation is a shuffle of 0..N-1")
    rs = np.load(os.path.join(d, "responses_shuffled.npy"))
    expect(np.array_equal(rs, r[p]), "responses_shuffled[i] = responses[permutation[i]]")
    ss = np.load(os.path.join(d, "similarity_shuffled.npy"))
    err = np.abs(ss - s[np.ix_(p, p)]).max()
    expect(err < 2e-5, "similarity_shuffled = S[p][:, p] (max error %.2g)" % err)
    if os.path.exists(os.path.join(d, "features.npy")):
        fe = np.load(os.path.join(d, "features.npy"))
        fs = np.load(os.path.join(d, "features_shuffled.npy"))
        expect(np.array_equal(fs, fe[p]), "features_shuffled[i] = features[permutation[i]]")

    g = np.load(os.path.join(d, "gaussian.npy")).astype(np.float64)
    r64 = r.astype(np.float64)
    mu, cov = r64.mean(axis=0), np.cov(r64, rowvar=False)
    sd = np.sqrt(np.diag(cov))
    # Sampling error of a mean: sd/sqrt(n); of a covariance entry:
    # sqrt((cov_ii cov_jj + cov_ij^2)/n). Five standard errors.
    mean_z = np.abs(g.mean(axis=0) - mu) / (sd / np.sqrt(n))
    expect(mean_z.max() < 5, "Gaussian control's mean within 5 standard errors (worst %.2f)"
           % mean_z.max())
    gcov = np.cov(g, rowvar=False)
    se = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov ** 2) / n)
    cov_z = np.abs(gcov - cov) / se
    expect(cov_z.max() < 5.5, "Gaussian control's covariance within sampling error (worst %.2f "
           "standard errors over %d entries)" % (cov_z.max(), cov.size))
    expect(not np.allclose(g[:5], r[:5]), "Gaussian control is not the responses")
    sg = np.load(os.path.join(d, "similarity_gaussian.npy"))
    err = np.abs(sg - similarity(g.astype(np.float32))).max()
    expect(err < 2e-5, "similarity_gaussian is the similarity of gaussian.npy (%.2g)" % err)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
