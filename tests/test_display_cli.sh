#!/bin/sh
# inception present --serve (SDL dummy driver) driven by tests/display_client.py,
# a controller written in Python from controller/display/DISPLAY.md alone; then SIGTERM
# stops the server cleanly; the endpoint rules and usage errors.
inception="$1"; client="$2"
export SDL_VIDEODRIVER=dummy SDL_AUDIODRIVER=dummy
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$inception" present --serve "tcp://127.0.0.1:$port" --window 64x48 --refresh 250 \
    --serve-seconds 120 2>"$dir/server.err" &
server=$!
/usr/bin/python3 "$client" "tcp://127.0.0.1:$port" >"$dir/client.tap"
grep -v '^1\.\.' "$dir/client.tap"
planned=$(grep -c '^ok\|^not ok' "$dir/client.tap")
kill -TERM "$server"; wait "$server"; rc=$?
n=$planned
n=$((n + 1))
if [ "$rc" = 0 ] && grep -q 'stopped: .* 0 bad' "$dir/server.err"; then echo "ok $n - SIGTERM: the server stops, exit 0, no bad messages"
else echo "not ok $n - server exit $rc"; cat "$dir/server.err" | sed 's/^/# /'; fi
n=$((n + 1))
# Issue 20: the server's render thread gets the run's real-time treatment and
# says at start what it got (real time, or why not where unprivileged).
if grep -q '^inception present --serve: scheduling: \(real-time (SCHED_FIFO 20 for the presenter\|ordinary (no real-time priority: \)' "$dir/server.err"
then echo "ok $n - the server's start-up line says which scheduling it got"
else echo "not ok $n - no scheduling line"; sed 's/^/# /' "$dir/server.err"; fi
n=$((n + 1))
INCEPTION_SCHEDULING=sometimes "$inception" present --serve "tcp://127.0.0.1:$port" 2>"$dir/e"; rc=$?
if [ "$rc" = 2 ] && grep -q 'INCEPTION_SCHEDULING is "sometimes"' "$dir/e"; then echo "ok $n - a bad INCEPTION_SCHEDULING: exit 2, named"
else echo "not ok $n - exit $rc: $(cat "$dir/e")"; fi
n=$((n + 1))
"$inception" present --serve tcp://192.0.2.1:5560 2>"$dir/e"; rc=$?
if [ "$rc" = 1 ] && grep -q -- '--allow-remote' "$dir/e"; then echo "ok $n - a non-loopback endpoint without --allow-remote: exit 1, says why"
else echo "not ok $n - exit $rc: $(cat "$dir/e")"; fi
n=$((n + 1))
"$inception" present --serve "tcp://127.0.0.1:$port" --images x.npy 2>"$dir/e"; rc=$?
if [ "$rc" = 2 ]; then echo "ok $n - --serve with --images is a usage error (exit 2)"
else echo "not ok $n - exit $rc"; fi
echo "1..$n"
