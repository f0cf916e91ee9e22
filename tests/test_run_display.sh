#!/bin/sh
# `inception run` with a remote display (issue 6): `inception present --serve`
# on loopback (SDL's dummy driver, a software clock) plays the display of
# another computer; tests/protocols/tiny.yaml with display.endpoint naming it
# runs against the virtual rig. run_check.py then checks the record: one flip
# per trial, every trial's counts equal to the rig's ground truth (so the
# onsets, moved onto the controller's clock, were where the display showed
# them). Also a display endpoint where nothing answers. TAP output.
# Arguments: the inception executable, the tests folder.
inception=$1
tests=$2
py=/usr/bin/python3
. "$tests/tap.sh"
export SDL_VIDEODRIVER=dummy SDL_AUDIODRIVER=dummy
unset DISPLAY WAYLAND_DISPLAY # headless: a local presenter would render offscreen
# Gentler timing than tiny.yaml's, for a loaded machine: 60 ms trials at 200
# Hz, the window 20 ms after the onset (the rig must hear of an onset before
# the window's first bin goes out), each closed-loop stimulus three times.
gentle='s/refresh_hz: 400/refresh_hz: 200/; /^response:/,/^$/s/latency_ms: 2$/latency_ms: 20/; /^closed_loop:/,$s/repeats: 1/repeats: 3/'
# Ports below the kernel's ephemeral range (32768 on), where an outgoing
# connection's source port may already hold one.
tap_ports
display=tcp://127.0.0.1:$((base + 4))
tap_protocol tiny "$work/remote.yaml" $((base + 5)) \
    -e "s|^  photodiode_px: .*|&\n  endpoint: $display|" -e "s|^  mode: offscreen|  mode: windowed|" \
    -e "$gentle"
sed -e "s|$display|tcp://127.0.0.1:$((base + 7))|" "$work/remote.yaml" >"$work/nobody.yaml"

"$inception" present --serve "$display" --window 128x72 --refresh 200 --pacing software \
    --serve-seconds 300 2>"$work/server.err" &
server=$!
sleep 0.3

# A run stopped mid-block (SIGTERM once the recording block shows trials),
# on a display of its own, must abort the block there: otherwise the display
# keeps waiting for that block's trials, and the next controller's
# START_BLOCK is refused ("a block is already running").
stopped_display=tcp://127.0.0.1:$((base + 8))
sed -e "s|$display|$stopped_display|" "$work/remote.yaml" >"$work/stopped.yaml"
"$inception" present --serve "$stopped_display" --window 128x72 --refresh 200 \
    --pacing software --serve-seconds 300 2>"$work/stopped_server.err" &
stopped_server=$!
sleep 0.3
"$inception" run "$work/stopped.yaml" --out "$work/stopped" >"$work/out" 2>"$work/err" &
runner=$!
i=0
while [ $i -lt 600 ] && ! grep -q "] recording" "$work/out"; do sleep 0.1; i=$((i + 1)); done
sleep 1
kill -TERM $runner
wait $runner
echo $? >"$work/status"
check "a run interrupted mid-block: exit 1, saying so ($(cat "$work/err"))" \
    '[ $(status) = 1 ] && grep -q "interrupted during the recording phase" "$work/err"'
check "it was stopped mid-block: flips recorded, the recording block not finished" \
    '$py -c "
import sys; sys.path.insert(0, \"$tests/../controller/record\")
from record_reader import read_records
rs = list(read_records(sys.argv[1]))
flips = sum(r[\"type\"] == \"flip\" and r[\"fields\"][\"trial\"] >= 0 for r in rs)
ended = any(r[\"type\"] == \"note\" and r[\"fields\"].get(\"text\", \"\").startswith(\"recording block:\") for r in rs)
sys.exit(not (flips > 0 and not ended))" "$work/stopped/session.rec"'
# Another controller (DISPLAY.md's messages from Python): HELLO, START_BLOCK
# must be answered with status 0, then ABORT.
$py -c "
import struct, sys, zmq
s = zmq.Context().socket(zmq.DEALER)
s.setsockopt(zmq.LINGER, 500)
s.connect(sys.argv[1])
def send(kind): s.send(b'INCD' + struct.pack('<HHII', 1, kind, 0, 0))
def wait_for(kind):
    while s.poll(10000):
        m = s.recv()
        if struct.unpack('<H', m[6:8])[0] == kind:
            return m[16:]
    sys.exit('no answer of type %d' % kind)
send(1); wait_for(65)
send(5)
reply_to, status = struct.unpack('<ii', wait_for(67)[:8])
print('START_BLOCK answered with status %d' % status)
send(8)
sys.exit(not (reply_to == 5 and status == 0))" "$stopped_display" >"$work/err" 2>&1
prc=$?
check "the interrupted run aborted its block on the display: the next controller's START_BLOCK is taken" \
    '[ $prc = 0 ]'
kill -TERM $stopped_server
wait $stopped_server

run run "$work/remote.yaml" --out "$work/session"
check "a session with a remote display runs to the end (exit $(status))" '[ $(status) = 0 ]'
check "headless with a remote display: no word of an offscreen presenter (there is none here)" \
    '! grep -q "offscreen" "$work/out"'
check "it drove the remote display (its status and clock offset in the output)" \
    'grep -q "^display: remote on $display: .*its clock" "$work/out"'
# The progress line (a plain line at each phase change when not a terminal)
# shows phase, trials done/total, validation correlation, MEI progress,
# dropped frames and stream loss.
check "the progress line shows every item the issue lists" \
    'grep -Eq "^\[ *[0-9.]+ s\] closed_loop +trials [0-9]+/[0-9]+ \| fit [0-9]+, val corr -?[0-9.]+ \| MEI step [0-9]+/[0-9]+ \([0-9]+ of [0-9]+ improving\) \| dropped frames [0-9]+ \| stream lost [0-9]+ of [1-9][0-9]* \([0-9.]+%\), flagged trials [0-9]+$" "$work/out" &&
     grep -Eq "^\[ *[0-9.]+ s\] recording .*val corr n/a" "$work/out"'
$py "$tests/run_check.py" "$work/session" 60 5 2 2 3 >"$work/check" 2>&1
crc=$?
cp "$work/check" "$work/err"
check "the record: flips and trials as planned, counts equal the rig's ground truth ($(grep -c '^ok' "$work/check") checks)" \
    '[ $crc = 0 ]'
check "the record holds the remote display's status and clock estimates" \
    '$py -c "
import sys; sys.path.insert(0, \"$tests/../controller/record\")
from record_reader import read_records
notes = [r[\"fields\"].get(\"text\", \"\") for r in read_records(sys.argv[1]) if r[\"type\"] == \"note\"]
sys.exit(not (any(n.startswith(\"display: remote on\") for n in notes) and
              sum(n.startswith(\"remote display clock:\") for n in notes) == 2))" "$work/session/session.rec"'
sed -e "s/refresh_hz: 200/refresh_hz: 60/" -e "s/stimulus_frames: 8/stimulus_frames: 4/" \
    -e "s/isi_frames: 4/isi_frames: 2/" "$work/remote.yaml" >"$work/slow.yaml"
run run "$work/slow.yaml" --out "$work/slow"
check "a remote display at another refresh rate than the protocol's: exit 1, saying so ($(cat "$work/err"))" \
    '[ $(status) = 1 ] && grep -q "runs at 200.00 Hz, but display.refresh_hz is 60" "$work/err"'
kill -TERM $server
wait $server
src=$?
cp "$work/server.err" "$work/err"
check "the display server took the session's requests, none bad, and stopped cleanly" \
    '[ $src = 0 ] && grep -q "stopped: [1-9][0-9]* requests, 0 bad" "$work/server.err"'

# The same protocol with this computer's presenter does say it renders
# offscreen (the session then fails at once: its folder cannot be made).
grep -v "^  endpoint: " "$work/remote.yaml" >"$work/local.yaml"
run run "$work/local.yaml" --out /dev/null/local
check "headless with a local presenter: it says the presenter renders offscreen" \
    '[ $(status) = 1 ] && grep -q "^no display (DISPLAY and WAYLAND_DISPLAY unset): the presenter renders offscreen" "$work/out"'

run run "$work/nobody.yaml" --out "$work/nobody"
check "a display endpoint where nothing answers: exit 1 naming it ($(cat "$work/err"))" \
    '[ $(status) = 1 ] && grep -q "remote display tcp://127.0.0.1:$((base + 7)) (display.endpoint)" "$work/err"'
echo "1..$n"
[ $failed = 0 ]
