#!/usr/bin/env python3
"""NumPy's side of test_image_set's cross-check, run as: image_set_check.py <dir>.

Recomputes, independently of the C code, what images_resize and image_set_read
should give: the centre crop to the target's aspect, then per axis area
averaging (through the integral of the piecewise-constant source) when
shrinking, or bilinear interpolation (np.interp, pixel centres at i + 0.5) when
enlarging; NPY sets converted with uint8/255 and Rec. 709 luminance. Compares
with the c_*.npy files the C test wrote. Lines start with '#' (TAP comments).
Exit status: 0 passed, 1 a check failed, 3 no numpy.
"""
import os
import sys

try:
    import numpy as np
except ImportError:
    print("# image_set_check.py: numpy is not installed (apt install python3-numpy)")
    sys.exit(3)

failures = []


def expect(cond, what):
    print("# numpy: %s %s" % ("ok  " if cond else "FAIL", what))
    if not cond:
        failures.append(what)


def resample_axis(x, start, length, m):
    """Resample the last axis of x: window [start, start+length) to m samples."""
    n = x.shape[-1]
    step = length / m
    if step >= 1.0:
        # Integral F(t) of the piecewise-constant signal, exact at any t.
        cums = np.concatenate([np.zeros(x.shape[:-1] + (1,)), np.cumsum(x, axis=-1)], axis=-1)
        a = start + np.arange(m) * step
        b = a + step
        grid = np.arange(n + 1, dtype=np.float64)
        flat = cums.reshape(-1, n + 1)
        fa = np.stack([np.interp(a, grid, row) for row in flat])
        fb = np.stack([np.interp(b, grid, row) for row in flat])
        return ((fb - fa) / step).reshape(x.shape[:-1] + (m,))
    t = start + (np.arange(m) + 0.5) * step - 0.5
    flat = x.reshape(-1, n)
    out = np.stack([np.interp(t, np.arange(n, dtype=np.float64), row) for row in flat])
    return out.reshape(x.shape[:-1] + (m,))


def resize(img, h, w):
    sh, sw = img.shape
    if (sh, sw) == (h, w):
        return img.astype(np.float64)
    y0, ch, x0, cw = 0.0, float(sh), 0.0, float(sw)
    if sw / sh > w / h:
        cw = sh * w / h
        x0 = (sw - cw) / 2
    else:
        ch = sw * h / w
        y0 = (sh - ch) / 2
    img = img.astype(np.float64)
    tmp = resample_axis(img, x0, cw, w)            # along width
    out = resample_axis(tmp.T, y0, ch, h).T        # along height
    return out


def main():
    d = sys.argv[1]
    k = 0
    while os.path.exists(os.path.join(d, "c_src_%d.npy" % k)):
        src = np.load(os.path.join(d, "c_src_%d.npy" % k))
        dst = np.load(os.path.join(d, "c_dst_%d.npy" % k))
        ref = resize(src, dst.shape[0], dst.shape[1])
        err = np.abs(ref - dst).max()
        expect(err < 2e-5, "resize %dx%d -> %dx%d matches (max error %.2g)"
               % (src.shape[0], src.shape[1], dst.shape[0], dst.shape[1], err))
        k += 1
    expect(k >= 6, "found the resize cases (%d)" % k)

    for name in ["set_rgb_u8", "set_gray_f64"]:
        raw = np.load(os.path.join(d, name + ".npy"))
        got = np.load(os.path.join(d, "c_" + name + ".npy"))
        x = raw.astype(np.float64)
        if raw.dtype == np.uint8:
            x = x / 255.0
        if x.ndim == 4:
            x = x @ np.array([0.2126, 0.7152, 0.0722])
        ref = np.stack([resize(im, got.shape[1], got.shape[2]) for im in x])
        err = np.abs(ref - got).max()
        expect(got.shape[0] == raw.shape[0] and err < 2e-5,
               "image set %s %s read as %s (max error %.2g)" % (name, raw.shape, got.shape, err))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
