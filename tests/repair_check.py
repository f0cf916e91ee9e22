"""Damages a natural stimulus record and checks its repair (tests/test_resume_repair.sh).

usage:
  repair_check.py shown RECORD                 the image_id of the first trial record
  repair_check.py flip RECORD ID               flips one byte inside the pixels of every
                                               intact natural stimulus record of image ID
                                               (prints the offsets)
  repair_check.py strip RECORD                 rewrites RECORD as written before stimulus
                                               hashes: pixels_sha256 and image_sha256 (each
                                               its record's last field) cut off, lengths and
                                               CRCs set again
  repair_check.py negate RECORD ID             an audio session's: negates the samples of
                                               the intact natural stimulus record of clip ID
                                               (its cochleagram and hashes unchanged; its
                                               CRC set again): a clip its cochleagram cannot
                                               tell from the recorded one
  repair_check.py repaired RECORD PRISTINE ID  RECORD (resumed or replayed) holds a stimulus
                                               record of image ID again, its pixels those of
                                               PRISTINE (the record before the damage) bit
                                               for bit, its pixels_sha256 hashlib's and the
                                               schedule's image_sha256, and its last note
                                               "repaired: ..." names image ID; an audio
                                               session's (tests/test_resume_audio.sh): its
                                               samples too, and the note names clip ID
Prints one line per failed check and exits 1, or a summary and exits 0.
"""
import hashlib
import os
import struct
import sys
import zlib

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "controller", "record"))
from record_reader import read_records  # noqa: E402


def natural(records, image):
    return [r for r in records if r["type"] == "stimulus" and r["fields"]["kind"] == "natural"
            and r["fields"]["stimulus_id"] == image]


command, path = sys.argv[1:3]
records = list(read_records(path))
if command == "shown":
    print([r for r in records if r["type"] == "trial"][0]["fields"]["image_id"])
    sys.exit(0)
if command == "strip":
    data, out = open(path, "rb").read(), b""
    records = [r for r in records if r["type"] != "torn"]  # what resume would cut
    for r in records:
        assert r["type"] != "corrupt", "strip wants an undamaged record"
        length = struct.unpack_from("<I", data, r["offset"] + 8)[0]
        header = bytearray(data[r["offset"]:r["offset"] + 28])
        payload = data[r["offset"] + 28:r["offset"] + 28 + length]
        for name in (b"pixels_sha256", b"image_sha256"):
            field = bytes([len(name)]) + name + b"b\x01" + struct.pack("<I", 32)
            cut = len(payload) - len(field) - 32
            if payload[cut:cut + len(field)] == field:
                payload = payload[:cut]
        struct.pack_into("<I", header, 8, len(payload))
        body = bytes(header) + payload
        out += body + struct.pack("<I", zlib.crc32(body))
    open(path, "wb").write(out)
    left = [r for r in read_records(path) if "pixels_sha256" in r.get("fields", {})
            or "image_sha256" in r.get("fields", {})]
    sys.exit(0 if not left and len(list(read_records(path))) == len(records) else 1)
image = int(sys.argv[-1])
if command == "flip":
    targets = natural(records, image)
    with open(path, "r+b") as f:
        for r in targets:
            # The payload's middle is inside the pixels (2,304 of its ~2,400 bytes).
            f.seek(r["offset"] + 8)
            length = struct.unpack("<I", f.read(4))[0]
            at = r["offset"] + 28 + length // 2
            f.seek(at)
            byte = f.read(1)
            f.seek(at)
            f.write(bytes([byte[0] ^ 0x10]))
            print(r["offset"])
    after = [r for r in read_records(path) if r["type"] == "corrupt"]
    sys.exit(0 if targets and len(after) >= len(targets) and not natural(
        list(read_records(path)), image) else 1)

if command == "negate":
    data = bytearray(open(path, "rb").read())
    field = b"\x07samples" + b"f\x01"
    targets = natural(records, image)
    for r in targets:
        length = struct.unpack_from("<I", data, r["offset"] + 8)[0]
        start = r["offset"] + 28
        at = data.index(field, start, start + length) + len(field)
        n = struct.unpack_from("<I", data, at)[0]
        for k in range(n):  # the sign bit: the high byte of each little-endian float32
            data[at + 4 + 4 * k + 3] ^= 0x80
        end = start + length
        struct.pack_into("<I", data, end, zlib.crc32(bytes(data[r["offset"]:end])))
    open(path, "wb").write(bytes(data))
    again = natural(list(read_records(path)), image)
    sys.exit(0 if targets and len(again) == len(targets) and all(
        np.array_equal(a["fields"]["samples"], -b["fields"]["samples"])
        for a, b in zip(again, targets)) else 1)

problems = []
before = natural(list(read_records(sys.argv[3])), image)
again = natural(records, image)
if not before:
    problems.append("the pristine record has no stimulus record of image %d" % image)
elif len(again) != 1:
    problems.append("%d intact stimulus records of image %d (want the rebuilt one)"
                    % (len(again), image))
else:
    want, got = before[0]["fields"], again[0]["fields"]
    if not np.array_equal(got["pixels"].view(np.uint32), want["pixels"].view(np.uint32)):
        problems.append("the rebuilt pixels of image %d differ from those recorded" % image)
    digest = hashlib.sha256(got["pixels"].astype("<f4").tobytes()).digest()
    if got["pixels_sha256"] != digest or want["pixels_sha256"] != digest:
        problems.append("pixels_sha256 of image %d is not hashlib's SHA-256" % image)
    if "samples" in want and not np.array_equal(np.asarray(got.get("samples", [])).view(np.uint32),
                                                np.asarray(want["samples"]).view(np.uint32)):
        problems.append("the rebuilt samples of clip %d differ from those recorded" % image)
    shown = [r["fields"].get("image_sha256") for r in records if r["type"] == "schedule"
             and r["fields"]["kind"] == "natural" and r["fields"]["image_id"] == image]
    if not shown or any(h != digest for h in shown):
        problems.append("the schedule records of image %d carry another image_sha256" % image)
notes = [r["fields"]["text"] for r in records if r["type"] == "note"
         and r["fields"]["text"].startswith("repaired:")]
# The last: a replay's record also copies the resume's.
word = "clip" if before and "samples" in before[0]["fields"] else "image"
if not notes or "(%s %d)" % (word, image) not in notes[-1] or " 1 verified" not in notes[-1]:
    problems.append("want a last note 'repaired: ... (%s %d) ... 1 verified', got %s"
                    % (word, image, notes))
damaged = [r for r in records if r["type"] in ("corrupt", "torn")]
for p in problems:
    print(p)
if not problems:
    print("%s %d rebuilt bit for bit, verified by SHA-256 (%d damaged stretches skipped)"
          % (word, image, len(damaged)))
sys.exit(1 if problems else 0)
