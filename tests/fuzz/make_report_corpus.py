"""make_report_corpus.py: seed sessions for fuzz_report, written with struct
and zlib alone (independent of the C writer; format in controller/RECORD.md).

Usage: make_report_corpus.py OUT_DIR. Writes a small whole session
(session.rec) and one with hostile values (wild.rec): NaN and huge numbers,
markup in text, flips running backwards, targets beyond the counts.
"""
import math
import os
import struct
import sys
import zlib

TYPES = {"session_start": 1, "phase": 2, "schedule": 3, "flip": 4, "stream": 5,
         "alignment": 7, "trial": 8, "stimulus": 10, "evaluation": 11, "note": 12,
         "model_metrics": 13}


def field(name, dtype, value, shape=None):
    raw = name.encode()
    if dtype in "sb":
        data = value.encode() if dtype == "s" else value
        shape = (len(data),)
    elif shape is None:
        shape, data = (), struct.pack("<" + dtype, value)
    else:
        data = struct.pack("<%d%s" % (len(value), dtype), *value)
    return (bytes([len(raw)]) + raw + dtype.encode() + bytes([len(shape)]) +
            struct.pack("<%dI" % len(shape), *shape) + data)


class Writer:
    def __init__(self):
        self.out, self.sequence, self.time = bytearray(), 0, 10 ** 9

    def record(self, kind, *fields, dt=1000000):
        self.sequence += 1
        self.time += dt
        payload = b"".join(fields)
        header = struct.pack("<4sHHIQQ", b"IREC", 1, TYPES[kind], len(payload),
                             self.sequence, self.time)
        body = header + payload
        self.out += body + struct.pack("<I", zlib.crc32(body))


def session(w, wild):
    bad = float("nan") if wild else 0.0
    w.record("session_start", field("format_version", "q", 1),
             field("protocol_name", "s", "<seed>" if wild else "seed"),
             field("unix_ns", "Q", 1700000000 * 10 ** 9), field("protocol_text", "b", b"x"))
    w.record("phase", field("phase", "s", "closed_loop"), field("event", "s", "begin"),
             field("unix_ns", "Q", 0))
    w.record("model_metrics", field("split", "s", "test"), field("epoch", "q", 3),
             field("correlation", "f", [0.1, 0.5, bad, 1e30 if wild else 0.7], (4,)))
    kinds = ["mei", "best_natural", "gabor", "rf"]
    for target in (1, 2):
        for k, kind in enumerate(kinds):
            side = 1 if wild and k == 3 else 8
            w.record("stimulus", field("stimulus_id", "q", 10 * target + k),
                     field("neuron", "q", target), field("kind", "s", "<b>" if wild and k == 2
                                                          else kind),
                     field("predicted", "d", bad if k else 5.0 + target),
                     field("pixels", "f", [((x * 7 + k) % 8) / 7.0 for x in range(side * 8)],
                           (side, 8)))
    trial = 0
    for repeat in range(3):
        for target in (1, 2, 9 if wild else 2):
            for k, kind in enumerate(kinds):
                w.record("schedule", field("trial", "q", trial), field("block", "s", "closed_loop"),
                         field("kind", "s", kind), field("image_id", "q", 10 * target + k),
                         field("target_neuron", "q", target), field("stimulus_frames", "q", 30),
                         field("isi_frames", "q", 30))
                counts = [float((repeat + k * 3 + target) % 7)] * 4
                w.record("trial", field("trial", "q", trial), field("image_id", "q", 0),
                         field("onset_ns", "q", 0), field("counts", "f", counts, (4,)))
                trial += 1
    for frame in range(30):
        flip = (frame * 16666667 if not wild or frame % 7 else -frame * 10 ** 15)
        w.record("flip", field("trial", "q", frame // 5), field("frame", "q", frame),
                 field("flip_ns", "q", flip), field("onset_ns", "q", flip),
                 field("missed", "q", 1 if frame == 12 else 0), field("photodiode", "q", 0))
    for i in range(20):
        w.record("stream", field("message_num", "q", i + (3 if i >= 10 else 0)),
                 field("kind", "s", "data"), field("sample_num", "q", 300 * i),
                 field("num_samples", "q", 300),
                 field("timestamp_ms", "q", -2 ** 62 if wild and i == 4 else 1700000000000 + i),
                 field("received_ns", "q", 10 ** 9 + 10 ** 7 * i),
                 field("lost", "q", 3 if i == 10 else 0), field("data_size", "q", 9600))
    for fit in range(3):
        w.record("alignment", field("slope_ns_per_sample", "d", 33333.3),
                 field("offset_ns", "d", 0.0),
                 field("residual_rms_ns", "d", math.inf if wild and fit == 1 else 2e4 + fit),
                 field("residual_max_ns", "d", 6e4), field("points", "q", 10))
    w.record("evaluation", field("neuron", "q", 1), field("kind", "s", "mei"),
             field("mean", "d", 4.0), field("ci_low", "d", bad), field("ci_high", "d", 5.0),
             field("repeats", "q", 3))
    w.record("note", field("text", "s", "a <note> & \"quotes\"" if wild else "done"))


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, wild in (("session.rec", False), ("wild.rec", True)):
        w = Writer()
        session(w, wild)
        open(os.path.join(out, name), "wb").write(bytes(w.out))


main()
