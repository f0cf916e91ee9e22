"""A publisher written from acquisition/WIRE.md alone (struct + pyzmq): it
plays both the display (onsets) and the acquisition system (10 ms bins of
uint16 counts, one sync edge per onset on its own clock with an offset and
a drift), and writes what `inception acquire` should report, in the virtual
rig's truth layout, for acq_compare.py.
Usage: acq_spec_publisher.py DATA_ENDPOINT ONSET_ENDPOINT TRIALS TRUTH_DIR"""
import os, struct, sys, time
import numpy as np
import zmq

data_ep, onset_ep, trials, truth = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
UNITS, BIN, LATENCY, WINDOW = 8, 10_000_000, 50_000_000, 200_000_000
ctx = zmq.Context()
data, onsets = ctx.socket(zmq.PUB), ctx.socket(zmq.PUB)
# This replay runs faster than real time: a high-water mark above the whole
# stream, so a slow (sanitized) receiver delays it rather than loses it.
data.setsockopt(zmq.SNDHWM, 100000)
data.bind(data_ep)
onsets.bind(onset_ep)
time.sleep(1.0)  # subscribers connect; PUB drops anything sent before

seq = {"data": 0, "onset": 0}
def send(sock, name, topic, mtype, t, bin_ns=0, count=0, dtype=0, payload=b""):
    header = b"INCQ" + struct.pack("<HHIIQqIIHHI", 1, mtype, 1, 77, seq[name], t, bin_ns,
                                   count, dtype, 0, 0)
    seq[name] += 1
    sock.send_multipart([topic, header, payload])

rng = np.random.default_rng(3)
d0 = 10**12
display = d0 + np.cumsum(rng.integers(300_000_000, 360_000_000, trials)) - 300_000_000
acq = lambda d: 7_000_000_000 + (d - d0) * (1 + 30e-6)
edges = np.array([int(round(acq(d))) for d in display])
first_bin, last_bin = (edges[0] - 500_000_000) // BIN, (edges[-1] + 1_000_000_000) // BIN
counts = lambda k: np.array([(k * 7 + u * 3) % 5 for u in range(UNITS)], dtype="<u2")

e = 0
for k in range(first_bin, last_bin):
    while e < trials and edges[e] < (k + 1) * BIN:  # edges go out in time order with the bins
        # The display's onset message goes out as the stimulus appears, with its edge.
        send(onsets, "onset", b"onset", 4, int(display[e]),
             payload=struct.pack("<QQqII", e, 500 + e, 500_000_000, 0, 0))
        send(data, "data", b"events", 2, int(edges[e]), count=1,
             payload=struct.pack("<qHBBI", int(edges[e]), 0, 1, 0, 0))
        e += 1
    send(data, "data", b"counts", 1, k * BIN, BIN, UNITS, 1, counts(k).tobytes())
    if k % 100 == 0:
        send(data, "data", b"heartbeat", 3, k * BIN)
        time.sleep(0.01)  # stay under the high-water marks

# Expected: per trial, the bins whose centre lies in [edge + 50 ms, edge + 250 ms).
os.makedirs(truth, exist_ok=True)
expect = np.zeros((trials, UNITS), np.float32)
for i in range(trials):
    lo, hi = edges[i] + LATENCY, edges[i] + LATENCY + WINDOW
    for k in range(first_bin, last_bin):
        if lo <= k * BIN + BIN // 2 < hi:
            expect[i] += counts(k)
rows = np.array([[i, 500 + i, display[i], edges[i], edges[i], 0] for i in range(trials)], np.int64)
np.save(os.path.join(truth, "truth_counts.npy"), expect)
np.save(os.path.join(truth, "truth_trials.npy"), rows)
time.sleep(1.0)
