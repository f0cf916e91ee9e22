"""Checks a session that was killed with SIGKILL and finished by `inception
resume` (tests/test_resume.sh): the record as the kill left it against the
final record, and the final record against the virtual rigs' ground truth
(rig_truth of the killed run's rig, rig_truth.K of each resumed run's rig).
Prints one line per failed check and exits 1, or prints a summary and exits 0.

usage: resume_check.py SESSION_DIR KILLED_RECORD TRAIN TEST REPEATS TARGETS CLOSED_REPEATS [DAMAGED]

DAMAGED (default 0): the corrupt stretches the killed record held (tests/test_resume_repair.sh
damages one); the final record keeps them in place and must hold no other damage.
"""
import glob
import os
import sys
from collections import Counter

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "controller", "record"))
from record_reader import read_records  # noqa: E402

session, killed = sys.argv[1:3]
train, test, repeats, targets, closed_repeats = map(int, sys.argv[3:8])
damaged = int(sys.argv[8]) if len(sys.argv) > 8 else 0
problems = []


def check(ok, what):
    if not ok:
        problems.append(what)


before = list(read_records(killed))
final = list(read_records(os.path.join(session, "session.rec")))
check(sum(r["type"] in ("corrupt", "torn") for r in final) == damaged
      and not any(r["type"] == "torn" for r in final),
      "the final record reads cleanly but for the %d damaged stretches before the kill" % damaged)
final = [r for r in final if r["type"] not in ("corrupt", "torn")]
kept_sequences = [r["sequence"] for r in final]
check(kept_sequences == sorted(set(kept_sequences)) and kept_sequences[-1] == len(final) + damaged,
      "the final record's sequence numbers ascend to %d with %d lost to damage"
      % (len(final) + damaged, damaged))

# What the kill left: every intact record (a torn tail is what was lost).
acknowledged = [r for r in before if r["type"] == "trial"]
final_by_seq = {r["sequence"]: r for r in final}
kept = 0
for r in acknowledged:
    g = final_by_seq.get(r["sequence"])
    same = (g is not None and g["type"] == "trial" and
            all(g["fields"][k] == r["fields"][k] for k in ("trial", "image_id", "flags")) and
            np.array_equal(g["fields"]["counts"], r["fields"]["counts"]))
    kept += same
check(kept == len(acknowledged), "%d of %d trials recorded before the kill are intact in the "
      "final record" % (kept, len(acknowledged)))

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
check(len(closed) == 4 * targets * closed_repeats,
      "%d closed-loop trials (want %d)" % (len(closed), 4 * targets * closed_repeats))
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

for p in problems:
    print(p)
if not problems:
    print("%d trials before the kill intact; %d trials in all, %d match the ground truth"
          % (len(acknowledged), len(trials), matched))
sys.exit(1 if problems else 0)
