#!/bin/sh
# `inception run` with modality: audio end to end (tests/protocols/audio.yaml:
# 8 simulated auditory cells, 95 natural trials, 2 targets) against the
# virtual rig, headless: SDL's dummy video and audio drivers, the clips played
# in real time. run_check.py --audio reads the record back: every phase, the
# trials' counts against the rig's ground truth, each clip in its stimulus
# record at the protocol's level, the evaluation recomputed. TAP output.
# Arguments: the inception executable, the tests folder.
inception=$1
tests=$2
py=/usr/bin/python3
. "$tests/tap.sh"
export SDL_VIDEODRIVER=dummy SDL_AUDIODRIVER=dummy
tap_ports
tap_protocol audio "$work/audio.yaml" $base

run run "$work/audio.yaml" --out "$work/session"
sed 's/^/# /' "$work/out" "$work/err"
check "inception run finishes the audio protocol (exit $(status))" '[ $(status) = 0 ]'
check "it states the clips and their level in dB SPL through the protocol's calibration" \
    'grep -q "^natural clips: synthetic, 2080 samples (130.0 ms) at 16000 Hz, RMS -30.0 dBFS = 70.0 dB SPL by the protocol'"'"'s calibration" "$work/out"'
check "it prints the ground-truth median ratio over the best natural clip" \
    'grep -q "^ground truth: median MEI / best natural training clip [0-9.]* (all at the same RMS level); the MEI beats it for [0-2] of 2 targets$" "$work/out"'
check "it prints the ground truth against the STRF control" \
    'grep -q "^ground truth: the MEI beats the fitted STRF'"'"'s optimum for [0-2] of 2 targets$" "$work/out"'
check "it prints the ground truth against the tone control" \
    'grep -q "^ground truth: the MEI beats the pure tone at the model'"'"'s best frequency for [0-2] of 2 targets$" "$work/out"'
check "no image control is mentioned" 'grep -q "Gabor\|RF map" "$work/out"; [ $? = 1 ]'
TAP_START=$((n + 1)) $py "$tests/run_check.py" "$work/session" 80 5 3 2 5 --audio >"$work/check" 2>&1
[ $? = 0 ] || failed=$((failed + 1))
grep -v '^1\.\.' "$work/check"
n=$((n + $(grep -c '^ok\|^not ok' "$work/check")))
cp "$work/session/session.rec" "$work/finished.rec"
run resume "$work/session"
check "a finished audio session has nothing to resume: exit $(status), record untouched" \
    '[ $(status) = 1 ] && grep -q "nothing to resume" "$work/err" && cmp -s "$work/session/session.rec" "$work/finished.rec"'
echo "1..$n"
[ $failed = 0 ]
