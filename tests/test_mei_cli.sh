#!/bin/sh
# `inception mei` as a user meets it, and the ground-truth check: on a small
# simulated population, fit a small model, synthesize MEIs and show them to
# the simulated cells; fails if the MEIs stop beating the best natural
# training images (at the same contrast) in the cells' true responses.
# TAP output; argument 1 is the executable.
inception=$1
tap_context_lines=30
. "$(dirname "$0")/tap.sh"

run mei --help
check "mei --help exits 0 with usage" '[ "$(status)" = 0 ] && grep -q "usage: inception mei" "$work/out"'
run mei --model m.bin
check "missing required options: exit 2" '[ "$(status)" = 2 ] && grep -q "required" "$work/err"'
run mei --model m.bin --data d --neurons 1 --out o --space wavelet
check "bad --space named, exit 2" '[ "$(status)" = 2 ] && grep -q "wavelet" "$work/err"'

# The population of before conjunction cells (these checks were tuned on it;
# conjunction cells have their own check below).
run simulate --out "$work/data" --neurons 20 --train 800 --test 20 --repeats 5 --seed 3 \
    --images synthetic --fraction-simple 0.4 --fraction-complex 0.4 --fraction-conjunction 0
check "simulate writes population.npy" '[ "$(status)" = 0 ] && [ -f "$work/data/population.npy" ]'
run fit --data "$work/data" --out "$work/model.bin" --layers 2 --channels 8 --kernels 9,7 \
    --epochs 8
check "small model fitted" '[ "$(status)" = 0 ] && [ -f "$work/model.bin" ]'

run mei --model "$work/model.bin" --data "$work/data" --neurons 3-x --out "$work/o"
check "bad --neurons named, exit 2" '[ "$(status)" = 2 ] && grep -q "3-x" "$work/err"'
run mei --model "$work/model.bin" --data "$work/data" --neurons 25 --out "$work/o"
check "--neurons beyond the population: exit 2" '[ "$(status)" = 2 ] && grep -q "0..19" "$work/err"'

run mei --model "$work/model.bin" --data "$work/data" --neurons "top 6" --out "$work/mei" \
    --steps 150 --ground-truth
check "mei --ground-truth runs" '[ "$(status)" = 0 ]'
check "one PNG per stimulus (6 neurons x 5 kinds) and the gallery" \
    '[ $(ls "$work/mei"/n*.png | wc -l) = 30 ] && [ -f "$work/mei/gallery.png" ]'
check "manifest lists 30 stimuli with predicted responses" \
    '[ $(grep -c "predicted_response" "$work/mei/manifest.json") = 30 ]'
check "stimuli.npy holds 30 images of 36x64 float32" \
    '/usr/bin/python3 -c "import numpy as np, sys; a = np.load(sys.argv[1]); sys.exit(not (a.shape == (30, 36, 64) and a.dtype == np.float32 and a.min() >= 0 and a.max() <= 1))" "$work/mei/stimuli.npy"'
check "every stimulus at the manifest's mean luminance, contrast within the budget" \
    '/usr/bin/python3 -c "
import json, sys, numpy as np
m = json.load(open(sys.argv[1])); a = np.load(sys.argv[2]).astype(np.float64)
ok = np.all(np.abs(a.mean(axis=(1, 2)) - m[\"mean_luminance\"]) < 1e-5)
ok &= np.all(a.std(axis=(1, 2)) <= m[\"contrast_budget\"] * (1 + 1e-5))
sys.exit(not ok)" "$work/mei/manifest.json" "$work/mei/stimuli.npy"'
beats=$(sed -n 's/^MEI beats the best natural image for \([0-9]*\) of 6.*/\1/p' "$work/out")
ratio=$(sed -n 's/^median MEI\/natural \([0-9.]*\).*/\1/p' "$work/out")
check "MEIs beat the best natural images in the true responses for most neurons ($beats of 6)" \
    '[ -n "$beats" ] && [ "$beats" -ge 5 ]'
check "median true MEI/natural ratio above 1.2 ($ratio)" \
    '[ -n "$ratio" ] && /usr/bin/python3 -c "import sys; sys.exit(not float(sys.argv[1]) > 1.2)" "$ratio"'

# Least exciting inputs: descent on the rate, every image at exactly the
# budget, the natural image predicted lowest (at the budget) as the control.
# The model's side is checked (it predicts the least exciting input below
# that image); the simulated cells' side is printed, not checked: this tiny
# model's least exciting inputs drive the complex cells above their least
# exciting natural image (docs/mei.md, "Least exciting inputs").
run mei --model "$work/model.bin" --data "$work/data" --neurons 1 --out "$work/o" --kind most
check "bad --kind named, exit 2" '[ "$(status)" = 2 ] && grep -q "most" "$work/err"'
run mei --model "$work/model.bin" --data "$work/data" --neurons "top 6" --out "$work/least" \
    --steps 100 --kind least --ground-truth
check "mei --kind least --ground-truth runs and prints its table" \
    '[ "$(status)" = 0 ] && grep -q "^least exciting input below the least exciting natural image for [0-9]* of [0-9]*" "$work/out"'
check "least: a least exciting input and a least natural image per neuron (12 PNGs)" \
    '[ $(ls "$work/least"/n*_least.png | wc -l) = 6 ] && [ $(ls "$work/least"/n*_natural-least.png | wc -l) = 6 ] && [ $(ls "$work/least"/n*.png | wc -l) = 12 ]'
check "least: every stimulus at the mean and exactly the budget's contrast; each least exciting input predicted below its least natural image" \
    '/usr/bin/python3 -c "
import json, sys, numpy as np
m = json.load(open(sys.argv[1])); a = np.load(sys.argv[2]).astype(np.float64); s = m[\"stimuli\"]
ok = len(s) == 12 and [x[\"kind\"] for x in s] == [\"least\", \"natural-least\"] * 6
ok &= np.all(np.abs(a.mean(axis=(1, 2)) - m[\"mean_luminance\"]) < 1e-5)
ok &= np.all(np.abs(a.std(axis=(1, 2)) - m[\"contrast_budget\"]) < 1e-4)
ok &= all(s[i][\"predicted_response\"] < s[i + 1][\"predicted_response\"] for i in range(0, 12, 2))
sys.exit(not ok)" "$work/least/manifest.json" "$work/least/stimuli.npy"'
# --init natural with --kind least starts at the least natural control (the
# image predicted lowest at the budget): with no steps the least exciting
# input is that image (again projected onto the budget: float rounding).
run mei --model "$work/model.bin" --data "$work/data" --neurons "top 6" --out "$work/least0" \
    --steps 0 --kind least --init natural
check "least --init natural --steps 0: each least exciting input is its least natural control" \
    '[ "$(status)" = 0 ] && /usr/bin/python3 -c "
import sys, numpy as np
a = np.load(sys.argv[1]).astype(np.float64)
sys.exit(not (a.shape[0] == 12 and max(np.abs(a[i] - a[i + 1]).max() for i in range(0, 12, 2)) < 1e-6))" "$work/least0/stimuli.npy"'
# --init gabor starts at the matched Gabor (with --kind least the least
# exciting Gabor, the same search downhill): with no steps the MEI is the
# matched Gabor control itself, and the least exciting Gabor is at the budget
# and predicted below the matched one.
run mei --model "$work/model.bin" --data "$work/data" --neurons "top 6" --out "$work/gabor0" \
    --steps 0 --init gabor
run mei --model "$work/model.bin" --data "$work/data" --neurons "top 6" --out "$work/leastg0" \
    --steps 0 --kind least --init gabor
check "--init gabor --steps 0: each MEI is its matched Gabor; each least exciting Gabor at the budget, predicted below it" \
    '[ "$(status)" = 0 ] && /usr/bin/python3 -c "
import json, sys, numpy as np
m = json.load(open(sys.argv[1] + \"/manifest.json\")); a = np.load(sys.argv[1] + \"/stimuli.npy\").astype(np.float64)
l = json.load(open(sys.argv[2] + \"/manifest.json\")); b = np.load(sys.argv[2] + \"/stimuli.npy\").astype(np.float64)
kinds = [x[\"kind\"] for x in m[\"stimuli\"]]; k = len(kinds) // 6
mei = [i for i, x in enumerate(kinds) if x == \"mei\"]; gab = [i for i, x in enumerate(kinds) if x == \"gabor\"]
ok = len(mei) == 6 and len(gab) == 6 and max(np.abs(a[i] - a[j]).max() for i, j in zip(mei, gab)) < 1e-6
least = [i for i, x in enumerate(l[\"stimuli\"]) if x[\"kind\"] == \"least\"]
ok &= len(least) == 6 and all(abs(b[i].std() - l[\"contrast_budget\"]) < 1e-4 for i in least)
ok &= all(l[\"stimuli\"][i][\"predicted_response\"] < m[\"stimuli\"][j][\"predicted_response\"] for i, j in zip(least, gab))
sys.exit(not ok)" "$work/gabor0" "$work/leastg0"'

# Diverse MEIs: per neuron the MEI of 4 random starts and a set of 4 pushed
# apart; every image of a set should keep >= 0.8 of the MEI's true response
# while the set correlates far less than the starts. (--no-controls here and
# for masked and surround: the controls are the MEI's, checked above, and
# their matched-Gabor search is 90% of each call's time.)
run mei --model "$work/model.bin" --data "$work/data" --neurons 1 --out "$work/o" --count 3
check "--count without --kind diverse: exit 2" '[ "$(status)" = 2 ] && grep -q "kind diverse" "$work/err"'
run mei --model "$work/model.bin" --data "$work/data" --neurons 1 --out "$work/o" --kind diverse --starts 3
check "--kind diverse with --starts: exit 2 (the MEI's starts are --count)" '[ "$(status)" = 2 ] && grep -q "starts is not for it" "$work/err"'
run mei --model "$work/model.bin" --data "$work/data" --neurons "top 6" --out "$work/diverse" \
    --steps 150 --kind diverse --count 4 --ground-truth --no-controls
held=$(sed -n 's/^every image of the set at >= 0.8 of the MEI.s true response for \([0-9]*\) of 6.*/\1/p' "$work/out")
corr=$(sed -n 's/^median pairwise correlation: diverse sets \([-0-9.]*\), 4 random starts of the MEI \([-0-9.]*\)$/\1 \2/p' "$work/out")
check "diverse: the MEI and 4 diverse images per neuron (30 stimuli), all in the space" \
    '[ "$(status)" = 0 ] && [ $(ls "$work/diverse"/n*_diverse-*.png | wc -l) = 24 ] && /usr/bin/python3 -c "
import json, sys, numpy as np
m = json.load(open(sys.argv[1])); a = np.load(sys.argv[2]).astype(np.float64); s = m[\"stimuli\"]
ok = len(s) == 30 and sum(x[\"kind\"].startswith(\"diverse-\") for x in s) == 24
ok &= all(x[\"set_size\"] == 4 for x in s if x[\"kind\"].startswith(\"diverse-\"))
ok &= np.all(np.abs(a.mean(axis=(1, 2)) - m[\"mean_luminance\"]) < 1e-5)
ok &= np.all(a.std(axis=(1, 2)) <= m[\"contrast_budget\"] * (1 + 1e-5))
sys.exit(not ok)" "$work/diverse/manifest.json" "$work/diverse/stimuli.npy"'
check "diverse: every image >= 0.8 of the MEI's true response for most neurons ($held of 6)" \
    '[ -n "$held" ] && [ "$held" -ge 5 ]'
check "diverse: the sets correlate well below the MEI's random starts (median $corr)" \
    '[ -n "$corr" ] && /usr/bin/python3 -c "import sys; d, s = map(float, sys.argv[1:3]); sys.exit(not d < s - 0.3)" $corr'

# Masked MEIs: the MEI under a learned soft disc, gray outside; the mask's
# extent in the manifest. Judged on the simulated cells' true responses and
# receptive fields (Gaussian envelopes).
run mei --model "$work/model.bin" --data "$work/data" --neurons "top 6" --out "$work/masked" \
    --steps 150 --kind masked --ground-truth --no-controls
kept=$(sed -n 's/^masked MEI at >= 0.9 of the MEI.s true response for \([0-9]*\) of 6 neurons; mask covering >= 0.8 of the true RF for \([0-9]*\).*/\1 \2/p' "$work/out")
check "masked: the MEI and the masked MEI per neuron (12 stimuli), mask extent in the manifest, pixels in [0,1], contrast within the budget" \
    '[ "$(status)" = 0 ] && [ $(ls "$work/masked"/n*_masked.png | wc -l) = 6 ] && /usr/bin/python3 -c "
import json, sys, numpy as np
m = json.load(open(sys.argv[1])); a = np.load(sys.argv[2]).astype(np.float64); s = m[\"stimuli\"]
k = [x for x in s if x[\"kind\"] == \"masked\"]
ok = len(s) == 12 and len(k) == 6 and all(x[\"mask_radius\"] > 0 and x[\"mask_area\"] > 0 and x[\"mask_kept\"] >= 0.95 - 1e-4 for x in k)
ok &= a.min() >= 0 and a.max() <= 1 and np.all(a.std(axis=(1, 2)) <= m[\"contrast_budget\"] * (1 + 1e-5))
sys.exit(not ok)" "$work/masked/manifest.json" "$work/masked/stimuli.npy"'
check "masked: >= 0.9 of the MEI's true response and >= 0.8 of the true RF covered for most neurons (kept, covered: $kept of 6)" \
    '[ -n "$kept" ] && [ ${kept% *} -ge 5 ] && [ ${kept#* } -ge 5 ]'

# Surround MEIs: the masked MEI as the centre (the control), the surround
# outside the mask for most and least excitation, the surround held to the
# budget. (This population has no surround-suppressed cells: the ground
# truth of surrounds is in test_synthesis' region check.)
run mei --model "$work/model.bin" --data "$work/data" --neurons "top 3" --out "$work/surround" \
    --steps 100 --kind surround --ground-truth --no-controls
check "surround: centre, most and least surround per neuron, the model predicting most >= centre >= least" \
    '[ "$(status)" = 0 ] && grep -q "^surround cells: the most exciting surround raises the true response over the centre alone for 0 of 0" "$work/out" && [ $(ls "$work/surround"/n*_surround-*.png | wc -l) = 6 ] && /usr/bin/python3 -c "
import json, sys, numpy as np
m = json.load(open(sys.argv[1])); a = np.load(sys.argv[2]).astype(np.float64); s = m[\"stimuli\"]
ok = len(s) == 3 * 4 and a.min() >= 0 and a.max() <= 1
for n in set(x[\"neuron\"] for x in s):
    p = {x[\"kind\"]: x[\"predicted_response\"] for x in s if x[\"neuron\"] == n}
    ok &= p[\"surround-most\"] >= p[\"centre\"] >= p[\"surround-least\"]
    ok &= all(\"mask_radius\" in x for x in s if x[\"neuron\"] == n and x[\"kind\"] in (\"centre\", \"surround-most\", \"surround-least\"))
sys.exit(not ok)" "$work/surround/manifest.json" "$work/surround/stimuli.npy"'
# "possible", the cell's own best surround (stimulus_true_best_surround),
# starts from gray: never below the centre alone (the masked MEI), and
# finite for each of the 3 rows.
check "surround: each cell's own best surround (possible) at least its centre alone" \
    '[ $(awk '\''/^surround MEIs/ { f = 1 } f && $1 ~ /^[0-9]+$/ && NF == 11 && $11 + 0 >= $4 - 1e-3 && $11 != "nan" { n++ } END { print n + 0 }'\'' "$work/out") = 3 ]'

# Population control: the top 6 neurons as one group, 3 seeded target
# patterns, each an image and the natural control whose predicted pattern is
# closest; the manifest's numbers and the ground-truth table (its figures on
# a population fitted well enough to judge are test_synthesis' pattern check).
run mei --model "$work/model.bin" --data "$work/data" --neurons "top 6" --out "$work/pattern" \
    --steps 100 --kind pattern --count 3 --ground-truth
check "pattern: 3 target patterns over a group of 6, image and natural control each, targets in the manifest, pixels in [0,1], contrast within the budget, the ground truth counted" \
    '[ "$(status)" = 0 ] && [ $(ls "$work/pattern"/p*_pattern.png | wc -l) = 3 ] && grep -q "^synthesized closer than every natural training image: [0-3] of 3 patterns" "$work/out" && /usr/bin/python3 -c "
import json, sys, numpy as np
m = json.load(open(sys.argv[1])); a = np.load(sys.argv[2]).astype(np.float64); s = m[\"stimuli\"]
ok = len(m[\"group\"]) == 6 and len(s) == 6 and a.shape[0] == 6
ok &= all(len(x[\"target\"]) == 6 and -1 <= x[\"predicted_similarity\"] <= 1 for x in s)
ok &= [x[\"kind\"] for x in s] == [\"pattern\", \"natural-pattern\"] * 3
ok &= a.min() >= 0 and a.max() <= 1 and np.all(a.std(axis=(1, 2)) <= m[\"contrast_budget\"] * (1 + 1e-5))
sys.exit(not ok)" "$work/pattern/manifest.json" "$work/pattern/stimuli.npy"'

run mei --model "$work/model.bin" --data "$work/data" --neurons 0,4-5 --out "$work/mei3" \
    --steps 20 --starts 2 --no-controls --objective one-hot-softmax --space fourier --jitter 1
check "ids and ranges, 2 starts, one-hot softmax in Fourier space: MEIs only, start agreement said" \
    '[ "$(status)" = 0 ] && [ $(ls "$work/mei3"/n*.png | wc -l) = 3 ] && grep -q "starts per neuron" "$work/out" && grep -q "start_agreement" "$work/mei3/manifest.json"'

run mei --model "$work/model.bin" --data "$work/data" --neurons "random 4" --out "$work/rand1" \
    --steps 3 --no-controls --seed 9
check "random 4: four MEIs, said so" \
    '[ "$(status)" = 0 ] && [ $(ls "$work/rand1"/n*.png | wc -l) = 4 ] && grep -q "4 neurons drawn at random (seed 9)" "$work/out"'
run mei --model "$work/model.bin" --data "$work/data" --neurons "random 4" --out "$work/rand2" \
    --steps 3 --no-controls --seed 9
run mei --model "$work/model.bin" --data "$work/data" --neurons "random 4" --out "$work/rand3" \
    --steps 3 --no-controls --seed 10
check "random 4: the same seed draws the same distinct neurons, another seed others" \
    '/usr/bin/python3 -c "
import json, sys
ids = [[s[\"neuron\"] for s in json.load(open(f))[\"stimuli\"]] for f in sys.argv[1:]]
sys.exit(not (ids[0] == ids[1] and len(set(ids[0])) == 4 and ids[0] == sorted(ids[0]) and ids[2] != ids[0] and all(0 <= i < 20 for i in ids[0])))" "$work/rand1/manifest.json" "$work/rand2/manifest.json" "$work/rand3/manifest.json"'
run mei --model "$work/model.bin" --data "$work/data" --neurons "random 21" --out "$work/rand4"
check "random beyond the population: exit 2 naming the range" \
    '[ "$(status)" = 2 ] && grep -q "1..20" "$work/err"'

# Conjunction cells (two Gabor subunits, AND-like): no single Gabor is their
# optimum, so the MEI must beat the matched Gabor in the true responses.
run simulate --out "$work/conj" --neurons 12 --train 800 --test 20 --repeats 5 --seed 4 \
    --images synthetic --fraction-simple 0 --fraction-complex 0 --fraction-conjunction 1
check "simulate with --fraction-conjunction 1" '[ "$(status)" = 0 ]'
run fit --data "$work/conj" --out "$work/conj.bin" --layers 2 --channels 8 --kernels 9,7 \
    --epochs 8
run mei --model "$work/conj.bin" --data "$work/conj" --neurons "top 6" --out "$work/meiconj" \
    --steps 150 --ground-truth
wins=$(sed -n 's/^non-Gabor cells.*MEI beats the matched Gabor for \([0-9]*\) of 6,.*/\1/p' "$work/out")
check "MEIs beat the matched Gabor in the true responses of most conjunction cells ($wins of 6)" \
    '[ -n "$wins" ] && [ "$wins" -ge 4 ] && grep -q "^  conjunction  *6 " "$work/out"'
run simulate --out "$work/bad" --neurons 12 --train 20 --fraction-simple 0.5 \
    --fraction-conjunction 0.6
check "shares over 1: exit 2 naming them" \
    '[ "$(status)" = 2 ] && grep -q "fraction-conjunction" "$work/err"'
# Energy-conjunction cells (two complex subunits): no single Gabor is their
# optimum, so the MEI must beat the matched Gabor in the true responses. (The
# RF map is no check here: this tiny model's MEIs reach a fifth to a third of
# these cells' optimum, and its RF map, all its contrast in the receptive
# field, drives both subunits about as well; with the model issue's fit they
# beat it for 56 of 60 cells, docs/ground-truth-results.md.)
run simulate --out "$work/energy" --neurons 12 --train 800 --test 20 --repeats 5 --seed 4 \
    --images synthetic --fraction-simple 0 --fraction-complex 0 --fraction-energy-conjunction 1
check "simulate with --fraction-energy-conjunction 1" '[ "$(status)" = 0 ]'
run fit --data "$work/energy" --out "$work/energy.bin" --layers 2 --channels 8 --kernels 9,7 \
    --epochs 8
run mei --model "$work/energy.bin" --data "$work/energy" --neurons "top 6" \
    --out "$work/meienergy" --steps 150 --ground-truth
wins=$(sed -n 's/^MEI beats the matched Gabor for \([0-9]*\) of 6 neurons,.*/\1/p' "$work/out")
check "MEIs beat the matched Gabor in the true responses of most energy-conjunction cells ($wins of 6)" \
    '[ -n "$wins" ] && [ "$wins" -ge 4 ] && grep -q "^  energy-conjunction  *6 " "$work/out"'

# Cells with a baseline rate (docs/ground-truth.md, "Baseline rates"): the
# conjunction population again, half its cells given a baseline of 2 through
# population.npy version 6 (the model was fitted without: only the report is
# checked here, not issue 16's criterion, which the zoo measurement in
# docs/ground-truth-results.md finds unmet). Each baseline row's gray rate is
# its baseline, and the count of rows below their least natural image is the
# table's. No controls (the model's least natural image is not needed here:
# the truly least natural one is the ground truth's), which keeps this to
# ~0.1 s (0.3 s under the sanitizers).
/usr/bin/python3 -c "import numpy as np, sys; np.save(sys.argv[1], np.array([6, 12, 36, 64, 0, 0, 1, 4, 0, 0, 0, 0, 0, 0, 0, 2, 0.5], dtype=np.float64))" "$work/conj/population.npy"
run mei --model "$work/conj.bin" --data "$work/conj" --neurons all --out "$work/leastbase" \
    --steps 20 --kind least --ground-truth --no-controls
check "least --ground-truth with baseline cells: each one's gray rate its baseline, counted against its least natural image" \
    '[ "$(status)" = 0 ] && /usr/bin/python3 -c "
import re, sys
text = open(sys.argv[1]).read()
rows = [l.split() for l in text.splitlines() if re.match(r\"^ *[0-9]+ conjunction \", l)]
base = [r for r in rows if float(r[2]) > 0]
ok = len(rows) == 12 and 0 < len(base) < 12 and all(abs(float(r[6]) - 2) < 1e-3 for r in base)
ok &= all(float(r[6]) < 1 for r in rows if float(r[2]) == 0)
m = re.search(r\"^neurons with a baseline rate: least exciting input below the least exciting natural image for ([0-9]+) of ([0-9]+)\", text, re.M)
ok &= bool(m) and int(m.group(2)) == len(base) and int(m.group(1)) == sum(float(r[3]) < float(r[4]) for r in base)
sys.exit(not ok)" "$work/out"'

/usr/bin/python3 -c "import numpy as np, sys; np.save(sys.argv[1], np.array([12, 36, 64, 0.5, 0.5, 4, 0], dtype=np.float64))" "$work/conj/population.npy"
run mei --model "$work/conj.bin" --data "$work/conj" --neurons 1 --out "$work/mei4" \
    --steps 5 --no-controls --ground-truth
check "--ground-truth with a version 1 population.npy: exit 1 saying so" \
    '[ "$(status)" = 1 ] && grep -q "version 1" "$work/err"'

rm "$work/data/population.npy"
run mei --model "$work/model.bin" --data "$work/data" --neurons 1 --out "$work/mei2" \
    --steps 5 --no-controls --ground-truth
check "--ground-truth without population.npy: exit 1 naming it" \
    '[ "$(status)" = 1 ] && grep -q "population.npy" "$work/err"'

echo "1..$n"
[ $failed = 0 ]
