"""Publishes as the Open Ephys GUI's ZMQ Interface plugin (v1.0) does, written
from its source (open-ephys-plugins/zmq-interface, Source/ZmqInterface.cpp):

- every message: an envelope frame "DATA\\0" or "EVENT\\0", a JSON header made
  by JUCE's JSON::toString (multi-line, CRLF line ends, two-space indent,
  properties in the order the plugin sets them, floats such as 30000.0), and
  a payload frame when there is binary data;
- one `message_num` counter over data, spike and TTL messages, incremented
  before each send, so the first message of an acquisition is 1; it starts
  again at 1 when acquisition is stopped and started in the GUI;
- process(): the block's events first (TTLs, spikes), then one "data"
  message per selected channel (here one) with the block's first sample
  number, `num_samples` and the stream's `sample_rate`;
- spikes: "type": "spike", fields under the key "spike" (stream,
  source_node, electrode name, sample_num of the peak, num_channels,
  num_samples, sorted_id (0 when unsorted; the Spike Sorter numbers units
  from 1 over all electrodes), threshold per channel), payload the float32
  waveforms;
- TTL events: "type": "event", content type 3 (EventChannel::TTL), the 10
  bytes of a TTL event's data as payload (uint8 line, uint8 state, uint64
  word of all lines' states).

Also plays the display (inception's native onset messages) and writes the
expected result for acq_compare.py: truth_counts.npy (trials × columns, the
unit map: sorted units 1..UNITS, then one column per tetrode for unsorted
spikes) and truth_trials.npy (column 5: 1 when the publisher damaged the
trial: a spike of its window or its sync edge lost, or a GUI stop inside its
window; -1 when its window ends within two bins of a GUI stop: it may be
flagged).

Usage: acq_openephys_publisher.py DATA ONSETS TRIALS TRUTH_DIR [options]
  --faults SEED      drop, truncate, reorder and duplicate messages of each
                     kind (spike, TTL, data) at random places
  --rate HZ          the sample rate the data blocks announce (default 30000)
  --stop-start MODE  a GUI stop and start halfway: "reset" sample numbers
                     start again at 0, "continue" they go on
  --beyond N         N spikes with a sorted_id above the units (UNITS + 3)
  --no-electrodes    truth without the unsorted columns"""
import argparse, os, struct, sys, time
import numpy as np
import zmq
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from openephys_plugin import DATA, EVENT, header, data_body, spike_body, ttl_body, ttl_payload

ap = argparse.ArgumentParser()
ap.add_argument("data")
ap.add_argument("onsets")
ap.add_argument("trials", type=int)
ap.add_argument("truth")
ap.add_argument("--faults", type=int)
ap.add_argument("--rate", type=float, default=30000.0)
ap.add_argument("--stop-start", choices=("reset", "continue"))
ap.add_argument("--beyond", type=int, default=0)
ap.add_argument("--no-electrodes", action="store_true")
args = ap.parse_args()

RATE, UNITS, TETRODES, BLOCK = 30000, 6, 4, 1024
LATENCY, WINDOW, BIN = 50_000_000, 200_000_000, 10_000_000
SYNC_LINE, DECOY_LINE = 0, 3
STOP_SAMPLES = RATE  # a GUI stop of 1 s


# ------------------------------------------------------------ the recording
rng = np.random.default_rng(5)
trials = args.trials
# "wall" samples: time as the rig lives it; the GUI's sample numbers follow
# them, except across a stop and start.
onset_wall = 30000 + np.cumsum(rng.integers(9000, 11000, trials))   # ~0.33 s apart
stop_wall = None
if args.stop_start:
    mid = trials // 2
    stop_wall = (int(onset_wall[mid]) + int(onset_wall[mid + 1])) // 2 // BLOCK * BLOCK
    onset_wall[mid + 1:] += STOP_SAMPLES // 2   # one onset falls inside the stop
end_wall = int(onset_wall[-1]) + 2 * RATE
start_wall = stop_wall + STOP_SAMPLES if stop_wall is not None else None


def recording(w):  # is wall sample w recorded?
    return stop_wall is None or w < stop_wall or w >= start_wall


def sample_number(w):  # the GUI's sample number of wall sample w
    if stop_wall is None or w < stop_wall:
        return w
    return w - start_wall if args.stop_start == "reset" else w - STOP_SAMPLES


n_spikes = 5000
spike_wall = np.sort(rng.integers(0, end_wall, n_spikes))
# Sorted units 1..UNITS, each on one tetrode; a fifth of the spikes unsorted.
spike_id = rng.integers(1, UNITS + 1, n_spikes)
spike_id[rng.random(n_spikes) < 0.2] = 0
spike_tetrode = np.where(spike_id > 0, (spike_id - 1) % TETRODES + 1,
                         rng.integers(1, TETRODES + 1, n_spikes))
beyond = set(rng.choice(n_spikes, args.beyond, replace=False).tolist()) if args.beyond else set()
for i in beyond:
    spike_id[i] = UNITS + 3
keep = np.array([recording(int(w)) for w in spike_wall])
spike_wall, spike_id, spike_tetrode = spike_wall[keep], spike_id[keep], spike_tetrode[keep]


# --------------------------------------------------------------- messages
# Built in the plugin's order first, sent later (faults act on the list).
messages = []  # dicts: kind, frames, and what they carry


def header_spike(w, sid, tetrode):
    return spike_body("example_data", "Tetrode %d" % tetrode, sample_number(w), int(sid))


ttl_word = 0


def ttl(w, line, state):
    global ttl_word
    ttl_word = ttl_word | (1 << line) if state else ttl_word & ~(1 << line)
    return {"kind": "ttl", "line": line, "state": state, "wall": w,
            "header": ttl_body("example_data", sample_number(w)),
            "payload": ttl_payload(line, state, ttl_word)}


# TTLs: the sync edge (rising then falling 10 ms later on line 0) at each
# onset; decoys on line 3 between onsets.
edges = []
for i, w in enumerate(onset_wall):
    w = int(w)
    edges += [(w, SYNC_LINE, 1, i), (w + 300, SYNC_LINE, 0, i),
              (w + 4000, DECOY_LINE, 1, -1), (w + 4300, DECOY_LINE, 0, -1)]
edges = [e for e in edges if recording(e[0])]
edges.sort()

s_i = e_i = o_i = 0
w = 0
while w < end_wall:
    if not recording(w):
        if args.stop_start and w == stop_wall:
            messages.append({"kind": "restart"})
        while o_i < trials and onset_wall[o_i] < w + BLOCK:   # the display goes on
            messages.append({"kind": "onset", "trial": o_i})
            o_i += 1
        w += BLOCK
        continue
    # process(): checkForEvents (TTLs and spikes of this block), then data.
    while e_i < len(edges) and edges[e_i][0] < w + BLOCK:
        at, line, state, trial = edges[e_i]
        if trial >= 0 and state:
            messages.append({"kind": "onset", "trial": trial})
            o_i = trial + 1
        m = ttl(at, line, state)
        m["trial"] = trial
        messages.append(m)
        e_i += 1
    while s_i < len(spike_wall) and spike_wall[s_i] < w + BLOCK:
        messages.append({"kind": "spike", "index": s_i, "header": header_spike(
            int(spike_wall[s_i]), spike_id[s_i], spike_tetrode[s_i]),
            "payload": np.zeros(4 * 40, "<f4").tobytes()})
        s_i += 1
    messages.append({"kind": "data", "header": data_body("example_data", sample_number(w), BLOCK,
                                                         args.rate),
                     "payload": np.zeros(BLOCK, "<f4").tobytes()})
    w += BLOCK

ns = lambda w: int(round(sample_number(w) / RATE * 1e9))

# message_num, as the plugin counts: from 1, again from 1 after a restart.
num = 0
for m in messages:
    if m["kind"] == "restart":
        num = 0
    elif m["kind"] != "onset":
        num += 1
        m["num"] = num

# ------------------------------------------------------------------ faults
lost_spikes, lost_edges = set(), set()
if args.faults is not None:
    frng = np.random.default_rng(args.faults)
    where = {k: [i for i, m in enumerate(messages) if m["kind"] == k] for k in ("spike", "ttl", "data")}
    # Spike faults among spikes inside response windows, so that each lost
    # one damages a trial.
    windows = [(ns(int(w)) + LATENCY, ns(int(w)) + LATENCY + WINDOW) for w in onset_wall]
    in_window = lambda t: any(lo + BIN <= t < hi - BIN for lo, hi in windows)
    where["spike"] = [i for i in where["spike"]
                      if in_window(ns(int(spike_wall[messages[i]["index"]])))]
    for kind, places in where.items():
        picks = frng.choice(places[5:-5], 4, replace=False)
        for fault, i in zip(("drop", "truncate", "reorder", "duplicate"), picks):
            messages[i]["fault"] = fault
            if fault in ("drop", "truncate"):
                if kind == "spike":
                    lost_spikes.add(messages[i]["index"])
                if kind == "ttl" and messages[i]["trial"] >= 0 and messages[i]["state"]:
                    lost_edges.add(messages[i]["trial"])


def frames_of(m):
    envelope = DATA if m["kind"] == "data" else EVENT
    h = header(m["num"], m["header"], 1700000000000 + m["num"])
    if m.get("fault") == "truncate":
        h = h[: len(h) // 2]
    return [envelope, h, m["payload"]]


# --------------------------------------------------------------- sending
ctx = zmq.Context()
data, onsets = ctx.socket(zmq.PUB), ctx.socket(zmq.PUB)
# Faster than real time: a high-water mark above the whole stream, so a slow
# (sanitized) receiver delays it rather than loses it.
data.setsockopt(zmq.SNDHWM, 1000000)
data.bind(args.data)
onsets.bind(args.onsets)
time.sleep(1.0)

d0 = 5 * 10**11
display = [d0 + int(s) * 33_334 for s in onset_wall]   # the display's own clock (drift)


def send_onset(i):
    payload = struct.pack("<QQqII", i, 900 + i, 500_000_000, 0, 0)
    header = b"INCQ" + struct.pack("<HHIIQqIIHHI", 1, 4, 2, 5, i, display[i], 0, 0, 0, 0, 0)
    onsets.send_multipart([b"onset", header, payload])


held = None  # a message held back to go out after the next one (reordered)
blocks = 0
for m in messages:
    if m["kind"] == "restart":
        time.sleep(0.3)
        continue
    if m["kind"] == "onset":
        send_onset(m["trial"])
        continue
    fault = m.get("fault")
    if fault == "drop":
        continue
    if fault == "reorder":
        held = frames_of(m)
        continue
    data.send_multipart(frames_of(m))
    if fault == "duplicate":
        data.send_multipart(frames_of(m))
    if held is not None:
        data.send_multipart(held)
        held = None
    if m["kind"] == "data":
        blocks += 1
        if blocks % 6 == 0:   # about 20 times real time
            time.sleep(0.01)

# ------------------------------------------------------------------ truth
# Windows and bins on the acquisition clock (the GUI's sample numbers), each
# trial among the spikes of its own stretch of recording.
era = lambda w: 0 if stop_wall is None or w < stop_wall else 1
columns = UNITS + (0 if args.no_electrodes else TETRODES)
expect = np.zeros((trials, columns), np.float32)
damaged = np.zeros(trials, np.int64)
spike_ns = [ns(int(w)) for w in spike_wall]
spike_era = [era(int(w)) for w in spike_wall]
for i in range(trials):
    w = int(onset_wall[i])
    lo = ns(w) + LATENCY
    hi = lo + WINDOW
    if stop_wall is not None and era(w) == 0:
        stop_ns = int(round(stop_wall / RATE * 1e9))  # the last sample before it
        if hi > stop_ns:
            damaged[i] = 1
        elif hi > stop_ns - 2 * BIN:
            damaged[i] = -1  # its last bins may be the ones the stop cut
    if i in lost_edges or not recording(w):
        damaged[i] = 1
    for s in range(len(spike_wall)):
        k = spike_ns[s] // BIN
        if spike_era[s] != era(w) or not lo <= k * BIN + BIN // 2 < hi:
            continue
        if s in lost_spikes:
            damaged[i] = 1
        sid, tet = spike_id[s], spike_tetrode[s]
        if 1 <= sid <= UNITS:
            expect[i, sid - 1] += 1
        elif sid == 0 and not args.no_electrodes:
            expect[i, UNITS + tet - 1] += 1
rows = np.array([[i, 900 + i, display[i], ns(int(onset_wall[i])), ns(int(onset_wall[i])), damaged[i]]
                 for i in range(trials)], np.int64)
os.makedirs(args.truth, exist_ok=True)
np.save(os.path.join(args.truth, "truth_counts.npy"), expect)
np.save(os.path.join(args.truth, "truth_trials.npy"), rows)
time.sleep(1.0)
