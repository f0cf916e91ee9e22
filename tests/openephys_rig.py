"""A live stand-in for the Open Ephys GUI with its ZMQ Interface plugin (v1.0),
for `inception run` with endpoints.format openephys (tests/test_run_external.sh).
Messages as the plugin writes them (tests/openephys_plugin.py, from its
source): continuous-data blocks of 1024 samples at 30 kHz as the clock (3 s
ahead of CLOCK_MONOTONIC, running 1 s behind real time so an onset's spikes
always go out before the clock passes their bins), and for every stimulus
onset the display publishes (native onset messages) a TTL edge on line 0
and spikes at the centres of the 10 ms bins inside the response window: of
UNITS sorted units (sorted_id 1..UNITS, a fixed function of the image), of
TETRODES tetrodes unsorted (sorted_id 0), and one of sorted_id UNITS + 3,
beyond the units. Like the plugin, it answers heartbeats on the data port + 1
("heartbeat received") and counts them.

--stop-after K MODE: a GUI stop of 1 s once the clock is halfway through the
K-th onset's window, then acquisition starts again: message_num from 1, the
sample numbers from 0 (MODE reset) or going on (MODE continue); onsets during
the stop get no response; MODE never: it never starts again (a rig that stops
sending before the session's end). Given more than once, the stops come in that order
(each K counts the onsets responded to, past the one before).

At SIGTERM it writes TRUTH_FILE: one row per onset: trial, damaged (1: its
window reaches past the stop or it came during it; -1: its window ends
within two bins of the stop, it may be flagged; 0 clean), then the
UNITS + TETRODES counts; beside it TRUTH_FILE with _spikes.npy for .npy
every spike it sent, in order: sample_num, sorted_id, the number ending its
electrode's name; and prints the heartbeats it answered.
--drop-spike K: the K-th onset's first spike of sorted unit 1 is never sent,
its message_num skipped (a message lost on the way): that trial is damaged
(1), the trials beside it may be flagged (-1: the span of possible loss
reaches a block past the neighbouring messages); the spike is not in the
_spikes.npy file (it never reached anyone).
--late-spike K: the K-th onset's first spike of sorted unit 2 goes out only once
the clock has passed it by half a second (its trial long recorded: the spike is
too late for its bin, and the record says so afterwards, a `trial_flags`
record): that trial is damaged (1); its span of possible loss is its one
sample, no other trial's.
--decoy-line L: with each sync edge (line 0) a rising edge on line L 3 ms
later (another device's TTL on the same stream): a receiver taking edges of
any line finds two candidates for each onset; one told line 0 finds one.
--ignore-onsets K: the first K onset messages get no TTL and no spikes (a
photodiode pulse the rig did not register; issue 13): those trials are
damaged (1); the counting of onsets for the options above starts after them.
Usage: openephys_rig.py DATA_ENDPOINT ONSET_ENDPOINT LATENCY_MS WINDOW_MS TRUTH_FILE
       [--stop-after K reset|continue|never]... [--drop-spike K] [--late-spike K]
       [--decoy-line L] [--ignore-onsets K]"""
import os, signal, struct, sys, time
import numpy as np
import zmq
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from openephys_plugin import DATA, EVENT, header, data_body, spike_body, ttl_body, ttl_payload

data_ep, onset_ep = sys.argv[1], sys.argv[2]
latency_ns, window_ns = int(float(sys.argv[3]) * 1e6), int(float(sys.argv[4]) * 1e6)
truth_file = sys.argv[5]
stops = [(int(sys.argv[i + 1]), sys.argv[i + 2]) for i, a in enumerate(sys.argv)
         if a == "--stop-after"]   # in order: each K past the one before
stop_after, stop_mode = stops.pop(0) if stops else (None, None)
drop_at = None
if "--drop-spike" in sys.argv:
    drop_at = int(sys.argv[sys.argv.index("--drop-spike") + 1])
drop_pending = False       # the trial after the dropped spike's may be flagged
late_at = int(sys.argv[sys.argv.index("--late-spike") + 1]) if "--late-spike" in sys.argv else None
withheld = None            # the late spike: (sample, electrode, sorted_id)
decoy = int(sys.argv[sys.argv.index("--decoy-line") + 1]) if "--decoy-line" in sys.argv else None
ignore = int(sys.argv[sys.argv.index("--ignore-onsets") + 1]) if "--ignore-onsets" in sys.argv else 0
RATE, UNITS, TETRODES, BLOCK, BIN_NS = 30000, 6, 2, 1024, 10_000_000
T0, AHEAD_NS, LAG_NS, STOP_NS = time.monotonic_ns(), 3_000_000_000, 1_000_000_000, 1_000_000_000
ctx = zmq.Context()
data = ctx.socket(zmq.PUB)
data.setsockopt(zmq.SNDHWM, 100000)
data.bind(data_ep)
host, port = data_ep.rsplit(":", 1)
listen = ctx.socket(zmq.REP)   # the plugin's listen socket: data port + 1
listen.bind("%s:%d" % (host, int(port) + 1))
onsets = ctx.socket(zmq.SUB)
onsets.connect(onset_ep)
onsets.setsockopt(zmq.SUBSCRIBE, b"onset")
num, truth, stop, heartbeats = 0, [], False, 0
shift_ns = 0               # acquisition clock = display clock - T0 + AHEAD - shift
responded = 0
stop_clock = None          # acquisition ns at which the GUI stops
stopped_until = None       # real time (monotonic ns) at which it starts again
word = 0
max_event = 0              # the latest sample of any TTL or spike sent since the last start


def on_term(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)


def acq_ns(display_ns):
    return display_ns - T0 + AHEAD_NS - shift_ns


def sample(ns):
    return int(ns * RATE // 1_000_000_000)


def send(envelope, body, payload):
    global num
    num += 1   # the plugin increments before sending: the first message is 1
    data.send_multipart([envelope, header(num, body, int(time.time() * 1000)), payload])


sent_spikes = []


def spike(at_ns, electrode, sorted_id, lost=False, late=False):
    global max_event, num, withheld
    max_event = max(max_event, sample(at_ns))
    if lost:
        num += 1   # its message_num was used; the message never arrived
        return
    if late:
        withheld = (sample(at_ns), electrode, sorted_id)
        return
    sent_spikes.append((sample(at_ns), sorted_id, int(electrode.split()[-1])))
    send(EVENT, spike_body("rig", electrode, sample(at_ns), sorted_id),
         np.zeros(4 * 40, "<f4").tobytes())


def ttl(at_ns, state, line=0):
    global word, max_event
    max_event = max(max_event, sample(at_ns))
    word = word | (1 << line) if state else word & ~(1 << line)
    send(EVENT, ttl_body("rig", sample(at_ns)), ttl_payload(line, state, word))


def respond(frames):
    global responded, stop_clock, drop_pending
    header_bytes, payload = frames[1], frames[2]
    _, _, _, _, _, t_display = struct.unpack_from("<HHIIQq", header_bytes, 4)
    trial, stimulus, _, height, width = struct.unpack_from("<QQqII", payload)
    if stopped_until is not None:   # shown while acquisition was stopped: not recorded
        truth.append([trial, 1] + [0] * (UNITS + TETRODES))
        return
    if ignore and len(truth) < ignore:   # the first onsets: not registered, nothing sent
        truth.append([trial, 1] + [0] * (UNITS + TETRODES))
        return
    image = np.frombuffer(payload[32:], "<f4").reshape(height, width)
    edge = acq_ns(t_display)
    # A unit's count: brightness of its own vertical strip of the image.
    strips = np.array_split(image, UNITS, axis=1)
    counts = [int(round(6 * float(s.mean()))) + u % 2 for u, s in enumerate(strips)]
    counts += [1 + (trial + t) % 3 for t in range(TETRODES)]   # unsorted, per tetrode
    if drop_pending and truth and truth[-1][1] == 0:
        truth[-1][1] = -1
    drop_pending = False
    drop = drop_at is not None and responded + 1 == drop_at
    late = late_at is not None and responded + 1 == late_at
    ttl(edge, 1)
    if decoy is not None:
        ttl(edge + 3_000_000, 1, decoy)
        ttl(edge + 6_000_000, 0, decoy)
    ttl(edge + 10_000_000, 0)
    # The window as a receiver sees it: from the TTL's sample number, in ns as
    # the plugin's sample rate gives it (rounded to the ns), not from the
    # unquantized edge; a bin centre within 33 us of the window's end is in
    # one and not the other (a CI run counted a trial one bin short so).
    anchor = int(round(sample(edge) / RATE * 1e9))
    centres = [k * BIN_NS + BIN_NS // 2 for k in range((anchor + latency_ns) // BIN_NS - 1,
                                                         (anchor + latency_ns + window_ns) // BIN_NS + 2)]
    centres = [c for c in centres if anchor + latency_ns <= c < anchor + latency_ns + window_ns]
    for u, n in enumerate(counts):
        for i in range(n):
            if u < UNITS:   # the Spike Sorter numbers units from 1 over all electrodes
                spike(centres[i % len(centres)], "Tetrode %d" % (u % TETRODES + 1), u + 1,
                      lost=drop and u == 0 and i == 0, late=late and u == 1 and i == 0)
            else:
                spike(centres[i % len(centres)], "Tetrode %d" % (u - UNITS + 1), 0)
    spike(centres[0], "Tetrode 1", UNITS + 3)   # beyond the units: in no column
    if drop and truth and truth[-1][1] == 0:
        truth[-1][1] = -1   # the trial before: within a block of the lost message's neighbours
    truth.append([trial, 1 if drop or late else 0] + counts)
    drop_pending = drop
    responded += 1
    if stop_after is not None and responded == stop_after:
        stop_clock = edge + latency_ns + window_ns // 2


def mark_stop_damage():
    """Trials whose windows reach past the stop lose their last bins. This
    rig sends an onset's spikes and TTLs ahead of its clock (the plugin sends
    them with their block): windows up to the latest of those may still be
    whole on the receiver's side, and may be flagged or not."""
    last_event_ns = max_event * 1_000_000_000 // RATE
    # Only the rows since the last start: earlier windows are on an earlier clock.
    for row, t in zip(truth[since_start:], windows[since_start:]):
        if t is None or row[1]:
            continue
        if t > last_event_ns:
            row[1] = 1
        elif t > stop_clock - 2 * BIN_NS:
            row[1] = -1


windows = []   # per truth row: the end of its window on the acquisition clock (None: none)
since_start = 0   # the first truth row after the latest start of acquisition
clock = sample(acq_ns(time.monotonic_ns()) - LAG_NS) // BLOCK * BLOCK
while not stop:
    while listen.poll(0):
        listen.recv()
        listen.send(b"heartbeat received")
        heartbeats += 1
    while onsets.poll(2):
        frames = onsets.recv_multipart()
        if len(frames) == 3 and frames[0] == b"onset" and len(frames[2]) >= 32:
            before = len(truth)
            respond(frames)
            _, _, _, _, _, t_display = struct.unpack_from("<HHIIQq", frames[1], 4)
            windows += [None if truth[-1][1] else acq_ns(t_display) + latency_ns + window_ns] * (
                len(truth) - before)
    now_ns = time.monotonic_ns()
    if stopped_until is not None:
        if now_ns < stopped_until:
            continue
        # Acquisition starts again: message_num from 1, samples from 0 or on.
        stopped_until, num, max_event, since_start = None, 0, 0, len(truth)
        if stop_mode == "reset":
            shift_ns += acq_ns(now_ns) - LAG_NS
            clock = 0
        else:
            shift_ns += STOP_NS
            clock = sample(acq_ns(now_ns) - LAG_NS) // BLOCK * BLOCK
        stop_after, stop_mode = stops.pop(0) if stops else (None, None)
    now = sample(acq_ns(now_ns) - LAG_NS)
    while clock + BLOCK <= now:
        send(DATA, data_body("rig", clock, BLOCK, RATE), np.zeros(BLOCK, "<f4").tobytes())
        clock += BLOCK
        if withheld and clock > withheld[0] + RATE // 2:   # half a second too late
            at, electrode, sorted_id = withheld
            withheld = None
            sent_spikes.append((at, sorted_id, int(electrode.split()[-1])))
            send(EVENT, spike_body("rig", electrode, at, sorted_id), np.zeros(4 * 40, "<f4").tobytes())
        if stop_clock is not None and clock * 1_000_000_000 // RATE >= stop_clock:
            stop_clock = clock * 1_000_000_000 // RATE   # the last sample recorded
            mark_stop_damage()
            stop_clock = None
            stopped_until = now_ns + STOP_NS if stop_mode != "never" else float("inf")
            break
np.save(truth_file, np.array(truth, np.int64).reshape(-1, UNITS + TETRODES + 2))
np.save(truth_file[:-len(".npy")] + "_spikes.npy", np.array(sent_spikes, np.int64).reshape(-1, 3))
print("heartbeats answered: %d" % heartbeats)
