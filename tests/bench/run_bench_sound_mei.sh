#!/bin/sh
# Most exciting sounds' speed beside their PyTorch twin (issue 19's target:
# 100 sounds × 1,000 steps in under 2 minutes on 2 cores). Arguments (from
# meson): bench_sound_mei, sound_mei_twin.py. N_SOUNDS, STEPS and THREADS may
# be set in the environment (defaults 100, 1000, 2); QUICK=1 is a smoke run
# (4 sounds × 20 steps). ONE_AT_A_TIME_SOUNDS (default N_SOUNDS): how many of
# the sounds the twin also runs one at a time (batch 1), as the C loop does.
# Both sides run with OMP_WAIT_POLICY=passive unless it is set. BATCH=K > 1:
# the C side also runs the sounds K at a time (sound_mei_batch).
set -u
bench=$1
twin=$2
if [ "${QUICK:-0}" = 1 ]; then
    sounds=${N_SOUNDS:-4}
    steps=${STEPS:-20}
else
    sounds=${N_SOUNDS:-100}
    steps=${STEPS:-1000}
fi
threads=${THREADS:-2}
single=${ONE_AT_A_TIME_SOUNDS:-$sounds}
batch=${BATCH:-1}
check=$(mktemp -d) || exit 1
trap 'rm -rf "$check"' EXIT
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), $(nproc) cores," \
     "load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== inception (C) =="
OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive} \
    "$bench" --sounds "$sounds" --steps "$steps" --threads "$threads" --check "$check" || exit 1
if [ "$batch" -gt 1 ]; then
    OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive} \
        "$bench" --sounds "$sounds" --steps "$steps" --threads "$threads" --batch "$batch" || exit 1
fi
echo "== PyTorch twin =="
if /usr/bin/python3 -c "import torch" 2>/dev/null; then
    OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive} \
        /usr/bin/python3 "$twin" --sounds "$sounds" --steps "$steps" --threads "$threads" \
        --one-at-a-time "$single" --check "$check" || exit 1
else
    echo "python3-torch is not installed (apt-get install python3-torch): no comparison"
fi
