#!/bin/sh
# The zoo evaluation (issue 15 item 5, docs/ground-truth.md): simulate a
# population of the given families, fit it with `inception fit`'s defaults,
# synthesize every neuron's MEI with `inception mei`'s defaults and its
# controls, and print the ground-truth table by family, held-out families
# marked. Argument (from meson): the inception executable. Settings from the
# environment, defaults sized for minutes on 2 cores (the baseline of
# docs/ground-truth.md took 15 minutes on 2 cores shared with other jobs at a
# load of 5 to 18):
#   FAMILIES  cell types, equal shares (default: all nine)
#   NEURONS   population size (default 90: ten per family)
#   TRAIN     training + validation images (default 2000)
#   TEST, REPEATS  test images and repeats (default 50, 5)
#   IMAGES    what is shown: auto (photographs when installed, else synthetic;
#             said in the output), synthetic, noise or a folder (default auto)
#   SEED      population, images and spikes (default 1)
#   FIT_ARGS  options for `inception fit` (default --epochs 20: its defaults
#             otherwise; its own cap of 200 epochs can take an hour here)
#   MEI_ARGS  options for `inception mei` (default none: its defaults)
#   ENSEMBLE  K models (default 1): fit K models, `inception fit --seed 1` ...
#             `--seed K` (K times the fit's time), and synthesize on their
#             mean (`inception mei --model m1.bin,...,mK.bin`); FIT_ARGS then
#             names no --seed
#   OUT       working folder (default: a temporary one, removed at the end)
set -eu
inception=$1
families=${FAMILIES:-simple,complex,normalized,conjunction,energy-conjunction,end-stopped,surround,curvature,texture}
neurons=${NEURONS:-90}
train=${TRAIN:-2000}
test_images=${TEST:-50}
repeats=${REPEATS:-5}
fit_args=${FIT_ARGS---epochs 20}
ensemble=${ENSEMBLE:-1}
case $ensemble in
    [1-8]) ;;
    *) echo "ENSEMBLE wants 1 to 8 models, not '$ensemble'" >&2; exit 2 ;;
esac
images=${IMAGES:-auto}
seed=${SEED:-1}
if [ -n "${OUT:-}" ]; then
    work=$OUT
    mkdir -p "$work"
else
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
fi
echo "zoo evaluation: families $families; $neurons neurons, $train training images," \
     "$test_images test x $repeats; seed $seed; fit: ${fit_args:-defaults}" \
     "($ensemble model(s));" \
     "mei: ${MEI_ARGS:-defaults}"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
start=$(date +%s)
"$inception" simulate --out "$work/data" --neurons "$neurons" --train "$train" \
    --test "$test_images" --repeats "$repeats" --families "$families" --images "$images" \
    --seed "$seed"
models=""
for k in $(seq 1 "$ensemble"); do
    echo "fit (seed $k):"
    # shellcheck disable=SC2086  # the extra options are words
    "$inception" fit --data "$work/data" --out "$work/m$k.bin" --seed "$k" $fit_args \
        > "$work/fit$k.txt"
    sed -n '/^best validation/,$p' "$work/fit$k.txt"
    models=${models:+$models,}$work/m$k.bin
done
fitted=$(date +%s)
# shellcheck disable=SC2086
"$inception" mei --model "$models" --data "$work/data" --neurons all \
    --out "$work/mei" --ground-truth ${MEI_ARGS:-} > "$work/mei.txt"
sed -n '/^by family/,$p' "$work/mei.txt"
grep -m1 '^median MEI/natural' "$work/mei.txt" || true
done_at=$(date +%s)
echo "time: fit $((fitted - start)) s (with simulate), MEI and scoring $((done_at - fitted)) s;" \
     "load $(cut -d' ' -f1 /proc/loadavg)"
