#!/usr/bin/python3
"""A controller for `inception present --serve`, written from
controller/display/DISPLAY.md alone (Python struct + pyzmq): HELLO, PING, a uint8
IMAGE, a block of three trials, every event back. Prints TAP lines."""
import struct
import sys
import time

import zmq

endpoint = sys.argv[1]
ctx = zmq.Context()
s = ctx.socket(zmq.DEALER)
s.setsockopt(zmq.LINGER, 0)
s.connect(endpoint)
n = 0


def check(ok, what):
    global n
    n += 1
    print(('ok %d - ' if ok else 'not ok %d - ') % n + what, flush=True)


def send(kind, body=b''):
    s.send(b'INCD' + struct.pack('<HHII', 1, kind, 0, len(body)) + body)


def receive(timeout_ms=10000):
    if not s.poll(timeout_ms):
        return None, None
    m = s.recv()
    magic, version, kind, _, length = struct.unpack('<4sHHII', m[:16])
    assert magic == b'INCD' and version == 1 and length == len(m) - 16
    return kind, m[16:]


def wait_for(kind):
    while True:
        k, body = receive()
        if k is None or k == kind:
            return body


send(1)
config = wait_for(65)
check(config is not None and len(config) == 168, 'HELLO answered by a 168-byte CONFIG')
w, h, hz, period, queue, images, display_ns = struct.unpack('<iiddiiq', config[:40])
check(w == 64 and h == 48 and abs(period - 1000.0 / 250) < 1.0 and queue > 0,
      'CONFIG: %dx%d, period %.3f ms, queue %d: %s' % (w, h, period, queue,
                                                       config[40:].split(b'\0')[0].decode()))
t0 = time.monotonic_ns()
send(2, struct.pack('<q', t0))
pong = wait_for(66)
t1 = time.monotonic_ns()
client_ns, display_ns, bad, dropped = struct.unpack('<qqQQ', pong)
check(client_ns == t0 and t0 <= display_ns <= t1,
      'PONG echoes the ping; the display clock read inside the round trip (same machine)')
send(3, struct.pack('<iiII', 2, 3, 1, 0) + bytes([0, 50, 100, 150, 200, 255]))
to, status, image_id = struct.unpack('<iiq', wait_for(67)[:16])
check(to == 3 and status == 0 and image_id == 0, 'uint8 IMAGE preloaded as id 0')
send(5)
to, status, _ = struct.unpack('<iiq', wait_for(67)[:16])
check(to == 5 and status == 0, 'block started')
for trial in range(3):
    send(6, struct.pack('<qiiii', 100 + trial, 0, -1, 2 + trial, 1))
send(7)
kinds, trials, summary = [], [], None
while True:
    k, body = receive()
    if k is None:
        break
    if k != 68:
        continue
    fields = struct.unpack('<IIqiiqqqqqiiiiii', body[:88])
    kinds.append(fields[0])
    if fields[0] == 1:
        trials.append(fields)
    if fields[0] == 2:
        summary = struct.unpack('<8qii7d', body[88:])
        break
# A late flip that is not an onset (kind 3, PRESENTER_EVENT_FLIP) is reported
# wherever it happens: on a loaded machine between any two of the others.
late = kinds.count(3)
check([k for k in kinds if k != 3] == [0, 1, 0, 1, 0, 1, 2],
      'events: onset, trial ×3, then block end (%s; %d late flips among them)' % (kinds, late))
check([t[2] for t in trials] == [100, 101, 102] and [t[10] for t in trials] == [2, 3, 4],
      'trial events carry the trial numbers and requested frames')
check(all(t[6] < t[7] <= t[8] for t in trials), 'onset < offset <= end on the display clock')
check(summary is not None and summary[0] == 3 and summary[8] == 0,
      'BLOCK_END summary: %s trials, not aborted' % (summary[0] if summary else None))
print('1..%d' % n)
