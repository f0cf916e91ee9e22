"""A live stand-in for the Open Ephys GUI with its ZMQ Interface plugin (v1.0),
for `inception run` with endpoints.format openephys (tests/test_run_external.sh):
continuous-data blocks as the clock (30 kHz, 3 s ahead of CLOCK_MONOTONIC),
and for every stimulus onset the display publishes (native onset messages)
a TTL edge on line 0 and spikes of UNITS sorted units at the centres of the
10 ms bins inside the response window. Each unit's count is a fixed function
of the image. The data clock runs 1 s behind real time, so an onset's
spikes always go out before the clock passes their bins. At SIGTERM it writes
truth.npy: one row per onset, trial index then the UNITS counts.
Usage: openephys_rig.py DATA_ENDPOINT ONSET_ENDPOINT LATENCY_MS WINDOW_MS TRUTH_FILE"""
import json, signal, struct, sys, time
import numpy as np
import zmq

data_ep, onset_ep = sys.argv[1], sys.argv[2]
latency_ns, window_ns = int(float(sys.argv[3]) * 1e6), int(float(sys.argv[4]) * 1e6)
truth_file = sys.argv[5]
RATE, UNITS, BLOCK, BIN_NS = 30000, 6, 300, 10_000_000
T0, AHEAD_NS, LAG_NS = time.monotonic_ns(), 3_000_000_000, 1_000_000_000
ctx = zmq.Context()
data = ctx.socket(zmq.PUB)
data.setsockopt(zmq.SNDHWM, 100000)
data.bind(data_ep)
onsets = ctx.socket(zmq.SUB)
onsets.connect(onset_ep)
onsets.setsockopt(zmq.SUBSCRIBE, b"onset")
num, truth, stop = 0, [], False


def on_term(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)


def acq_ns(display_ns):  # this rig's clock: 3 s ahead of the display's
    return display_ns - T0 + AHEAD_NS


def sample(ns):
    return int(ns * RATE // 1_000_000_000)


def send(envelope, header, payload):
    global num
    header["message_num"] = num
    header["timestamp"] = 1700000000000 + num
    num += 1
    data.send_multipart([envelope, json.dumps(header).encode(), payload])


def spike(at_ns, unit):
    send(b"EVENT\0", {"type": "spike", "spike": {"stream": "rig", "source_node": 102,
         "electrode": "Electrode 1", "sample_num": sample(at_ns), "num_channels": 1,
         "num_samples": 40, "sorted_id": unit, "threshold": [-50.0]}},
         np.zeros(40, "<f4").tobytes())


def ttl(at_ns, state):
    send(b"EVENT\0", {"type": "event", "content": {"stream": "rig", "source_node": 102,
         "type": 3, "sample_num": sample(at_ns)}, "data_size": 10},
         bytes([0, state]) + struct.pack("<Q", state))


def respond(frames):
    header, payload = frames[1], frames[2]
    _, _, _, _, _, t_display = struct.unpack_from("<HHIIQq", header, 4)
    trial, stimulus, _, height, width = struct.unpack_from("<QQqII", payload)
    image = np.frombuffer(payload[32:], "<f4").reshape(height, width)
    edge = acq_ns(t_display)
    # A unit's count: brightness of its own vertical strip of the image.
    strips = np.array_split(image, UNITS, axis=1)
    counts = [int(round(6 * float(s.mean()))) + u % 2 for u, s in enumerate(strips)]
    ttl(edge, 1)
    ttl(edge + 10_000_000, 0)
    centres = [k * BIN_NS + BIN_NS // 2 for k in range((edge + latency_ns) // BIN_NS - 1,
                                                         (edge + latency_ns + window_ns) // BIN_NS + 2)]
    centres = [c for c in centres if edge + latency_ns <= c < edge + latency_ns + window_ns]
    got = [0] * UNITS
    for u, n in enumerate(counts):
        for i in range(n):
            spike(centres[i % len(centres)], u + 1)
            got[u] += 1
    truth.append([trial] + got)


clock = sample(acq_ns(time.monotonic_ns()) - LAG_NS) // BLOCK * BLOCK
while not stop:
    while onsets.poll(2):
        frames = onsets.recv_multipart()
        if len(frames) == 3 and frames[0] == b"onset" and len(frames[2]) >= 32:
            respond(frames)
    now = sample(acq_ns(time.monotonic_ns()) - LAG_NS)
    while clock + BLOCK <= now:
        send(b"DATA\0", {"type": "data", "content": {"stream": "rig", "channel_num": 0,
             "channel_name": "CH1", "num_samples": BLOCK, "sample_num": clock,
             "sample_rate": RATE}, "data_size": BLOCK * 4}, np.zeros(BLOCK, "<f4").tobytes())
        clock += BLOCK
np.save(truth_file, np.array(truth, np.int64).reshape(-1, UNITS + 1))
