#!/bin/sh
# A whole audio session whose natural clips come from a folder of sound files
# (sounds.source: folder, docs/audio.md), the files written here by Python's
# own `wave` module (not by libsndfile, which reads them): five mono 16-bit
# files at the session's 16 kHz and one stereo file at 22.05 kHz (made mono
# and resampled by the session). tests/protocols/audio_resume.yaml with the
# folder as its clip source and an ensemble of two models is killed with SIGKILL 1.5 s into its closed-loop
# block; one byte of a shown natural clip's stimulus record is flipped; the
# session is resumed from another working directory to its end: the lost clip
# is cut from its file again and verified against the record's hashes, and
# resume_check.py --audio checks the record against the killed one. The
# recorded clips are checked against the files as Python reads them. Then
# `inception replay`: both models bit for bit from the files; and with one file
# rewritten, the replay is refused naming the clip and the file. TAP output.
# Arguments: the inception executable, the tests folder.
inception=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
tests=$2
py=/usr/bin/python3
. "$tests/tap.sh"
export SDL_VIDEODRIVER=dummy SDL_AUDIODRIVER=dummy
tap_ports
tap_protocol audio_resume "$work/folder.yaml" $base \
    -e 's|^sounds:$|sounds:\n  source: folder\n  path: clips|' \
    -e 's|^name: audio-resume$|name: audio-folder|' \
    -e 's|^  channels: 4$|  ensemble: 2\n  channels: 4|'
s="$work/session"
mkdir "$work/elsewhere" "$work/clips"

# Six files of 0.8 s: 6 clips of 130 ms each at 16 kHz (36, the session takes
# 34: 30 training, 4 test). Harmonic stacks with a pitch glide, band-passed
# noise with a slow envelope, a frequency sweep, two-tone chords, amplitude-
# modulated tones, and the stereo file (a chord in one channel, noise in the
# other); every 130 ms of each is far from silent and from a lone click.
$py - "$work/clips" <<'EOF'
import sys, wave
import numpy as np
out = sys.argv[1]
rng = np.random.default_rng(7)
def write(name, x, rate):
    x = np.asarray(x, dtype=np.float64)
    x = x.reshape(len(x), -1)
    pcm = np.round(np.clip(x / np.abs(x).max() * 0.7, -1, 1) * 32767).astype('<i2')
    with wave.open(out + '/' + name, 'wb') as w:
        w.setnchannels(pcm.shape[1]); w.setsampwidth(2); w.setframerate(rate)
        w.writeframes(pcm.tobytes())
def seconds(rate, d=0.8):
    return np.arange(int(rate * d)) / rate
t = seconds(16000)
f0 = 180 * 2 ** (1.5 * t / t[-1])
phase = 2 * np.pi * np.cumsum(f0) / 16000
write('a_harmonics.wav', sum(np.sin(k * phase) / k for k in range(1, 9)), 16000)
spec = np.fft.rfft(rng.standard_normal(len(t)))
fr = np.fft.rfftfreq(len(t), 1 / 16000)
spec[(fr < 1500) | (fr > 4000)] = 0
write('b_noise.wav', np.fft.irfft(spec, len(t)) * (1.2 + np.sin(2 * np.pi * 3 * t)), 16000)
write('c_sweep.wav', np.sin(2 * np.pi * (200 * t + 0.5 * 5000 * t * t)), 16000)
write('d_chords.wav', np.sin(2 * np.pi * 440 * t) + np.sin(2 * np.pi * (660 + 900 * (t > 0.4)) * t), 16000)
write('e_am.wav', np.sin(2 * np.pi * 1200 * t) * (1.1 + np.sin(2 * np.pi * 11 * t)), 16000)
t2 = seconds(22050)
write('f_stereo.wav', np.stack([np.sin(2 * np.pi * 300 * t2) + np.sin(2 * np.pi * 2400 * t2),
                                rng.standard_normal(len(t2))], axis=1), 22050)
EOF
check "six WAV files written by Python's wave module" '[ $(ls "$work/clips"/*.wav | wc -l) = 6 ]'

# Leg 1: the run, killed 1.5 s after its closed-loop block begins.
"$inception" run "$work/folder.yaml" --out "$s" >"$work/leg1.out" 2>&1 &
pid=$!
tap_wait_output $pid "$work/leg1.out" "] closed_loop"
sleep 1.5
kill -KILL $pid 2>/dev/null
wait $pid 2>/dev/null
where=$(tap_last_phase "$s/session.rec")
sed 's/^/# /' "$work/leg1.out" | head -8
check "leg 1: clips from the folder, an ensemble of 2 models fitted, killed in the closed-loop block (record at '$where')" \
    '[ "$where" = "closed_loop begin" ] && grep -q "natural clips: the sound files of $work/clips, 2080 samples" "$work/leg1.out" &&
     grep -q "^final fit: .*an ensemble of 2 models" "$work/leg1.out"'
tap_wait_rig "$s"

# Damage: one byte of the stimulus record of the clip the first trial played.
cp "$s/session.rec" "$work/pristine.rec"
clip=$($py "$tests/repair_check.py" shown "$work/pristine.rec")
$py "$tests/repair_check.py" flip "$s/session.rec" "$clip" >"$work/flipped"
rc=$?
check "one byte flipped in the stimulus record of clip $clip" '[ $rc = 0 ] && [ -s "$work/flipped" ]'
cp "$s/session.rec" "$work/killed1.rec"

# Leg 2: resumed from another folder (the session by a relative path) to its end.
(cd "$work/elsewhere" && "$inception" resume ../session) >"$work/out" 2>"$work/err"
rc=$?
sed 's/^/# /' "$work/out" "$work/err" | tail -6
check "leg 2: the resume finishes the session (exit $rc) and prints its ground truth" \
    '[ $rc = 0 ] && grep -q "^ground truth: median MEI / best natural training clip [0-9.]*" "$work/out"'
check "it cut clip $clip from its file again, verified against the record's hash" \
    'grep -q "^repaired: 1 natural stimulus record lost to damage (clip $clip) made again from the sound files of the folder .*clips, 1 verified" "$work/out"'
$py "$tests/repair_check.py" repaired "$s/session.rec" "$work/pristine.rec" "$clip" >"$work/check" 2>&1
rc=$?
check "$(tail -1 "$work/check")" '[ $rc = 0 ]'
$py "$tests/resume_check.py" "$s" "$work/killed1.rec" 30 4 2 2 3 1 --audio >"$work/check" 2>&1
rc=$?
check "resume_check.py --audio against the killed record: $(tail -1 "$work/check")" '[ $rc = 0 ]'
[ $rc = 0 ] || sed 's/^/# /' "$work/check"

# The recorded natural clips against the files as Python reads them: clip k
# of a 16 kHz file is its samples k·2080 .. (k+1)·2080 scaled to -30 dBFS,
# ramped at both ends (5 ms: compared between the ramps, where the clip is
# the file times one gain; 16-bit samples read as float by both, so the
# residual is float32 rounding, under 1e-5 of the clip's peak). The stereo
# 22.05 kHz file (the last 6 clips; the session uses 34 of 36) only gives
# clips at the level.
$py - "$s/session.rec" "$work/clips" "$tests" >"$work/check" 2>&1 <<'EOF'
import sys, os, wave
import numpy as np
sys.path.insert(0, os.path.join(sys.argv[3], '..', 'controller', 'record'))
from record_reader import read_records
recs = [r['fields'] for r in read_records(sys.argv[1])
        if r['type'] == 'stimulus' and r['fields']['kind'] == 'natural']
clips = {}
for f in recs:
    clips.setdefault(f['stimulus_id'], np.asarray(f['samples'], np.float64))
files = sorted(os.listdir(sys.argv[2]))
S, ramp, worst = 2080, 80, 0.0
for k in range(30):  # the five 16 kHz files
    with wave.open(os.path.join(sys.argv[2], files[k // 6]), 'rb') as w:
        x = np.frombuffer(w.readframes(w.getnframes()), '<i2') / 32768.0
    seg, c = x[(k % 6) * S:(k % 6 + 1) * S][ramp:-ramp], clips[k][ramp:-ramp]
    gain = np.dot(c, seg) / np.dot(seg, seg)
    worst = max(worst, np.abs(c - gain * seg).max() / np.abs(c).max())
level = [20 * np.log10(np.sqrt(np.mean(clips[k] ** 2))) for k in range(30, 34)]
ok = len(clips) == 34 and worst < 1e-5 and all(abs(l + 30) < 1e-4 for l in level)
print('34 clips; clips 0-29 the files\' samples times one gain (worst residual %.2g of the peak); '
      'clips 30-33 from the stereo file at %.4f dBFS' % (worst, np.mean(level)))
sys.exit(0 if ok else 1)
EOF
rc=$?
check "$(tail -1 "$work/check")" '[ $rc = 0 ]'

# Offline replay from the files: the session's model.bin bit for bit.
(cd "$work/elsewhere" && "$inception" replay ../session --out ../replay --no-report) \
    >"$work/out" 2>"$work/err"
rc=$?
check "replay of the session (exit $rc): both models (model.ensemble 2) the session's, byte for byte" \
    '[ $rc = 0 ] && cmp -s "$s/model.bin" "$work/replay/model.bin" &&
     cmp -s "$s/model_ensemble_1.bin" "$work/replay/model_ensemble_1.bin"'
# One file rewritten (clip 0's, a different glide): refused by name.
$py - "$work/clips/a_harmonics.wav" <<'EOF'
import sys, wave
import numpy as np
t = np.arange(12800) / 16000
x = np.round(0.5 * np.sin(2 * np.pi * 250 * t) * 32767).astype('<i2')
with wave.open(sys.argv[1], 'wb') as w:
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(16000); w.writeframes(x.tobytes())
EOF
run replay "$s" --out "$work/replay-changed" --no-report
check "replay with a_harmonics.wav rewritten: refused (exit $(status)), the clip and the file named" \
    '[ "$(status)" = 1 ] && grep -q "clip [0-5] differs from the recorded one.*from the file a_harmonics.wav" "$work/err"'
sleep 0.3
left=$(pgrep -f "virtual-rig .*$s" | tr '\n' ' ')
check "no virtual rig left running ($left)" '[ -z "$left" ]'
echo "1..$n"
[ $failed = 0 ]
