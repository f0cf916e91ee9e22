#!/usr/bin/python3
"""Writes the seed corpus of fuzz_display (tests/fuzz/corpus/display): one
valid message of every type, written from controller/display/DISPLAY.md with
Python's struct (independently of the C encoder), and a few broken ones."""
import os
import struct
import sys

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), 'corpus', 'display')
os.makedirs(out, exist_ok=True)


def message(kind, body, sequence=0):
    return b'INCD' + struct.pack('<HHII', 1, kind, sequence, len(body)) + body


def text(s):
    return s.encode().ljust(128, b'\0')


event = struct.pack('<IIqiiqqqqqiiiiii', 1, 0, 7, 2, -1, 120, 10**9, 10**9 + 6 * 10**6,
                    10**9 + 10**7, 0, 3, 2, 3, 2, 0, 0)
summary = struct.pack('<8qii7d', 200, 0, 1, 0, 0, 1000, 10, 0, 0, 0,
                      2.0, 2.0, 0.01, 2.5, 0.1, 0.3, 1.9)
seeds = {
    'hello': message(1, b''),
    'ping': message(2, struct.pack('<q', 123456789)),
    'image_f32': message(3, struct.pack('<iiII', 2, 2, 2, 0) + struct.pack('<4f', 0, .25, .5, 1)),
    'image_u8': message(3, struct.pack('<iiII', 2, 3, 1, 0) + bytes([0, 64, 128, 192, 255, 1])),
    'sound': message(4, struct.pack('<iiiI', 4, 1, 48000, 0) + struct.pack('<4f', 0, .5, -.5, 0)),
    'start': message(5, b''),
    'submit': message(6, struct.pack('<qiiii', 42, 1, -1, 5, 10)),
    'finish': message(7, b''),
    'abort': message(8, b''),
    'pause': message(9, struct.pack('<I', 1)),
    'config': message(65, struct.pack('<iiddiiq', 1920, 1080, 60.0, 16.667, 4096, 0, 5 * 10**9)
                      + text('vsync, measured 16.667 ms')),
    'pong': message(66, struct.pack('<qqQQ', 1, 2, 0, 0)),
    'reply': message(67, struct.pack('<iiq', 3, 0, 5) + text('')),
    'event_trial': message(68, event, 9),
    'event_block_end': message(68, struct.pack('<II', 2, 0) + event[8:] + summary, 10),
    'bad_truncated': message(6, struct.pack('<qiiii', 42, 1, -1, 5, 10))[:30],
    'bad_version': b'INCD' + struct.pack('<HHII', 2, 1, 0, 0),
    'bad_length': b'INCD' + struct.pack('<HHII', 1, 2, 0, 99) + b'\0' * 8,
    'bad_image_size': message(3, struct.pack('<iiII', 9000, 9000, 1, 0)),
    'bad_event_kind': message(68, struct.pack('<II', 7, 0) + event[8:]),
}
for name, data in seeds.items():
    with open(os.path.join(out, name), 'wb') as f:
        f.write(data)
