#!/bin/sh
# The fault cases of issue 14, replayed in one run, one TAP line per case:
# two writers of one session (a resume of a live run, two resumes at once,
# a replay into a live folder), a session resumed from another working
# directory with relative image, gamma and NPY paths, protocols that
# check-protocol must refuse, and crafted inputs that must be refused fast.
# Arguments: the inception executable, the tests folder.
inception=$1
tests=$2
py=/usr/bin/python3
. "$tests/tap.sh"
export SDL_VIDEODRIVER=dummy
base=$((32000 + ($$ % 2000) * 10))
port() { echo "tcp://127.0.0.1:$((base + $1))"; }
sed -e "s|tcp://127.0.0.1:5766|$(port 0)|" -e "s|tcp://127.0.0.1:5767|$(port 1)|" \
    "$tests/protocols/tiny.yaml" >"$work/tiny.yaml"

records() { # the record's type counts, and corrupt/torn stretches, as "type=N ..."
    $py -c "
import collections, sys; sys.path.insert(0, '$tests/../controller')
from record_reader import read_records
c = collections.Counter(r['type'] for r in read_records(sys.argv[1]))
print(' '.join('%s=%d' % kv for kv in sorted(c.items())))" "$1"
}
notes() { # how many notes of the record at $1 contain $2
    $py -c "
import sys; sys.path.insert(0, '$tests/../controller')
from record_reader import read_records
print(sum(r['type'] == 'note' and sys.argv[2] in r['fields']['text'] for r in read_records(sys.argv[1])))" "$1" "$2"
}
count_of() { # TYPE in the output of records
    echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | grep . || echo 0
}
wait_for_lock() { # until FILE names PID (its lock taken), at most 20 s
    k=0
    while [ "$(cat "$1" 2>/dev/null)" != "$2" ] && [ $k -lt 400 ]; do
        sleep 0.05
        k=$((k + 1))
    done
}
wait_for_trials() { # until the record at $1 holds a trial record, at most 30 s
    k=0
    until [ $k -ge 600 ] || [ "$(count_of trial "$(records "$1/session.rec" 2>/dev/null)")" -gt 0 ]; do
        sleep 0.05
        k=$((k + 1))
    done
}

# ---- 1: one writer per session ----
live="$work/live"
"$inception" run "$work/tiny.yaml" --out "$live" >"$work/live.out" 2>&1 &
runpid=$!
wait_for_trials "$live"
run resume "$live"
check "resume of a live run (pid $runpid): exit 1 naming its pid ($(cat "$work/err"))" \
    '[ $(status) = 1 ] && grep -q "process $runpid" "$work/err"'
wait $runpid
runrc=$?
got=$(records "$live/session.rec")
check "the live run finished intact beside it (exit $runrc; $got)" \
    '[ $runrc = 0 ] && [ $(count_of corrupt "$got") = 0 ] && [ $(count_of torn "$got") = 0 ] &&
     [ $(notes "$live/session.rec" resumed) = 0 ]'

killed="$work/killed"
"$inception" run "$work/tiny.yaml" --out "$killed" >/dev/null 2>&1 &
pid=$!
wait_for_trials "$killed"
kill -KILL $pid
wait $pid 2>/dev/null
"$inception" resume "$killed" >"$work/a.out" 2>"$work/a.err" &
apid=$!
wait_for_lock "$killed/session.lock" $apid
run resume "$killed"
check "two resumes at once: the second exits 1 naming the first's pid $apid ($(cat "$work/err"))" \
    '[ $(status) = 1 ] && grep -q "process $apid" "$work/err"'
run replay "$live" --out "$killed" --no-report
check "replay into a folder a resume is writing: exit 1 naming pid $apid" \
    '[ $(status) = 1 ] && grep -q "process $apid" "$work/err"'
wait $apid
arc=$?
got=$(records "$killed/session.rec")
restarts=$(notes "$killed/session.rec" "virtual rig restarted")
check "the first resume finished (exit $arc; $got), one rig restarted ($restarts)" \
    '[ $arc = 0 ] && [ $(count_of corrupt "$got") = 0 ] && [ $restarts = 1 ]'
echo "1..$n"
[ $failed = 0 ]
