#!/usr/bin/env python3
"""numpy's side of test_record: record_check.py READER.py DIR.

Reads DIR/session.rec with the documented Python reader and checks every
value against the formulas test_record.c wrote them with; then damages a
copy (one flipped bit in the middle, a cut in the last record) and checks
that the reader reports both and keeps the rest. Lines start with '#' (TAP
comments). Exit 0 passed, 1 a check failed, 3 no numpy.
"""
import hashlib
import importlib.util
import math
import os
import sys
import tempfile

try:
    import numpy as np
except ImportError:
    print("# record_check.py: numpy is not installed")
    sys.exit(3)

spec = importlib.util.spec_from_file_location("record_reader", sys.argv[1])
reader = importlib.util.module_from_spec(spec)
spec.loader.exec_module(reader)
path = os.path.join(sys.argv[2], "session.rec")
failures = []


def expect(cond, what):
    print("# numpy: %s %s" % ("ok  " if cond else "FAIL", what))
    if not cond:
        failures.append(what)


records = list(reader.read_records(path))
types = [r["type"] for r in records]
expect(types == ["session_start", "phase", "schedule", "flip", "stream", "sync", "alignment",
                 "trial", "checkpoint", "stimulus", "evaluation", "note"], "types in order")
expect([r["sequence"] for r in records] == list(range(1, 13)), "sequences 1..12")
by = {r["type"]: r["fields"] for r in records}
start = by["session_start"]
expect(start["protocol_text"] == b"name: test\nseed: 3\n" and start["format_version"] == 1
       and start["protocol_name"] == "test", "session start: protocol text verbatim")
expect(by["phase"]["phase"] == "recording" and by["phase"]["event"] == "begin", "phase")
s = by["schedule"]
expect((s["trial"], s["block"], s["kind"], s["image_id"], s["target_neuron"],
        s["stimulus_frames"], s["isi_frames"]) == (5, "train", "natural", 1234, -1, 8, 4),
       "schedule entry")
f = by["flip"]
expect((f["trial"], f["frame"], f["flip_ns"], f["onset_ns"], f["missed"], f["photodiode"],
        f["onset"]) == (5, 99, 1000000, 1004000, 1, 1, 1), "flip")
m = by["stream"]
expect((m["message_num"], m["kind"], m["sample_num"], m["num_samples"], m["timestamp_ms"],
        m["received_ns"], m["lost"], m["data_size"])
       == (77, "data", 30000, 1024, 1700000000000, 2000000, 2, 4096), "stream message")
y = by["sync"]
expect((y["line"], y["state"], y["sample_num"], y["received_ns"], y["trial"])
       == (1, 1, 30123, 2100000, 5), "sync event")
a = by["alignment"]
expect((a["slope_ns_per_sample"], a["offset_ns"], a["residual_rms_ns"], a["residual_max_ns"],
        a["points"], a["display_ref_ns"], a["acquisition_ref_ns"])
       == (1.0000125, -12.5, 80.5, 210.0, 40, 1004000, 987654321), "alignment, with its reference")
t = by["trial"]
want = np.array([((5 * 7 + n * 3) % 11) * 0.5 for n in range(7)], dtype=np.float32)
expect(t["counts"].dtype == np.float32 and np.array_equal(t["counts"], want)
       and t["image_id"] == 1234, "trial counts")
c = by["checkpoint"]
expect(c["model"] == bytes((k * 7) & 255 for k in range(1000)) and c["epoch"] == 3
       and c["validation_corr"] == 0.41, "checkpoint bytes")
st = by["stimulus"]
pixels = np.sin(np.arange(20, dtype=np.float32)).reshape(4, 5)
expect(st["pixels"].shape == (4, 5) and np.allclose(st["pixels"], pixels, rtol=0, atol=1e-6)
       and st["kind"] == "mei" and st["predicted"] == 17.25, "stimulus pixels")
# The content hash, against hashlib: SHA-256 of the pixels' little-endian float32 bytes, on the
# stimulus and (as run writes it with each showing) on the schedule entry.
digest = hashlib.sha256(st["pixels"].astype("<f4").tobytes()).digest()
expect(st["pixels_sha256"] == digest, "stimulus pixels_sha256 equals hashlib's SHA-256")
expect(s["image_sha256"] == digest, "schedule image_sha256 equals hashlib's SHA-256")
e = by["evaluation"]
expect((e["neuron"], e["kind"], e["mean"], e["ci_low"], e["ci_high"], e["repeats"])
       == (2, "mei", 12.5, 10.0, 15.0, 8), "evaluation")
expect(by["note"]["text"] == "hello, record", "note")
times = [r["time_ns"] for r in records]
expect(all(b >= a for a, b in zip(times, times[1:])), "monotonic times")

# Damage: a flipped bit in the flip record, and the file cut inside the note.
data = bytearray(open(path, "rb").read())
data[records[3]["offset"] + 28 + 5] ^= 0x10
cut = records[11]["offset"] + 10
with tempfile.NamedTemporaryFile(suffix=".rec", delete=False) as tmp:
    tmp.write(bytes(data[:cut]))
damaged = list(reader.read_records(tmp.name))
os.unlink(tmp.name)
kinds = [r["type"] for r in damaged]
expect(kinds.count("corrupt") == 1 and kinds[-1] == "torn" and len(kinds) == 12
       and damaged[3]["offset"] == records[3]["offset"]
       and damaged[-1]["offset"] == records[11]["offset"] and damaged[-1]["size"] == 10,
       "damage reported at its offsets, the rest read: %s" % kinds)
sys.exit(1 if failures else 0)
