"""A stand-in for the display: publishes stimulus-onset messages in the
native wire format (acquisition/WIRE.md), written from the spec alone.
Usage: acq_display.py ENDPOINT TRIALS ISI_MS [--images H W] [--seed N]
Onset timestamps are CLOCK_MONOTONIC ns (time.monotonic_ns on Linux)."""
import random, struct, sys, time
import numpy as np
import zmq

endpoint, trials, isi_ms = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
images = "--images" in sys.argv
if images:
    i = sys.argv.index("--images")
    height, width = int(sys.argv[i + 1]), int(sys.argv[i + 2])
seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 1
rng = np.random.default_rng(seed)
random.seed(seed)

sock = zmq.Context().socket(zmq.PUB)
sock.bind(endpoint)
time.sleep(1.0)  # let the subscribers connect: PUB drops what it sends before that

epoch = random.getrandbits(32)
for trial in range(trials):
    stimulus = 1000 + trial
    onset = time.monotonic_ns()
    if images:
        image = rng.random((height, width), dtype=np.float32)
        payload = struct.pack("<QQqII", trial, stimulus, 500_000_000, height, width) + image.astype("<f4").tobytes()
        dtype = 2
    else:
        payload = struct.pack("<QQqII", trial, stimulus, 500_000_000, 0, 0)
        dtype = 0
    header = b"INCQ" + struct.pack("<HHIIQqIIHHI", 1, 4, 9, epoch, trial, onset, 0, 0, dtype, 0, 0)
    sock.send_multipart([b"onset", header, payload])
    # Irregular intervals: a regular rhythm is harder to lock onto.
    time.sleep((isi_ms + random.uniform(0, 0.2 * isi_ms)) / 1000)
time.sleep(0.5)
