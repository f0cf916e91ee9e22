#!/bin/sh
# The fault test of `inception resume` (issue 6): tests/protocols/tiny.yaml
# runs RUNS times (12), each killed with SIGKILL after a seeded random delay;
# the orphaned virtual rig exits by itself (it asked for SIGTERM when its
# parent dies; it writes its ground truth then) or resume stops it, the
# record is copied as the kill left it, `inception resume` finishes the
# session, and resume_check.py checks that every trial recorded before the
# kill is intact in the final record, every phase ended, every image was shown
# as planned and every trial's counts equal the rigs' ground truth. TAP output.
# Arguments: the inception executable, the tests folder, [RUNS].
inception=$1
tests=$2
runs=${3:-12}
py=/usr/bin/python3
. "$tests/tap.sh"
# Ports below the kernel's ephemeral range (32768 on), where an outgoing
# connection's source port may already hold one.
tap_ports
tap_protocol tiny "$work/tiny.yaml" $base
# The dummy driver (software rendering), as in test_run.sh.
export SDL_VIDEODRIVER=dummy
# Seeded delays over the whole session (about 4 s unloaded: start, recording,
# fit, synthesis, closed loop), one in each of RUNS equal stretches of it, so
# every phase gets killed in some runs however few they are.
awk -v runs="$runs" 'BEGIN { srand(6); for (i = 0; i < runs; i++) printf "%.2f\n", 0.4 + 3.6 * (i + rand()) / runs }' \
    >"$work/delays"

alive() { # running, not a zombie
    st=$(sed 's/.*) //' /proc/$1/stat 2>/dev/null | cut -c1)
    [ -n "$st" ] && [ "$st" != Z ]
}

recorded_feve() { # the mean test FEVE of the record's test_metrics, as resume prints it
    $py -c "
import sys; sys.path.insert(0, '$tests/../controller/record')
from record_reader import read_records
m = [r['fields']['mean'] for r in read_records(sys.argv[1]) if r['type'] == 'evaluation' and r['fields'].get('kind') == 'test_metrics']
print('%.3f' % m[-1] if m else '')" "$1" 2>/dev/null
}
fits_ended=0
full_votes=0

i=0
while read -r delay; do
    i=$((i + 1))
    s="$work/session$i"
    "$inception" run "$work/tiny.yaml" --out "$s" >"$work/run$i.out" 2>&1 &
    pid=$!
    sleep "$delay"
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    # The rig, a child of the killed controller, is left alone: it exits by
    # itself (SIGTERM when its parent dies) or resume stops it.
    cp "$s/session.rec" "$work/killed$i.rec" 2>/dev/null
    where=$(tap_last_phase "$work/killed$i.rec")
    # Its rig exits by itself within seconds (PR_SET_PDEATHSIG), before resume.
    tap_wait_rig "$s"
    check "run $i: the killed controller's rig exited by itself" \
        '! pgrep -f "virtual-rig .*$s/rig_truth" >/dev/null'
    # Two runs also leave a stand-in for a rig in virtual_rig.pid: run 1 the
    # very process (resume must stop it), run 2 one whose start time differs
    # (a recycled pid: resume must leave it alone).
    if [ $i -le 2 ] && [ -f "$s/virtual_rig.pid" ]; then
        sleep 300 &
        standin=$!
        start=$(sed 's/.*) //' /proc/$standin/stat | cut -d' ' -f20)
        [ $i = 2 ] && start=$((start + 1))
        echo "$standin $start" >"$s/virtual_rig.pid"
    else
        standin=
    fi
    "$inception" resume "$s" >"$work/out" 2>"$work/err"
    rc=$?
    if [ -n "$standin" ]; then
        sleep 0.1 # a stopped stand-in is this shell's child: a zombie until reaped
        if [ $i = 1 ]; then
            check "run 1: resume stopped the rig recorded in virtual_rig.pid" '! alive $standin'
        else
            check "run 2: resume left alone a process whose start time differs (a recycled pid)" \
                'alive $standin'
        fi
        kill $standin 2>/dev/null
        wait $standin 2>/dev/null
    fi
    $py "$tests/resume_check.py" "$s" "$work/killed$i.rec" 60 5 2 2 1 >"$work/check" 2>&1
    crc=$?
    cat "$work/check" >>"$work/err"
    if [ "$where" = "evaluation end" ]; then
        # Killed after the session finished: nothing to resume, said so, exit
        # 1, and the record left as the kill left it.
        check "run $i killed after $delay s (the session had finished): resume refused (exit $rc), record untouched, $(tail -1 "$work/check")" \
            '[ $rc = 1 ] && grep -q "nothing to resume" "$work/err" && cmp -s "$s/session.rec" "$work/killed$i.rec" && [ $crc = 0 ]'
    else
        check "run $i killed after $delay s (record at '$where'): resumed (exit $rc), $(tail -1 "$work/check")" \
            '[ $rc = 0 ] && [ $crc = 0 ]'
    fi
    # The test FEVE resume prints is the recorded one, also when the fit had
    # ended before the kill (it is then read back, not computed).
    feve=$(sed -n 's/^model test FEVE \([^ ]*\).*/\1/p' "$work/out")
    recorded=$(recorded_feve "$s/session.rec")
    fit_ended=$($py -c "
import sys; sys.path.insert(0, '$tests/../controller/record')
from record_reader import read_records
print(sum(r['type'] == 'phase' and r['fields']['phase'] == 'fit' and r['fields']['event'] == 'end' for r in read_records(sys.argv[1])))" "$work/killed$i.rec" 2>/dev/null)
    [ "$fit_ended" = 1 ] && fits_ended=$((fits_ended + 1))
    # The resumed session's first clock offset: voted on by three onsets,
    # as in a fresh session, unless its first block has fewer.
    vote=$($py -c "
import re, sys; sys.path.insert(0, '$tests/../controller/record')
from record_reader import read_records
v = [re.search(r'by (\d+) onsets \(the first block has (\d+) trials', r['fields'].get('text', '')) for r in read_records(sys.argv[1]) if r['type'] == 'note']
v = [m.groups() for m in v if m]
print('%s %s' % v[-1] if v else 'none')" "$s/session.rec" 2>/dev/null)
    if [ "$vote" != none ]; then
        votes=${vote% *}
        block=${vote#* }
        [ "$block" -ge 3 ] && full_votes=$((full_votes + 1))
        check "run $i: the resumed first offset was voted on by $votes onsets (first block: $block trials)" \
            '[ "$votes" = "$([ "$block" -lt 3 ] && echo "$block" || echo 3)" ]'
    fi
    [ "$where" = "evaluation end" ] ||
        check "run $i: resume prints the test FEVE $feve, the record's $recorded (fit ended before the kill: $fit_ended)" \
            '[ -n "$recorded" ] && [ "$feve" = "$recorded" ]'
    rm -rf "$s"
done <"$work/delays"
check "some runs ($fits_ended) were killed after the fit had ended" '[ $fits_ended -gt 0 ]'
check "some resumed runs ($full_votes) voted on their first offset with three onsets" '[ $full_votes -gt 0 ]'
# Every rig (of the killed controllers and of the resumes) has exited.
sleep 0.5
left=$(pgrep -f "virtual-rig .*$work/session" | tr '\n' ' ')
check "no virtual rig left running after $runs killed runs ($left)" '[ -z "$left" ]'

run resume
check "no folder: exit 2" '[ $(status) = 2 ]'
run resume "$work/nothing-here"
check "a folder with no session: exit 1, saying so ($(cat "$work/err"))" \
    '[ $(status) = 1 ] && [ -s "$work/err" ]'
run resume "$work" --bogus
check "an unknown option: exit 2" '[ $(status) = 2 ]'
echo "1..$n"
[ $failed = 0 ]
