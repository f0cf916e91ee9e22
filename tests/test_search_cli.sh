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
echo "1..$n"
[ "$failed" = 0 ]
