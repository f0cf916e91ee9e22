#!/bin/sh
# `inception mei --model A,B`: an ensemble from the command line. Two small
# models of one simulated population (fit --seed 1 and 2) and one of another
# population size: the ensemble runs, its manifest lists the models and its
# predicted responses are the mean of the members' (each checked against the
# model's own run on the recorded-best natural image, which no model chooses);
# a mismatched or empty entry is an error naming it. TAP; argument 1 is the
# executable.
inception=$1
tap_context_lines=30
. "$(dirname "$0")/tap.sh"

run mei --help
check "mei --help explains ensembles" \
    '[ "$(status)" = 0 ] && grep -q "MODEL\[,MODEL...\]" "$work/out" && grep -q "fit --seed 1" "$work/out"'

run simulate --out "$work/data" --neurons 12 --train 300 --test 10 --repeats 3 --seed 5 \
    --images synthetic --fraction-simple 0.3 --fraction-complex 0.3 --fraction-conjunction 0.2
check "simulate" '[ "$(status)" = 0 ]'
for s in 1 2; do
    run fit --data "$work/data" --out "$work/m$s.bin" --layers 1 --channels 4 --kernels 7 \
        --epochs 2 --seed $s
    check "fit seed $s" '[ "$(status)" = 0 ] && [ -f "$work/m$s.bin" ]'
done
run simulate --out "$work/other" --neurons 9 --train 100 --test 10 --repeats 2 --seed 6 \
    --images synthetic
run fit --data "$work/other" --out "$work/other.bin" --layers 1 --channels 4 --kernels 7 \
    --epochs 1
check "a model of another population" '[ "$(status)" = 0 ]'

run mei --model "$work/m1.bin,$work/other.bin" --data "$work/data" --neurons 1 --out "$work/x"
check "mismatched model in the list: exit 1, the file named" \
    '[ "$(status)" = 1 ] && grep -q "other.bin: 9 neurons" "$work/err"'
run mei --model "$work/m1.bin,,$work/m2.bin" --data "$work/data" --neurons 1 --out "$work/x"
check "empty entry in the list: exit 2" '[ "$(status)" = 2 ] && grep -q "comma list" "$work/err"'
run mei --model "$work/m1.bin,$work/missing.bin" --data "$work/data" --neurons 1 --out "$work/x"
check "missing model in the list: exit 1, the file named" \
    '[ "$(status)" = 1 ] && grep -q "missing.bin" "$work/err"'

run mei --model "$work/m1.bin,$work/m2.bin" --data "$work/data" --neurons "top 3" \
    --out "$work/ens" --steps 30 --ground-truth
check "ensemble of two: MEIs, controls and ground truth" \
    '[ "$(status)" = 0 ] && grep -q "ensemble of 2 models" "$work/out" && grep -q "by cell type" "$work/out"'
check "manifest lists both models and each model's prediction" \
    '/usr/bin/python3 -c "
import json, sys
m = json.load(open(sys.argv[1]))
ok = [p.split(\"/\")[-1] for p in m[\"models\"]] == [\"m1.bin\", \"m2.bin\"]
ok &= all(len(s[\"predicted_by_model\"]) == 2 for s in m[\"stimuli\"]) and len(m[\"stimuli\"]) == 15
sys.exit(not ok)" "$work/ens/manifest.json"'
check "predicted_response is the mean of predicted_by_model" \
    '/usr/bin/python3 -c "
import json, sys
m = json.load(open(sys.argv[1]))
sys.exit(not all(abs(s[\"predicted_response\"] - sum(s[\"predicted_by_model\"]) / 2) <= 1e-4 * max(1, abs(s[\"predicted_response\"])) for s in m[\"stimuli\"]))" "$work/ens/manifest.json"'

# --disagreement reaches the synthesis (which refuses it for a one-hot
# objective: tests/test_ensemble.c checks the stop itself); one model has
# nothing to disagree with: refused before anything is loaded.
run mei --model "$work/m1.bin,$work/m2.bin" --data "$work/data" --neurons 0-2 --out "$work/dis" \
    --steps 30 --no-controls --disagreement 0.1 --objective one-hot-mean
check "--disagreement reaches the synthesis: a one-hot objective refused, exit 1" \
    '[ "$(status)" = 1 ] && grep -q "stopping where the models disagree" "$work/err"'
run mei --model "$work/m1.bin" --data "$work/data" --neurons 0 --out "$work/x" --disagreement 0.1
check "--disagreement with one model: exit 2" '[ "$(status)" = 2 ] && grep -q "needs --model A,B" "$work/err"'

# The recorded-best natural image does not depend on the model: each model
# alone must predict for it what the ensemble's manifest says it does.
for s in 1 2; do
    run mei --model "$work/m$s.bin" --data "$work/data" --neurons 0-2 --out "$work/one$s" --steps 1
    check "model $s alone runs" '[ "$(status)" = 0 ]'
done
run mei --model "$work/m1.bin,$work/m2.bin" --data "$work/data" --neurons 0-2 --out "$work/ens2" \
    --steps 1
check "each model's entry in the ensemble's manifest is that model's own prediction" \
    '/usr/bin/python3 -c "
import json, sys
e = json.load(open(sys.argv[1]))[\"stimuli\"]
ones = [json.load(open(p))[\"stimuli\"] for p in sys.argv[2:]]
ok = True
for k, s in enumerate(e):
    if s[\"kind\"] != \"natural-recorded\":
        continue
    for m, one in enumerate(ones):
        assert one[k][\"kind\"] == s[\"kind\"] and one[k][\"neuron\"] == s[\"neuron\"]
        ok &= abs(one[k][\"predicted_response\"] - s[\"predicted_by_model\"][m]) <= 1e-4 * max(1, abs(s[\"predicted_by_model\"][m]))
sys.exit(not ok)" "$work/ens2/manifest.json" "$work/one1/manifest.json" "$work/one2/manifest.json"'

echo "1..$n"
[ "$failed" = 0 ]
