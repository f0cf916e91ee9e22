"""Publishes like the Open Ephys GUI's ZMQ Interface plugin (v1.0): "DATA\0"
and "EVENT\0" envelopes, JSON headers, payloads; spikes of sorted units, TTL
sync edges, continuous-data blocks as the clock. Also plays the display
(native onset messages) and writes the expected result in the virtual rig's
truth layout for acq_compare.py.
Usage: acq_openephys_publisher.py DATA_ENDPOINT ONSET_ENDPOINT TRIALS TRUTH_DIR"""
import json, os, struct, sys, time
import numpy as np
import zmq

data_ep, onset_ep, trials, truth = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
RATE, UNITS, BLOCK = 30000, 6, 300          # 10 ms blocks
LATENCY, WINDOW, BIN = 50_000_000, 200_000_000, 10_000_000
ctx = zmq.Context()
data, onsets = ctx.socket(zmq.PUB), ctx.socket(zmq.PUB)
# This replay runs faster than real time: a high-water mark above the whole
# stream, so a slow (sanitized) receiver delays it rather than loses it.
data.setsockopt(zmq.SNDHWM, 100000)
data.bind(data_ep)
onsets.bind(onset_ep)
time.sleep(1.0)

rng = np.random.default_rng(5)
onset_samples = 30000 + np.cumsum(rng.integers(9000, 11000, trials))   # ~0.33 s apart
end_sample = int(onset_samples[-1]) + 2 * RATE
spike_samples = np.sort(rng.integers(0, end_sample, 4000))
spike_units = rng.integers(1, UNITS + 1, len(spike_samples))          # sorted ids 1..UNITS
num = 0

def send(envelope, header, payload=None):
    global num
    header["message_num"] = num
    header["timestamp"] = 1700000000000 + num
    num += 1
    frames = [envelope, json.dumps(header).encode()]
    if payload is not None:
        frames.append(payload)
    data.send_multipart(frames)

d0 = 5 * 10**11
display = [d0 + int(s) * 33_334 for s in onset_samples]   # the display's clock runs its own way
def send_onset(i):  # the display's message, as the stimulus appears
    payload = struct.pack("<QQqII", i, 900 + i, 500_000_000, 0, 0)
    header = b"INCQ" + struct.pack("<HHIIQqIIHHI", 1, 4, 2, 5, i, display[i], 0, 0, 0, 0, 0)
    onsets.send_multipart([b"onset", header, payload])

s_i = t_i = 0
for start in range(0, end_sample, BLOCK):
    send(b"DATA\0", {"type": "data", "content": {"stream": "example_data", "channel_num": 0,
         "channel_name": "CH1", "num_samples": BLOCK, "sample_num": start, "sample_rate": RATE},
         "data_size": BLOCK * 4}, np.zeros(BLOCK, "<f4").tobytes())
    while s_i < len(spike_samples) and spike_samples[s_i] < start + BLOCK:
        send(b"EVENT\0", {"type": "spike", "spike": {"stream": "example_data", "source_node": 102,
             "electrode": "Electrode 1", "sample_num": int(spike_samples[s_i]), "num_channels": 1,
             "num_samples": 40, "sorted_id": int(spike_units[s_i]), "threshold": [-50.0]}},
             np.zeros(40, "<f4").tobytes())
        s_i += 1
    while t_i < trials and onset_samples[t_i] < start + BLOCK:
        send_onset(t_i)
        for state, at in ((1, int(onset_samples[t_i])), (0, int(onset_samples[t_i]) + 300)):
            send(b"EVENT\0", {"type": "event", "content": {"stream": "example_data",
                 "source_node": 102, "type": 3, "sample_num": at}, "data_size": 10},
                 bytes([0, state]) + struct.pack("<Q", state))
        t_i += 1
    if start % (100 * BLOCK) == 0:
        time.sleep(0.01)

ns = lambda s: int(round(s / RATE * 1e9))
os.makedirs(truth, exist_ok=True)
expect = np.zeros((trials, UNITS), np.float32)
for i in range(trials):
    lo = ns(onset_samples[i]) + LATENCY
    for s, u in zip(spike_samples, spike_units):
        k = ns(s) // BIN
        if lo <= k * BIN + BIN // 2 < lo + WINDOW:
            expect[i, u - 1] += 1
rows = np.array([[i, 900 + i, display[i], ns(onset_samples[i]), ns(onset_samples[i]), 0]
                 for i in range(trials)], np.int64)
np.save(os.path.join(truth, "truth_counts.npy"), expect)
np.save(os.path.join(truth, "truth_trials.npy"), rows)
time.sleep(1.0)
