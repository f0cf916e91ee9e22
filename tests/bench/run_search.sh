#!/bin/sh
# The model-free search on the zoo (issue 16, docs/search.md): simulate a
# population of the zoo's families, run `inception search` on the neurons of
# one split and print its lines: for how many the search's best image truly
# beats the truly best natural image at the budget, within the trial budget.
# Settings are chosen on SPLIT=tuning (simple, complex, normalized,
# conjunction, energy-conjunction, end-stopped, curvature) and reported on
# SPLIT=held-out (surround, texture), decided before any tuning. Argument
# (from meson): the inception executable. Settings from the environment:
#   SPLIT        tuning (default), held-out or all
#   NEURONS      population size (default 90: ten per family)
#   SEED         population, images (default 1); the search's seed is SEARCH_ARGS'
#   SEARCH_ARGS  options for `inception search` (default none: its defaults,
#                2,000 trials per neuron)
#   OUT          working folder (default: a temporary one, removed at the end)
set -eu
inception=$1
split=${SPLIT:-tuning}
neurons=${NEURONS:-90}
seed=${SEED:-1}
families=simple,complex,normalized,conjunction,energy-conjunction,end-stopped,surround,curvature,texture
if [ -n "${OUT:-}" ]; then
    work=$OUT
    mkdir -p "$work"
else
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
fi
echo "search on the zoo: $neurons neurons, split $split, seed $seed;" \
     "search: ${SEARCH_ARGS:-defaults}"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
start=$(date +%s)
"$inception" simulate --out "$work/data" --neurons "$neurons" --train 2000 --test 10 \
    --repeats 2 --families "$families" --images synthetic --seed "$seed" > /dev/null
# shellcheck disable=SC2086  # the extra options are words
"$inception" search --population "$work/data/population.npy" --neurons all \
    --split "$split" --out "$work/search" ${SEARCH_ARGS:-} > "$work/search.txt" 2> /dev/null
sed -n '/^ground truth/,$p' "$work/search.txt"
echo "time: $(( $(date +%s) - start )) s; load $(cut -d' ' -f1 /proc/loadavg)"
