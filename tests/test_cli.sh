#!/bin/sh
# The inception executable as a user meets it: help, clear one-line errors
# with non-zero exits, and a small simulate → fit → evaluate round.
# TAP output; argument 1 is the executable.
inception=$1
. "$(dirname "$0")/tap.sh"

run --help
check "--help exits 0 and lists the commands" \
    '[ "$(status)" = 0 ] && grep -q "fit" "$work/out" && grep -q "simulate" "$work/out"'
run
check "no command: usage and exit 2" '[ "$(status)" = 2 ] && grep -q usage "$work/err"'
run frobnicate
check "unknown command named, exit 2" \
    '[ "$(status)" = 2 ] && grep -q "unknown command .frobnicate." "$work/err"'
for cmd in fit simulate evaluate; do
    run $cmd --help
    check "$cmd --help exits 0 with usage" \
        '[ "$(status)" = 0 ] && grep -q "usage: inception $cmd" "$work/out"'
done
run fit
check "fit without --data: exit 2, says what is required" \
    '[ "$(status)" = 2 ] && grep -q "required" "$work/err" && [ $(wc -l <"$work/err") = 1 ]'
run fit --data "$work/nothing-here" --out "$work/m.bin"
check "fit on a missing folder names it, exit 1" \
    '[ "$(status)" = 1 ] && grep -q "nothing-here" "$work/err" && [ $(wc -l <"$work/err") = 1 ]'
run fit --data "$work" --out "$work/m.bin" --readuot gaussian
check "a misspelled option is named" \
    '[ "$(status)" = 2 ] && grep -q "unknown option .--readuot." "$work/err"'
run fit --data "$work" --out "$work/m.bin" --epochs many
check "a bad number is named" '[ "$(status)" = 2 ] && grep -q "epochs" "$work/err"'

run simulate --out "$work/data" --neurons 10 --train 300 --test 10 --repeats 4 \
    --height 12 --width 16 --seed 5 --images synthetic
check "simulate writes a dataset" \
    '[ "$(status)" = 0 ] && [ -f "$work/data/images.npy" ] && [ -f "$work/data/cell_types.npy" ]'
run simulate --out "$work/noise" --neurons 10 --train 10 --test 10 --repeats 4 \
    --height 12 --width 16 --seed 5 --images noise
check "simulate --noise writes white-noise test data" \
    '[ "$(status)" = 0 ] && grep -q "white-noise" "$work/out"'
run fit --data "$work/data" --out "$work/m.bin" --epochs 3 --channels 4 --layers 2 \
    --kernels 5,3
check "fit shows progress per epoch and ends with the test table" \
    '[ "$(status)" = 0 ] && grep -q "^epoch   3" "$work/out" && grep -q "FEVE" "$work/out" && grep -q "complex" "$work/out" && [ -f "$work/m.bin" ]'
run fit --data "$work/data" --out "$work/m2.bin" --epochs 3 --channels 4 --layers 2 \
    --kernels 5,3
check "a second fit in another process writes the identical model file (reproducible)" \
    'cmp -s "$work/m.bin" "$work/m2.bin"'
run fit --data "$work/data" --out "$work/lnp.bin" --epochs 2 --model lnp --features gabor
check "fit --model lnp --features gabor" '[ "$(status)" = 0 ] && grep -q "lnp model" "$work/out"'
run evaluate --model "$work/m.bin" --data "$work/noise"
check "evaluate on stimuli of another kind" \
    '[ "$(status)" = 0 ] && grep -q "corr to average" "$work/out"'
head -c 300 "$work/m.bin" >"$work/cut.bin"
run evaluate --model "$work/cut.bin" --data "$work/noise"
check "a truncated model file is refused by name" \
    '[ "$(status)" = 1 ] && grep -q "cut.bin" "$work/err" && [ $(wc -l <"$work/err") = 1 ]'

echo "1..$n"
[ $failed = 0 ]
