#!/bin/sh
# `inception run` end to end with faults injected by the virtual rig
# (tests/protocols/faults.yaml: every 37th trial loses its sync edge, every
# 23rd the last bin of its window, natural and closed-loop trials alike); then
# run_check.py --faults reads the record back: the damaged trials are in it,
# flagged, and none of them reached the background fit or the closed-loop
# evaluation. TAP output.
# Arguments: the inception executable, the tests folder.
inception=$1
tests=$2
py=/usr/bin/python3
. "$tests/tap.sh" # $work, removed at exit; tap_ports, tap_protocol
# Ports from the process id, so parallel runs do not collide.
tap_ports 34000 2000
tap_protocol faults "$work/faults.yaml" $base
n=1
failed=0
ok() { # status description
    if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi
    n=$((n + 1))
}

# The dummy driver, as in test_run.sh.
SDL_VIDEODRIVER=dummy "$inception" run "$work/faults.yaml" --out "$work/session" \
    >"$work/out" 2>"$work/err"
status=$?
sed 's/^/# /' "$work/out" "$work/err"
ok $status "inception run finishes the protocol with injected faults"
# 154 trials; 37, 74, 111, 148 without sync edge; 23, 46, 69, 92, 115, 138 a bin short:
# 10 messages dropped, each damaging one trial. An edge is always dropped (it goes out
# once its onset has come); a bin only if the onset reached the rig before the bin's
# time (a loaded machine can be late), so at least the 4 edges.
summary=$(grep -o '[0-9]* trials ([0-9]* with injected faults), [0-9]* messages sent, [0-9]* dropped' \
    "$work/session/virtual_rig.log")
set -- $(echo "$summary" | tr -c '0-9\n' ' ')
[ "${1:-0}" = 154 ] && [ "${2:-0}" = "${4:-x}" ] && [ "${4:-0}" -ge 4 ]
ok $? "the rig dropped one message per damaged trial, at least the 4 sync edges: $summary"
TAP_START=$n $py "$tests/run_check.py" "$work/session" 120 5 2 2 3 --faults >"$work/check" 2>&1
[ $? = 0 ] || failed=$((failed + 1))
grep -v '^1\.\.' "$work/check"
n=$((n + $(grep -c '^ok\|^not ok' "$work/check")))
echo "1..$((n - 1))"
[ $failed = 0 ]
