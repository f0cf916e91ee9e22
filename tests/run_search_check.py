"""The search phase of `inception run` read back from its record
(docs/search.md; tests/test_run_kinds.sh runs a session with it): written
from the phase's rules, not from its code. Each generation is a block
"search" of every target's population_size images × repeats, each image a
stimulus of kind "search" at the contrast budget; the elites of a generation
(4, or half a population under 8) are images of the one before with means no
lower than any other's there (an image's fitness: the mean over the
generations that showed it of its target's mean count over its unflagged
trials; search.direction least: minus it); the image handed over is an
elite of the last generation with the highest lower bound f − sqrt(max(|f|,
1 / n) / n) of its fitness f over its n = showings × repeats trials, and its
recorded mean is that image's mean count.

With the virtual rig, the handed-over image's true response is recorded per
target (truth_search_best) beside the MEI's (truth_mei) and the truly best
natural training image's at the budget (truth_best_natural_training), and
the summaries (neuron -1) are those per-target values counted; the terminal
prints them. A least search is set beside the least exciting input
(truth_least) and the truly least exciting natural training image
(truth_least_natural_training), counted below them.

check_search(by, check, targets, generations, population, repeats, out,
least): `by` the records by type, `check` the caller's TAP check, `out` the
text `inception run` printed, `least` whether the protocol's
search.direction is least.

check_search_report(by, check, session, population, least): the report's section
(docs/report.md, "Model-free search"): one curve per target, its numbers
(search_curve.csv) recomputed from the record, and the gallery's images
decoded (PNG as its specification defines it) and compared with the
recorded pixels of the handed-over image, the MEI and the best natural image.
"""
import math
import os
import re
import statistics
import struct
import zlib


def elites_of(population):
    return 4 if population >= 8 else population // 2


def check_search(by, check, targets, generations, population, repeats, out, least=False):
    sign = -1.0 if least else 1.0  # the fitness: sign × the mean count
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
            means = [None if v is None else sign * v for v in means]  # fitness
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
        # highest f − sqrt(max(|f|, 1 / n) / n), n = showings × repeats.
        def bound(f, n):
            return f - math.sqrt(max(abs(f), 1.0 / n) / n)
        bounds = [bound(cum[i], len(history[i]) * repeats) for i in order]
        pick = order[bounds.index(max(bounds))]
        handed = ids.get(int(best.get(t, -1)))
        # Means of counts over a few trials: float32 in the search, doubles
        # here; 1e-4 is far above that rounding and far below a count's step.
        best_ok &= handed is not None and \
            handed["pixels_sha256"] == gens[-1][pick]["pixels_sha256"] and \
            abs(best_mean.get(t, math.nan) - sign * cum[pick]) <= 1e-4
    check(elites_ok, "each generation's first %d images are the last one's %d with the highest "
          "mean counts over all their showings, in rank order" % (elites, elites))
    check(best_ok, "each target's handed-over image is the last ranking's elite with the "
          "highest lower bound, its recorded mean its mean count")
    if least:
        check_truth_least(by, check, targets, neurons, out)
    else:
        check_truth_most(by, check, targets, neurons, out)


def truth_of(by):
    per_target, summary = {}, {}
    for e in by.get("evaluation", []):
        if e["neuron"] >= 0:
            per_target.setdefault(e["neuron"], {})[e["kind"]] = e["mean"]
        else:
            summary[e["kind"]] = e["mean"]
    return per_target, summary


def check_truth_least(by, check, targets, neurons, out):
    """The least search's ground truth: below the truly least exciting
    natural training image and the least exciting input (NaN where none was
    made: never below)."""
    per_target, summary = truth_of(by)
    truth = [(per_target[t].get("truth_search_best", math.nan),
              per_target[t].get("truth_least_natural_training", math.nan),
              per_target[t].get("truth_least", math.nan)) for t in neurons]
    below_natural = sum(s < nat for s, nat, _ in truth)
    below_least = sum(s < least for s, _, least in truth)
    ratios = [s / nat for s, nat, _ in truth if nat > 0]
    median = statistics.median(ratios) if ratios else math.nan
    recorded = summary.get("truth_median_ratio_search_over_least_natural_training", math.nan)
    check(len(truth) == targets and all(math.isfinite(v) and v >= 0 for row in truth for v in row[:2])
          and summary.get("truth_targets_search_below_least_natural_training") == below_natural
          and summary.get("truth_targets_search_below_least") == below_least and
          abs(recorded - median) <= 1e-5 * max(1.0, abs(median)) and
          "truth_median_ratio_search_over_best_natural" not in summary,
          "the ground truth: the least search's image beside the least exciting input and the "
          "least natural image per target, summaries recounted (below natural %d, least %d of "
          "%d; median %.3f)" % (below_natural, below_least, len(truth), median))
    line = ("ground truth: the search's least exciting image is below the least exciting "
            "natural training image for %d of %d targets (median search / least natural "
            "%.3f), below the least exciting input for %d of %d"
            % (below_natural, targets, median, below_least, targets))
    check(line in out, "the terminal prints it: " + line)


def check_truth_most(by, check, targets, neurons, out):

    per_target, summary = truth_of(by)
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


def png_gray(path):
    """An 8-bit gray, non-interlaced PNG's rows (PNG specification, sections
    11.2.2 IHDR and 9 filtering), or None for anything else."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    pos, idat, header = 8, b"", None
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    if not header or header[2:4] != (8, 0) or header[6] != 0:
        return None
    width, height = header[0], header[1]
    raw, rows, previous = zlib.decompress(idat), [], [0] * width
    for y in range(height):
        line = raw[y * (width + 1):(y + 1) * (width + 1)]
        kind, row = line[0], list(line[1:])
        for x in range(width):
            a = row[x - 1] if x else 0
            b, c = previous[x], previous[x - 1] if x else 0
            if kind == 1:
                row[x] = (row[x] + a) & 255
            elif kind == 2:
                row[x] = (row[x] + b) & 255
            elif kind == 3:
                row[x] = (row[x] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                row[x] = (row[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(row)
        previous = row
    return rows


def shows(rows, pixels):
    """Whether the rows are the pixels scaled up by a whole factor, each gray
    level round(v × 255) (within 1: float32 rounding at a half)."""
    h, w = len(pixels), len(pixels[0])
    if not rows or len(rows) % h or len(rows[0]) % w or len(rows) // h != len(rows[0]) // w:
        return False
    scale = len(rows) // h
    return all(abs(rows[y][x] - round(min(max(float(pixels[y // scale][x // scale]), 0.0), 1.0)
                                      * 255)) <= 1
               for y in range(len(rows)) for x in range(len(rows[0])))


def check_search_report(by, check, session, population, least=False):
    folder = os.path.join(session, "report")
    page = open(os.path.join(folder, "index.html")).read()
    stimuli = by.get("stimulus", [])
    search = [s for s in stimuli if s["kind"] == "search"]
    neurons = sorted({s["neuron"] for s in search})
    gained = {}
    for f in by.get("trial_flags", []):
        gained[f["trial"]] = gained.get(f["trial"], 0) | f["flags"]
    counts = {}  # stimulus id: the target's counts over its unflagged trials
    target_of = {s["stimulus_id"]: s["neuron"] for s in search}
    for t in by.get("trial", []):
        if t["image_id"] in target_of and (t["flags"] | gained.get(t["trial"], 0)) == 0:
            counts.setdefault(t["image_id"], []).append(float(t["counts"][target_of[t["image_id"]]]))
    # The curve written from its definition: a target's n-th search stimulus
    # in record order is of generation n // population; per generation the
    # highest mean of an image (least: the lowest) and the mean over all its
    # trials.
    want = []
    for n in neurons:
        images = [s["stimulus_id"] for s in search if s["neuron"] == n]
        for g in range(0, len(images), population):
            shown = [counts.get(i, []) for i in images[g:g + population]]
            trials = [c for cs in shown for c in cs]
            best = (min if least else max)((sum(cs) / len(cs) for cs in shown if cs),
                                           default=math.nan)
            want.append((n, g // population + 1, len(shown), len(trials), best,
                         sum(trials) / len(trials) if trials else math.nan))
    rows = []
    csv = os.path.join(folder, "search_curve.csv")
    if os.path.exists(csv):
        for line in open(csv).read().splitlines()[1:]:
            v = line.split(",")
            rows.append((int(v[0]), int(v[1]), int(v[2]), int(v[3]), float(v[4]), float(v[5])))
    # %.9g in the file: 9 significant digits, 1e-7 relative is above that.
    close = len(rows) == len(want) and all(
        a[:4] == b[:4] and all(math.isclose(x, y, rel_tol=1e-7) or (math.isnan(x) and math.isnan(y))
                               for x, y in zip(a[4:], b[4:])) for a, b in zip(rows, want))
    curves = [n for n in neurons if 'src="search_curve_n%d.png"' % n in page and
              png_size(os.path.join(folder, "search_curve_n%d.png" % n)) == (400, 240)]
    heading = "<h2>Model-free search%s</h2>" % (": least exciting images" if least else "")
    check(heading in page and curves == neurons and
          page.count('src="search_curve_n') == len(neurons) and close,
          "the report's search section: one curve per target (%d of %d), its %d points the "
          "record's best image and mean per generation" % (len(curves), len(neurons), len(rows)))
    best = {int(e["neuron"]): int(e["mean"]) for e in by.get("evaluation", [])
            if e["kind"] == "search_best_stimulus"}
    pixels = {s["stimulus_id"]: s["pixels"] for s in stimuli}
    closed = {(s["neuron"], s["kind"]): s["pixels"] for s in stimuli}
    tiles = 0
    for n in neurons:
        model, natural = ("least", "least_natural") if least else ("mei", "best_natural")
        for name, image in (("search", pixels.get(best.get(n))), (model, closed.get((n, model))),
                            (natural, closed.get((n, natural)))):
            path = os.path.join(folder, "search_n%d_%s.png" % (n, name))
            tiles += image is not None and os.path.exists(path) and \
                'src="search_n%d_%s.png"' % (n, name) in page and shows(png_gray(path), image)
    check(tiles == 3 * len(neurons), "the report's search gallery: %d of %d images, each the "
          "recorded one (the handed-over search image, %s, %s image) as drawn"
          % (tiles, 3 * len(neurons), "least exciting input" if least else "MEI",
             "least natural" if least else "best natural"))


def png_size(path):
    """A PNG's (width, height) from its IHDR, None if it is not a PNG."""
    if not os.path.exists(path):
        return None
    head = open(path, "rb").read(24)
    return struct.unpack(">II", head[16:24]) if head[:8] == b"\x89PNG\r\n\x1a\n" else None
