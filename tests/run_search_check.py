"""The search phase of `inception run` read back from its record
(docs/search.md; tests/test_run_kinds.sh runs a session with it): written
from the phase's rules, not from its code. Each generation is a block
"search" of every target's population_size images × repeats, each image a
stimulus of kind "search" at the contrast budget; the elites of a generation
(4, or half a population under 8) are images of the one before with means no
lower than any other's there (an image's fitness: the mean over the
generations that showed it of its target's mean count over its unflagged
trials); the image handed over is an elite of the last generation with the
highest lower bound mean − sqrt(mean / (showings × repeats)), and its
recorded mean is that image's.

With the virtual rig, the handed-over image's true response is recorded per
target (truth_search_best) beside the MEI's (truth_mei) and the truly best
natural training image's at the budget (truth_best_natural_training), and
the summaries (neuron -1) are those per-target values counted; the terminal
prints them.

check_search(by, check, targets, generations, population, repeats, out): `by`
the records by type, `check` the caller's TAP check, `out` the text
`inception run` printed.
"""
import math
import re
import statistics


def elites_of(population):
    return 4 if population >= 8 else population // 2


def check_search(by, check, targets, generations, population, repeats, out):
    phases = [(p["phase"], p["event"]) for p in by.get("phase", [])]
    i = phases.index(("closed_loop", "end")) if ("closed_loop", "end") in phases else -1
    check(i >= 0 and phases[i + 1:i + 4] == [("search", "begin"), ("search", "end"),
                                             ("evaluation", "begin")],
          "the search phase runs after the closed loop, before the evaluation")

    stimuli = [s for s in by.get("stimulus", []) if s["kind"] == "search"]
    neurons = sorted({s["neuron"] for s in stimuli})
    per = {t: [s for s in stimuli if s["neuron"] == t] for t in neurons}
    check(len(neurons) == targets and
          all(len(v) == generations * population for v in per.values()),
          "%d targets, each %d search stimuli (%d generations of %d)"
          % (len(neurons), generations * population, generations, population))

    note = next((n["text"] for n in by.get("note", []) if "contrast budget" in n["text"]), "")
    m = re.search(r"RMS ([0-9.]+) at mean luminance ([0-9.]+)", note)
    budget = (float(m.group(1)), float(m.group(2))) if m else (math.nan, math.nan)
    worst = 0.0
    for s in stimuli:
        px = [float(v) for row in s["pixels"] for v in row]
        mean = sum(px) / len(px)
        rms = math.sqrt(sum((v - mean) ** 2 for v in px) / len(px))
        worst = max(worst, abs(mean - budget[1]), abs(rms - budget[0]))
    # The note rounds to 4 decimals (5e-5); the render lands within 1e-6.
    check(worst <= 1e-4, "every search image at the budget (RMS %.4f, mean %.4f; worst "
          "difference %.2g)" % (budget[0], budget[1], worst))

    ids = {s["stimulus_id"]: s for s in stimuli}
    trials = [t for t in by.get("trial", []) if t["block"] == "search"]
    shown = {}
    for t in trials:
        shown[t["image_id"]] = shown.get(t["image_id"], 0) + 1
    check(all(t["image_id"] in ids for t in trials) and len(shown) == len(ids) and
          all(v == repeats for v in shown.values()),
          "%d search trials: every search image shown %d times, nothing else"
          % (len(trials), repeats))

    # Individuals are followed by place, not by pixels: a child can be a copy
    # of its parent. The search ranks by mean, ties in index order (its rank
    # is a stable sort), and shows its elites first in that order.
    elites = elites_of(population)
    elites_ok = best_ok = True
    best = {e["neuron"]: e["mean"] for e in by.get("evaluation", [])
            if e["kind"] == "search_best_stimulus"}
    best_mean = {e["neuron"]: e["mean"] for e in by.get("evaluation", [])
                 if e["kind"] == "search_best_mean"}
    for t, images in per.items():
        gens = [images[g * population:(g + 1) * population] for g in range(generations)]
        history = []  # per individual of the current generation: its means so far
        for g, gen in enumerate(gens):
            means = []
            for s in gen:
                c = [tr["counts"][t] for tr in trials
                     if tr["image_id"] == s["stimulus_id"] and tr["flags"] == 0]
                means.append(sum(c) / len(c) if c else None)
            lowest = min(v for v in means if v is not None)
            means = [lowest if v is None else v for v in means]
            history = [(history[i] if i < len(history) else []) + [means[i]]
                       for i in range(population)]
            cum = [sum(h) / len(h) for h in history]
            order = sorted(range(population), key=lambda i: (-cum[i], i))[:elites]
            if g + 1 < generations:
                elites_ok &= [gen[i]["pixels_sha256"] for i in order] == \
                    [s["pixels_sha256"] for s in gens[g + 1][:elites]]
                history = [history[i] for i in order]
        # The hand-over: of the last ranking's elites, the first with the
        # highest mean − sqrt(mean / (showings × repeats)).
        bounds = [cum[i] - math.sqrt(max(cum[i], 0.0) / (len(history[i]) * repeats))
                  for i in order]
        pick = order[bounds.index(max(bounds))]
        handed = ids.get(int(best.get(t, -1)))
        # Means of counts over a few trials: float32 in the search, doubles
        # here; 1e-4 is far above that rounding and far below a count's step.
        best_ok &= handed is not None and \
            handed["pixels_sha256"] == gens[-1][pick]["pixels_sha256"] and \
            abs(best_mean.get(t, math.nan) - cum[pick]) <= 1e-4
    check(elites_ok, "each generation's first %d images are the last one's %d with the highest "
          "mean counts over all their showings, in rank order" % (elites, elites))
    check(best_ok, "each target's handed-over image is the last ranking's elite with the "
          "highest lower bound, its recorded mean its mean count")

    per_target = {}
    summary = {}
    for e in by.get("evaluation", []):
        if e["neuron"] >= 0:
            per_target.setdefault(e["neuron"], {})[e["kind"]] = e["mean"]
        else:
            summary[e["kind"]] = e["mean"]
    truth = [(per_target[t].get("truth_search_best", math.nan),
              per_target[t].get("truth_best_natural_training", math.nan),
              per_target[t].get("truth_mei", math.nan)) for t in neurons]
    beats_natural = sum(s > nat for s, nat, _ in truth)
    beats_mei = sum(s > mei for s, _, mei in truth)
    ratios = [s / nat for s, nat, _ in truth if nat > 0]
    median = statistics.median(ratios) if ratios else math.nan
    recorded = summary.get("truth_median_ratio_search_over_best_natural", math.nan)
    # float32 ratios in the run, doubles here: 1e-5 relative covers the rounding.
    check(len(truth) == targets and all(math.isfinite(v) and v >= 0 for row in truth for v in row)
          and summary.get("truth_targets_search_beats_best_natural") == beats_natural and
          summary.get("truth_targets_search_beats_mei") == beats_mei and
          abs(recorded - median) <= 1e-5 * max(1.0, abs(median)),
          "the ground truth: the search's image beside the MEI and the best natural image per "
          "target, summaries recounted (beats natural %d, MEI %d of %d; median %.3f)"
          % (beats_natural, beats_mei, len(truth), median))
    line = ("ground truth: the search's image beats the best natural training image for %d of "
            "%d targets (median search / best natural %.3f), the MEI for %d of %d"
            % (beats_natural, targets, median, beats_mei, targets))
    check(line in out, "the terminal prints it: " + line)
