"""Checks a session of `inception run` whose protocol asks for mei.kinds
[full, masked, surround, least, diverse] with controls [best_natural]
(tests/test_run_kinds.sh): every kind synthesized per target and shown
REPEATS times, each kind's evaluation the mean and the report's bootstrap of
its unflagged trials (recomputed here by bootstrap_reference.py), each
comparison's summary (docs/run.md: kind against its control) recomputed from
those intervals, the ground truth per kind, the masked MEI a pointwise mix of
the MEI and gray, the diverse sets (DIVERSE images per target, each evaluated
like a kind, its mean over the MEI's, the share at 0.8 or more and the set's
pixel correlation recomputed here), the target patterns (PATTERNS patterns
over the targets as one group, image and control each shown REPEATS times,
the similarity of each one's recorded mean pattern to its recorded target
recomputed here) and the report's per-kind figures. TAP output.

The session also runs the search phase (search: generations, population_size
and repeats as given): run_search_check.py checks it.

The virtual rig's population has a baseline rate BASELINE (spikes per
window, virtual_rig.baseline_rate; share 1, docs/ground-truth.md "Baseline
rates"): the rig's own spike counts show it, and the ground truth counts the
least exciting inputs of those cells against their truly least exciting
natural training image (recomputed here from the per-target truth); the
report shows that count. CUT_DIR is a copy of the session cut before its
evaluation's end and resumed (CUT_OUTPUT its output): it printed and
recorded the same baseline figures, and its report shows them.

DIRECTION is the search's (search.direction: most or least).

usage: run_kinds_check.py SESSION_DIR TARGETS REPEATS GENERATIONS POPULATION SEARCH_REPEATS
                          RUN_OUTPUT DIVERSE PATTERNS BASELINE CUT_DIR CUT_OUTPUT DIRECTION
"""
import os
import re
import statistics
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "controller", "record"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from record_reader import read_records  # noqa: E402
from bootstrap_reference import (EVALUATION_LEVEL, EVALUATION_RESAMPLES,  # noqa: E402
                                 bootstrap_statistic, evaluation_interval)
from run_search_check import check_search, check_search_report  # noqa: E402

n = 1
failed = 0


def check(ok, what):
    global n, failed
    print(("ok %d - " if ok else "not ok %d - ") % n + what)
    n += 1
    failed += 0 if ok else 1


session = sys.argv[1]
targets, repeats = int(sys.argv[2]), int(sys.argv[3])
generations, population, search_repeats = (int(a) for a in sys.argv[4:7])
run_output = open(sys.argv[7]).read()
diverse, patterns = int(sys.argv[8]), int(sys.argv[9])
baseline = float(sys.argv[10])
cut_dir, cut_output = sys.argv[11], open(sys.argv[12]).read()
least_search = sys.argv[13] == "least"
records = list(read_records(os.path.join(session, "session.rec")))
by = {}
for r in records:
    by.setdefault(r["type"], []).append(r["fields"])
# Flags a trial gained after its record was written (RECORD.md `trial_flags`:
# a span of possible loss that came later, e.g. a message the rig's publisher
# dropped under load) are ORed into its own, as every reader does: the
# evaluation leaves such a trial out.
gained = {}
for f in by.get("trial_flags", []):
    gained[f["trial"]] = gained.get(f["trial"], 0) | f["flags"]
for t in by.get("trial", []):
    t["flags"] = t.get("flags", 0) | gained.get(t["trial"], 0)
print("# %d trials flagged after their record (trial_flags)" % len(gained))

KINDS = ["mei", "best_natural", "masked", "surround_most", "surround_least", "least",
         "least_natural"]
# The comparisons docs/run.md lists: kind over its control.
COMPARISONS = [("mei", "best_natural"), ("masked", "mei"), ("surround_most", "masked"),
               ("surround_least", "masked"), ("least", "least_natural")]

phases = [(p["phase"], p["event"]) for p in by.get("phase", [])]
check(phases[-2:] == [("evaluation", "begin"), ("evaluation", "end")] and len(phases) == 14,
      "the session ran every phase to the evaluation's end")

closed = [s for s in by.get("stimulus", [])
          if s["kind"] not in ("natural", "search", "diverse", "pattern", "pattern_natural")]
sets = [s for s in by.get("stimulus", []) if s["kind"] == "diverse"]
neurons = sorted({s["neuron"] for s in closed})
have = {(s["neuron"], s["kind"]) for s in closed}
check(len(neurons) == targets and all((t, k) in have for t in neurons for k in KINDS) and
      len(closed) == targets * len(KINDS),
      "each of %d targets has one stimulus of each kind %s (%d closed-loop stimuli)"
      % (len(neurons), KINDS, len(closed)))

ids = {s["stimulus_id"]: s for s in closed}
trials = [t for t in by.get("trial", []) if t["image_id"] in ids]
check(len(trials) == targets * len(KINDS) * repeats,
      "%d closed-loop trials (want %d: every stimulus %d times)"
      % (len(trials), targets * len(KINDS) * repeats, repeats))

evals = by.get("evaluation", [])
per = {(e["neuron"], e["kind"]): e for e in evals if e["neuron"] >= 0}
summary = {e["kind"]: e["mean"] for e in evals if e["neuron"] < 0}

# Each target × kind: the unflagged trials' mean and the bootstrap interval.
# The bounds are resampled means summed in the C's order; numpy's
# percentile interpolates with another formula, a few ulps: 1e-12 relative.
ok = 0
interval = {}
for t in neurons:
    for k in KINDS:
        e = per.get((t, k))
        sid = [i for i, s in ids.items() if s["neuron"] == t and s["kind"] == k]
        vals = [float(x["counts"][t]) for x in trials if x["image_id"] in sid and x["flags"] == 0]
        if e is not None and not vals:  # every trial flagged (dropped frames): no mean, said so
            ok += e["repeats"] == 0 and not (e["mean"] == e["mean"])
            continue
        if e is None:
            continue
        mean, low, high = evaluation_interval(vals, int(t), k)
        same = (e["repeats"] == len(vals) and abs(mean - e["mean"]) <= 1e-9 * (1 + abs(mean)) and
                abs(low - e["ci_low"]) <= 1e-12 * (1 + abs(low)) and
                abs(high - e["ci_high"]) <= 1e-12 * (1 + abs(high)))
        ok += same
        interval[(t, k)] = (e["mean"], e["ci_low"], e["ci_high"])
check(ok == targets * len(KINDS),
      "%d of %d per-kind evaluations are the mean and bootstrap interval of their unflagged "
      "trials" % (ok, targets * len(KINDS)))


def names(kind, control):
    if kind == "mei":
        return ("median_ratio_mei_over_%s" % control, "targets_compared_%s" % control,
                "targets_mei_beats_%s" % control, "targets_mei_below_%s" % control)
    return ("median_ratio_%s_over_%s" % (kind, control),
            "targets_compared_%s_over_%s" % (kind, control),
            "targets_%s_beats_%s" % (kind, control), "targets_%s_below_%s" % (kind, control))


# Each comparison: the median ratio over targets whose control mean is
# positive, and the counts whose intervals lie wholly above or below.
right = 0
for kind, control in COMPARISONS:
    ratios, beat, below = [], 0, 0
    for t in neurons:
        a, c = interval.get((t, kind)), interval.get((t, control))
        if not a or not c or not c[0] > 0:
            continue
        ratios.append(a[0] / c[0])
        beat += a[1] > c[2]
        below += a[2] < c[1]
    median_name, compared, beats, belows = names(kind, control)
    if not ratios:
        right += median_name not in summary
        continue
    want = statistics.median(ratios)
    # The C takes the median of float32 ratios: 1e-6 relative.
    right += (abs(summary.get(median_name, float("nan")) - want) <= 1e-6 * (1 + abs(want)) and
              summary.get(compared) == len(ratios) and summary.get(beats) == beat and
              summary.get(belows) == below)
check(right == len(COMPARISONS),
      "%d of %d comparisons' median ratio and counts recomputed from the intervals"
      % (right, len(COMPARISONS)))

# The ground truth per kind, and its comparison counts from those values.
truth = {(e["neuron"], e["kind"][6:]): e["mean"] for e in evals
         if e["neuron"] >= 0 and e["kind"].startswith("truth_")}
check(all((t, k) in truth for t in neurons for k in KINDS),
      "every target's simulated cell scored on every kind (truth_<kind>)")
right = 0
for kind, control in COMPARISONS[1:]:
    pairs = [(truth[(t, kind)], truth[(t, control)]) for t in neurons]
    _, compared, beats, belows = names(kind, control)
    right += (summary.get("truth_" + compared) == len(pairs) and
              summary.get("truth_" + beats) == sum(a > b for a, b in pairs) and
              summary.get("truth_" + belows) == sum(a < b for a, b in pairs))
check(right == len(COMPARISONS) - 1,
      "%d of %d ground-truth comparison counts recomputed from truth_<kind>"
      % (right, len(COMPARISONS) - 1))

# The baseline population, from the rig's own files (truth_counts.npy, one
# row of counts per trial, of the first rig and the resumed one): every cell
# fires spontaneously, each one's mean count at least half the baseline
# (natural images leave about half of it, docs/ground-truth-results.md).
# Measured with baseline 5: 4.4 to 9.1 per cell; the same protocol and seed
# without a baseline: 0.5 to 5.7, 9 of the 12 cells below 2.5.
counts = np.concatenate([np.load(os.path.join(session, d, "truth_counts.npy"))
                         for d in sorted(os.listdir(session)) if d.startswith("rig_truth")])
means = counts.mean(axis=0)
check(counts.shape[0] > 0 and means.min() >= baseline / 2,
      "the rig's %d cells fire spontaneously: mean counts %.2f to %.2f over its %d trials "
      "(want at least half the baseline %g)"
      % (counts.shape[1], means.min(), means.max(), counts.shape[0], baseline))
# Issue 16's criterion (docs/ground-truth.md): every target has a baseline
# (share 1); the count and median of least / truly least natural training
# image recomputed from truth_least and truth_least_natural_training
# (float32 rates: the median to 1e-6 relative), and printed.
low = [(truth[(t, "least")], truth.get((t, "least_natural_training"), float("nan")))
       for t in neurons]
below = sum(a < b for a, b in low)
ratios = [a / b for a, b in low if b > 0]
median = statistics.median(ratios) if ratios else float("nan")
got = summary.get("truth_median_ratio_baseline_least_over_least_natural_training", float("nan"))
check(summary.get("truth_targets_baseline_scored") == targets and
      summary.get("truth_targets_baseline_least_below_least_natural_training") == below and
      len(ratios) == targets and abs(got - median) <= 1e-6 * abs(median) and
      ("least exciting input below the least exciting natural training image for %d of %d"
       % (below, targets)) in run_output,
      "baseline cells: the least exciting input below the truly least exciting natural image for "
      "%d of %d targets (recomputed %d), median %.3f (recomputed %.3f), printed"
      % (summary.get("truth_targets_baseline_least_below_least_natural_training", -1),
         summary.get("truth_targets_baseline_scored", -1), below, got, median))

BASELINE_KINDS = ("truth_targets_baseline_scored",
                  "truth_targets_baseline_least_below_least_natural_training",
                  "truth_median_ratio_baseline_least_over_least_natural_training")


def baseline_line(output):
    """The summary's baseline line as inception run / resume printed it."""
    return [x for x in output.split("\n") if x.startswith("ground truth: neurons with a baseline")]


def report_baseline(scored, below, median):
    """The report's words for the count (report_closed_loop.c baseline_caption)."""
    return ("neurons with a baseline rate: least exciting input below the least exciting natural "
            "training image for %d of %d (median least / least natural %.3f)"
            % (below, scored, median))


# The resume of a copy cut before `evaluation end`: the first evaluation's
# records kept, the evaluation run again (its begin not recorded twice), the
# same baseline figures recorded again to the bit and printed alike.
cut = [r for r in read_records(os.path.join(cut_dir, "session.rec"))]
cut_phases = [(r["fields"]["phase"], r["fields"]["event"]) for r in cut if r["type"] == "phase"]
again = {k: [r["fields"]["mean"] for r in cut if r["type"] == "evaluation" and
             r["fields"]["neuron"] < 0 and r["fields"]["kind"] == k] for k in BASELINE_KINDS}
check(cut_phases[-2:] == [("evaluation", "begin"), ("evaluation", "end")] and
      cut_phases.count(("evaluation", "begin")) == 1 and
      all(v == [summary.get(k)] * 2 for k, v in again.items()) and
      baseline_line(run_output) and baseline_line(cut_output) == baseline_line(run_output),
      "a copy cut before the evaluation's end, resumed: its baseline figures %s recorded again "
      "as the first %s, printed alike (%s)"
      % ([v[-1] if v else None for v in again.values()], [summary.get(k) for k in BASELINE_KINDS],
         baseline_line(cut_output)))

# The masked MEI is mu + m (x* - mu) with 0 <= m <= 1: where the MEI is off
# gray by more than 0.05, (masked - mu) / (mei - mu) lies in [0, 1], and the
# mask opens somewhere (a ratio above 0.9). mu is the budget note's, printed
# to 4 decimals: off by up to 5e-5, which moves a ratio by up to 1e-3 at 0.05
# from gray, so 2e-3 of slack.
budget = [x["text"] for x in by.get("note", []) if "contrast budget" in str(x.get("text", ""))]
mu = float(re.search(r"mean luminance ([0-9.]+)", budget[0]).group(1)) if budget else None
mixes = 0
for t in neurons:
    mei = next(s["pixels"] for s in closed if s["neuron"] == t and s["kind"] == "mei")
    masked = next(s["pixels"] for s in closed if s["neuron"] == t and s["kind"] == "masked")
    ratio = [(b - mu) / (a - mu) for a, b in zip(mei.ravel(), masked.ravel()) if abs(a - mu) > 0.05]
    mixes += bool(ratio) and min(ratio) >= -2e-3 and max(ratio) <= 1 + 2e-3 and max(ratio) > 0.9
check(mu is not None and mixes == targets,
      "%d of %d masked MEIs are the MEI mixed with gray by a mask in [0, 1]" % (mixes, targets))
masks = [x["text"] for x in by.get("note", []) if str(x.get("text", "")).startswith("mask of neuron")]
check(len(masks) == targets, "the masks' extent noted for %d of %d targets" % (len(masks), targets))

page = open(os.path.join(session, "report", "index.html")).read()
figures = 0
for kind, control in COMPARISONS:
    png = os.path.join(session, "report", "%s_vs_%s.png" % (kind, control))
    figures += (os.path.getsize(png) > 0 if os.path.exists(png) else False) and \
        ('src="%s_vs_%s.png"' % (kind, control)) in page
check(figures == len(COMPARISONS), "the report draws %d of %d comparisons' figures"
      % (figures, len(COMPARISONS)))
check(all(title in page for title in ("masked MEI vs MEI", "most exciting surround vs masked MEI",
                                      "least exciting surround vs masked MEI",
                                      "least exciting input vs least exciting natural image")),
      "the report titles each kind's comparison")
# The ground truth's baseline count under the least exciting input's
# comparison, the record's figures (and the resumed copy's report alike).
words = report_baseline(summary.get("truth_targets_baseline_scored", -1),
                        summary.get("truth_targets_baseline_least_below_least_natural_training",
                                    -1),
                        summary.get("truth_median_ratio_baseline_least_over_least_natural_training",
                                    float("nan")))
cut_page = os.path.join(cut_dir, "report", "index.html")
check(page.count(words) == 1 and
      page.index("least exciting input vs least exciting natural image") < page.index(words) and
      os.path.exists(cut_page) and words in open(cut_page).read(),
      "the report shows the ground truth's baseline count from the record: %s" % words)
# The diverse sets: DIVERSE stimuli per target, each shown REPEATS times.
set_ids = {s["stimulus_id"]: s for s in sets}
check(sorted(s["neuron"] for s in sets) == sorted(neurons * diverse) and
      sorted(t["image_id"] for t in by.get("trial", []) if t["image_id"] in set_ids) ==
      sorted(list(set_ids) * repeats),
      "%d stimuli of kind diverse (want %d per target), each shown %d times"
      % (len(sets), diverse, repeats))
# Each image: the mean and interval of its unflagged trials as a kind's,
# over_mei its mean over the MEI's recorded mean; per target the share at 0.8
# or more and the set's mean pairwise Pearson correlation of the pixels
# (float64 here, float32 sums in the C over 32x32 pixels: 1e-5).
per_image = {e["stimulus_id"]: e for e in evals if e["kind"] == "diverse"}
ok = 0
held_all, rated_all = 0, 0
for t in neurons:
    held, rated = 0, 0
    for sid, st in sorted(set_ids.items()):
        if st["neuron"] != t:
            continue
        e = per_image.get(sid)
        vals = [float(x["counts"][t]) for x in by.get("trial", [])
                if x["image_id"] == sid and x["flags"] == 0]
        if e is None or not vals:
            continue
        mean, low, high = evaluation_interval(vals, int(t), "diverse")
        over = mean / interval[(t, "mei")][0] if interval[(t, "mei")][0] > 0 else float("nan")
        rated += over == over
        held += over >= 0.8
        ok += (e["neuron"] == t and e["repeats"] == len(vals) and
               abs(mean - e["mean"]) <= 1e-9 * (1 + abs(mean)) and
               abs(low - e["ci_low"]) <= 1e-12 * (1 + abs(low)) and
               abs(high - e["ci_high"]) <= 1e-12 * (1 + abs(high)) and
               (abs(over - e["over_mei"]) <= 1e-9 * (1 + abs(over)) if over == over
                else e["over_mei"] != e["over_mei"]))
    share = per.get((t, "diverse_share_held"))
    ok += rated == 0 or (share is not None and abs(share["mean"] - held / rated) <= 1e-12)
    held_all, rated_all = held_all + held, rated_all + rated
    x = np.array([set_ids[i]["pixels"].ravel() for i in sorted(set_ids)
                  if set_ids[i]["neuron"] == t], dtype=np.float64)
    c = np.corrcoef(x)
    corr = c[np.triu_indices(len(x), 1)].mean()
    got = per.get((t, "diverse_set_corr"), {}).get("mean", float("nan"))
    ok += abs(got - corr) <= 1e-5
    print("# neuron %d: diverse over_mei %s, set correlation %.4f (recomputed %.4f)"
          % (t, ["%.3f" % per_image[i]["over_mei"] for i in sorted(per_image)
                 if per_image[i]["neuron"] == t], got, corr))
check(ok == len(sets) + 2 * targets and
      (rated_all == 0 or abs(summary.get("diverse_share_held", -1) - held_all / rated_all) <= 1e-12),
      "%d of %d diverse evaluations (each image's interval and mean over the MEI's, each set's "
      "share at 0.8 and pixel correlation) recomputed from the trials and the images"
      % (ok, len(sets) + 2 * targets))
truth_images = {e["stimulus_id"]: e for e in evals if e["kind"] == "truth_diverse"}
ok = 0
for sid, st in set_ids.items():
    e, mei = truth_images.get(sid), truth.get((st["neuron"], "mei"))
    ok += (e is not None and e["neuron"] == st["neuron"] and mei is not None and mei > 0 and
           abs(e["over_mei"] - e["mean"] / mei) <= 1e-6 * (1 + abs(e["over_mei"])))
shares = 0
for t in neurons:
    over = [e["over_mei"] for e in truth_images.values() if e["neuron"] == t]
    want = sum(o >= 0.8 for o in over) / len(over) if over else None
    got = per.get((t, "truth_diverse_share_held"))
    shares += got is not None and want is not None and abs(got["mean"] - want) <= 1e-12
check(ok == len(sets) and shares == targets,
      "the simulated cell scored on %d of %d diverse images (truth_diverse, over truth_mei) and "
      "%d of %d sets' truth_diverse_share_held recomputed" % (ok, len(sets), shares, targets))
# The report's diverse gallery: per target its MEI and set, diverse.csv
# each image's recorded mean over the MEI's from the trials (the record's
# over_mei: the same sums, 1e-9 relative) and its trial count.
rows = []


def same_ratio(a, b):  # NaN (an MEI with a recorded mean of 0) on both sides agrees
    # diverse.csv prints 9 significant digits: up to 5e-9 relative off the record's double
    return (a != a and b != b) or abs(a - b) <= 1e-8 * abs(b)


csv_path = os.path.join(session, "report", "diverse.csv")
if os.path.exists(csv_path):
    lines = open(csv_path).read().split("\n")
    rows = [dict(zip(lines[0].split(","), line.split(","))) for line in lines[1:] if line]
same = sum(int(r["neuron"]) == set_ids.get(int(r["stimulus_id"]), {}).get("neuron") and
           int(r["trials"]) == per_image[int(r["stimulus_id"])]["repeats"] and
           same_ratio(float(r["over_mei"]), per_image[int(r["stimulus_id"])]["over_mei"])
           for r in rows)
pngs = sum(os.path.getsize(os.path.join(session, "report", "diverse_%d.png" % i)) > 0
           for i in range(len(records)) if os.path.exists(
               os.path.join(session, "report", "diverse_%d.png" % i)))
check(len(rows) == len(sets) and same == len(sets) and pngs == len(sets) and
      'href="diverse.csv"' in page and "Diverse MEIs" in page,
      "the report's diverse gallery: %d of %d images drawn, %d rows of diverse.csv agree with "
      "the record's over_mei and repeats" % (pngs, len(sets), same))
# The target patterns (mei.kinds pattern): per pattern an image and its
# natural control, neuron -1, each carrying its index and its target over the
# group (the targets note's neurons, in order), each shown REPEATS times.
group = [int(x) for x in next(r["targets"] for r in by.get("note", []) if "targets" in r)]
pstim = [s for s in by.get("stimulus", []) if s["kind"] in ("pattern", "pattern_natural")]
pairs = {}
for s in pstim:
    pairs.setdefault(int(s["pattern"]), {})[s["kind"]] = s
shown = sorted(t["image_id"] for t in by.get("trial", [])
               if t["image_id"] in {s["stimulus_id"] for s in pstim})
# Exactly 2 per pattern: the resume (killed in the search phase) took them
# from the record and synthesized none again.
check(sorted(group) == neurons and sorted(pairs) == list(range(patterns)) and
      len(pstim) == 2 * patterns and
      all(len(p) == 2 and all(s["neuron"] == -1 and len(s["pattern_target"]) == len(group)
                              for s in p.values()) and
          list(p["pattern"]["pattern_target"]) == list(p["pattern_natural"]["pattern_target"])
          for p in pairs.values()) and
      all(0 <= v < 1 for s in pstim for v in s["pattern_target"]) and
      shown == sorted([s["stimulus_id"] for s in pstim] * repeats),
      "%d target patterns over the %d targets (want %d), each an image and a control carrying "
      "its target in [0, 1), each shown %d times" % (len(pairs), len(group), patterns, repeats))


def similarity(rates, target):
    """Pearson correlation across the group (synthesis_pattern.c), NaN when flat."""
    r, t = np.asarray(rates, np.float64), np.asarray(target, np.float64)
    r, t = r - r.mean(), t - t.mean()
    if not (np.dot(t, t) > 0):
        return float("nan")
    return float(np.dot(r, t) / np.sqrt(np.dot(r, r) * np.dot(t, t))) if np.dot(r, r) > 0 else 0.0


# Each image and control: the similarity of the group's mean counts over its
# unflagged trials to the recorded target and its percentile bootstrap over
# those trials (seed 2^61 + stimulus id), repeats those trials (the C casts
# each mean to float32 as here and sums the similarity in another order:
# 1e-6); how many images came closer than their controls.
by_stimulus = {(e["kind"], e["stimulus_id"]): e for e in evals
               if e["kind"] in ("pattern", "pattern_natural", "truth_pattern",
                                "truth_pattern_natural")}
ok, closer, compared, truth_closer = 0, 0, 0, 0
for q, p in sorted(pairs.items()):
    got = {}
    for kind, s in p.items():
        rows = [[float(x["counts"][t]) for t in group] for x in by.get("trial", [])
                if x["image_id"] == s["stimulus_id"] and x["flags"] == 0]

        def of(pick, rows=rows, target=s["pattern_target"]):
            mean = [np.float32(sum(rows[r][i] for r in pick) / len(pick))
                    for i in range(len(group))]
            return similarity(mean, target)
        want = of(range(len(rows))) if rows else float("nan")
        low, high = (bootstrap_statistic(len(rows), of, (1 << 61) + s["stimulus_id"],
                                         EVALUATION_RESAMPLES, EVALUATION_LEVEL)
                     if rows else (float("nan"),) * 2)
        e = by_stimulus.get((kind, s["stimulus_id"]))
        got[kind] = want
        ok += (e is not None and e["neuron"] == -1 and e["repeats"] == len(rows) and
               (max(abs(e["mean"] - want), abs(e["ci_low"] - low), abs(e["ci_high"] - high))
                <= 1e-6 if want == want else e["mean"] != e["mean"]))
        print("# %s %d: similarity %.4f [%.4f, %.4f] (recomputed %.4f [%.4f, %.4f])"
              % (kind, s["stimulus_id"], e["mean"] if e else float("nan"),
                 e["ci_low"] if e else float("nan"), e["ci_high"] if e else float("nan"),
                 want, low, high))
        t = by_stimulus.get(("truth_" + kind, s["stimulus_id"]))
        ok += t is not None and -1 - 1e-6 <= t["mean"] <= 1 + 1e-6
        got["truth_" + kind] = t["mean"] if t else float("nan")
    print("# pattern %d: recorded similarity image %.3f, control %.3f; truth %.3f, %.3f"
          % (q, got["pattern"], got["pattern_natural"], got["truth_pattern"],
             got["truth_pattern_natural"]))
    if got["pattern"] == got["pattern"] and got["pattern_natural"] == got["pattern_natural"]:
        compared += 1
        closer += got["pattern"] > got["pattern_natural"]
    truth_closer += got["truth_pattern"] > got["truth_pattern_natural"]
check(ok == 4 * patterns and summary.get("patterns_compared") == compared and
      summary.get("patterns_closer") == closer and
      summary.get("truth_patterns_compared") == patterns and
      summary.get("truth_patterns_closer") == truth_closer,
      "%d of %d target-pattern similarities recomputed from the trials and the recorded targets "
      "(and the simulated cells scored); images closer than their controls %s of %s (recomputed "
      "%d of %d), truth %s (recomputed %d)"
      % (ok, 4 * patterns, summary.get("patterns_closer"), summary.get("patterns_compared"),
         closer, compared, summary.get("truth_patterns_closer"), truth_closer))
# The report's target-pattern figure: per pattern its image, its control and
# a plot; patterns.csv per stimulus and group neuron the target and the
# recorded mean, its similarity the record's (the same sums; the C's float32
# rates: 1e-5) and its trials the record's repeats.
csv_path = os.path.join(session, "report", "patterns.csv")
rows = []
if os.path.exists(csv_path):
    lines = open(csv_path).read().split("\n")
    rows = [dict(zip(lines[0].split(","), line.split(","))) for line in lines[1:] if line]
agree = 0
for r in rows:
    e = by_stimulus.get((r["kind"], int(r["stimulus_id"])))
    s = pairs.get(int(r["pattern"]), {}).get(r["kind"])
    i = group.index(int(r["neuron"])) if int(r["neuron"]) in group else -1
    agree += (e is not None and s is not None and i >= 0 and int(r["trials"]) == e["repeats"] and
              abs(float(r["target"]) - float(s["pattern_target"][i])) <= 1e-7 and
              (abs(float(r["similarity"]) - e["mean"]) <= 1e-6 if e["mean"] == e["mean"]
               else float(r["similarity"]) != float(r["similarity"])))
drawn = sum(os.path.exists(os.path.join(session, "report", name)) for q in range(patterns)
            for name in ("pattern_%d.png" % q, "pattern_%d_pattern.png" % q,
                         "pattern_%d_pattern_natural.png" % q))
check(len(rows) == 2 * patterns * len(group) and agree == len(rows) and
      drawn == 3 * patterns and 'href="patterns.csv"' in page and "Target patterns" in page,
      "the report's target-pattern figure: %d of %d images and plots drawn, %d of %d rows of "
      "patterns.csv agree with the record" % (drawn, 3 * patterns, agree, len(rows)))
check_search(by, check, targets, generations, population, search_repeats, run_output,
             least_search)
check_search_report(by, check, session, population, least_search)
print("1..%d" % (n - 1))
sys.exit(1 if failed else 0)
