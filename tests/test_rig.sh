#!/bin/sh
# End to end over loopback TCP, each part a separate process: the display
# (Python), `inception virtual-rig` and `inception acquire`; then a Python
# publisher written from the wire spec streaming to `inception acquire` (the
# Open Ephys format: test_openephys.sh). acq_compare.py checks the trial × neuron
# matrices against the publishers' ground truth. TAP output.
# Arguments: the inception executable, the tests folder.
inception=$1
tests=$2
py=/usr/bin/python3
. "$tests/tap.sh" # $work, removed at exit; tap_ports, tap_protocol
# Ports from the process id, so parallel runs do not collide.
# Ports below the kernel's ephemeral range (32768 on), where an outgoing
# connection's source port may already hold one.
tap_ports
n=1
failed=0

compare() { # out truth trials [--faults]
    TAP_START=$n $py "$tests/acq_compare.py" "$@" >"$work/cmp" 2>&1
    [ $? = 0 ] || failed=$((failed + 1))
    cat "$work/cmp"
    n=$((n + $(grep -c '^ok\|^not ok' "$work/cmp")))
}

run_rig() { # name trials port-offset rig-options...
    name=$1 trials=$2 p=$((base + $3))
    shift 3
    "$inception" virtual-rig --publish tcp://127.0.0.1:$p --onsets tcp://127.0.0.1:$((p + 1)) \
        --trials "$trials" --window-ms 200 --neurons 50 --truth "$work/$name-truth" "$@" \
        >"$work/$name-rig.out" 2>&1 &
    rig=$!
    "$inception" acquire --data tcp://127.0.0.1:$p --onsets tcp://127.0.0.1:$((p + 1)) \
        --trials "$trials" --window-ms 200 --out "$work/$name" --timeout 120 ${acq_opts:-} \
        >"$work/$name-acq.out" 2>&1 &
    acq=$!
    $py "$tests/acq_display.py" tcp://127.0.0.1:$((p + 1)) "$trials" 300 --images 36 64
    wait $rig
    wait $acq
    sed 's/^/# /' "$work/$name-rig.out" "$work/$name-acq.out" | grep -v "so far\|trials (.* flagged)$"
}

cli() { # description, expected status, stderr pattern, arguments...
    desc=$1 want=$2 pattern=$3
    shift 3
    "$inception" "$@" >"$work/cli.out" 2>"$work/cli.err"
    got=$?
    if [ $got = "$want" ] && grep -q -- "$pattern" "$work/cli.out" "$work/cli.err"; then
        echo "ok $n - $desc"
    else
        echo "not ok $n - $desc (status $got)"
        sed 's/^/# /' "$work/cli.err"
        failed=$((failed + 1))
    fi
    n=$((n + 1))
}
cli "virtual-rig --help" 0 "usage: inception virtual-rig" virtual-rig --help
cli "acquire --help" 0 "usage: inception acquire" acquire --help
cli "acquire without --out: usage error" 2 "out is required" acquire
cli "unknown option named" 2 "unknown option '--frob'" virtual-rig --frob 1
cli "bad --loss value named" 2 "loss" virtual-rig --loss 150
cli "virtual-rig --help names --drop-sync-every and --drop-bin-every" 0 "drop-bin-every N" \
    virtual-rig --help
cli "a negative --drop-sync-every named" 2 "drop-sync-every" virtual-rig --drop-sync-every -1
# Baseline rates (docs/ground-truth.md): a share without a rate, and a rate for
# the auditory population, which has none, are refused, not ignored.
cli "--baseline-share without --baseline-rate refused" 2 "needs a --baseline-rate above 0" \
    virtual-rig --baseline-share 0.5
cli "--baseline-rate with --audio refused" 2 "auditory population has no baseline" \
    virtual-rig --audio --baseline-rate 2
# CURVE client lists: a malformed one is refused with its file and line.
$py -c "import zmq; p, s = zmq.curve_keypair(); open('$work/server.key', 'w').write(s.decode()); \
open('$work/clients', 'w').write('# clients\n' + p.decode() + '\nnot-a-key\n')"
cli "virtual-rig --help names --curve-clients" 0 "curve-clients FILE" virtual-rig --help
cli "malformed --curve-clients list named with its line" 1 "$work/clients:3: not a 40-character" \
    virtual-rig --publish tcp://127.0.0.1:$((base + 9)) --curve-secret "$work/server.key" \
    --curve-clients "$work/clients" --trials 1
cli "acquire --format checked" 2 "native or openephys" acquire --out "$work/x" --format csv
cli "a remote endpoint needs --allow-remote" 1 "allow-remote" \
    acquire --out "$work/x" --data tcp://192.0.2.1:5556
cli "virtual-rig refuses to bind all interfaces" 1 "not loopback" \
    virtual-rig --publish tcp://0.0.0.0:5556 --duration 1

run_rig clean 20 0
compare "$work/clean" "$work/clean-truth" 20

run_rig faults 60 2 --loss 5 --reorder 5 --restart-after 1200
compare "$work/faults" "$work/faults-truth" 60 --faults
if grep -q "1 restarts" "$work/faults-acq.out" && grep -q " late," "$work/faults-acq.out"; then
    echo "ok $n - acquire reports the restart and the reordered messages"
else
    echo "not ok $n - acquire reports the restart and the reordered messages"
    failed=$((failed + 1))
fi
n=$((n + 1))

# CURVE with a client list: acquire's key is listed, so the run is the clean one.
$py -c "
import zmq
for name in ('server', 'client'):
    p, s = zmq.curve_keypair()
    open('$work/' + name + '.pub', 'w').write(p.decode())
    open('$work/' + name + '.key', 'w').write(s.decode())
open('$work/clients', 'w').write('# acquire\n' + open('$work/client.pub').read() + '\n')"
acq_opts="--curve-secret $work/client.key --curve-server-key $work/server.pub"
run_rig curve 10 7 --curve-secret "$work/server.key" --curve-clients "$work/clients"
acq_opts=
compare "$work/curve" "$work/curve-truth" 10
if grep -q "CURVE clients 1 accepted, 0 refused" "$work/curve-rig.out"; then
    echo "ok $n - the rig counts acquire's CURVE handshake as accepted"
else
    echo "not ok $n - the rig counts acquire's CURVE handshake as accepted"
    failed=$((failed + 1))
fi
n=$((n + 1))

p=$((base + 4))
"$inception" acquire --data tcp://127.0.0.1:$p --onsets tcp://127.0.0.1:$((p + 1)) --trials 20 \
    --window-ms 200 --out "$work/spec" --timeout 60 >"$work/spec-acq.out" 2>&1 &
acq=$!
sleep 0.3
$py "$tests/acq_spec_publisher.py" tcp://127.0.0.1:$p tcp://127.0.0.1:$((p + 1)) 20 "$work/spec-truth"
wait $acq
sed 's/^/# /' "$work/spec-acq.out"
compare "$work/spec" "$work/spec-truth" 20

echo "1..$((n - 1))"
[ $failed = 0 ]
