"""Read an inception session record (controller/record/RECORD.md) with numpy alone.

    import inception.record as rec
    session = rec.open("sessions/demo")          # a session folder or a .rec file
    for r in session.records():                  # every record, in file order
        print(r["sequence"], r["type"], r["fields"])
    trials = session.trials()                    # the trial table: dict of numpy columns
    spikes = session.spikes()                    # Open Ephys spikes: sample_num, sorted_id, ...
    stimuli = session.stimuli()                  # every stimulus record's pixels and fields
    data = session.dataset()                     # training arrays (images, responses, tiers)

Each record is a dict: offset, sequence, type (a name such as "trial"), type_code, time_ns
(monotonic), fields (name -> value: a Python int/float for scalars, a numpy array for arrays,
str for text, bytes for bytes). Damaged stretches are yielded as {"type": "corrupt" or "torn",
"offset", "size"} and skipped, as the C reader does.
"""
import builtins
import os
import struct
import zlib

import numpy as np

MAGIC = b"IREC"
FORMAT_VERSION = 1
HEADER = struct.Struct("<4sHHIQQ")  # magic, version, type, length, sequence, time_ns
TYPES = ["unknown", "session_start", "phase", "schedule", "flip", "stream", "sync",
         "alignment", "trial", "checkpoint", "stimulus", "evaluation", "note",
         "model_metrics", "spikes", "trial_flags"]
DTYPES = {"q": "<i8", "Q": "<u8", "d": "<f8", "f": "<f4", "i": "<i4", "B": "u1"}
RECORD_FILE_NAME = "session.rec"
# The aligner's trial flags (RECORD.md, "Tiers, repeats and flags"); 0 = trustworthy.
TIERS = ("train", "validation", "test", "unused")  # the blocks of natural trials
# The stimulus kinds (the records' `kind` of schedule, stimulus and evaluation records), in
# the order of C's one table (stimulus/stimulus_base.h, stimulus_kind); the first four are the
# closed loop's: the MEI and its controls.
STIMULUS_KINDS = ("mei", "best_natural", "gabor", "rf", "least", "least_natural", "natural",
                  "diverse", "masked", "surround", "surround_most", "surround_least", "tone",
                  "search", "pattern", "pattern_natural")
CLOSED_LOOP_KINDS = STIMULUS_KINDS[:4]
NATURAL = STIMULUS_KINDS[6]
TRIAL_FLAGS = {1: "lost_bin", 2: "duplicate", 4: "no_sync", 8: "ambiguous_sync",
               16: "restart", 32: "stale", 64: "mismatch"}


class RecordError(ValueError):
    """A payload that does not parse (its fields overrun the record)."""


def raw_fields(payload):
    """The payload's fields as (name, dtype, shape, data bytes) tuples, in order."""
    at, out = 0, []
    while at < len(payload):
        n = payload[at]
        if n == 0 or at + 3 + n > len(payload):
            raise RecordError("field at payload byte %d overruns the payload" % at)
        name = payload[at + 1:at + 1 + n].decode("ascii", "replace")
        dtype, ndim = chr(payload[at + 1 + n]), payload[at + 2 + n]
        at += 3 + n
        if dtype not in DTYPES and dtype not in "sb" or ndim > 4 or at + 4 * ndim > len(payload):
            raise RecordError("field %r: bad dtype %r or shape" % (name, dtype))
        shape = struct.unpack_from("<%dI" % ndim, payload, at)
        at += 4 * ndim
        count = int(np.prod(shape, dtype=np.int64)) if ndim else 1
        size = count * (1 if dtype in "sb" else np.dtype(DTYPES[dtype]).itemsize)
        if at + size > len(payload):
            raise RecordError("field %r: %d data bytes overrun the payload" % (name, size))
        out.append((name, dtype, tuple(shape), bytes(payload[at:at + size])))
        at += size
    return out


def parse_fields(payload):
    """The payload's fields as a dict (RECORD.md, "Payload")."""
    fields = {}
    for name, dtype, shape, data in raw_fields(payload):
        if dtype in "sb":
            fields[name] = data.decode("utf-8", "replace") if dtype == "s" else data
        else:
            a = np.frombuffer(data, DTYPES[dtype]).reshape(shape)
            fields[name] = a.item() if not shape else a.copy()
    return fields


def _valid_at(data, at):
    """The record's end offset if a whole valid record starts at `at`, else None."""
    if len(data) - at < HEADER.size + 4:
        return None
    magic, version, _, length, _, _ = HEADER.unpack_from(data, at)
    end = at + HEADER.size + length
    if magic != MAGIC or not 1 <= version <= FORMAT_VERSION or end + 4 > len(data):
        return None
    crc = struct.unpack_from("<I", data, end)[0]
    return end + 4 if zlib.crc32(data[at:end]) == crc else None


def record_path(path):
    """DIR/session.rec for a session folder, the path itself for a record file."""
    inside = os.path.join(path, RECORD_FILE_NAME)
    return inside if os.path.isdir(path) else path


def read_raw(path):
    """Every record as (offset, header tuple, payload bytes), damage as ("corrupt"|"torn",
    offset, size): the reader under read_records and dump."""
    with builtins.open(record_path(path), "rb") as f:
        data = f.read()
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
            yield ("torn" if nxt >= len(data) else "corrupt", at, nxt - at)
            at = nxt
            continue
        header = HEADER.unpack_from(data, at)
        yield (at, header, data[at + HEADER.size:at + HEADER.size + header[3]])
        at = end


def type_name(code):
    return TYPES[code] if 0 < code < len(TYPES) else "unknown"


def read_records(path):
    """Every record of a session folder or record file, in file order (see the module doc)."""
    for item in read_raw(path):
        if isinstance(item[0], str):
            yield {"type": item[0], "offset": item[1], "size": item[2]}
            continue
        offset, (_, _, code, _, sequence, time_ns), payload = item
        yield {"offset": offset, "sequence": sequence, "type_code": code,
               "type": type_name(code), "time_ns": time_ns, "fields": parse_fields(payload)}


# --------------------------------------------------------------------------------------
# The text listing of `inception record-dump`, line for line (controller/commands/command_record.c).

def _scalar_text(dtype, value):
    if dtype in "dQqiB":
        return "%.9g" % value if dtype == "d" else "%d" % value
    return "%.7g" % value  # f: float32 shown with 7 significant digits


def _text(data, limit):
    out = []
    for c in data[:limit]:
        out.append("\\n" if c == 10 else "\\x%02x" % c if c < 32 or c in (34, 92) else chr(c))
    return '"' + "".join(out) + '"' + ("..." if len(data) > limit else "")


def _field_text(name, dtype, shape, data, limit):
    if dtype == "s":
        value = _text(data, limit)
    elif dtype == "b":
        value = "<%d bytes>" % len(data)
    else:
        a = np.frombuffer(data, DTYPES[dtype])
        if not shape:
            value = _scalar_text(dtype, a[0].item())
        else:
            value = "%s[%s](%s%s)" % (dtype, "x".join(str(s) for s in shape),
                                      " ".join(_scalar_text(dtype, v.item()) for v in a[:4]),
                                      " ..." if a.size > 4 else "")
    return " %s=%s" % (name, value)


def dump(path, payload_bytes=60):
    """The lines `inception record-dump PATH` prints for the valid records (damaged
    stretches as "OFFSET  CORRUPT" / "OFFSET  TORN" without the C reader's reason). Text
    fields keep their bytes as the C listing does: each line is a str of code points 0..255,
    line.encode("latin-1") is the listing's bytes."""
    lines, start_ns, records, damaged = [], None, 0, 0
    for item in read_raw(path):
        if isinstance(item[0], str):
            lines.append("%10d  %s" % (item[1], item[0].upper()))
            damaged += 1
            continue
        offset, (_, _, code, _, sequence, time_ns), payload = item
        if start_ns is None:
            start_ns = time_ns
        records += 1
        line = "%10d  #%-7d %-13s %+12.6f s" % (offset, sequence, type_name(code),
                                               (float(time_ns) - float(start_ns)) * 1e-9)
        try:
            for field in raw_fields(payload):
                line += _field_text(*field, payload_bytes)
        except RecordError as e:
            line += " [payload: %s]" % e
        lines.append(line)
    lines.append("# %d records, %d damaged stretches" % (records, damaged))
    return lines


# --------------------------------------------------------------------------------------
# A session: its records read once, and the tables a lab analyses.

class Session:
    """A session record read into memory (see open())."""

    def __init__(self, path):
        self.path = record_path(path)
        self._records = list(read_records(self.path))

    def records(self, type=None):
        """Valid records in file order (one type's only with `type`); damage is left out."""
        return [r for r in self._records if "fields" in r and (type is None or r["type"] == type)]

    def damage(self):
        """The damaged stretches: [{"type": "corrupt"|"torn", "offset", "size"}]."""
        return [r for r in self._records if "fields" not in r]

    def start(self):
        """The session_start record's fields (the protocol's text in "protocol_text")."""
        first = self.records("session_start")
        if not first:
            raise RecordError("%s: no session_start record" % self.path)
        return first[0]["fields"]

    def trials(self):
        """The trial table, one row per trial number in ascending order (the first record of a
        repeated number, as RECORD.md says), as a dict of numpy columns:

        trial, image_id (= stimulus_id), onset_ns, flags (0 = trustworthy; absent field: 0;
        with the bits of every later `trial_flags` record of the trial ORed in),
        onset_acq_ns and sync_edge_ns (-1 where not recorded), counts (trials x neurons,
        float32), and from the trial's schedule record: block, kind (str arrays, "" where no
        schedule record names the trial), target_neuron (-1: none), stimulus_frames,
        isi_frames (the trial's own gap, its jitter draw included; -1 where unknown)."""
        schedule = {}
        for r in self.records("schedule"):
            schedule.setdefault(r["fields"]["trial"], r["fields"])
        rows = {}
        for r in self.records("trial"):
            rows.setdefault(r["fields"]["trial"], r["fields"])
        order = sorted(rows)
        gained = self.trial_flags()
        widths = {np.asarray(rows[t]["counts"]).size for t in order}
        if len(widths) > 1:
            raise RecordError("%s: trial records with different neuron counts %s"
                              % (self.path, sorted(widths)))
        neurons = widths.pop() if widths else 0

        def column(source, name, default, dtype):
            return np.array([source.get(t, {}).get(name, default) for t in order], dtype=dtype)

        table = {
            "trial": np.array(order, dtype=np.int64),
            "image_id": column(rows, "image_id", -1, np.int64),
            "onset_ns": column(rows, "onset_ns", -1, np.int64),
            "flags": column(rows, "flags", 0, np.int64) | np.array(
                [gained.get(t, 0) for t in order], dtype=np.int64),
            "onset_acq_ns": column(rows, "onset_acq_ns", -1, np.int64),
            "sync_edge_ns": column(rows, "sync_edge_ns", -1, np.int64),
            "counts": (np.stack([np.asarray(rows[t]["counts"], np.float32) for t in order])
                       if order else np.zeros((0, neurons), np.float32)),
            "block": column(schedule, "block", "", object).astype(str),
            "kind": column(schedule, "kind", "", object).astype(str),
            "target_neuron": column(schedule, "target_neuron", -1, np.int64),
            "stimulus_frames": column(schedule, "stimulus_frames", -1, np.int64),
            "isi_frames": column(schedule, "isi_frames", -1, np.int64),
        }
        return table

    def trial_flags(self):
        """{trial: flags} the trials gained after their records were written (RECORD.md
        `trial_flags`, e.g. an Open Ephys spike too late for its bin): every reader ORs them
        into the trial's own flags, as trials() and dataset() do."""
        gained = {}
        for r in self.records("trial_flags"):
            f = r["fields"]
            if "trial" not in f or "flags" not in f:
                raise RecordError("%s: trial_flags record at offset %d: no trial or flags"
                                  % (self.path, r["offset"]))
            gained[f["trial"]] = gained.get(f["trial"], 0) | int(f["flags"])
        return gained

    def spikes(self):
        """Every recorded Open Ephys spike (RECORD.md `spikes`), in arrival order, as a dict of
        numpy columns: sample_num (int64, the stream's sample clock, as the plugin sent it),
        sorted_id (int32, the Spike Sorter's unit; 0 unsorted), electrode (str, the
        electrode's name), received_ns (int64, the monotonic arrival of its batch's last
        spike). Spikes of a damaged record are missing (see damage())."""
        samples, sorted_ids, electrodes, received = [], [], [], []
        for r in self.records("spikes"):
            f = r["fields"]
            if "sample_num" in f:
                sample = np.asarray(f["sample_num"], np.int64)
            else:  # int32 differences from the first sample
                sample = f["first_sample"] + np.cumsum(f["sample_delta"].astype(np.int64))
            names = np.array(f["electrodes"].split("\n"), dtype=object)
            samples.append(sample)
            sorted_ids.append(np.asarray(f["sorted_id"], np.int32))
            electrodes.append(names[np.asarray(f["electrode"], np.int64)])
            received.append(np.full(sample.size, f["received_ns"], np.int64))
        join = lambda parts, dtype: np.concatenate(parts) if parts else np.zeros(0, dtype)
        return {"sample_num": join(samples, np.int64), "sorted_id": join(sorted_ids, np.int32),
                "electrode": join(electrodes, object).astype(str),
                "received_ns": join(received, np.int64)}

    def stimuli(self):
        """Every stimulus, one per stimulus_id in ascending order (the first record of an id),
        as a dict of numpy columns: stimulus_id, neuron (-1: none), kind, predicted, and
        pixels (stimuli x height x width, float32 luminance in [0, 1])."""
        by_id = {}
        for r in self.records("stimulus"):
            by_id.setdefault(r["fields"]["stimulus_id"], r["fields"])
        ids = sorted(by_id)
        shapes = {by_id[i]["pixels"].shape for i in ids}
        if len(shapes) > 1:
            raise RecordError("%s: stimuli of different sizes %s" % (self.path, sorted(shapes)))
        return {
            "stimulus_id": np.array(ids, dtype=np.int64),
            "neuron": np.array([by_id[i]["neuron"] for i in ids], dtype=np.int64),
            "kind": np.array([by_id[i]["kind"] for i in ids], dtype=object).astype(str),
            "predicted": np.array([by_id[i]["predicted"] for i in ids], dtype=np.float64),
            "pixels": (np.stack([by_id[i]["pixels"].astype(np.float32) for i in ids])
                       if ids else np.zeros((0, 0, 0), np.float32)),
        }

    def dataset(self):
        """The model's training arrays, chosen as `inception run` and `replay` choose them
        (controller/session/session_data.c; RECORD.md, "Tiers, repeats and flags"): trials whose
        schedule record has kind natural and block train, validation, test or unused, without
        flags, in ascending trial order, each with its natural stimulus' pixels. Returns a
        dict: images (trials x H x W float32), responses (trials x neurons float32), tiers
        (str), image_ids, trials, and flagged (how many such trials their flags left out)."""
        table = self.trials()
        natural = {}
        for r in self.records("stimulus"):
            if r["fields"]["kind"] == NATURAL:
                natural.setdefault(r["fields"]["stimulus_id"], r["fields"]["pixels"])
        data = (table["kind"] == NATURAL) & np.isin(table["block"], TIERS)
        for t, shown, scheduled in zip(table["trial"][data], table["image_id"][data],
                                       self._scheduled_images(table["trial"][data])):
            if shown != scheduled:
                raise RecordError("%s: trial %d: image_id %d, its schedule says %d"
                                  % (self.path, t, shown, scheduled))
        keep = data & (table["flags"] == 0)
        for t, i in zip(table["trial"][keep], table["image_id"][keep]):
            if int(i) not in natural:
                raise RecordError("%s: trial %d: no natural stimulus record for image %d"
                                  % (self.path, t, i))
        if not np.any(keep):
            raise RecordError("%s: no natural-image trials in the record" % self.path)
        return {
            "images": np.stack([natural[int(i)].astype(np.float32)
                                for i in table["image_id"][keep]]),
            "responses": table["counts"][keep],
            "tiers": table["block"][keep],
            "image_ids": table["image_id"][keep],
            "trials": table["trial"][keep],
            "flagged": int(np.count_nonzero(data & (table["flags"] != 0))),
        }

    def _scheduled_images(self, trials):
        first = {}
        for r in self.records("schedule"):
            first.setdefault(r["fields"]["trial"], r["fields"]["image_id"])
        return [first[int(t)] for t in trials]

    def save_dataset(self, folder):
        """Write dataset() in the compact layout `inception fit`, `mei` and `export --data`
        read (model/dataset.c): images.npy, responses.npy, tiers.npy (names), image_ids.npy."""
        data = self.dataset()
        os.makedirs(folder, exist_ok=True)
        np.save(os.path.join(folder, "images.npy"), data["images"])
        np.save(os.path.join(folder, "responses.npy"), data["responses"])
        np.save(os.path.join(folder, "tiers.npy"), data["tiers"].astype("<U10"))
        np.save(os.path.join(folder, "image_ids.npy"), data["image_ids"].astype(np.int64))
        return data


def open(path):  # noqa: A001 - the package's verb, as in inception.record.open
    """Read a session folder (its session.rec) or a record file."""
    return Session(path)


def main(argv=None):
    """python3 -m inception.record DIR: the listing of `inception record-dump DIR`."""
    import sys
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python3 -m inception.record DIR|FILE", file=sys.stderr)
        return 2
    lines = dump(args[0])
    sys.stdout.buffer.write(("\n".join(lines) + "\n").encode("latin-1"))
    return 1 if lines[-1].split()[-3] != "0" else 0


if __name__ == "__main__":
    raise SystemExit(main())
