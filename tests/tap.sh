# tap.sh: the TAP helpers the shell tests share, sourced after they set
# $inception (the executable). Gives $work (a temporary folder removed at
# exit), check DESCRIPTION CONDITION (one TAP line; on failure the last
# command's output follows as comments), run ARGS... (runs $inception with
# stdout, stderr and the exit status kept in $work) and status; for the tests
# that listen on TCP, tap_ports and tap_protocol; for the tests that kill a
# session and resume it, tap_last_phase, tap_wait_output, tap_trials_in,
# tap_wait_stopped and tap_wait_rig (at the end; they use $py, Python, and
# $tests, the tests folder).
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
n=0
failed=0
tap_context_lines=${tap_context_lines:-20}

check() { # description, then a shell condition that must hold
    n=$((n + 1))
    desc=$1
    shift
    if eval "$@"; then
        echo "ok $n - $desc"
    else
        echo "not ok $n - $desc"
        failed=$((failed + 1))
        sed 's/^/# /' "$work/out" "$work/err" 2>/dev/null | tail -"$tap_context_lines"
    fi
}

run() { "$inception" "$@" >"$work/out" 2>"$work/err"; echo $? >"$work/status"; }
status() { cat "$work/status"; }

# The tests that listen on TCP. tap_ports [FIRST [SPREAD]] sets $base, the
# first of the ten ports this test may use: FIRST + (pid % SPREAD) * 10
# (default 10000 + (pid % 2200) * 10: below the ephemeral range, and apart
# for tests that run at the same time).
tap_ports() { base=$((${1:-10000} + ($$ % ${2:-2200}) * 10)); }
# tap_protocol NAME OUT PORT [SED-ARGUMENTS...]: $tests/protocols/NAME.yaml
# written to OUT with its stream endpoint on PORT and its sync endpoint on
# PORT + 1 (both on loopback), then the further sed arguments applied.
tap_protocol() {
    tap_source=$tests/protocols/$1.yaml tap_out=$2 tap_port=$3
    shift 3
    sed -e "s|^\(  stream: \)tcp://127.0.0.1:[0-9]*|\1tcp://127.0.0.1:$tap_port|" \
        -e "s|^\(  sync: \)tcp://127.0.0.1:[0-9]*|\1tcp://127.0.0.1:$((tap_port + 1))|" \
        "$@" "$tap_source" >"$tap_out"
}

# The tests that kill a session and resume it (test_resume*.sh,
# test_audio_folder.sh). tap_last_phase RECORD prints the last phase record's
# "PHASE EVENT" (the phase the record was in when the kill came; "none").
tap_last_phase() {
    $py -c "
import sys; sys.path.insert(0, '$tests/../controller/record')
from record_reader import read_records
p = [r['fields']['phase'] + ' ' + r['fields']['event'] for r in read_records(sys.argv[1]) if r['type'] == 'phase']
print(p[-1] if p else 'none')" "$1" 2>/dev/null
}
# tap_wait_output PID FILE PATTERN: until the process's output FILE holds
# PATTERN (a phase line: "[  12.0 s] fit ..." is printed as the phase begins),
# polled every 20 ms: the fit and the synthesis last a fraction of a second or
# more. 1 when the process ended first.
tap_wait_output() {
    while ! grep -q -- "$3" "$2" 2>/dev/null; do
        kill -0 "$1" 2>/dev/null || return 1
        sleep 0.02
    done
}
# tap_trials_in RECORD: how many trial records RECORD holds so far (0 when it
# cannot be read yet).
tap_trials_in() {
    $py -c "
import sys; sys.path.insert(0, '$tests/../controller/record')
from record_reader import read_records
print(sum(r['type'] == 'trial' for r in read_records(sys.argv[1])))" "$1" 2>/dev/null || echo 0
}
# tap_wait_stopped PID: until the process is stopped (state T: it raised
# SIGSTOP at INCEPTION_STOP_AT's phase, docs/testing.md) or has ended, polled
# every 50 ms for at most 60 s.
tap_wait_stopped() {
    waited=0
    while [ "$(sed 's/.*) //' /proc/$1/stat 2>/dev/null | cut -c1)" != T ] &&
        kill -0 "$1" 2>/dev/null && [ $waited -lt 1200 ]; do
        sleep 0.05
        waited=$((waited + 1))
    done
}
# tap_wait_rig SESSION: until no virtual rig writes SESSION's ground truth
# (a killed controller's rig exits by itself: PR_SET_PDEATHSIG), polled every
# 50 ms for at most 5 s; $waited is how many polls it took.
tap_wait_rig() {
    waited=0
    while pgrep -f "virtual-rig .*$1/rig_truth" >/dev/null && [ $waited -lt 100 ]; do
        sleep 0.05
        waited=$((waited + 1))
    done
}
