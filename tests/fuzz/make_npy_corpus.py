#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_npy into tests/fuzz/corpus/npy/: a handful of
tiny valid files (each dtype, rank and version) and invalid ones (each kind of
refusal), so the fuzzer starts near every branch. Standard library only.
Run from anywhere: python3 tests/fuzz/make_npy_corpus.py"""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "npy")


def npy(descr, shape, data, major=1, fortran="False", dict_text=None):
    """An NPY file padded as NumPy pads it (data on a 64-byte boundary)."""
    if dict_text is None:
        dims = ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "")
        dict_text = "{'descr': '%s', 'fortran_order': %s, 'shape': (%s), }" % (
            descr, fortran, dims)
    pre = 10 if major == 1 else 12
    total = (pre + len(dict_text) + 1 + 63) // 64 * 64
    header = dict_text + " " * (total - pre - len(dict_text) - 1) + "\n"
    size = struct.pack("<H" if major == 1 else "<I", len(header))
    return b"\x93NUMPY" + bytes([major, 0]) + size + header.encode("latin1") + data


def utf32(names, width):
    return b"".join(n.ljust(width, "\0").encode("utf-32-le") for n in names)


FILES = {
    # valid
    "f4_2x3.npy": npy("<f4", (2, 3), struct.pack("<6f", 0, 0.5, 1, -1, 2.5, 3)),
    "f8_0d.npy": npy("<f8", (), struct.pack("<d", 6.25)),
    "u1_5.npy": npy("|u1", (5,), bytes([0, 1, 127, 128, 255])),
    "i8_2x2.npy": npy("<i8", (2, 2), struct.pack("<4q", -1, 0, 1, 2**62)),
    "U10_tiers.npy": npy("<U10", (4,), utf32(["train", "validation", "test", "final_test"], 10)),
    "f4_0x3.npy": npy("<f4", (0, 3), b""),
    "u1_v2.npy": npy("<u1", (2, 2), bytes([1, 2, 3, 4]), major=2),
    "f4_v3.npy": npy("<f4", (1,), struct.pack("<f", 1.5), major=3),
    "f4_2x1x2_quotes.npy": npy(None, None, struct.pack("<4f", 1, 2, 3, 4), dict_text=
                               '{"shape":(2 ,1, 2,),"fortran_order" :False,"descr":"<f4"}'),
    # invalid: each refusal by name
    "bad_bigendian.npy": npy(">f4", (2,), b"\0" * 8),
    "bad_fortran.npy": npy("<f4", (2, 2), b"\0" * 16, fortran="True"),
    "bad_object.npy": npy("|O", (1,), b"\0" * 8),
    "bad_int32.npy": npy("<i4", (2,), b"\0" * 8),
    "bad_structured.npy": npy(None, None, b"\0" * 4, dict_text=
                              "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }"),
    "bad_truncated_data.npy": npy("<f8", (3,), b"\0" * 16),
    "bad_overflow.npy": npy("<f4", (2**32, 2**32), b"\0" * 4),
    "bad_negative.npy": npy("<f4", (-1,), b""),
    "bad_nine_dims.npy": npy("<f4", (1,) * 9, b"\0" * 4),
    "bad_syntax.npy": npy(None, None, b"\0" * 4, dict_text=
                          "{'descr': '<f4' 'fortran_order': False, 'shape': (1), }"),
    "bad_magic.npy": b"\x93NUMPX" + npy("<f4", (1,), b"\0" * 4)[6:],
    "bad_version.npy": b"\x93NUMPY\x04\x00" + npy("<f4", (1,), b"\0" * 4)[8:],
    "bad_short.npy": b"\x93NUMPY\x01\x00\x40",
}

if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    for name, data in FILES.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print("wrote %d files to %s" % (len(FILES), OUT))
