#!/bin/sh
# `inception run` with mei.kinds [full, masked, surround, least, diverse,
# pattern] (sets of 2, 2 target patterns over the 2 targets): the
# protocol tests/protocols/tiny.yaml (12 neurons, 2 targets, 10 MEI steps)
# with surround cells in its population and a baseline rate of 5 spikes
# per window in every cell (virtual_rig.baseline_rate), controls [best_natural] and 3
# closed-loop repeats, and the search phase (3 generations of 6 images, 1
# repeat, 2 primitives), killed in the search phase and resumed (about 2 s
# more in all); run_kinds_check.py reads the record and the report back
# (run_search_check.py the search), then a copy cut before its evaluation's
# end and resumed (the baseline figures again). About 9 s, most of it the
# display's frames. TAP output.
# Arguments: the inception executable, the tests folder, the search's
# direction (search.direction: most or least).
inception=$1
tests=$2
direction=$3
py=/usr/bin/python3
. "$tests/tap.sh" # $work, removed at exit; tap_ports, tap_protocol
# Ports from the process id, below the kernel's ephemeral range.
tap_ports
tap_protocol tiny "$work/kinds.yaml" $base \
    -e "s|  fraction_complex: 0.5|  fraction_complex: 0.2\n  fraction_surround: 0.3\n  baseline_rate: 5|" \
    -e "s|  controls: \[best_natural, gabor, rf\]|  controls: [best_natural]\n  kinds: [full, masked, surround, least, diverse, pattern]\n  diverse_count: 2\n  pattern_count: 2|" \
    -e "s|^  repeats: 1$|  repeats: 3|"
printf 'search:\n  enabled: true\n  generations: 3\n  population_size: 6\n  repeats: 1\n  primitives: 2\n  seed: 4\n  direction: %s\n' \
    "$direction" >>"$work/kinds.yaml"
# The dummy driver (software rendering), as tests/test_run.sh.
export SDL_VIDEODRIVER=dummy
# Killed (SIGKILL) once the record holds 4 trials of the search phase's first
# generation (of 12), then resumed: the search is rebuilt from its seed and
# the recorded counts (docs/search.md), and the checks read the finished
# session. The first generation takes about 0.4 s, the record is polled every
# 50 ms: a kill that comes after the session's end fails the test by name.
"$inception" run "$work/kinds.yaml" --out "$work/session" >"$work/run.out" 2>&1 &
pid=$!
search_trials=0
while kill -0 $pid 2>/dev/null && [ "$search_trials" -lt 4 ]; do
    sleep 0.05
    search_trials=$("$inception" record-dump "$work/session" 2>/dev/null |
        grep -c '^ *[0-9]* *#[0-9]* *trial .*block="search"')
done
kill -KILL $pid 2>/dev/null
wait $pid 2>/dev/null
sed 's/^/# /' "$work/run.out"
"$inception" resume "$work/session" >"$work/out" 2>&1
status=$?
sed 's/^/# /' "$work/out"
if [ $status != 0 ] || [ "$search_trials" -lt 4 ] ||
    ! grep -q "^resumed: " "$work/out"; then
    echo "not ok 1 - inception run with mei.kinds and the search phase, killed after" \
         "$search_trials search trials (want 4 or more, before the end), resumed: exit $status"
    echo "1..1"
    exit 1
fi
# A copy of the finished session cut just before its `evaluation end` record
# (a kill inside the evaluation, after the ground truth's baseline records)
# and resumed: the resumed evaluation takes the baseline population from the
# recorded protocol and must print and record the first one's figures (about
# 1 s: no trial is shown again).
cp -r "$work/session" "$work/cut"
rm -rf "$work/cut/report"
end=$("$inception" record-dump "$work/cut" 2>/dev/null |
    awk '$3 == "phase" && /phase="evaluation" event="end"/ { print $1 }')
truncate -s "${end:-0}" "$work/cut/session.rec"
"$inception" resume "$work/cut" >"$work/cut.out" 2>&1
echo "# resumed the copy cut at byte ${end:-none} (the evaluation's end): exit $?"
exec $py "$tests/run_kinds_check.py" "$work/session" 2 3 3 6 1 "$work/out" 2 2 5 \
    "$work/cut" "$work/cut.out" "$direction"
