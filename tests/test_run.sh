#!/bin/sh
# `inception run` end to end: tests/protocols/short.yaml (12 neurons, 340
# natural trials, 3 targets) against the virtual rig, offscreen; then
# run_check.py reads the record back and checks it against the rig's ground
# truth. Also the command's usage errors. TAP output.
# Arguments: the inception executable, the tests folder.
inception=$1
tests=$2
py=/usr/bin/python3
. "$tests/tap.sh" # $work, removed at exit; tap_ports, tap_protocol
# Ports from the process id, so parallel runs do not collide.
# Ports below the kernel's ephemeral range (32768 on), where an outgoing
# connection's source port may already hold one.
tap_ports
# Eight closed-loop repeats, not three: with three integer counts both ends of
# any percentile interval are the smallest and largest value, so run_check.py's
# comparison of the recorded intervals with the report's bootstrap would not
# tell two bootstraps apart.
# The sync edges on TTL line 3 (endpoints.sync_line): the virtual rig is told
# the line and the aligner takes that line only; edges on another line would
# match no onset and the run would not finish.
tap_protocol short "$work/short.yaml" $base -e "s|^  sync: .*|&\n  sync_line: 3|" \
    -e "s|^  repeats: 3$|  repeats: 8|"
n=1
failed=0
ok() { # status description
    if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi
    n=$((n + 1))
}

# The dummy driver (software rendering) rather than offscreen's OpenGL, whose
# driver allocations LeakSanitizer would report as ours.
SDL_VIDEODRIVER=dummy "$inception" run "$work/short.yaml" --out "$work/session" \
    >"$work/out" 2>"$work/err"
status=$?
sed 's/^/# /' "$work/out" "$work/err"
ok $status "inception run finishes the short protocol"
grep -q "^model test FEVE [0-9.-]*" "$work/out"
ok $? "it prints the test FEVE"
$py -c "
import sys; sys.path.insert(0, '$tests/../controller/record')
from record_reader import read_records
recs = list(read_records('$work/session/session.rec'))
lines = {r['fields']['line'] for r in recs if r['type'] == 'sync'}
notes = [r['fields']['text'] for r in recs if r['type'] == 'note']
assert lines == {3}, lines
assert any(n.endswith('sync edges on TTL line 3') for n in notes), notes
" >"$work/syncline" 2>&1
ok $? "endpoints.sync_line 3: every sync edge recorded on line 3, the note says so $(tail -1 "$work/syncline")"
grep -q "^ground truth: median MEI / best natural training image [0-9.]*" "$work/out"
ok $? "it prints the ground-truth median ratio"
for control in "best natural" "matched Gabor" "RF map"; do
    # Three targets: all with a ratio, or the rest named (a control that drew
    # no spike in any repeat has none: seen once under load for the Gabor).
    line=$(grep "^  MEI / $control: median [0-9.]* over [0-9]* targets; the MEI beats it for [0-9]*, is below it for [0-9]*, undecided for [0-9]*\(; [0-9]* more without a ratio (no unflagged repeat, or no spike to the control)\)\?$" "$work/out")
    with=$(echo "$line" | sed -n 's/.* over \([0-9]*\) targets.*/\1/p')
    without=$(echo "$line" | sed -n 's/.*; \([0-9]*\) more without a ratio.*/\1/p')
    [ -n "$with" ] && [ $((with + ${without:-0})) = 3 ] && [ "$with" -ge 1 ]
    ok $? "it prints the recorded MEI / $control with the counts behind it ($line)"
done
grep -q "^  MEI / the training image with the highest recorded response (one trial, at its own contrast): median [0-9.]* over 3 targets$" "$work/out"
ok $? "it prints the recorded MEI / the best recorded natural training response"
grep -q "^ground truth: .*at its own contrast [0-9.]*)$" "$work/out"
ok $? "it prints the ground truth against the best natural image at its own contrast too"
TAP_START=$n $py "$tests/run_check.py" "$work/session" 300 10 4 3 8 >"$work/check" 2>&1
[ $? = 0 ] || failed=$((failed + 1))
grep -v '^1\.\.' "$work/check"
n=$((n + $(grep -c '^ok\|^not ok' "$work/check")))

"$inception" run "$work/short.yaml" --out "$work/session" >/dev/null 2>"$work/err2"
[ $? = 1 ] && grep -q "session" "$work/err2"
ok $? "a folder that holds a session already is refused (exit 1): $(cat "$work/err2")"
"$inception" run >/dev/null 2>&1
[ $? = 2 ]
ok $? "no protocol: exit 2"
"$inception" run "$work/short.yaml" --bogus >/dev/null 2>&1
[ $? = 2 ]
ok $? "an unknown option: exit 2"
printf 'version: 1\nnonsense: 3\n' >"$work/bad.yaml"
"$inception" run "$work/bad.yaml" >/dev/null 2>"$work/err3"
[ $? = 2 ] && grep -q "bad.yaml:2" "$work/err3"
ok $? "a malformed protocol: exit 2 naming file:line ($(cat "$work/err3"))"
echo "1..$((n - 1))"
[ $failed = 0 ]
