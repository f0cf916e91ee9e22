#!/bin/sh
# The fault test of `inception resume` (issue 6): tests/protocols/tiny.yaml
# runs RUNS times (20), each killed with SIGKILL after a seeded random delay;
# the orphaned virtual rig is stopped (SIGTERM: it writes its ground truth),
# the record is copied as the kill left it, `inception resume` finishes the
# session, and resume_check.py checks that every trial recorded before the
# kill is intact in the final record, every phase ended, every image was shown
# as planned and every trial's counts equal the rigs' ground truth. TAP output.
# Arguments: the inception executable, the tests folder, [RUNS].
inception=$1
tests=$2
runs=${3:-20}
py=/usr/bin/python3
. "$tests/tap.sh"
base=$((30000 + ($$ % 2000) * 10))
sed -e "s|tcp://127.0.0.1:5766|tcp://127.0.0.1:$base|" \
    -e "s|tcp://127.0.0.1:5767|tcp://127.0.0.1:$((base + 1))|" \
    "$tests/protocols/tiny.yaml" >"$work/tiny.yaml"
# The dummy driver (software rendering), as in test_run.sh.
export SDL_VIDEODRIVER=dummy
# Seeded delays over the whole session (about 4 s unloaded: start, recording,
# fit, synthesis, closed loop), so every phase gets killed in some runs.
awk -v runs="$runs" 'BEGIN { srand(6); for (i = 0; i < runs; i++) printf "%.2f\n", 0.4 + 3.6 * rand() }' \
    >"$work/delays"

last_phase() { # the phase the record was in when the kill came
    $py -c "
import sys; sys.path.insert(0, '$tests/../controller')
from record_reader import read_records
p = [r['fields']['phase'] + ' ' + r['fields']['event'] for r in read_records(sys.argv[1]) if r['type'] == 'phase']
print(p[-1] if p else 'none')" "$1" 2>/dev/null
}

i=0
while read -r delay; do
    i=$((i + 1))
    s="$work/session$i"
    "$inception" run "$work/tiny.yaml" --out "$s" >"$work/run$i.out" 2>&1 &
    pid=$!
    sleep "$delay"
    rig=$(pgrep -P "$pid")
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    # The rig is a child of the killed controller, now an orphan: stop it as
    # the rig's operator would, so the resumed run can have the ports.
    if [ -n "$rig" ]; then
        kill -TERM "$rig" 2>/dev/null
        while kill -0 "$rig" 2>/dev/null; do sleep 0.05; done
    fi
    cp "$s/session.rec" "$work/killed$i.rec" 2>/dev/null
    where=$(last_phase "$work/killed$i.rec")
    "$inception" resume "$s" >"$work/out" 2>"$work/err"
    rc=$?
    $py "$tests/resume_check.py" "$s" "$work/killed$i.rec" 60 5 2 2 1 >"$work/check" 2>&1
    crc=$?
    cat "$work/check" >>"$work/err"
    check "run $i killed after $delay s (record at '$where'): resumed (exit $rc), $(tail -1 "$work/check")" \
        '[ $rc = 0 ] && [ $crc = 0 ]'
    rm -rf "$s"
done <"$work/delays"

run resume
check "no folder: exit 2" '[ $(status) = 2 ]'
run resume "$work/nothing-here"
check "a folder with no session: exit 1, saying so ($(cat "$work/err"))" \
    '[ $(status) = 1 ] && [ -s "$work/err" ]'
run resume "$work" --bogus
check "an unknown option: exit 2" '[ $(status) = 2 ]'
echo "1..$n"
[ $failed = 0 ]
