"""Read an inception session record (controller/RECORD.md) with numpy alone.

    from record_reader import read_records
    for r in read_records("sessions/demo/session.rec"):
        print(r["sequence"], r["type"], r["fields"])

Each record is a dict: offset, sequence, type (a name such as "trial"),
type_code, time_ns (monotonic), fields (name -> value: a Python int/float for
scalars, a numpy array for arrays, str for text, bytes for bytes). Damaged
stretches are yielded as {"type": "corrupt" or "torn", "offset", "size"} and
skipped, as the C reader does.
"""
import struct
import zlib

import numpy as np

MAGIC = b"IREC"
HEADER = struct.Struct("<4sHHIQQ")  # magic, version, type, length, sequence, time_ns
TYPES = ["unknown", "session_start", "phase", "schedule", "flip", "stream", "sync",
         "alignment", "trial", "checkpoint", "stimulus", "evaluation", "note",
         "model_metrics"]
DTYPES = {"q": "<i8", "Q": "<u8", "d": "<f8", "f": "<f4", "i": "<i4", "B": "u1"}


def parse_fields(payload):
    """The payload's fields as a dict (RECORD.md, "Payload")."""
    fields, at = {}, 0
    while at < len(payload):
        n = payload[at]
        name = payload[at + 1:at + 1 + n].decode()
        dtype, ndim = chr(payload[at + 1 + n]), payload[at + 2 + n]
        at += 3 + n
        shape = struct.unpack_from("<%dI" % ndim, payload, at)
        at += 4 * ndim
        count = int(np.prod(shape, dtype=np.int64)) if ndim else 1
        if dtype in "sb":
            value = bytes(payload[at:at + count])
            fields[name] = value.decode("utf-8", "replace") if dtype == "s" else value
        else:
            a = np.frombuffer(payload, DTYPES[dtype], count, at).reshape(shape)
            value = a.item() if ndim == 0 else a.copy()
            fields[name] = value
            count *= a.itemsize
        at += count
    return fields


def _valid_at(data, at):
    """The record's end offset if a whole valid record starts at `at`, else None."""
    if len(data) - at < HEADER.size + 4:
        return None
    magic, version, _, length, _, _ = HEADER.unpack_from(data, at)
    end = at + HEADER.size + length
    if magic != MAGIC or not 1 <= version <= 1 or end + 4 > len(data):
        return None
    crc = struct.unpack_from("<I", data, end)[0]
    return end + 4 if zlib.crc32(data[at:end]) == crc else None


def read_records(path):
    data = open(path, "rb").read()
    at = 0
    while at < len(data):
        end = _valid_at(data, at)
        if end is None:  # damage: find the next valid record
            nxt = at + 1
            while nxt < len(data):
                nxt = data.find(MAGIC, nxt)
                if nxt < 0 or _valid_at(data, nxt) is not None:
                    break
                nxt += 1
            nxt = len(data) if nxt < 0 else nxt
            yield {"type": "torn" if nxt >= len(data) else "corrupt", "offset": at,
                   "size": nxt - at}
            at = nxt
            continue
        _, _, code, length, sequence, time_ns = HEADER.unpack_from(data, at)
        payload = data[at + HEADER.size:at + HEADER.size + length]
        yield {"offset": at, "sequence": sequence, "type_code": code,
               "type": TYPES[code] if code < len(TYPES) else "unknown",
               "time_ns": time_ns, "fields": parse_fields(payload)}
        at = end
