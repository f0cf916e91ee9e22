#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_record (tests/fuzz/corpus/record) with an
encoder of its own, independent of the C writer: whole sessions, damaged and
cut copies, and payloads with odd fields. Run: make_record_corpus.py DIR."""
import os
import struct
import sys
import zlib


def field(name, dtype, shape, data):
    return (bytes([len(name)]) + name.encode() + dtype.encode() + bytes([len(shape)])
            + struct.pack("<%dI" % len(shape), *shape) + data)


def record(rtype, seq, payload, version=1):
    head = struct.pack("<4sHHIQQ", b"IREC", version, rtype, len(payload), seq, 1000 * seq)
    body = head + payload
    return body + struct.pack("<I", zlib.crc32(body))


def session():
    out = record(1, 1, field("format_version", "q", (), struct.pack("<q", 1))
                 + field("protocol_text", "b", (12,), b"name: fuzz\n\0"))
    out += record(2, 2, field("phase", "s", (9,), b"recording") + field("event", "s", (5,), b"begin"))
    out += record(8, 3, field("trial", "q", (), struct.pack("<q", 0))
                  + field("counts", "f", (3,), struct.pack("<3f", 1, 2, 3)))
    out += record(10, 4, field("pixels", "f", (2, 2), struct.pack("<4f", 0, .5, 1, .25)))
    out += record(12, 5, field("text", "s", (2,), b"hi"))
    return out


def crafted_headers(before, size):
    """A stretch of headers, one every 12 bytes, each claiming the rest of the
    file (its CRC wrong): the case that made resynchronization quadratic."""
    out = bytearray(before)
    total = len(before) + size
    while len(out) + 32 <= total:
        out += struct.pack("<4sHHI", b"IREC", 1, 12, total - len(out) - 32)
    return bytes(out + bytes(total - len(out)))


def main(folder):
    os.makedirs(folder, exist_ok=True)
    good = session()
    damaged = bytearray(good)
    damaged[100] ^= 0xFF
    cases = {
        "session.rec": good,
        "torn.rec": good[:-7],
        "corrupt_middle.rec": bytes(damaged),
        "garbage_tail.rec": good + b"IREC" + b"\xff" * 40,
        "huge_length.rec": record(12, 1, b"")[:8] + b"\xff\xff\xff\x7f" + b"\0" * 20,
        "future_version.rec": record(12, 1, b"", version=9),
        "bad_field_shape.rec": record(12, 1, field("x", "f", (0xFFFFFFFF, 0xFFFFFFFF), b"")),
        "bad_dtype.rec": record(12, 1, field("x", "z", (1,), b"a")),
        "zero_name.rec": record(12, 1, b"\0q\0" + b"\0" * 8),
        "text_2d.rec": record(12, 1, field("t", "s", (1, 1), b"a")),
        "empty.rec": b"",
        "crafted_headers.rec": crafted_headers(good, 16384),
    }
    for name, data in cases.items():
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)


main(sys.argv[1])
