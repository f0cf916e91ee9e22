#!/bin/sh
# The zoo evaluation (tests/bench/run_zoo.sh) run tiny: one neuron each of a
# tuning family and both held-out ones, a few images, a two-epoch fit of a
# four-channel core and 10 ascent steps without controls (the table scores
# the MEIs against the truly best natural images; the Gabor search costs
# seconds per neuron). Checks that it runs end to end and
# prints the table by family with each family's split and the two summary rows.
set -u
inception=$1
here=$(dirname "$0")
out=$(mktemp)
trap 'rm -f "$out"' EXIT
FAMILIES=simple,surround,texture NEURONS=3 TRAIN=120 TEST=4 REPEATS=2 IMAGES=synthetic \
    FIT_ARGS="--epochs 2 --channels 4 --layers 1 --kernels 5" MEI_ARGS="--steps 10 --no-controls" \
    sh "$here/bench/run_zoo.sh" "$inception" > "$out" 2>&1
status=$?
fails=0
check() {
    if grep -Eq "$2" "$out"; then echo "ok - $1"; else echo "not ok - $1"; fails=$((fails + 1)); fi
}
if [ "$status" = 0 ]; then echo "ok - run_zoo.sh exits 0"; else echo "not ok - run_zoo.sh exits $status"; fails=$((fails + 1)); fi
check "the table's header" '^  family +split +n +MEI/nat +MEI/own +>nat +MEI/opt +pred/true'
check "simple: a tuning family, one target, finite ratios" '^  simple +tuning +1 +[0-9.]+ +[0-9.]+ +[01]\.[0-9]+ +[0-9.]+ +[0-9.]+$'
check "surround: held out" '^  surround +held-out +1 '
check "texture: held out" '^  texture +held-out +1 '
check "the held-out summary over both" '^  all held-out +2 '
check "the tuning summary" '^  all tuning +1 '
check "says what images it showed" 'synthetic natural-like'
[ "$fails" = 0 ] || cat "$out" | sed 's/^/# /'
echo "1..8"
[ "$fails" = 0 ]
