#!/bin/sh
# bench-frames (issue 20): the demo's recording block (protocols/demo.yaml:
# 2,150 trials of 8 + 4 frames) while the background fit runs, on 2 CPUs
# (taskset -c 0,1), at 144 Hz and at 240 Hz, with the frame path protected
# (INCEPTION_SCHEDULING=auto: real time where allowed, else the fallback)
# and without (off: the figures before). Each run stops once the recording
# block is over (SIGINT, then SIGKILL 10 s later). Per run: dropped frames
# (and per 1,000 trials), flip interval mean ± SD and max, the background
# fit's rounds per minute and training trial-epochs per second (its
# throughput), from the session record, and the machine's 1-minute load
# average as the run ended (other programs on the 2 CPUs weigh on "off").
# Headless runs use the offscreen driver's software clock; where Xvfb is
# installed a windowed run under Xvfb follows (its vsync: Xvfb presents at
# 62.5 Hz whatever refresh_hz says, see docs/presentation.md).
#
# Usage: run_bench_frames.sh INCEPTION DEMO_YAML [TRAIN]
#   TRAIN: training images (demo: 2000; fewer gives a quicker, noisier run)
#   env RATES ("144 240"), MODES ("off auto"), DISPLAYS ("offscreen xvfb")
inception=$1
demo=$2
train=${3:-2000}
rates=${RATES:-144 240}
modes=${MODES:-off auto}
displays=${DISPLAYS:-offscreen xvfb}
reader=$(dirname "$0")/../../controller/record
work=$(mktemp -d)
xvfb=
cleanup() {
    [ -n "$xvfb" ] && kill "$xvfb" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
base=$((34000 + ($$ % 1000) * 10))
echo "bench-frames: demo recording block, train $train, on CPUs 0-1; load: $(uptime | sed 's/.*load/load/')"
printf "%-9s %-5s %-8s %-9s %7s %8s %9s %18s %8s %10s %10s %5s\n" display Hz mode obtained \
    trials dropped "per 1000" "interval ms" "max ms" "rounds/min" "trial-ep/s" load
for display in $displays; do
    if [ "$display" = xvfb ]; then
        command -v Xvfb >/dev/null || { echo "# no Xvfb: windowed runs skipped"; continue; }
        Xvfb :97 -screen 0 640x480x24 -nolisten tcp >/dev/null 2>&1 &
        xvfb=$!
        sleep 1
    fi
    for hz in $rates; do
        for mode in $modes; do
            run=$work/$display-$hz-$mode
            base=$((base + 2))
            sed -e "s|^output: .*|output: $run/session|" \
                -e "s|^  refresh_hz: .*|  refresh_hz: $hz|" \
                -e "s|^  train: .*|  train: $train|" \
                -e "s|^virtual_rig:|endpoints:\n  stream: tcp://127.0.0.1:$base\n  sync: tcp://127.0.0.1:$((base + 1))\n\nvirtual_rig:|" \
                "$demo" >"$run.yaml"
            if [ "$display" = xvfb ]; then
                sed -i "s|^  mode: offscreen.*|  mode: windowed|" "$run.yaml"
                env="DISPLAY=:97"
            else
                env="SDL_VIDEODRIVER=offscreen"
            fi
            env $env INCEPTION_SCHEDULING=$mode taskset -c 0,1 "$inception" run "$run.yaml" \
                >"$run.out" 2>"$run.err" &
            pid=$!
            while kill -0 $pid 2>/dev/null && ! grep -q "^recording block:" "$run.out"; do
                sleep 0.5
            done
            # The run honours SIGINT at its next phase boundary, after the final
            # fit (minutes): 10 s, then it and its virtual rig are stopped outright
            # (the block's note is in the record already; the folder is thrown away).
            kill -INT $pid 2>/dev/null
            tries=0
            while kill -0 $pid 2>/dev/null && [ $tries -lt 20 ]; do
                sleep 0.5
                tries=$((tries + 1))
            done
            kill -0 $pid 2>/dev/null && kill -KILL $(pgrep -P $pid) $pid 2>/dev/null
            wait $pid 2>/dev/null
            /usr/bin/python3 - "$run/session/session.rec" "$display" "$hz" "$mode" "$reader" \
                "$(uptime | sed 's/.*load average: //; s/,.*//')" <<'PY'
import sys
sys.path.insert(0, sys.argv[5])
from record_reader import read_records
rec, display, hz, mode = sys.argv[1:5]
load = sys.argv[6]
begin = block = obtained = None
for r in read_records(rec):
    f = r.get("fields", {})
    if r["type"] == "phase" and f["phase"] == "recording" and f["event"] == "begin":
        begin = r["time_ns"]
    if r["type"] == "note" and f.get("display_block") == "recording":
        block = r
    if r["type"] == "note" and "scheduling" in f:
        obtained = f["scheduling"]
if not block or begin is None:
    print("%-9s %-5s %-8s the recording block did not finish (see the run's output)"
          % (display, hz, mode))
    sys.exit(0)
f = block["fields"]
minutes = (block["time_ns"] - begin) / 60e9
print("%-9s %-5s %-8s %-9s %7d %8d %9.2f %8.3f ± %-7.3f %8.2f %10.2f %10.0f %5s"
      % (display, hz, mode, obtained, f["trials_shown"], f["dropped_frames"],
         1000.0 * f["dropped_frames"] / max(f["trials_shown"], 1), f["interval_mean_ms"],
         f["interval_sd_ms"], f["interval_max_ms"], f.get("fit_rounds", 0) / minutes,
         f.get("fit_trial_epochs", 0) / (60 * minutes), load))
PY
        done
    done
    [ -n "$xvfb" ] && kill "$xvfb" && xvfb=
done
