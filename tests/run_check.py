"""Checks a session written by `inception run` (tests/test_run.sh): every
phase, the schedule, flips and trials, the trials' counts against the virtual
rig's ground truth, the stimuli, the model and the evaluation, recomputed
here from the trial records. TAP output.

With --faults (a protocol with virtual_rig.drop_sync_every / drop_bin_every,
tests/test_run_faults.sh) the run must have flagged trials in both the natural
and the closed-loop phases, so that the checks that flagged trials reach
neither the fit nor the evaluation bite.

With --audio (modality: audio, tests/test_run_audio.sh) the stimuli are clips:
the one control is the best natural clip, every stimulus record carries its
samples at the protocol's level, the ground truth is MEI / the truly best
natural training clip, `rf` is the fitted linear STRF's optimum clip and `tone`
the pure tone the model prefers (a steady ramped sine inside the cochleagram's
range).

usage: run_check.py SESSION_DIR TRAIN TEST REPEATS TARGETS CLOSED_REPEATS [--faults] [--audio]
"""
import math
import re
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "controller", "record"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from record_reader import read_records  # noqa: E402
from bootstrap_reference import evaluation_interval  # noqa: E402

n = int(os.environ.get("TAP_START", "1"))
failed = 0


def check(ok, what):
    global n, failed
    print(("ok %d - " if ok else "not ok %d - ") % n + what)
    n += 1
    failed += 0 if ok else 1


session = sys.argv[1]
train, test, repeats, targets, closed_repeats = map(int, sys.argv[2:7])
expect_faults = "--faults" in sys.argv[7:]
audio = "--audio" in sys.argv[7:]
KINDS = (["mei", "best_natural", "rf", "tone"] if audio
         else ["mei", "best_natural", "gabor", "rf"])
records = list(read_records(os.path.join(session, "session.rec")))
by = {}
for r in records:
    by.setdefault(r["type"], []).append(r)

check(not any(r["type"] in ("corrupt", "torn") for r in records), "the record reads cleanly")
seqs = [r["sequence"] for r in records]
check(seqs == list(range(1, len(records) + 1)), "sequence numbers 1..%d" % len(records))
phases = [(r["fields"]["phase"], r["fields"]["event"]) for r in by.get("phase", [])]
want = []
for p in ["start", "recording", "fit", "synthesis", "closed_loop", "evaluation"]:
    want += [(p, "begin"), (p, "end")]
check(phases == want, "every phase begins and ends, in order: %s" % phases)

natural_trials = train + test * repeats
stimuli = by.get("stimulus", [])
kinds = [s["fields"]["kind"] for s in stimuli]
check(kinds.count("natural") == train + test, "%d natural images recorded as stimuli (want %d)"
      % (kinds.count("natural"), train + test))
for k in KINDS:
    check(kinds.count(k) == targets, "%d %s stimuli (want %d)" % (kinds.count(k), k, targets))
closed_trials = len(KINDS) * targets * closed_repeats
total = natural_trials + closed_trials
sched = by.get("schedule", [])
check(len(sched) == total, "%d schedule entries (want %d)" % (len(sched), total))
flips = by.get("flip", [])
onsets = [f for f in flips if f["fields"].get("onset", 1) == 1]
late = [f for f in flips if f["fields"].get("onset", 1) == 0]
check(len(onsets) == total, "%d onset flips (want %d)" % (len(onsets), total))
check(all(f["fields"]["missed"] > 0 for f in late),
      "every other flip record is a late flip (%d of them)" % len(late))
trials = by.get("trial", [])
check(len(trials) == total, "%d trials recorded (want %d)" % (len(trials), total))
# Flags a trial gained after its record was written (RECORD.md `trial_flags`):
# ORed into its own, as every reader does.
gained = {}
for r in by.get("trial_flags", []):
    gained[r["fields"]["trial"]] = gained.get(r["fields"]["trial"], 0) | r["fields"]["flags"]
for t in trials:
    t["fields"]["flags"] = t["fields"].get("flags", 0) | gained.get(t["fields"]["trial"], 0)

# Dropped frames (RECORD.md: flip records, the blocks' display notes, the
# trials' RUN_TRIAL_FRAMES flag): every count says the same.
FRAMES = 1 << 16
blocks = [r["fields"] for r in by.get("note", []) if "display_block" in r["fields"]]
dropped = sum(f["fields"]["missed"] for f in flips)
check(len(blocks) == 2 and sum(b["dropped_frames"] for b in blocks) == dropped and
      all(b["events_lost"] == 0 for b in blocks),
      "the flip records' %d missed frames are the display's count over its %d blocks (%s)"
      % (dropped, len(blocks), [b["dropped_frames"] for b in blocks]))
terminal = os.environ.get("TERMINAL_DROPPED")
if terminal is not None:
    check(int(terminal) == dropped, "the terminal printed %s dropped frames, the record %d"
          % (terminal, dropped))
frames_flagged = {t["fields"]["trial"] for t in trials if t["fields"]["flags"] & FRAMES}
check(sum(b["trials_flagged_frames"] for b in blocks) == len(frames_flagged),
      "%d trials flagged for their frames, as the blocks' notes count" % len(frames_flagged))
late_trials = {f["fields"]["trial"] for f in late if f["fields"]["trial"] >= 0}
check(late_trials <= frames_flagged,
      "every trial with a late flip while it was up is flagged (%d trials, %d not)"
      % (len(late_trials), len(late_trials - frames_flagged)))
want_drops = int(os.environ.get("WANT_DROPPED", "0"))
check(dropped >= want_drops and (want_drops == 0 or len(frames_flagged) > 0),
      "frames were dropped as the test drove them (%d, at least %d)" % (dropped, want_drops))
sched_image = {s["fields"]["trial"]: s["fields"]["image_id"] for s in sched}
check(all(sched_image.get(t["fields"]["trial"]) == t["fields"]["image_id"] for t in trials),
      "each trial shows the image its schedule entry planned")
stim_ids = {s["fields"]["stimulus_id"] for s in stimuli}
check(all(s["fields"]["image_id"] in stim_ids for s in sched),
      "every scheduled image was recorded as a stimulus first")

truth_counts = np.load(os.path.join(session, "rig_truth", "truth_counts.npy"))
truth_trials = np.load(os.path.join(session, "rig_truth", "truth_trials.npy"))
check(len(truth_trials) == total, "the rig saw %d onsets (want %d)" % (len(truth_trials), total))
truth = {int(row[0]): (int(row[1]), truth_counts[i], int(row[5]))
         for i, row in enumerate(truth_trials)}
matched = mismatched = 0
for t in trials:
    f = t["fields"]
    # The counts of a trial flagged only for its frames are still the rig's.
    if f["flags"] & (FRAMES - 1) or truth.get(f["trial"], (0, 0, 1))[2] != 0:
        continue
    stim, counts, _ = truth[f["trial"]]
    if stim == f["image_id"] and np.array_equal(counts, f["counts"]):
        matched += 1
    else:
        mismatched += 1
# Every unflagged trial must be exact; a loaded machine delays onsets and the
# aligner rightly flags those trials, so "most usable" is 80%, not all.
check(mismatched == 0 and matched >= 0.80 * total,
      "trial counts equal the rig's ground truth: %d match, %d differ" % (matched, mismatched))

# Trials the rig damaged on purpose or by loss (truth flags 1 lost bin, 4 lost
# sync edge) are in the record, flagged with the aligner's bit for it
# (ACQ_TRIAL_LOST 1, ACQ_TRIAL_NO_SYNC 4): nothing recorded is lost.
record_flags = {t["fields"]["trial"]: t["fields"]["flags"] for t in trials}
damaged = [(int(row[0]), int(row[5]) & 5) for row in truth_trials if int(row[5]) & 5]
kept = [trial for trial, bits in damaged
        if trial in record_flags and record_flags[trial] & bits == bits]
check(len(kept) == len(damaged),
      "%d of the %d trials the rig damaged (lost bin or sync edge) are in the record with "
      "their flag" % (len(kept), len(damaged)))
block_of = {s["fields"]["trial"]: s["fields"]["block"] for s in sched}
flagged_natural = sum(1 for t in trials if t["fields"]["flags"] and
                      block_of.get(t["fields"]["trial"]) != "closed_loop")
flagged_closed = sum(1 for t in trials if t["fields"]["flags"] and
                     block_of.get(t["fields"]["trial"]) == "closed_loop")
if expect_faults:
    check(len(damaged) > 0 and flagged_natural > 0 and flagged_closed > 0,
          "injected faults: %d damaged trials; %d natural and %d closed-loop trials flagged"
          % (len(damaged), flagged_natural, flagged_closed))
# The background fit took the unflagged natural trials only: its note counts them.
fitted = [int(m.group(1)) for m in (re.match(r"background fit: (\d+) trials", r["fields"]["text"])
                                     for r in by.get("note", [])) if m]
unflagged_natural = natural_trials - flagged_natural
check(fitted == [unflagged_natural],
      "the background fit had %s trials: the %d unflagged natural ones"
      % (fitted, unflagged_natural))

# The final model (model.bin), after at most one start model (model_start.bin:
# the background fit's, where the final fit started, recorded before it).
cks = by.get("checkpoint", [])
final = [c for c in cks if c["fields"]["file_name"] == "model.bin"]
start = [c for c in cks if c["fields"]["file_name"] == "model_start.bin"]
check(len(final) == 1 and len(final[0]["fields"]["model"]) > 1000 and len(start) <= 1 and
      len(cks) == len(final) + len(start) and (not start or start[0]["sequence"] < final[0]["sequence"]),
      "one model checkpoint with the model's bytes (after %d start model)" % len(start))
evals = by.get("evaluation", [])
tm = [e for e in evals if e["fields"]["kind"] == "test_metrics"]
check(len(tm) == 1 and np.isfinite(tm[0]["fields"]["feve"]).any(),
      "test metrics recorded (mean FEVE %.3f)" % (tm[0]["fields"]["mean"] if tm else np.nan))
check(len(by.get("alignment", [])) >= 2, "an alignment fit per block")

# The learning curve (RECORD.md: a note per background round and final-fit
# epoch): rounds 1..R as the background-fit note counts them, recorded before
# the start model; epochs 1..E as the final-fit note counts them, and the
# final checkpoint's epoch and validation correlation are one of them.
curve = [r for r in by.get("note", []) if "fit" in r["fields"]]
rounds = [r["fields"]["round"] for r in curve if r["fields"]["fit"] == "background"]
said = [int(m.group(1)) for m in (re.search(r"(\d+) rounds during the recording",
                                            r["fields"]["text"]) for r in by.get("note", [])) if m]
check(len(said) == 1 and rounds == list(range(1, said[0] + 1)) and
      all(r["sequence"] < start[0]["sequence"] for r in curve
          if r["fields"]["fit"] == "background") if start else rounds == list(range(1, len(rounds) + 1)),
      "background fit rounds %s recorded, as its note counts (%s)" % (rounds, said))
epochs = {r["fields"]["round"]: r["fields"] for r in curve if r["fields"]["fit"] == "final"}
said = [int(m.group(1)) for m in (re.match(r"final fit: (\d+) epochs", r["fields"]["text"])
                                  for r in by.get("note", [])) if m]
best = final[0]["fields"] if final else {}
check(len(said) == 1 and sorted(epochs) == list(range(1, said[0] + 1)) and
      (best.get("epoch", 0) < 1 or epochs[best["epoch"]]["validation_corr"] == best["validation_corr"]) and
      all(np.isfinite(f["train_loss"]) for f in epochs.values()),
      "final fit epochs 1..%s recorded with finite losses; the best one's validation correlation "
      "is the model checkpoint's" % (said[0] if said else "?"))

# Per-neuron evaluation, recomputed from the trial records.
stim_of = {s["fields"]["stimulus_id"]: s["fields"] for s in stimuli}
ok = count = 0
for e in evals:
    f = e["fields"]
    if f["neuron"] < 0 or f["kind"] not in KINDS:
        continue
    ids = [i for i, s in stim_of.items() if s["kind"] == f["kind"] and s["neuron"] == f["neuron"]]
    vals = [t["fields"]["counts"][f["neuron"]] for t in trials
            if t["fields"]["image_id"] in ids and t["fields"]["flags"] == 0]
    count += 1
    if not vals:  # every trial of it flagged (e.g. for dropped frames): no mean, said so
        ok += f["repeats"] == 0 and not (f["mean"] is not None and np.isfinite(f["mean"]))
        continue
    ok += (len(vals) == f["repeats"] and abs(np.mean(np.array(vals, dtype=np.float64)) - f["mean"]) < 1e-9 * (1 + abs(f["mean"]))
           and f["ci_low"] <= f["mean"] <= f["ci_high"])
check(count == len(KINDS) * targets and ok == count,
      "%d of %d per-neuron evaluations match the recorded trials' means, inside their CI"
      % (ok, count))
# Their intervals: the report's bootstrap (2,000 resamples, seeded by neuron
# and kind) of the same unflagged trials, recomputed by bootstrap_reference.py.
# The bounds are resampled means, which Python sums in the C's order; numpy's
# percentile interpolates with another formula than the C's, a few ulps:
# 1e-12 relative leaves room for that and nothing else. The report's table
# shows the same numbers the record holds (%.3g, as the page prints them).
page = open(os.path.join(session, "report", "index.html")).read()
same = shown = count = 0
for e in evals:
    f = e["fields"]
    if f["neuron"] < 0 or f["kind"] not in KINDS or not f["repeats"]:
        continue
    ids = [i for i, s in stim_of.items() if s["kind"] == f["kind"] and s["neuron"] == f["neuron"]]
    vals = [float(t["fields"]["counts"][f["neuron"]]) for t in trials
            if t["fields"]["image_id"] in ids and t["fields"]["flags"] == 0]
    mean, low, high = evaluation_interval(vals, int(f["neuron"]), f["kind"])
    count += 1
    same += all(abs(a - b) <= 1e-12 * (1 + abs(a))
                for a, b in ((low, f["ci_low"]), (high, f["ci_high"])))
    shown += ("<td>%.3g [%.3g, %.3g] (%d)</td>" % (f["mean"], f["ci_low"], f["ci_high"],
                                                   f["repeats"])) in page
# (Every evaluation is present: checked above. Those with no unflagged trial
# have no interval, so these two count the others.)
check(count >= 1 and same == count,
      "%d of %d recorded intervals are the report's bootstrap of the unflagged trials" % (same, count))
check(count >= 1 and shown == count,
      "%d of %d recorded intervals shown as such in the report's table" % (shown, count))
ratio = [e["fields"]["mean"] for e in evals
         if e["fields"]["kind"] == "truth_median_ratio_mei_over_best_natural"]
check(len(ratio) == 1 and np.isfinite(ratio[0]) and ratio[0] > 0,
      "ground-truth median MEI / best natural recorded: %s" % ratio)
truth = {}
for e in evals:
    f = e["fields"]
    if f["neuron"] >= 0 and f["kind"] in ("truth_mei", "truth_gabor", "truth_rf", "truth_tone"):
        truth.setdefault(f["neuron"], {})[f["kind"]] = f["mean"]
summary = {e["fields"]["kind"]: e["fields"]["mean"] for e in evals if e["fields"]["neuron"] < 0}
for control in ("rf", "tone") if audio else ("gabor", "rf"):
    wins = sum(1 for t in truth.values() if "truth_" + control in t and t["truth_mei"] > t["truth_" + control])
    check(summary.get("truth_targets_mei_beats_" + control) == wins and
          summary.get("truth_targets_scored") == len(truth) == targets,
          "ground truth: MEI beats the %s for %s of %s targets, as the per-target truths say "
          "(%d of %d)" % (control, summary.get("truth_targets_mei_beats_" + control),
                          summary.get("truth_targets_scored"), wins, len(truth)))
# The recorded comparisons (issue 15): per control, the MEI beats it where its
# interval lies wholly above the control's, is below where wholly below; the
# counts recorded are those of the per-target intervals. And the recording
# agrees with the ground truth in direction: no control that the simulated
# cell answers at least as strongly as the MEI is reported beaten.
interval = {(e["fields"]["neuron"], e["fields"]["kind"]): e["fields"] for e in evals
            if e["fields"]["neuron"] >= 0 and e["fields"]["repeats"]}
per_truth = {}
for e in evals:
    f = e["fields"]
    if f["neuron"] >= 0 and f["kind"].startswith("truth_"):
        per_truth.setdefault(f["neuron"], {})[f["kind"]] = f["mean"]
disagree = at_risk = 0
for control in KINDS[1:]:
    compared = beat = below = 0
    for neuron in set(k[0] for k in interval):
        m, c = interval.get((neuron, "mei")), interval.get((neuron, control))
        if not m or not c or not c["mean"] > 0:
            continue
        compared += 1
        beat += m["ci_low"] > c["ci_high"]
        below += m["ci_high"] < c["ci_low"]
        truth_row = per_truth.get(neuron, {})
        at_risk += not truth_row["truth_mei"] > truth_row["truth_" + control]
        disagree += (m["ci_low"] > c["ci_high"] and
                     not truth_row["truth_mei"] > truth_row["truth_" + control])
    got = tuple(summary.get("targets_%s_%s" % (what, control))
                for what in ("compared", "mei_beats", "mei_below"))
    # A control with no target to compare (all its trials flagged) records no counts.
    check(got == (compared, beat, below) or (compared == 0 and got == (None, None, None)),
          "recorded MEI vs %s: compared, beats, below %s, from the intervals %s"
          % (control, got, (compared, beat, below)))
# "Beaten" is a statistical claim (two 95% bootstrap intervals apart): where the
# cell answers the control at least as strongly as the MEI, it is still made
# by chance now and then. Simulated with Poisson counts of equal means and
# these tests' 3-5 repeats per stimulus (docs/controls.md), about 2.5-3.2% of
# such pairs; below 1% from 8 repeats (the demo's). So the recount must equal
# the record exactly, and the pairs reported beaten against the truth must
# stay within what a 3.5% rate gives over the pairs at risk in all but 1 of
# 10,000 sessions (0 where none is at risk; a rule that claimed beats
# systematically against the truth would exceed it).
def binomial_bound(k, p, alpha=1e-4):
    """The smallest b with P(X > b) <= alpha for X ~ Binomial(k, p)."""
    pmf = [math.comb(k, i) * p ** i * (1 - p) ** (k - i) for i in range(k + 1)]
    for b in range(k + 1):
        if sum(pmf[b + 1:]) <= alpha:
            return b
    return k
allowed = binomial_bound(at_risk, 0.035)
check(summary.get("truth_recorded_beaten_disagrees") == disagree <= allowed,
      "controls the ground truth ranks at or above the MEI reported beaten: %s recorded, %d "
      "recounted, at most %d allowed by chance over the %d such pairs"
      % (summary.get("truth_recorded_beaten_disagrees"), disagree, allowed, at_risk))
own = [per_truth[k]["truth_mei"] / per_truth[k]["truth_best_natural_training_own_contrast"]
       for k in per_truth if per_truth[k].get("truth_best_natural_training_own_contrast", 0) > 0]
check(audio or len(own) == targets and
      abs(float(np.median(own)) -
          summary.get("truth_median_ratio_mei_over_best_natural_own_contrast", np.nan))
      <= 1e-5 * float(np.median(own)),
      "ground truth against the best natural image at its own contrast: median %s over %d "
      "targets (recorded %s)" % (np.median(own) if own else None, len(own),
                                 summary.get("truth_median_ratio_mei_over_best_natural_own_contrast")))
# The best natural image by the recording: each target's highest response to
# an unflagged trial of the train block, and the median MEI mean / it.
best_rec = {f["neuron"]: f["mean"] for f in (e["fields"] for e in evals)
            if f["neuron"] >= 0 and f["kind"] == "best_natural_recorded_training"}
want_rec = {}
for t in trials:
    f = t["fields"]
    if f["flags"] == 0 and block_of.get(f["trial"]) == "train":
        for neuron in best_rec:
            want_rec[neuron] = max(want_rec.get(neuron, -1.0), float(f["counts"][neuron]))
ratios = [interval[(k, "mei")]["mean"] / v for k, v in best_rec.items()
          if (k, "mei") in interval and v > 0]
check(len(best_rec) == targets and all(best_rec[k] == want_rec.get(k) for k in best_rec) and
      abs(float(np.median(ratios)) -
          summary.get("median_ratio_mei_over_best_natural_recorded_training", np.nan))
      <= 1e-5 * float(np.median(ratios)),
      "the best recorded natural training response per target %s (recounted %s) and the median "
      "MEI / it %s" % (best_rec, want_rec,
                       summary.get("median_ratio_mei_over_best_natural_recorded_training")))
if audio:
    # Every clip as played is in its stimulus record, at the protocol's rate
    # and RMS level: 20 log10(RMS) in double here, within 1e-4 dB (the C sets
    # it to float rounding, about 1e-6 dB); ramped: the first and last
    # samples are 0 (the raised cosine's ends).
    rate = [s["fields"].get("sample_rate") for s in stimuli]
    clips = [np.asarray(s["fields"].get("samples", []), dtype=np.float64) for s in stimuli]
    levels = [20 * np.log10(np.sqrt(np.mean(c * c))) if len(c) else np.nan for c in clips]
    want_level = float(os.environ.get("AUDIO_RMS_DBFS", "-30"))
    check(len(set(rate)) == 1 and rate[0] == int(os.environ.get("AUDIO_RATE", "16000")) and
          len(set(len(c) for c in clips)) == 1 and
          all(abs(l - want_level) < 1e-4 for l in levels) and
          all(abs(c[0]) < 1e-6 and abs(c[-1]) < 1e-6 and np.abs(c).max() <= 1 for c in clips),
          "all %d stimulus records carry their clip: %s samples at %s Hz, RMS %.6f..%.6f dBFS"
          % (len(clips), len(clips[0]), rate[0], min(levels), max(levels)))
    by_id = {s["fields"]["stimulus_id"]: c for s, c in zip(stimuli, clips)}
    best_nat = [s["fields"] for s in stimuli if s["fields"]["kind"] == "best_natural"]
    naturals = [c for s, c in zip(stimuli, clips) if s["fields"]["kind"] == "natural"]
    check(all(any(np.array_equal(by_id[b["stimulus_id"]], c) for c in naturals) for b in best_nat),
          "each best-natural control is one of the natural clips, sample for sample")
    # Each tone control is a steady sine under the ramps: between them its
    # samples keep x[i-1] + x[i+1] = 2 cos(w) x[i] (true of any sinusoid of
    # angular step w, whatever its phase and amplitude), with cos(w) fitted by
    # least squares here; the residual allowed, 1e-5 of the RMS, is float
    # rounding's (about 1e-7 relative) with a margin, where a sum of two tones
    # or any envelope leaves 1e-2 and more. Its frequency lies within the
    # cochleagram's range (100 Hz .. 0.475 × rate, model/auditory.c).
    ramp = int(round(0.005 * rate[0]))
    tones = [c for s, c in zip(stimuli, clips) if s["fields"]["kind"] == "tone"]
    tone_neurons = [s["fields"]["neuron"] for s in stimuli if s["fields"]["kind"] == "tone"]
    steady = []
    for c in tones:
        x = c[ramp + 1:len(c) - ramp - 1]
        a, b = x[1:-1], x[:-2] + x[2:]
        k = float(a @ b / (a @ a))
        resid = np.sqrt(np.mean((b - k * a) ** 2)) / np.sqrt(np.mean(x * x))
        hz = math.acos(max(-1.0, min(1.0, k / 2))) * rate[0] / (2 * math.pi)
        steady.append((hz, resid))
    check(len(tones) == targets and
          all(r < 1e-5 and 100 * 0.999 <= hz <= 0.475 * rate[0] * 1.001 for hz, r in steady),
          "each tone control is a steady sine at the budget: %s (Hz, residual over RMS)"
          % ", ".join("%.1f, %.1e" % t for t in steady))
    # And its frequency is the one the record's note gives (printed to 0.01
    # Hz; the fit above is good to far better than the 0.1 Hz allowed).
    noted = {}
    for r in by.get("note", []):
        m = re.match(r"tone control of neuron (\d+): ([0-9.]+) Hz", r["fields"].get("text", ""))
        if m:
            noted[int(m.group(1))] = float(m.group(2))
    check(len(noted) == targets and
          all(abs(noted.get(neuron, -1) - hz) < 0.1 for neuron, (hz, _) in zip(tone_neurons, steady)),
          "a note gives each target's tone frequency, the clip's: %s" % noted)
    # Each trial's onset as the frame of the audio device's stream where its
    # clip begins: every unflagged trial has one, and they grow with the trial
    # number at least a clip apart (one clip plays at a time, whole).
    onset = sorted((t["fields"]["trial"], t["fields"].get("sound_onset_sample", -1))
                   for t in trials if not t["fields"]["flags"] & FRAMES)
    steps = [b[1] - a[1] for a, b in zip(onset, onset[1:])]
    check(len(onset) > 0 and all(o >= 0 for _, o in onset) and
          all(d >= len(clips[0]) for d in steps),
          "%d unflagged trials carry their clip's onset sample in the device stream, each at "
          "least a clip (%d frames) after the one before (the least %s)"
          % (len(onset), len(clips[0]), min(steps) if steps else None))
    ratios = [per_truth[k]["truth_mei"] / per_truth[k]["truth_best_natural_training"]
              for k in per_truth if per_truth[k].get("truth_best_natural_training", 0) > 0]
    wins = sum(1 for k in per_truth
               if per_truth[k]["truth_mei"] > per_truth[k]["truth_best_natural_training"])
    check(len(ratios) == targets and
          abs(float(np.median(ratios)) - summary["truth_median_ratio_mei_over_best_natural"])
          <= 1e-5 * float(np.median(ratios)) and
          summary.get("truth_targets_mei_beats_best_natural") == wins,
          "ground truth: median MEI / truly best natural training clip %.3f over %d targets, "
          "the MEI beats it for %d (as recorded)" % (np.median(ratios) if ratios else np.nan,
                                                     len(ratios), wins))
print("1..%d" % (n - 1))
sys.exit(1 if failed else 0)
