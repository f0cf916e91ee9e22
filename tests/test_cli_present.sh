#!/bin/sh
# `inception present` and `inception calibrate` on SDL's dummy drivers:
# help, usage errors (exit 2), bad files (exit 1, named), an event log with
# one line per trial and the summary, ms rounded to frames and said so, and a
# calibration written from typed readings and read back. TAP; argument 1 is
# the inception executable.
inception=$1
export SDL_VIDEODRIVER=dummy SDL_AUDIODRIVER=dummy
. "$(dirname "$0")/tap.sh"

/usr/bin/python3 - "$work" <<'PY'
import sys, numpy as np
d = sys.argv[1]
np.save(d + "/images.npy", (np.arange(4 * 6 * 8).reshape(4, 6, 8) % 48 / 47).astype(np.float32))
np.save(d + "/bright.npy", np.full((2, 3, 3), 2.0, np.float32))
np.save(d + "/bytes.npy", np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4) * 8)
PY

for cmd in present calibrate; do
    run $cmd --help
    check "$cmd --help exits 0 with usage" \
        '[ "$(status)" = 0 ] && grep -q "usage: inception $cmd" "$work/out"'
done
run present
check "present without --images: exit 2" '[ "$(status)" = 2 ] && grep -q "images" "$work/err"'
run present --images "$work/images.npy" --colour red
check "unknown option: exit 2, named" '[ "$(status)" = 2 ] && grep -q "colour" "$work/err"'
run present --images "$work/images.npy" --frames 2 --duration-ms 30
check "--frames and --duration-ms together: exit 2" '[ "$(status)" = 2 ]'
run present --images "$work/none.npy"
check "missing images named, exit 1" '[ "$(status)" = 1 ] && grep -q "none.npy" "$work/err"'
run present --images "$work/bright.npy"
check "luminance beyond 1 refused" '[ "$(status)" = 1 ] && grep -q "outside \[0,1\]" "$work/err"'
run present --images "$work/images.npy" --calibration "$work/images.npy"
check "a calibration that is not one: exit 1, file and line named" \
    '[ "$(status)" = 1 ] && grep -q "images.npy:1:" "$work/err"'

run present --images "$work/images.npy" --refresh 400 --frames 2 --isi-ms 5 --repeats 3
check "present: exit 0" '[ "$(status)" = 0 ]'
check "one log line per trial (12), in order" \
    '[ "$(awk -F"\t" "NR > 1 && /^[0-9]/ {print \$1}" "$work/out" | tr "\n" " ")" = "0 1 2 3 4 5 6 7 8 9 10 11 " ]'
check "images cycle 0..3" \
    '[ "$(awk -F"\t" "NR > 1 && /^[0-9]/ {print \$2}" "$work/out" | tr "\n" " ")" = "0 1 2 3 0 1 2 3 0 1 2 3 " ]'
check "onsets every 2 + 2 flips" \
    '[ "$(awk -F"\t" "NR > 1 && /^[0-9]/ {if (!f) f = \$3 + 1; print \$3 - f + 1}" "$work/out" | tr "\n" " ")" = "0 4 8 12 16 20 24 28 32 36 40 44 " ]'
check "5 ms at 400 Hz said to round to 2 frames" 'grep -q "rounded to 2 frames (5.00 ms at 2.500 ms a frame)" "$work/err"'
check "summary and software-clock status printed" \
    'grep -q "^summary: 12 trials shown" "$work/out" && grep -q "^display: software clock at 400 Hz" "$work/out"'
run present --images "$work/images.npy" --refresh 400 --duration-ms 1
check "1 ms at 400 Hz is no frame: exit 1" '[ "$(status)" = 1 ] && grep -q "at least one frame" "$work/err"'

mkdir "$work/folder"
cp "$work/images.npy" "$work/folder/a.npy"
cp "$work/bytes.npy" "$work/folder/b.npy"
run present --images "$work/folder" --refresh 400 --frames 1 --isi 0
check "a folder of NPY files: 4 + 2 images" 'grep -q "^summary: 6 trials shown" "$work/out"'

printf '0.4\n\n12\nseven\n45\n110\n' | "$inception" calibrate --levels 4 --out "$work/cal.txt" \
    --refresh 200 >"$work/out" 2>"$work/err"
echo $? >"$work/status"
check "calibrate: 4 readings (empty line and a word asked again) written" \
    '[ "$(status)" = 0 ] && [ "$(grep -v "^#" "$work/cal.txt" | tr "\n" " ")" = "0 0.4 85 12 170 45 255 110 " ]'
run present --images "$work/images.npy" --refresh 400 --frames 1 --isi 0 --calibration "$work/cal.txt"
check "present reads the calibration back" '[ "$(status)" = 0 ]'
printf '5\n4\n' | "$inception" calibrate --levels 2 --out "$work/bad.txt" --refresh 200 \
    >"$work/out" 2>"$work/err"
echo $? >"$work/status"
check "readings that fall: exit 1, nothing written" \
    '[ "$(status)" = 1 ] && grep -q "below" "$work/err" && [ ! -e "$work/bad.txt" ]'
printf '5\n' | "$inception" calibrate --levels 3 --out "$work/short.txt" --refresh 200 \
    >"$work/out" 2>"$work/err"
echo $? >"$work/status"
check "input ending early: exit 1, says how many" \
    '[ "$(status)" = 1 ] && grep -q "1 of 3" "$work/err"'

echo "1..$n"
[ $failed = 0 ]
