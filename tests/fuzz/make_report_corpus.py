"""make_report_corpus.py: seed sessions for fuzz_report, written with struct
and zlib alone (independent of the C writer; format in controller/record/RECORD.md).

Usage: make_report_corpus.py OUT_DIR. Writes a small whole session
(session.rec) and one with hostile values (wild.rec): NaN and huge numbers,
markup in text, flips running backwards, targets beyond the counts, onsets
at the int64 extremes, a 1 ns counts bin, test metrics of unequal lengths,
learning-curve notes with infinite losses and an unknown fit, trial_flags
records for no trial, for the int64 extremes, with all bits and without
flags; both carry a model.bin checkpoint that is no model, a targets note
and a trial_flags record flagging a closed-loop trial after its record.
Both hold a search phase (search_phase below); the whole session's protocol
enables it, so its curves are drawn.
"""
import math
import os
import struct
import sys
import zlib

TYPES = {"session_start": 1, "phase": 2, "schedule": 3, "flip": 4, "stream": 5,
         "alignment": 7, "trial": 8, "checkpoint": 9, "stimulus": 10, "evaluation": 11,
         "note": 12, "model_metrics": 13, "trial_flags": 15}


def field(name, dtype, value, shape=None):
    raw = name.encode()
    if dtype in "sb":
        data = value.encode() if dtype == "s" else value
        shape = (len(data),)
    elif shape is None:
        shape, data = (), struct.pack("<" + dtype, value)
    else:
        data = struct.pack("<%d%s" % (len(value), dtype), *value)
    return (bytes([len(raw)]) + raw + dtype.encode() + bytes([len(shape)]) +
            struct.pack("<%dI" % len(shape), *shape) + data)


class Writer:
    def __init__(self):
        self.out, self.sequence, self.time = bytearray(), 0, 10 ** 9

    def record(self, kind, *fields, dt=1000000):
        self.sequence += 1
        self.time += dt
        payload = b"".join(fields)
        header = struct.pack("<4sHHIQQ", b"IREC", 1, TYPES[kind], len(payload),
                             self.sequence, self.time)
        body = header + payload
        self.out += body + struct.pack("<I", zlib.crc32(body))


def session(w, wild):
    bad = float("nan") if wild else 0.0
    protocol = b"x" if wild else (b"name: seed\nresponse:\n  latency_ms: 30\n  duration_ms: 100\n"
                                  b"search:\n  enabled: true\n  generations: 2\n"
                                  b"  population_size: 2\n  repeats: 1\n")
    w.record("session_start", field("format_version", "q", 1),
             field("protocol_name", "s", "<seed>" if wild else "seed"),
             field("unix_ns", "Q", 1700000000 * 10 ** 9), field("protocol_text", "b", protocol))
    w.record("phase", field("phase", "s", "closed_loop"), field("event", "s", "begin"),
             field("unix_ns", "Q", 0))
    w.record("model_metrics", field("split", "s", "test"), field("epoch", "q", 3),
             field("correlation", "f", [0.1, 0.5, bad, 1e30 if wild else 0.7], (4,)))
    kinds = ["mei", "best_natural", "gabor", "rf"]
    for target in (1, 2):
        for k, kind in enumerate(kinds):
            side = 1 if wild and k == 3 else 8
            w.record("stimulus", field("stimulus_id", "q", 10 * target + k),
                     field("neuron", "q", target), field("kind", "s", "<b>" if wild and k == 2
                                                          else kind),
                     field("predicted", "d", bad if k else 5.0 + target),
                     field("pixels", "f", [((x * 7 + k) % 8) / 7.0 for x in range(side * 8)],
                           (side, 8)))
    trial = 0
    for repeat in range(3):
        for target in (1, 2, 9 if wild else 2):
            for k, kind in enumerate(kinds):
                w.record("schedule", field("trial", "q", trial), field("block", "s", "closed_loop"),
                         field("kind", "s", kind), field("image_id", "q", 10 * target + k),
                         field("target_neuron", "q", target), field("stimulus_frames", "q", 30),
                         field("isi_frames", "q", 30))
                counts = [float((repeat + k * 3 + target) % 7)] * 4
                # The PSTH's onsets: on the acquisition clock for even trials (wild:
                # the int64 extremes), through the alignment for odd ones.
                onset_acq = 10 ** 7 * trial
                if wild and trial % 4 == 0:
                    onset_acq = -2 ** 63 if trial % 8 == 0 else 2 ** 63 - 1
                acq = [field("onset_acq_ns", "q", onset_acq)] if trial % 2 == 0 else []
                w.record("trial", field("trial", "q", trial), field("image_id", "q", 0),
                         field("onset_ns", "q", 10 ** 7 * trial),
                         field("counts", "f", counts, (4,)), *acq)
                trial += 1
    search_phase(w, wild, trial)
    # A closed-loop trial flagged after its record (RECORD.md `trial_flags`).
    w.record("trial_flags", field("trial", "q", 2), field("flags", "q", 1),
             field("from_ns", "q", 10 ** 7), field("until_ns", "q", 10 ** 7 + 33333),
             field("reason", "s", "late spike"))
    if wild:
        for t, f in ((-1, 1), (2 ** 63 - 1, -1), (-2 ** 63, 2 ** 62), (5, None)):
            flags = [field("flags", "q", f)] if f is not None else []
            w.record("trial_flags", field("trial", "q", t), *flags,
                     field("reason", "s", "<wild>"))
    for frame in range(30):
        flip = (frame * 16666667 if not wild or frame % 7 else -frame * 10 ** 15)
        w.record("flip", field("trial", "q", frame // 5), field("frame", "q", frame),
                 field("flip_ns", "q", flip), field("onset_ns", "q", flip),
                 field("missed", "q", 1 if frame == 12 else 0), field("photodiode", "q", 0))
    for i in range(20):
        w.record("stream", field("message_num", "q", i + (3 if i >= 10 else 0)),
                 field("kind", "s", "data"), field("sample_num", "q", 300 * i),
                 field("num_samples", "q", 300),
                 field("timestamp_ms", "q", -2 ** 62 if wild and i == 4 else 1700000000000 + i),
                 field("received_ns", "q", 10 ** 9 + 10 ** 7 * i),
                 field("lost", "q", 3 if i == 10 else 0), field("data_size", "q", 9600),
                 # counts bins (wild: a 1 ns bin, a NaN and a huge count)
                 field("bin_width_ns", "q", 1 if wild and i == 3 else 10 ** 7),
                 field("counts", "f", [bad, 3e38 if wild else 1.0, float(i % 3), 1.0], (4,)))
    for fit in range(3):
        w.record("alignment", field("slope_ns_per_sample", "d", 33333.3 if wild else 1.0),
                 field("residual_rms_ns", "d", math.inf if wild and fit == 1 else 2e4 + fit),
                 field("residual_max_ns", "d", 6e4), field("points", "q", 10),
                 field("display_ref_ns", "q", 0), field("acquisition_ref_ns", "q", 5 * 10 ** 6),
                 field("offset_ns", "d", 1e300 if wild and fit == 2 else 0.0))
    w.record("evaluation", field("neuron", "q", 1), field("kind", "s", "mei"),
             field("mean", "d", 4.0), field("ci_low", "d", bad), field("ci_high", "d", 5.0),
             field("repeats", "q", 3))
    w.record("evaluation", field("neuron", "q", -1), field("kind", "s", "test_metrics"),
             field("mean", "d", 0.2),
             field("single_trial_corr", "f", [0.1, bad, 0.3, 0.2], (4,)),
             field("oracle", "f", [0.4, 0.5, 1e38 if wild else 0.6, 0.5], (3 if wild else 4,)))
    for step in range(6):
        fit = "background" if step < 3 else "final"
        w.record("note", field("text", "s", "%s fit, round %d" % (fit, step)),
                 field("fit", "s", "<x>" if wild and step == 5 else fit),
                 field("round", "q", 2 ** 62 if wild and step == 1 else step),
                 field("trials", "q", 100 * step),
                 field("train_loss", "d", (math.inf if step == 2 else -1e308) if wild
                       else 1.0 / (step + 1)),
                 field("validation_corr", "d", bad if step == 4 else 0.05 * step))
    # A model.bin that is no model (the report says so), the chosen targets.
    w.record("checkpoint", field("file_name", "s", "model.bin"), field("epoch", "q", 3),
             field("validation_corr", "d", bad), field("model", "b", b"IMDL" + bytes(60)))
    w.record("note", field("text", "s", "targets"),
             field("targets", "i", [1, 2, -5 if wild else 3], (3,)))
    w.record("note", field("text", "s", "a <note> & \"quotes\"" if wild else "done"))


def search_phase(w, wild, trial):
    """The search phase (docs/search.md): per target 2 generations of 2
    images, one trial each, the hand-over and the ground truth. Wild: an
    image of no neuron and one of a neuron beyond the counts, hand-overs
    that are NaN, huge or another kind's image, and NaN truth."""
    bad = float("nan") if wild else 0.0
    w.record("phase", field("phase", "s", "search"), field("event", "s", "begin"),
             field("unix_ns", "Q", 0))
    extra = [-1, 9] if wild else []
    for g in range(2):
        images = [(t, 100 + 10 * g + 2 * t + i) for t in (1, 2) for i in range(2)]
        images += [(n, 190 + 2 * g + k) for k, n in enumerate(extra)]
        for target, sid in images:
            w.record("stimulus", field("stimulus_id", "q", sid), field("neuron", "q", target),
                     field("kind", "s", "search"), field("predicted", "d", float("nan")),
                     field("pixels", "f", [((x * 3 + sid) % 8) / 7.0 for x in range(64)],
                           (8, 8)))
        for target, sid in images:
            w.record("trial", field("trial", "q", trial), field("image_id", "q", sid),
                     field("onset_ns", "q", 10 ** 7 * trial), field("block", "s", "search"),
                     field("counts", "f", [float((sid + g) % 5), 3e38 if wild else 2.0, bad,
                                           1.0], (4,)))
            trial += 1
    w.record("phase", field("phase", "s", "search"), field("event", "s", "end"),
             field("unix_ns", "Q", 0))
    hand_over = {1: math.nan if wild else 112.0, 2: 1e300 if wild else 115.0}
    if wild:
        hand_over[2 ** 62] = 10.0  # the MEI of target 1: not a search image
    for target, sid in hand_over.items():
        for kind, value in (("search_best_stimulus", sid), ("search_best_mean", 3.0),
                            ("truth_search_best", bad if target == 1 else 4.0),
                            ("truth_mei", 2.0),
                            ("truth_best_natural_training", 0.0 if wild else 1.5)):
            w.record("evaluation", field("neuron", "q", target), field("kind", "s", kind),
                     field("mean", "d", value), field("ci_low", "d", value),
                     field("ci_high", "d", value), field("repeats", "q", 0))
    for kind, value in (("truth_median_ratio_search_over_best_natural", 2.0),
                        ("truth_targets_search_beats_best_natural", 2.0),
                        ("truth_targets_search_beats_mei", bad)):
        w.record("evaluation", field("neuron", "q", -1), field("kind", "s", kind),
                 field("mean", "d", value), field("ci_low", "d", value),
                 field("ci_high", "d", value), field("repeats", "q", 0))


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, wild in (("session.rec", False), ("wild.rec", True)):
        w = Writer()
        session(w, wild)
        open(os.path.join(out, name), "wb").write(bytes(w.out))


main()
