"""Checks a session that was killed with SIGKILL and finished by `inception
resume` (tests/test_resume.sh): the record as the kill left it against the
final record, and the final record against the virtual rigs' ground truth
(rig_truth of the killed run's rig, rig_truth.K of each resumed run's rig).
Prints one line per failed check and exits 1, or prints a summary and exits 0.

usage: resume_check.py SESSION_DIR KILLED_RECORD TRAIN TEST REPEATS TARGETS CLOSED_REPEATS [DAMAGED] [--audio]

KILLED_RECORD may name several records joined by ':' (a session killed and resumed several
times, tests/test_resume_audio.sh): each is checked against the final record.

DAMAGED (default 0): the corrupt stretches the killed record held (tests/test_resume_repair.sh
damages one); the final record keeps them in place and must hold no other damage.

--audio (modality: audio, tests/test_resume_audio.sh): four closed-loop kinds (MEI, best
natural clip, STRF optimum, pure tone), every stimulus record carries its clip at the protocol's rate and
level (AUDIO_RATE, AUDIO_RMS_DBFS: 16000, -30), each best-natural control is one of the
natural clips sample for sample, every unflagged trial has its clip's onset sample, and the
ground-truth median is the per-target truths'.
"""
import glob
import os
import sys
from collections import Counter

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "controller", "record"))
from record_reader import read_records  # noqa: E402

audio = "--audio" in sys.argv
args = [a for a in sys.argv if a != "--audio"]
session, killed = args[1:3]
train, test, repeats, targets, closed_repeats = map(int, args[3:8])
damaged = int(args[8]) if len(args) > 8 else 0
kinds = 4  # audio: no matched Gabor, the tone instead
problems = []


def check(ok, what):
    if not ok:
        problems.append(what)


killed_records = [list(read_records(path)) for path in killed.split(":")]
final = list(read_records(os.path.join(session, "session.rec")))
check(sum(r["type"] in ("corrupt", "torn") for r in final) == damaged
      and not any(r["type"] == "torn" for r in final),
      "the final record reads cleanly but for the %d damaged stretches before the kill" % damaged)
final = [r for r in final if r["type"] not in ("corrupt", "torn")]
kept_sequences = [r["sequence"] for r in final]
check(kept_sequences == sorted(set(kept_sequences)) and kept_sequences[-1] == len(final) + damaged,
      "the final record's sequence numbers ascend to %d with %d lost to damage"
      % (len(final) + damaged, damaged))

# What each kill left: every intact record (a torn tail is what was lost).
final_by_seq = {r["sequence"]: r for r in final}
acknowledged = []
for k, before in enumerate(killed_records):
    trials_before = [r for r in before if r["type"] == "trial"]
    acknowledged += trials_before
    kept = 0
    for r in trials_before:
        g = final_by_seq.get(r["sequence"])
        same = (g is not None and g["type"] == "trial" and
                all(g["fields"][f] == r["fields"][f] for f in ("trial", "image_id", "flags")) and
                np.array_equal(g["fields"]["counts"], r["fields"]["counts"]))
        kept += same
    check(kept == len(trials_before), "%d of %d trials recorded before kill %d are intact in the "
          "final record" % (kept, len(trials_before), k + 1))
    # And every stimulus recorded before the kill, pixels (and an audio
    # clip's samples) unchanged, at its sequence number.
    stimuli_before = [r for r in before if r["type"] == "stimulus"]
    same_stimuli = 0
    for r in stimuli_before:
        g = final_by_seq.get(r["sequence"])
        same_stimuli += (g is not None and g["type"] == "stimulus" and
                         all(g["fields"].get(f) == r["fields"].get(f)
                             for f in ("stimulus_id", "kind", "neuron")) and
                         all(np.array_equal(np.asarray(g["fields"].get(f, [])),
                                            np.asarray(r["fields"].get(f, [])))
                             for f in ("pixels", "samples")))
    check(same_stimuli == len(stimuli_before), "%d of %d stimuli recorded before kill %d are "
          "intact in the final record" % (same_stimuli, len(stimuli_before), k + 1))

by = {}
for r in final:
    by.setdefault(r["type"], []).append(r)
phases = [(r["fields"]["phase"], r["fields"]["event"]) for r in by.get("phase", [])]
ends = [p for p, e in phases if e == "end"]
want = ["start", "recording", "fit", "synthesis", "closed_loop", "evaluation"]
check(ends == want, "every phase ends once, in order: %s" % phases)

trials = by.get("trial", [])
numbers = [t["fields"]["trial"] for t in trials]
check(len(numbers) == len(set(numbers)), "trial numbers are unique")
stimuli = {s["fields"]["stimulus_id"]: s["fields"] for s in by.get("stimulus", [])}
natural = [t for t in trials if t["fields"]["block"] == "recording"]
closed = [t for t in trials if t["fields"]["block"] == "closed_loop"]
shown = sorted(Counter(t["fields"]["image_id"] for t in natural).values())
check(shown == sorted([1] * train + [repeats] * test),
      "each natural image shown as planned (%d trials, want %d)"
      % (len(natural), train + test * repeats))
check(len(closed) == kinds * targets * closed_repeats,
      "%d closed-loop trials (want %d)" % (len(closed), kinds * targets * closed_repeats))
check(all(stimuli.get(t["fields"]["image_id"], {}).get("kind") not in (None, "natural")
          for t in closed), "closed-loop trials show recorded MEIs and controls")

# Ground truth: every rig the session had, by trial number.
truth = {}
for d in sorted(glob.glob(os.path.join(session, "rig_truth*"))):
    counts = np.load(os.path.join(d, "truth_counts.npy"))
    rows = np.load(os.path.join(d, "truth_trials.npy"))
    for i, row in enumerate(rows):
        truth[int(row[0])] = (int(row[1]), counts[i], int(row[5]))
matched = mismatched = 0
for t in trials:
    f = t["fields"]
    if f["flags"] != 0 or truth.get(f["trial"], (0, 0, 1))[2] != 0:
        continue
    stim, counts, _ = truth[f["trial"]]
    if stim == f["image_id"] and np.array_equal(counts, f["counts"]):
        matched += 1
    else:
        mismatched += 1
# Trials flagged only for their display frames (65536: shown for the wrong
# number of frames) say how the machine's scheduling went, not whether resume
# kept the stream right (run-frames tests them): the share that must match is
# of the others, so a loaded CI machine does not fail a correct resume.
frames_only = sum(1 for t in trials if t["fields"]["flags"] == 65536)
check(mismatched == 0 and matched >= 0.75 * (len(trials) - frames_only),
      "trial counts equal the rigs' ground truth: %d match, %d differ, of %d (%d flagged only "
      "for their frames)" % (matched, mismatched, len(trials), frames_only))
before_numbers = {r["fields"]["trial"] for r in acknowledged if r["fields"]["flags"] == 0}
check(all(n in truth for n in before_numbers),
      "every unflagged trial recorded before the kill is in the killed rig's ground truth")
evals = by.get("evaluation", [])
check(any(e["fields"]["kind"] == "truth_median_ratio_mei_over_best_natural" for e in evals),
      "the evaluation is recorded")

if audio:
    # The clips as in an unbroken run (run_check.py --audio): in every
    # stimulus record at the protocol's rate and RMS level, 20 log10(RMS) in
    # double here within 1e-4 dB (the C sets it to float rounding), ramped to
    # 0 at both ends; the natural ones once each; the best-natural controls
    # among them, sample for sample.
    recs = by.get("stimulus", [])
    clips = [np.asarray(r["fields"].get("samples", []), dtype=np.float64) for r in recs]
    levels = [20 * np.log10(np.sqrt(np.mean(c * c))) if len(c) else np.nan for c in clips]
    rate = int(os.environ.get("AUDIO_RATE", "16000"))
    level = float(os.environ.get("AUDIO_RMS_DBFS", "-30"))
    check(len(clips) > 0 and all(r["fields"].get("sample_rate") == rate for r in recs) and
          len(set(len(c) for c in clips)) == 1 and all(abs(x - level) < 1e-4 for x in levels) and
          all(abs(c[0]) < 1e-6 and abs(c[-1]) < 1e-6 and np.abs(c).max() <= 1 for c in clips),
          "every stimulus record carries its clip at %d Hz and %s dBFS, ramped" % (rate, level))
    natural_ids = sorted(r["fields"]["stimulus_id"] for r in recs
                         if r["fields"]["kind"] == "natural")
    check(natural_ids == list(range(train + test)),
          "each natural clip recorded once (%d, want %d)" % (len(natural_ids), train + test))
    naturals = [c for r, c in zip(recs, clips) if r["fields"]["kind"] == "natural"]
    best = [c for r, c in zip(recs, clips) if r["fields"]["kind"] == "best_natural"]
    # (A synthesis the kill cut short leaves its stimuli; the redone one adds its own.)
    check(len(best) >= targets and
          all(any(np.array_equal(b, c) for c in naturals) for b in best),
          "each best-natural control is one of the natural clips, sample for sample")
    frames_flag = 1 << 16
    check(all(t["fields"].get("sound_onset_sample", -1) >= 0 for t in trials
              if not t["fields"]["flags"] & frames_flag),
          "every trial not flagged for its frames carries its clip's onset sample")
    per_truth = {}
    for e in evals:
        f = e["fields"]
        if f["neuron"] >= 0 and f["kind"].startswith("truth_"):
            per_truth.setdefault(f["neuron"], {})[f["kind"]] = f["mean"]
    ratios = [t["truth_mei"] / t["truth_best_natural_training"] for t in per_truth.values()
              if t.get("truth_best_natural_training", 0) > 0]
    median = [e["fields"]["mean"] for e in evals
              if e["fields"]["kind"] == "truth_median_ratio_mei_over_best_natural"]
    # The last of each kind: an evaluation the kill cut short is done again after it.
    check(sum("truth_tone" in t for t in per_truth.values()) == targets,
          "the ground truth of each target's tone control is recorded")
    check(len(ratios) == targets and len(median) >= 1 and
          abs(float(np.median(ratios)) - median[-1]) <= 1e-5 * float(np.median(ratios)),
          "the ground-truth median MEI / truly best natural clip is the per-target truths' (%s)"
          % median)

for p in problems:
    print(p)
if not problems:
    print("%d trials before the kill%s intact; %d trials in all, %d match the ground truth"
          % (len({r["sequence"] for r in acknowledged}), "s" if len(killed_records) > 1 else "",
             len(trials), matched))
sys.exit(1 if problems else 0)
