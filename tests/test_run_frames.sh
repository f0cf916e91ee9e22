#!/bin/sh
# Dropped frames in `inception run` (issue 14, item 9): the controller is
# stopped (SIGSTOP) for 40 ms five times during the recording block, so the
# presenter's software clock finds its next flips many refreshes late, as a
# machine busy elsewhere makes it. Then the terminal's dropped-frame count,
# the record's late flip records, the display's block notes and the report
# must agree, and every trial up on screen at a late flip must carry the
# frames flag (run_check.py, which also checks the whole session against the
# virtual rig's ground truth). TAP output.
# Arguments: the inception executable, the tests folder.
inception=$1
tests=$2
py=/usr/bin/python3
. "$tests/tap.sh"
tap_ports 32000 2000
tap_protocol short "$work/short.yaml" $base

SDL_VIDEODRIVER=dummy "$inception" run "$work/short.yaml" --out "$work/session" \
    >"$work/out" 2>"$work/err" &
runner=$!
i=0
while [ $i -lt 600 ] && ! grep -q "] recording" "$work/out"; do sleep 0.1; i=$((i + 1)); done
sleep 0.5
for k in 1 2 3 4 5; do
    kill -STOP $runner
    sleep 0.04
    kill -CONT $runner
    sleep 0.3
done
wait $runner
echo $? >"$work/status"
check "the run finishes despite the stalls" '[ $(status) = 0 ]'
# "recording block: 340 trials shown, 5 with dropped frames, 80 dropped frames, ..."
terminal=$(grep -o "block: .*[0-9]* dropped frames," "$work/out" |
           sed 's/.* \([0-9]*\) dropped frames,$/\1/' | awk '{s += $1} END {print s + 0}')
check "the terminal printed two block lines with dropped frames ($terminal in all)" \
    '[ $(grep -c "block: .* dropped frames," "$work/out") = 2 ] && [ "$terminal" -gt 0 ]'
TAP_START=$((n + 1)) TERMINAL_DROPPED=$terminal WANT_DROPPED=5 \
    $py "$tests/run_check.py" "$work/session" 300 10 4 3 3 >"$work/check" 2>&1
[ $? = 0 ] || failed=$((failed + 1))
grep -v '^1\.\.' "$work/check"
n=$((n + $(grep -c '^ok\|^not ok' "$work/check")))
check "the report says the same: $terminal frames dropped" \
    'grep -q ">$terminal frames dropped in all" "$work/session/report/index.html"'
counts=$($py -c "
import sys; sys.path.insert(0, '$tests/../controller/record')
from record_reader import read_records
t = [r for r in read_records('$work/session/session.rec') if r['type'] == 'trial']
print(sum(1 for r in t if r['fields']['flags'] & 65536), 'of', len(t))")
check "the report counts the trials flagged for their frames ($counts)" \
    'grep -q "$counts trials flagged for the frames" "$work/session/report/index.html"'
# Issue 20: the scheduling obtained is printed at start and recorded.
check "the start-up line says which scheduling the run got" \
    'grep -q "^scheduling: \(real-time (SCHED_FIFO\|fallback (\)" "$work/out"'
check "... and whether the run loop aligning the stream got real-time priority (issue 13)" \
    'grep -q "^scheduling: \(real-time (.*18 for the run loop aligning the stream while a block shows\|.*the run loop aligning the stream at normal priority\)" "$work/out"'
check "and the record says the same, as fields" '$py -c "
import sys; sys.path.insert(0, \"$tests/../controller/record\")
from record_reader import read_records
notes = [r[\"fields\"] for r in read_records(\"$work/session/session.rec\")
         if r[\"type\"] == \"note\" and \"scheduling\" in r[\"fields\"]]
line = open(\"$work/out\").read()
sys.exit(not (len(notes) == 1 and notes[0][\"text\"] in line and
              notes[0][\"scheduling\"] in (\"realtime\", \"fallback\") and notes[0][\"cpus\"] >= 1 and
              notes[0][\"aligning_realtime\"] == (\"18 for the run loop aligning\" in line)))"'
INCEPTION_SCHEDULING=bogus SDL_VIDEODRIVER=dummy "$inception" run "$work/short.yaml" \
    --out "$work/bogus" >"$work/out" 2>"$work/err"
echo $? >"$work/status"
check "an unknown INCEPTION_SCHEDULING is refused, naming it" \
    '[ $(status) = 1 ] && grep -q "INCEPTION_SCHEDULING is \"bogus\"" "$work/err"'
INCEPTION_SCHEDULING=fallback SDL_VIDEODRIVER=dummy timeout -s INT 20 "$inception" run \
    "$work/short.yaml" --out "$work/fallback" >"$work/out" 2>"$work/err"
check "INCEPTION_SCHEDULING=fallback: the fallback, said so" \
    'grep -q "^scheduling: fallback (asked for (INCEPTION_SCHEDULING=fallback)): the background fit at nice 19" "$work/out" &&
     grep -q "; the run loop aligning the stream at normal priority: receive-to-aligned p99 may pass 2 ms" "$work/out"'
echo "1..$n"
[ $failed = 0 ]
