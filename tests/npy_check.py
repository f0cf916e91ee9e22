#!/usr/bin/env python3
"""NumPy's side of test_npy's cross-check, run as: npy_check.py <dir>.

Loads the c_*.npy files the C writer left in <dir> and checks their layout and
values against the same formulas the C test uses; then writes py_*.npy files of
its own (a version 2.0 and 3.0 file, unicode, 0-d, and kinds the C reader must
refuse) for the C test to read. Every line printed starts with '#', so it
reads as a TAP comment. Exit status: 0 passed, 1 a check failed, 3 no numpy.
"""
import os
import sys

try:
    import numpy as np
except ImportError:
    print("# npy_check.py: numpy is not installed (apt install python3-numpy)")
    sys.exit(3)

TIER_NAMES = ["train", "validation", "test", "final_test", "x"]
VALUE_I8 = -(2**40) + 5
failures = []


def expect(cond, what):
    print("# numpy: %s %s" % ("ok  " if cond else "FAIL", what))
    if not cond:
        failures.append(what)


def value_f4(n):
    return np.arange(n, dtype=np.float32) * np.float32(0.25) - np.float32(3.0)


def value_f8(n):
    return np.arange(n, dtype=np.float64) / 7.0 - 1.0


def value_u1(n):
    return ((np.arange(n) * 37) % 256).astype(np.uint8)


def check_layout(path):
    """Version 1.0, data on a 64-byte boundary, header ended by a newline."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        np.lib.format.read_array_header_1_0(f)
        start = f.tell()
        f.seek(start - 1)
        last = f.read(1)
    expect(version == (1, 0) and start % 64 == 0 and last == b"\n",
           "%s: version %s, data at %d, header ends in newline"
           % (os.path.basename(path), version, start))


def check_ours(d):
    cases = [
        ("c_f4.npy", np.dtype("<f4"), (2, 3, 4), value_f4(24).reshape(2, 3, 4)),
        ("c_f8.npy", np.dtype("<f8"), (3, 5), value_f8(15).reshape(3, 5)),
        ("c_u1.npy", np.dtype("|u1"), (7,), value_u1(7)),
        ("c_i8.npy", np.dtype("<i8"), (), np.array(VALUE_I8, dtype=np.int64)),
        ("c_empty.npy", np.dtype("<f4"), (0, 3), np.zeros((0, 3), np.float32)),
        ("c_U.npy", np.dtype("<U10"), (4,), np.array(TIER_NAMES[:4], dtype="<U10")),
    ]
    for name, dtype, shape, want in cases:
        path = os.path.join(d, name)
        try:
            a = np.load(path, allow_pickle=False)
        except Exception as e:  # a refusal is a failure to report, not a crash
            expect(False, "%s loads (%s)" % (name, e))
            continue
        expect(a.dtype == dtype and a.shape == shape and np.array_equal(a, want),
               "%s: dtype %s, shape %s, values equal" % (name, a.dtype, a.shape))
        check_layout(path)


def write_theirs(d):
    def path(name):
        return os.path.join(d, name)

    with open(path("py_v2.npy"), "wb") as f:
        np.lib.format.write_array(f, value_f8(15).reshape(3, 5), version=(2, 0))
    with open(path("py_v3.npy"), "wb") as f:
        np.lib.format.write_array(f, value_u1(7), version=(3, 0))
    np.save(path("py_f4.npy"), value_f4(24).reshape(2, 3, 4))
    np.save(path("py_i8.npy"), np.array(VALUE_I8, dtype=np.int64))
    np.save(path("py_U.npy"), np.array(TIER_NAMES))
    # Kinds the C reader must refuse by name.
    np.save(path("py_fortran.npy"), np.asfortranarray(np.arange(6, dtype="<f4").reshape(2, 3)))
    np.save(path("py_big.npy"), np.arange(3, dtype=">f4"))
    np.save(path("py_object.npy"), np.array([1, "a", None], dtype=object), allow_pickle=True)
    np.save(path("py_i4.npy"), np.arange(3, dtype="<i4"))
    np.save(path("py_bool.npy"), np.array([True, False]))
    np.save(path("py_struct.npy"), np.zeros(2, dtype=[("a", "<f4"), ("b", "<i8")]))
    expect(np.array(TIER_NAMES).dtype == np.dtype("<U10"), "tier names are <U10")


def main():
    if len(sys.argv) != 2:
        print("# usage: npy_check.py <dir>")
        return 1
    check_ours(sys.argv[1])
    write_theirs(sys.argv[1])
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
