#!/bin/sh
# Damaged natural stimulus records and changed images (issue 14, items 3
# and 4): tests/protocols/tiny.yaml killed with SIGKILL once its first trials
# are recorded, then
#  - one byte flipped inside the natural stimulus record of an image already
#    shown: resume rebuilds the record from the recorded protocol and seed,
#    checks it against the SHA-256 its schedule records carry, says so (a
#    note, the terminal) and finishes the session with every earlier trial
#    intact (resume_check.py); the rebuilt pixels are the recorded ones bit
#    for bit (repair_check.py, from the record before the damage);
#  - the rebuilt record damaged too: replay goes on, reports the repair,
#    records the image again, and fits the same model.bin and MEIs as the
#    replay of the undamaged record;
#  - the record rewritten as written before hashes, damaged so: resume
#    rebuilds the image (bit for bit) and says it could not verify it;
#  - the same protocol with images.source folder (PNG files written here),
#    killed, every file replaced before the resume: exit 1 naming image 0
#    (every patch differs, so the first is image 0), nothing shown, no rig
#    started; the files put back: the resume goes on.
# TAP output. Arguments: the inception executable, the tests folder.
inception=$1
tests=$2
py=/usr/bin/python3
. "$tests/tap.sh"
# Ports below the kernel's ephemeral range (32768 on), where an outgoing
# connection's source port may already hold one.
tap_ports
tap_protocol tiny "$work/tiny.yaml" $base
export SDL_VIDEODRIVER=dummy

run_and_kill() { # protocol, session folder: killed once 5 trials are recorded
    "$inception" run "$1" --out "$2" >"$work/run.out" 2>&1 &
    pid=$!
    waited=0
    while [ "$(tap_trials_in "$2/session.rec")" -lt 5 ] && [ $waited -lt 300 ] &&
        kill -0 $pid 2>/dev/null; do
        sleep 0.1
        waited=$((waited + 1))
    done
    kill -KILL $pid 2>/dev/null
    wait $pid 2>/dev/null
    # Its rig exits by itself (SIGTERM when its parent dies).
    tap_wait_rig "$2"
}

# --- A flipped byte in one natural stimulus record, then resume -------------
s="$work/session"
run_and_kill "$work/tiny.yaml" "$s"
cp "$s/session.rec" "$work/pristine.rec"
cp -r "$s" "$work/old" # for a record written before hashes, below
image=$($py "$tests/repair_check.py" shown "$work/pristine.rec")
check "the killed session recorded trials (the first shows image $image)" '[ -n "$image" ]'
$py "$tests/repair_check.py" flip "$s/session.rec" "$image" >"$work/flipped"
rc=$?
check "one byte flipped in the stimulus record of image $image (offset $(cat "$work/flipped")): it reads as damage" \
    '[ $rc = 0 ] && [ -s "$work/flipped" ]'
cp "$s/session.rec" "$work/killed.rec"
run resume "$s"
check "resume of the damaged record finishes (exit $(status))" '[ "$(status)" = 0 ]'
check "resume says it rebuilt image $image, verified" \
    'grep -q "repaired: 1 natural stimulus record lost to damage (image $image) made again from synthetic images, seed 3, 1 verified against the record" "$work/out" "$work/err"'
$py "$tests/resume_check.py" "$s" "$work/killed.rec" 60 5 2 2 1 1 >"$work/check" 2>&1
rc=$?
check "every trial before the kill intact, every image shown as planned: $(tail -1 "$work/check")" \
    '[ $rc = 0 ]'
$py "$tests/repair_check.py" repaired "$s/session.rec" "$work/pristine.rec" "$image" >"$work/check" 2>&1
rc=$?
check "$(tail -1 "$work/check")" '[ $rc = 0 ]'

# --- Replay: the rebuilt record damaged too ----------------------------------
run replay "$s" --out "$work/replay-intact" --no-report
check "replay of the resumed session (exit $(status))" '[ "$(status)" = 0 ]'
cp -r "$s" "$work/damaged"
$py "$tests/repair_check.py" flip "$work/damaged/session.rec" "$image" >/dev/null
rc=$?
check "the rebuilt stimulus record of image $image damaged too" '[ $rc = 0 ]'
run replay "$work/damaged" --out "$work/replay-damaged" --no-report
check "replay goes on (exit $(status))" '[ "$(status)" = 0 ]'
check "replay reports the repair" \
    'grep -q "^replay: repaired: 1 natural stimulus record lost to damage (image $image)" "$work/err"'
check "model.bin and meis.npy: byte for byte those of the undamaged record's replay" \
    'cmp -s "$work/replay-intact/model.bin" "$work/replay-damaged/model.bin" &&
     cmp -s "$work/replay-intact/meis.npy" "$work/replay-damaged/meis.npy"'
$py "$tests/repair_check.py" repaired "$work/replay-damaged/session.rec" "$work/pristine.rec" \
    "$image" >"$work/check" 2>&1
rc=$?
check "the replay's record: $(tail -1 "$work/check")" '[ $rc = 0 ]'

# --- A record written before hashes: rebuilt, not verified, said so ----------
o="$work/old"
$py "$tests/repair_check.py" strip "$o/session.rec" && cp "$o/session.rec" "$work/old-pristine.rec" &&
    $py "$tests/repair_check.py" flip "$o/session.rec" "$image" >/dev/null
rc=$?
check "the killed record without its hashes, image $image's stimulus record damaged" '[ $rc = 0 ]'
cp "$o/session.rec" "$work/old-killed.rec"
run resume "$o"
check "resume of it finishes (exit $(status))" '[ "$(status)" = 0 ]'
check "it says image $image was made again but not verified" \
    'grep -q "repaired: 1 natural stimulus record lost to damage (image $image) made again from synthetic images, seed 3, 0 verified against the record.s SHA-256; 1 not verified (image $image): the record holds no hash for it (written before stimulus hashes), those it holds for the other images match" "$work/out"'
$py "$tests/resume_check.py" "$o" "$work/old-killed.rec" 60 5 2 2 1 1 >"$work/check" 2>&1
rc=$?
check "every trial before the kill intact: $(tail -1 "$work/check")" '[ $rc = 0 ]'
check "the rebuilt image $image is the one recorded, bit for bit" \
    '$py - "$o/session.rec" "$work/old-pristine.rec" "$image" <<EOF
import sys; sys.path.insert(0, "$tests/../controller/record")
from record_reader import read_records
def px(path):
    return [r["fields"]["pixels"].tobytes() for r in read_records(path) if r["type"] == "stimulus"
            and r["fields"]["kind"] == "natural" and r["fields"]["stimulus_id"] == int(sys.argv[3])]
a, b = px(sys.argv[1]), px(sys.argv[2])
sys.exit(0 if len(a) == 1 and a == b else 1)
EOF'

# --- The image folder changed between the kill and the resume ----------------
mkdir "$work/photos" "$work/kept"
$py - "$work/photos" <<'EOF'
# Five 8-bit gray PNGs of 96×120 (stored zlib rows, filter 0): smooth
# gradients with a seeded pattern, well above photo_patches' blank limit.
import random, struct, sys, zlib
def png(path, pixels, w, h):
    def chunk(kind, data):
        c = kind + data
        return struct.pack(">I", len(data)) + c + struct.pack(">I", zlib.crc32(c))
    rows = b"".join(b"\0" + bytes(pixels[y * w:(y + 1) * w]) for y in range(h))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
rng = random.Random(4)
for k in range(5):
    w, h = 120, 96
    a, b = rng.uniform(0.5, 3), rng.uniform(0.5, 3)
    px = [int(127 + 120 * ((x * a + y * b) % 40 - 20) / 20 * (1 if (x // 12 + y // 9 + k) % 2 else -0.5)) & 255
          for y in range(h) for x in range(w)]
    png("%s/photo%d.png" % (sys.argv[1], k), px, w, h)
EOF
sed -e "s|source: synthetic|source: folder\n  path: $work/photos|" "$work/tiny.yaml" >"$work/folder.yaml"
f="$work/folder-session"
run_and_kill "$work/folder.yaml" "$f"
check "the folder session was killed with trials recorded" '[ "$(tap_trials_in "$f/session.rec")" -ge 5 ]'
cp "$work/photos/"*.png "$work/kept/"
# Every file replaced by another (mirrored): every patch differs.
$py - "$work/photos" <<'EOF'
import glob, struct, sys, zlib
for path in glob.glob(sys.argv[1] + "/*.png"):
    data = open(path, "rb").read()
    w, h = struct.unpack(">II", data[16:24])
    at, idat = 8, b""
    while at < len(data):
        n = struct.unpack(">I", data[at:at + 4])[0]
        if data[at + 4:at + 8] == b"IDAT":
            idat += data[at + 8:at + 8 + n]
        at += 12 + n
    raw = zlib.decompress(idat)
    rows = [raw[y * (w + 1) + 1:(y + 1) * (w + 1)] for y in range(h)]
    body = b"".join(b"\0" + bytes(255 - v for v in r[::-1]) for r in rows)
    def chunk(kind, d):
        c = kind + d
        return struct.pack(">I", len(d)) + c + struct.pack(">I", zlib.crc32(c))
    with open(path, "wb") as f:
        f.write(data[:33] + chunk(b"IDAT", zlib.compress(body)) + chunk(b"IEND", b""))
EOF
trials_before=$(tap_trials_in "$f/session.rec")
run resume "$f"
check "resume with the image folder changed: exit 1 ($(status))" '[ "$(status)" = 1 ]'
check "it names the first differing image, image 0: $(cat "$work/err")" \
    'grep -q "image 0 differs from the recorded one: made again from patches of the files in $work/photos, seed 3, its SHA-256 is" "$work/err"'
check "nothing was shown and no rig started" \
    '[ "$(tap_trials_in "$f/session.rec")" = "$trials_before" ] && [ ! -e "$f/rig_truth.1" ]'
cp "$work/kept/"*.png "$work/photos/"
run resume "$f"
check "the folder put back: the resume goes on (exit $(status))" '[ "$(status)" = 0 ]'
echo "1..$n"
[ $failed = 0 ]
