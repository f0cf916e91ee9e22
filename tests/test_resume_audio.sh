#!/bin/sh
# `inception resume` of an audio session (modality: audio, docs/audio.md):
# tests/protocols/audio_resume.yaml killed with SIGKILL five times, once in
# each phase that does work (during the recording block, the fit, the
# synthesis, the closed-loop block and the evaluation), each time resumed from another
# working directory (the session named by a relative path), then resumed to
# its end. After the first kill one byte is flipped in a natural clip's
# stimulus record: the resume makes the clip again, verified against its
# recorded hash, bit for bit the lost one (repair_check.py). After each kill
# the orphaned virtual rig exits by itself; the final record is checked by resume_check.py --audio against each killed
# record (every trial and stimulus recorded before a kill intact, every
# phase ended once, every clip shown as planned, the counts against every
# rig's ground truth, the clips at the protocol's level, the best-natural
# controls among the natural clips, the ground truth recomputed). Then
# `inception replay` of the resumed session: its model.bin and most exciting
# sounds bit for bit, also with the rebuilt clip's record damaged again (the
# replay makes it again). TAP output.
# Arguments: the inception executable, the tests folder.
# The executable by its absolute path: the resumes run in another folder.
inception=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
tests=$2
py=/usr/bin/python3
. "$tests/tap.sh"
export SDL_VIDEODRIVER=dummy SDL_AUDIODRIVER=dummy
tap_ports
tap_protocol audio_resume "$work/audio_resume.yaml" $base
s="$work/session"
mkdir "$work/elsewhere"

# Kills leg K's process once its output shows the pattern and DELAY seconds
# more have passed, keeps the record as the kill left it, and waits for the
# killed controller's rig to exit by itself (PR_SET_PDEATHSIG).
kill_leg() { # K, pid, pattern, delay, the phase the record must be in
    tap_wait_output "$2" "$work/leg$1.out" "$3" && sleep "$4"
    kill -KILL "$2" 2>/dev/null
    wait "$2" 2>/dev/null
    cp "$s/session.rec" "$work/killed$1.rec"
    where=$(tap_last_phase "$work/killed$1.rec")
    tap_wait_rig "$s"
    want=$5
    check "leg $1: killed with the record at '$where' (want '$want'), its rig exited by itself ($waited x 50 ms)" \
        '[ "$where" = "$want" ] && ! pgrep -f "virtual-rig .*$s/rig_truth" >/dev/null'
}

# Leg 1: the run, killed in its recording block once 3 trials are recorded.
"$inception" run "$work/audio_resume.yaml" --out "$s" >"$work/leg1.out" 2>&1 &
pid=$!
tap_wait_output $pid "$work/leg1.out" "] recording"
while [ "$(tap_trials_in "$s/session.rec")" -lt 3 ] && kill -0 $pid 2>/dev/null; do
    sleep 0.1
done
kill_leg 1 $pid "] recording" 0 "recording begin"
# Damage: one byte flipped in the natural stimulus record of the clip the
# first trial played. Leg 2's resume makes it again from the recorded
# protocol's seed and checks it against the SHA-256 of its cochleagram that
# the schedule records carry.
cp "$s/session.rec" "$work/pristine.rec"
clip=$($py "$tests/repair_check.py" shown "$work/pristine.rec")
$py "$tests/repair_check.py" flip "$s/session.rec" "$clip" >"$work/flipped"
rc=$?
check "one byte flipped in the stimulus record of clip $clip (offset $(cat "$work/flipped")): it reads as damage" \
    '[ $rc = 0 ] && [ -s "$work/flipped" ]'
cp "$s/session.rec" "$work/killed1.rec"
# Legs 2-4: resumed from another folder, killed as the fit begins, as the
# synthesis begins, and 1.5 s into the closed-loop block.
k=1
for target in "] fit |0|fit begin" "] synthesis |0|synthesis begin" \
              "] closed_loop|1.5|closed_loop begin"; do
    k=$((k + 1))
    (cd "$work/elsewhere" && exec "$inception" resume ../session) >"$work/leg$k.out" 2>&1 &
    pid=$!
    pattern=${target%%|*}
    rest=${target#*|}
    kill_leg $k $pid "$pattern" "${rest%%|*}" "${rest#*|}"
done
# A copy whose record holds clip 0 negated, CRC set again: its cochleagram
# (and so every hash) is unchanged, yet it is not the clip made from the
# seed: refused by name before anything starts.
cp -r "$s" "$work/negated"
$py "$tests/repair_check.py" negate "$work/negated/session.rec" 0
rc=$?
run resume "$work/negated"
check "a record whose clip 0 is negated (rewritten: $rc): resume refused (exit $(status)), clip 0 named, no rig started" \
    '[ $rc = 0 ] && [ "$(status)" = 1 ] && grep -q "clip 0 differs from the recorded one" "$work/err" && [ ! -d "$work/negated/rig_truth.4" ]'
rm -rf "$work/negated"
# Leg 5: resumed and killed as the evaluation begins. The evaluation takes
# milliseconds, too short for a timed kill: INCEPTION_STOP_AT (a test hook,
# docs/testing.md) makes the process stop itself once the phase's begin
# record is on disk, and the kill lands while it is stopped.
(cd "$work/elsewhere" && INCEPTION_STOP_AT=evaluation exec "$inception" resume ../session) \
    >"$work/leg5.out" 2>&1 &
pid=$!
tap_wait_stopped $pid
kill_leg 5 $pid "] evaluation" 0 "evaluation begin"
# Leg 6: resumed to its end.
(cd "$work/elsewhere" && "$inception" resume ../session) >"$work/out" 2>"$work/err"
rc=$?
cp "$work/out" "$work/leg6.out"
sed 's/^/# /' "$work/out" "$work/err" | tail -12
check "leg 6: the resume finishes the session (exit $rc)" '[ $rc = 0 ]'
check "it prints the ground truth of the audio session" \
    'grep -q "^ground truth: median MEI / best natural training clip [0-9.]* (all at the same RMS level)" "$work/out"'
check "leg 2 said it rebuilt clip $clip, verified" \
    'grep -q "^repaired: 1 natural stimulus record lost to damage (clip $clip) made again from synthetic clips (clip_synthetic), seed 3, 1 verified against the record.s SHA-256 of the cochleagram" "$work/leg2.out"'
$py "$tests/repair_check.py" repaired "$s/session.rec" "$work/pristine.rec" "$clip" >"$work/check" 2>&1
rc=$?
check "$(tail -1 "$work/check")" '[ $rc = 0 ]'
killed="$work/killed1.rec:$work/killed2.rec:$work/killed3.rec:$work/killed4.rec:$work/killed5.rec"
$py "$tests/resume_check.py" "$s" "$killed" 30 4 2 2 3 1 --audio >"$work/check" 2>&1
crc=$?
check "resume_check.py --audio against the 5 killed records: $(tail -1 "$work/check")" '[ $crc = 0 ]'
[ $crc = 0 ] || sed 's/^/# /' "$work/check"
# Offline replay of the resumed session (from another folder, by a relative
# path): the run's final fit and synthesis again, from its recorded start
# model, so the session's model.bin and its most exciting sounds (the MEI
# stimulus records' samples and cochleagrams) come out bit for bit.
(cd "$work/elsewhere" && "$inception" replay ../session --out ../replay --no-report) \
    >"$work/out" 2>"$work/err"
rc=$?
check "replay of the resumed audio session (exit $rc): $(grep -o "the fit starts from [^,]*" "$work/err")" \
    '[ $rc = 0 ]'
check "model.bin: the session's, byte for byte" 'cmp -s "$s/model.bin" "$work/replay/model.bin"'
$py -c "
import sys; sys.path.insert(0, '$tests/../controller/record')
import numpy as np
from record_reader import read_records
def meis(path):
    return [r['fields'] for r in read_records(path) if r['type'] == 'stimulus' and r['fields']['kind'] == 'mei']
run, replay = meis('$s/session.rec'), meis('$work/replay/session.rec')
sounds, images = np.load('$work/replay/mei_sounds.npy'), np.load('$work/replay/meis.npy')
targets = [int(l.split()[0]) for l in open('$work/replay/targets.txt')]
same = lambda a, b: np.array_equal(np.asarray(a, np.float32).view(np.uint32), np.asarray(b, np.float32).view(np.uint32))
ok = (len(run) == len(targets) == len(sounds) == len(replay) == 2 and [m['neuron'] for m in run] == targets and
      all(same(m['samples'], sounds[j]) and same(m['pixels'], images[j]) for j, m in enumerate(run)) and
      all(same(m['samples'], r['samples']) and r['sample_rate'] == 16000 and r['stimulus_id'] == m['stimulus_id']
          for m, r in zip(run, replay)))
print('%d MEI sounds of targets %s (%s samples each)' % (len(sounds), targets, sounds.shape[1:]))
sys.exit(0 if ok else 1)" >"$work/check" 2>&1
rc=$?
check "the replay's mei_sounds.npy, meis.npy and MEI stimulus records: the session's sounds bit for bit: $(tail -1 "$work/check")" \
    '[ $rc = 0 ]'
# The rebuilt record of clip $clip damaged too: replay makes the clip again
# (the dataset's repair), records it with its samples, and fits and
# synthesizes the same.
cp -r "$s" "$work/damaged"
rm -f "$work/damaged/session.lock"
$py "$tests/repair_check.py" flip "$work/damaged/session.rec" "$clip" >/dev/null
run replay "$work/damaged" --out "$work/replay-damaged" --no-report
check "replay of the record with clip $clip lost again goes on (exit $(status)) and says it rebuilt it" \
    '[ "$(status)" = 0 ] && grep -q "^replay: repaired: 1 natural stimulus record lost to damage (clip $clip)" "$work/err"'
check "model.bin and mei_sounds.npy: those of the undamaged record's replay, byte for byte" \
    'cmp -s "$work/replay/model.bin" "$work/replay-damaged/model.bin" &&
     cmp -s "$work/replay/mei_sounds.npy" "$work/replay-damaged/mei_sounds.npy"'
$py "$tests/repair_check.py" repaired "$work/replay-damaged/session.rec" "$work/pristine.rec" \
    "$clip" >"$work/check" 2>&1
rc=$?
check "the replay's record: $(tail -1 "$work/check")" '[ $rc = 0 ]'
resumes=$(grep -c "^resumed: [0-9]* records kept" "$work/leg2.out" "$work/leg3.out" \
    "$work/leg4.out" "$work/leg5.out" "$work/leg6.out" | awk -F: '{ n += $2 } END { print n }')
check "each of the 5 resumes said what it kept ($resumes)" '[ "$resumes" = 5 ]'
sleep 0.5
left=$(pgrep -f "virtual-rig .*$s" | tr '\n' ' ')
check "no virtual rig left running ($left)" '[ -z "$left" ]'
echo "1..$n"
[ $failed = 0 ]
