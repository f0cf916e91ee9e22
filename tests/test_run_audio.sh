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
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
base=$((10000 + ($$ % 2200) * 10))
sed -e "s|tcp://127.0.0.1:5766|tcp://127.0.0.1:$base|" \
    -e "s|tcp://127.0.0.1:5767|tcp://127.0.0.1:$((base + 1))|" \
    "$tests/protocols/audio.yaml" >"$work/audio.yaml"
n=1
failed=0
ok() { # status description
    if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi
    n=$((n + 1))
}

SDL_VIDEODRIVER=dummy SDL_AUDIODRIVER=dummy "$inception" run "$work/audio.yaml" \
    --out "$work/session" >"$work/out" 2>"$work/err"
status=$?
sed 's/^/# /' "$work/out" "$work/err"
ok $status "inception run finishes the audio protocol"
grep -q "^natural clips: synthetic, 2080 samples (130.0 ms) at 16000 Hz, RMS -30.0 dBFS = 70.0 dB SPL by the protocol's calibration" "$work/out"
ok $? "it states the clips and their level in dB SPL through the protocol's calibration"
grep -q "^ground truth: median MEI / best natural training clip [0-9.]* (all at the same RMS level); the MEI beats it for [0-2] of 2 targets$" "$work/out"
ok $? "it prints the ground-truth median ratio over the best natural clip"
grep -q "^ground truth: the MEI beats the fitted STRF's optimum for [0-2] of 2 targets$" "$work/out"
ok $? "it prints the ground truth against the STRF control"
grep -q "Gabor\|RF map" "$work/out"
[ $? = 1 ]
ok $? "no image control is mentioned"
TAP_START=$n $py "$tests/run_check.py" "$work/session" 80 5 3 2 6 --audio >"$work/check" 2>&1
[ $? = 0 ] || failed=$((failed + 1))
grep -v '^1\.\.' "$work/check"
n=$((n + $(grep -c '^ok\|^not ok' "$work/check")))
"$inception" resume "$work/session" >/dev/null 2>"$work/err2"
[ $? != 0 ] && grep -q "audio session.*not done yet" "$work/err2"
ok $? "resuming an audio session is refused by name: $(cat "$work/err2")"
echo "1..$((n - 1))"
[ $failed = 0 ]
