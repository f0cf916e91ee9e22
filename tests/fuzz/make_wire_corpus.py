"""Seed corpus for fuzz_wire: valid and broken messages of both formats,
written from the wire spec (acquisition/WIRE.md) with struct alone.
Run: /usr/bin/python3 tests/fuzz/make_wire_corpus.py tests/fuzz/corpus/wire"""
import json, math, os, struct, sys

out = sys.argv[1]
os.makedirs(out, exist_ok=True)

def header(mtype, seq=0, t=0, bin_ns=0, count=0, dtype=0, version=1, magic=b"INCQ"):
    return magic + struct.pack("<HHIIQqIIHHI", version, mtype, 7, 1, seq, t, bin_ns, count,
                               dtype, 0, 0)

def sample(name, mode, frames):
    blob = bytes([mode]) + b"".join(struct.pack("<H", len(f)) + f for f in frames)
    open(os.path.join(out, name), "wb").write(blob)

topic = {1: b"counts", 2: b"events", 3: b"heartbeat", 4: b"onset"}
u16 = struct.pack("<4H", 0, 1, 2, 65535)
f32 = struct.pack("<4f", 0.0, 1.5, 2.0, 3.0)
sample("counts_u16", 0, [topic[1], header(1, 1, 10**9, 10**7, 4, 1), u16])
sample("counts_f32", 0, [topic[1], header(1, 2, 10**9, 10**6, 4, 2), f32])
ev = struct.pack("<qHBBI", 123456789, 0, 1, 0, 0) + struct.pack("<qHBBI", 123556789, 0, 0, 0, 0)
sample("events", 0, [topic[2], header(2, 3, 123456789, 0, 2), ev])
sample("heartbeat", 0, [topic[3], header(3, 4, 5)])
sample("heartbeat_empty_payload", 0, [topic[3], header(3, 4, 5), b""])
onset = struct.pack("<QQqII", 12, 34, 500000000, 2, 3) + struct.pack("<6f", *[0.5] * 6)
sample("onset_image", 0, [topic[4], header(4, 5, 10**12, 0, 0, 2), onset])
sample("onset_noimage", 0, [topic[4], header(4, 6, 10**12), struct.pack("<QQqII", 1, 2, 3, 0, 0)])
sample("bad_version", 0, [topic[1], header(1, 1, 0, 10**7, 4, 1, version=2), u16])
sample("bad_magic", 0, [topic[1], header(1, 1, 0, 10**7, 4, 1, magic=b"XXXX"), u16])
sample("truncated", 0, [topic[1], header(1, 1, 0, 10**7, 4, 1), u16[:5]])
sample("oversized", 0, [topic[1], header(1, 1, 0, 10**7, 4, 1), u16 + b"\0\0"])
sample("nan", 0, [topic[1], header(1, 1, 0, 10**7, 4, 2), struct.pack("<4f", 1, math.nan, 0, 0)])
sample("negative", 0, [topic[1], header(1, 1, 0, 10**7, 4, 2), struct.pack("<4f", 1, -1, 0, 0)])
sample("huge_units", 0, [topic[1], header(1, 1, 0, 10**7, 4000000000, 1), u16])
sample("wrong_topic", 0, [topic[2], header(1, 1, 0, 10**7, 4, 1), u16])
sample("huge_image", 0, [topic[4], header(4, 5, 0, 0, 0, 2), struct.pack("<QQqII", 1, 2, 3, 65535, 65535)])

def oe(name, envelope, head, payload=None):
    frames = [envelope, json.dumps(head).encode()]
    if payload is not None:
        frames.append(payload)
    sample(name, 1, frames)

oe("oe_spike_sorted", b"EVENT\0", {"message_num": 5, "type": "spike", "spike": {
    "stream": "example_data", "source_node": 102, "electrode": "Electrode 1", "sample_num": 30000,
    "num_channels": 4, "num_samples": 40, "sorted_id": 2, "threshold": [-50, -50, -50, -50]},
    "timestamp": 1700000000000}, b"\0" * 640)
oe("oe_spike_unsorted", b"EVENT\0", {"message_num": 6, "type": "spike", "spike": {
    "electrode": "Electrode 3", "sample_num": 30100, "sorted_id": 0}, "timestamp": 1})
oe("oe_ttl", b"EVENT\0", {"message_num": 7, "type": "event", "content": {
    "stream": "example_data", "source_node": 102, "type": 3, "sample_num": 45000},
    "data_size": 10, "timestamp": 1}, bytes([1, 1]) + struct.pack("<Q", 2))
oe("oe_data", b"DATA\0", {"message_num": 8, "type": "data", "content": {
    "stream": "example_data", "channel_num": 0, "channel_name": "CH1", "num_samples": 4,
    "sample_num": 1000, "sample_rate": 30000}, "data_size": 16, "timestamp": 1},
   struct.pack("<4f", 0, 1, 2, 3))
sample("oe_broken_json", 1, [b"EVENT\0", b'{"message_num": 5, "type": "spike", "spike": {'])
sample("oe_deep_json", 1, [b"EVENT\0", b"[" * 100 + b"]" * 100])
sample("oe_bad_envelope", 1, [b"DAT\0", b"{}"])
oe("oe_ttl_short", b"EVENT\0", {"message_num": 9, "type": "event", "content": {
    "type": 3, "sample_num": 1}}, b"\1")
