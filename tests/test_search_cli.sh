#!/bin/sh
# `inception search` as a user meets it: option errors named with exit 2,
# and a tiny run on a small simulated population (two neurons, a few
# generations) whose files are there, at the budget and listed in the
# manifest. Cheap: about a second. TAP output; argument 1 is the executable.
inception=$1
. "$(dirname "$0")/tap.sh"

run search --help
check "search --help exits 0 with usage" '[ "$(status)" = 0 ] && grep -q "usage: inception search" "$work/out"'
run search --neurons 1 --out o
check "missing --population: exit 2" '[ "$(status)" = 2 ] && grep -q "required" "$work/err"'
run search --population p --neurons 1 --out o --split some
check "bad --split named, exit 2" '[ "$(status)" = 2 ] && grep -q "some" "$work/err"'
run search --population p --neurons 1 --out o --population-size 8 --elites 8
check "as many elites as images: exit 2" '[ "$(status)" = 2 ] && grep -q "elites" "$work/err"'
run search --population p --neurons 1 --out o --repeats 0
check "--repeats 0 named, exit 2" '[ "$(status)" = 2 ] && grep -q "repeats" "$work/err"'
run search --population "$work/none/population.npy" --neurons 1 --out "$work/o"
check "a missing population is named" '[ "$(status)" != 0 ] && grep -q "$work/none" "$work/err"'

run simulate --out "$work/data" --neurons 6 --train 60 --test 2 --repeats 2 --seed 2 \
    --images synthetic --fraction-simple 0.5 --fraction-complex 0.5
run search --population "$work/data/population.npy" --neurons 9 --out "$work/o"
check "--neurons beyond the population: exit 2" '[ "$(status)" = 2 ] && grep -q "0..5" "$work/err"'
run search --population "$work/data" --neurons all --split held-out --out "$work/h"
check "--split held-out of simple and complex cells: none, exit 2" \
    '[ "$(status)" = 2 ] && grep -q "held-out families" "$work/err"'
run search --population "$work/data" --neurons 0,3 --out "$work/s" --generations 4 \
    --population-size 8 --elites 2
check "a tiny search runs" '[ "$(status)" = 0 ]'
check "it reports 32 trials per neuron" '[ $(grep -c " 32 " "$work/out") = 2 ]'
check "one PNG per neuron, stimuli.npy, manifest.json" \
    '[ -f "$work/s/n0000_search.png" ] && [ -f "$work/s/n0003_search.png" ] && [ -f "$work/s/stimuli.npy" ]'
check "the manifest lists both at the budget" \
    '/usr/bin/python3 -c "
import json, sys
m = json.load(open(sys.argv[1]))
s = m[\"stimuli\"]
ok = len(s) == 2 and [x[\"neuron\"] for x in s] == [0, 3]
ok = ok and all(abs(x[\"contrast\"] - m[\"contrast_budget\"]) < 1e-5 and abs(x[\"mean\"] - m[\"mean_luminance\"]) < 1e-5 for x in s)
ok = ok and all(x[\"trials\"] == 32 and x[\"kind\"] == \"search\" for x in s)
sys.exit(not ok)" "$work/s/manifest.json"'
check "a search for the most exciting image says so in its manifest" \
    'grep -q "\"direction\": \"most\"" "$work/s/manifest.json"'

# --least on cells with a baseline of 2 spikes that contrast at their
# orthogonal orientation suppresses (simulate --baseline-rate): the search
# runs downhill and is scored against the truly least exciting natural image
# and the cell's gray rate, which is its baseline.
run simulate --out "$work/base" --neurons 4 --train 60 --test 2 --repeats 2 --seed 3 \
    --images synthetic --fraction-simple 1 --fraction-complex 0 --baseline-rate 2
run search --population "$work/base" --neurons 0,1 --out "$work/l" --generations 12 \
    --population-size 16 --elites 2 --least
check "search --least runs and prints its count below the least exciting natural image" \
    '[ "$(status)" = 0 ] && grep -q "^tuning families: below the least exciting natural image for [0-2] of 2" "$work/out"'
# A search run uphill by mistake would drive these simple cells far above
# their baseline; downhill every image stays at or below it, and one is far
# below (with 192 trials a lucky zero count can still hand over an image at
# the baseline: the search sees counts, not rates).
check "--least: the manifest's figures agree with the printed count; every image at the budget, none above the cell's gray rate (its baseline, 2), one below half of it" \
    '/usr/bin/python3 -c "
import json, re, sys
m = json.load(open(sys.argv[1])); s = m[\"stimuli\"]
line = [l for l in open(sys.argv[2]) if l.startswith(\"tuning families:\")][0]
printed = int(re.search(r\"for (\\d+) of 2\", line).group(1))
ok = len(s) == 2 and all(x[\"direction\"] == \"least\" and x[\"trials\"] == 192 for x in s)
ok = ok and all(abs(x[\"contrast\"] - m[\"contrast_budget\"]) < 1e-5 for x in s)
ok = ok and all(abs(x[\"true_gray\"] - 2.0) < 1e-4 and x[\"true_response\"] <= 1.01 * x[\"true_gray\"] for x in s)
ok = ok and min(x[\"true_response\"] for x in s) < 1.0
ok = ok and all(x[\"true_optimum\"] is None and \"true_best_natural\" not in x for x in s)
ok = ok and all(x[\"fitness\"] >= 0 for x in s)  # a mean count, not the search'\''s negated one
ok = ok and printed == sum(x[\"true_response\"] < x[\"true_least_natural\"] for x in s)
sys.exit(not ok)" "$work/l/manifest.json" "$work/out"'
# --surround: a search around the centres of an `inception mei --kind
# surround` folder. The folder is written here, not by `inception mei`
# (no model to fit in a one-second test): each neuron's "MEI" a Gabor at a
# mask's centre, neuron 0 with a model surround, neuron 2 without. What is
# checked is the plumbing: the centre kept inside the mask, the surround
# within the budget around it, the controls scored, the counts printed
# those of the manifest, bad folders refused by name.
run simulate --out "$work/sur" --neurons 4 --train 60 --test 2 --repeats 2 --seed 4 \
    --images synthetic --families surround
/usr/bin/python3 - "$work/sur" "$work/centres" <<'PY'
import json, os, sys
import numpy as np
data, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
H, W = 36, 64
imgs = np.load(os.path.join(data, "images.npy")).astype(np.float64)
mean = float(imgs[np.load(os.path.join(data, "tiers.npy")) == 0].mean())  # the training images
y, x = np.mgrid[0:H, 0:W]
def gabor(cx, cy):
    g = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * 4.0 ** 2)) * np.cos(2 * np.pi * 0.12 * (x - cx))
    return (mean + 0.3 * g).clip(0, 1)
def mask(cx, cy, r):
    return 1 / (1 + np.exp(-6.0 * (1 - ((x - cx) ** 2 + (y - cy) ** 2) / r ** 2)))
stimuli, entries = [], []
def add(neuron, kind, image, m=None):
    e = {"index": len(stimuli), "neuron": neuron, "kind": kind, "file": "x.png"}
    if m: e.update({"mask_x": m[0], "mask_y": m[1], "mask_radius": m[2]})
    stimuli.append(image); entries.append(e)
for neuron, (cx, cy) in ((0, (30.0, 18.0)), (2, (20.0, 14.0))):
    mei, m = gabor(cx, cy), (cx, cy, 8.0)
    add(neuron, "mei", mei)
    add(neuron, "centre", mean + mask(*m) * (mei - mean), m)
    if neuron == 0:
        add(neuron, "surround-most", mei, m)
np.save(os.path.join(out, "stimuli.npy"), np.array(stimuli, dtype=np.float32))
json.dump({"height": H, "width": W, "mean_luminance": mean, "stimuli": entries},
          open(os.path.join(out, "manifest.json"), "w"))
PY
run search --population "$work/sur" --neurons all --surround "$work/centres" --out "$work/so" \
    --generations 6 --population-size 8 --elites 2
check "search --surround runs around the folder's two centres" \
    '[ "$(status)" = 0 ] && [ -f "$work/so/n0000_search-surround-most.png" ] && [ -f "$work/so/n0002_search-surround-most.png" ]'
check "--surround: the centre kept inside the mask, the surround within the budget, the controls scored, the printed count the manifest's" \
    '/usr/bin/python3 -c "
import json, re, sys
import numpy as np
m = json.load(open(sys.argv[1] + \"/manifest.json\")); s = m[\"stimuli\"]
shown = np.load(sys.argv[1] + \"/stimuli.npy\").astype(np.float64)
src = json.load(open(sys.argv[2] + \"/manifest.json\"))[\"stimuli\"]
srcimg = np.load(sys.argv[2] + \"/stimuli.npy\").astype(np.float64)
H, W = 36, 64; y, x = np.mgrid[0:H, 0:W]
ok = [e[\"neuron\"] for e in s] == [0, 2] and all(e[\"kind\"] == \"search-surround\" and e[\"trials\"] == 48 for e in s)
for j, e in enumerate(s):
    c = [t for t in src if t[\"neuron\"] == e[\"neuron\"] and t[\"kind\"] == \"centre\"][0]
    mei = srcimg[[t for t in src if t[\"neuron\"] == e[\"neuron\"] and t[\"kind\"] == \"mei\"][0][\"index\"]]
    d2 = (x - c[\"mask_x\"]) ** 2 + (y - c[\"mask_y\"]) ** 2
    mk = 1 / (1 + np.exp(-6.0 * (1 - d2 / c[\"mask_radius\"] ** 2)))
    # shown = mk mei + (1 - mk) s: the surround s recovered wherever 1 - mk
    # is not tiny must be an image of the display range (a centre other than
    # the MEI would leave garbage, 1 / (1 - mk) times its error, near it),
    # and it holds at most the budget: its squared deviation from the mean
    # summed over any part of the image is at most P times the budget squared.
    seen = mk < 0.95
    sur = (shown[j][seen] - mk[seen] * mei[seen]) / (1 - mk[seen])
    ok = ok and sur.min() > -1e-3 and sur.max() < 1 + 1e-3
    ok = ok and ((sur - m[\"mean_luminance\"]) ** 2).sum() <= H * W * m[\"contrast_budget\"] ** 2 * 1.001
    inside = mk > 0.99
    ok = ok and inside.sum() > 20 and np.abs(shown[j][inside] - mei[inside]).max() < 0.01
    ok = ok and e[\"true_centre_alone\"] > 0
    # the own best surround of the cell starts from gray: never below the centre alone
    ok = ok and e[\"true_possible_surround\"] >= e[\"true_centre_alone\"] * (1 - 1e-5)
ok = ok and s[0][\"true_model_surround\"] is not None and s[1][\"true_model_surround\"] is None
line = [l for l in open(sys.argv[3]) if l.startswith(\"all neurons:\")][0]
printed = int(re.search(r\"raises the true response from the centre alone for (\\d+) of 2\", line).group(1))
ok = ok and printed == sum(e[\"true_response\"] > e[\"true_centre_alone\"] for e in s)
sys.exit(not ok)" "$work/so" "$work/centres" "$work/out"'
check "--surround: the most exciting surround by the ring code's evolution strategy (the default)" \
    'grep -q "\"space\": \"a ring code around the centre" "$work/so/manifest.json"'
run search --population "$work/sur" --neurons 2 --surround "$work/centres" --out "$work/sg" \
    --generations 4 --population-size 8 --elites 2 --surround-space gabor
check "--surround-space gabor: the genetic search over Gabor primitives instead" \
    '[ "$(status)" = 0 ] && grep -q "\"space\": \"sums of Gabor primitives\"" "$work/sg/manifest.json"'
run search --population "$work/sur" --neurons 2 --surround "$work/centres" --out "$work/sx" \
    --surround-space fourier
check "a bad --surround-space is named, exit 2" '[ "$(status)" = 2 ] && grep -q "fourier" "$work/err"'
run search --population "$work/sur" --neurons 2 --surround "$work/centres" --out "$work/sl" \
    --generations 4 --population-size 8 --elites 2 --least
check "search --surround --least: the surround exactly at the budget, the count of those lowered printed" \
    '[ "$(status)" = 0 ] && grep -q "^all neurons: the search.s surround lowers the true response from the centre alone for [01] of 1" "$work/out" && grep -q "search-surround-least.png" "$work/sl/manifest.json" && grep -q "\"true_possible_surround\": null" "$work/sl/manifest.json"'
run search --population "$work/sur" --neurons 1 --surround "$work/centres" --out "$work/sx"
check "a neuron the folder has no centre for: exit 2, named" \
    '[ "$(status)" = 2 ] && grep -q "neuron 1 has no surround MEI in $work/centres" "$work/err"'
sed 's/"mask_radius": 8.0/"mask_radius": -8.0/' "$work/centres/manifest.json" > "$work/bad.json"
mkdir -p "$work/badc" && cp "$work/centres/stimuli.npy" "$work/badc/" && mv "$work/bad.json" "$work/badc/manifest.json"
run search --population "$work/sur" --neurons all --surround "$work/badc" --out "$work/sb"
check "a damaged manifest is refused, the file and the field named" \
    '[ "$(status)" = 1 ] && grep -q "$work/badc/manifest.json: stimulus 1: mask_radius -8 must be positive" "$work/err"'
mkdir -p "$work/otherc" && cp "$work/centres/stimuli.npy" "$work/otherc/"
/usr/bin/python3 -c "
import json, sys
m = json.load(open(sys.argv[1])); m['mean_luminance'] += 0.01
json.dump(m, open(sys.argv[2], 'w'))" "$work/centres/manifest.json" "$work/otherc/manifest.json"
run search --population "$work/sur" --neurons all --surround "$work/otherc" --out "$work/so2"
check "a folder made at another mean luminance (another dataset's) is refused by name" \
    '[ "$(status)" = 1 ] && grep -q "$work/otherc was made at mean luminance" "$work/err"'
echo "1..$n"
[ "$failed" = 0 ]
