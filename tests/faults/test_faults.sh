#!/bin/sh
# The fault cases of issue 14, replayed in one run, one TAP line per case:
# two writers of one session (a resume of a live run, two resumes at once,
# a replay into a live folder), a session resumed from another working
# directory with relative image, gamma and NPY paths, protocols that
# check-protocol must refuse, and crafted inputs that must be refused fast.
# Arguments: the inception executable, the tests folder.
inception=$(cd "$(dirname "$1")" && pwd)/$(basename "$1") # used from other folders
tests=$(cd "$2" && pwd)
py=/usr/bin/python3
. "$tests/tap.sh"
export SDL_VIDEODRIVER=dummy
# Ports below the ephemeral range and apart from the other tests' (20000+).
tap_ports 10000 1000
port() { echo "tcp://127.0.0.1:$((base + $1))"; }
tap_protocol tiny "$work/tiny.yaml" $base

records() { # the record's type counts, and corrupt/torn stretches, as "type=N ..."
    $py -c "
import collections, sys; sys.path.insert(0, '$tests/../controller/record')
from record_reader import read_records
c = collections.Counter(r['type'] for r in read_records(sys.argv[1]))
print(' '.join('%s=%d' % kv for kv in sorted(c.items())))" "$1"
}
notes() { # how many notes of the record at $1 contain $2
    $py -c "
import sys; sys.path.insert(0, '$tests/../controller/record')
from record_reader import read_records
print(sum(r['type'] == 'note' and sys.argv[2] in r['fields']['text'] for r in read_records(sys.argv[1])))" "$1" "$2"
}
count_of() { # TYPE in the output of records
    echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | grep . || echo 0
}
wait_for_lock() { # until FILE names PID (its lock taken), at most 20 s
    k=0
    while [ "$(cat "$1" 2>/dev/null)" != "$2" ] && [ $k -lt 400 ]; do
        sleep 0.05
        k=$((k + 1))
    done
}
wait_for_trials() { # until the record at $1 holds a trial record, at most 30 s
    end=$(($(date +%s) + 30))
    until [ "$(date +%s)" -ge $end ] ||
        [ "$(count_of trial "$(records "$1/session.rec" 2>/dev/null)")" -gt 0 ]; do
        sleep 0.05
    done
}

# ---- 1: one writer per session ----
live="$work/live"
"$inception" run "$work/tiny.yaml" --out "$live" >"$work/live.out" 2>&1 &
runpid=$!
wait_for_trials "$live"
kill -0 $runpid 2>/dev/null && alive=live || alive="already ended: its output below"
run resume "$live"
[ "$alive" = live ] || cat "$work/live.out" >>"$work/err"
check "resume of a live run (pid $runpid, $alive): exit 1 naming its pid ($(cat "$work/err"))" \
    '[ "$alive" = live ] && [ $(status) = 1 ] && grep -q "process $runpid" "$work/err"'
wait $runpid
runrc=$?
cp "$work/live.out" "$work/out" # shown under a failure
got=$(records "$live/session.rec")
check "the live run finished intact beside it (exit $runrc; $got)" \
    '[ $runrc = 0 ] && [ $(count_of corrupt "$got") = 0 ] && [ $(count_of torn "$got") = 0 ] &&
     [ $(notes "$live/session.rec" resumed) = 0 ]'

killed="$work/killed"
"$inception" run "$work/tiny.yaml" --out "$killed" >/dev/null 2>&1 &
pid=$!
wait_for_trials "$killed"
kill -KILL $pid
wait $pid 2>/dev/null
"$inception" resume "$killed" >"$work/a.out" 2>"$work/a.err" &
apid=$!
wait_for_lock "$killed/session.lock" $apid
run resume "$killed"
check "two resumes at once: the second exits 1 naming the first's pid $apid ($(cat "$work/err"))" \
    '[ $(status) = 1 ] && grep -q "process $apid" "$work/err"'
run replay "$live" --out "$killed" --no-report
check "replay into a folder a resume is writing: exit 1 naming pid $apid" \
    '[ $(status) = 1 ] && grep -q "process $apid" "$work/err"'
wait $apid
arc=$?
got=$(records "$killed/session.rec")
restarts=$(notes "$killed/session.rec" "virtual rig restarted")
check "the first resume finished (exit $arc; $got), one rig restarted ($restarts)" \
    '[ $arc = 0 ] && [ $(count_of corrupt "$got") = 0 ] && [ $restarts = 1 ]'
e
# ---- 2: relative paths resolve against the protocol's folder ----
# A protocol folder with an image folder, a gamma table and an NPY file,
# all named relatively; each session started there, killed once it has
# trials, and resumed from another working directory.
proto="$work/proto"
mkdir -p "$proto/imgs" "$work/elsewhere"
proto=$(cd "$proto" && pwd -P) # as realpath(3) gives it
cp "$tests/fuzz/corpus/gamma/power_law.txt" "$proto/gamma.txt"
$py - "$proto" <<'PY'
import struct, sys, zlib
import numpy as np
d = sys.argv[1]
rng = np.random.default_rng(4)
def png(path, pixels):  # 8-bit grayscale, written from the PNG specification
    h, w = pixels.shape
    raw = b''.join(b'\0' + pixels[y].tobytes() for y in range(h))
    chunk = lambda t, b: struct.pack('>I', len(b)) + t + b + struct.pack('>I', zlib.crc32(t + b))
    open(path, 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 0, 0, 0, 0))
                           + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))
for k in range(3):
    png('%s/imgs/%d.png' % (d, k), rng.integers(0, 256, (240, 320), dtype=np.uint8))
np.save(d + '/images.npy', rng.random((80, 18, 32), dtype=np.float32))
PY
sed -e "s|source: synthetic|source: folder\n  path: imgs|" \
    -e "s|photodiode_px: 8|photodiode_px: 8\n  gamma_file: gamma.txt|" "$work/tiny.yaml" >"$proto/folder.yaml"
sed -e "s|source: synthetic|source: npy\n  path: images.npy|" "$work/tiny.yaml" >"$proto/npy.yaml"
start_field() { # a text field of the record's session_start
    $py -c "
import sys; sys.path.insert(0, '$tests/../controller/record')
from record_reader import read_records
print(next(read_records(sys.argv[1]))['fields'].get(sys.argv[2], ''))" "$1" "$2"
}
for kind in folder npy; do
    s="$work/rel-$kind"
    (cd "$proto" && exec "$inception" run "$kind.yaml" --out "$s") >"$work/rel.out" 2>&1 &
    pid=$!
    wait_for_trials "$s"
    kill -KILL $pid
    wait $pid 2>/dev/null
    images=$(start_field "$s/session.rec" images_path)
    gamma=$(start_field "$s/session.rec" gamma_file)
    (cd "$work/elsewhere" && exec "$inception" resume "$s") >"$work/out" 2>"$work/err"
    rc=$?
    if [ $kind = folder ]; then
        check "images.path imgs and gamma_file gamma.txt, resumed from another folder: exit $rc, resolved $images and $gamma" \
            '[ $rc = 0 ] && [ "$images" = "$proto/imgs" ] && [ "$gamma" = "$proto/gamma.txt" ]'
    else
        check "images.path images.npy, resumed from another folder: exit $rc, resolved $images" \
            '[ $rc = 0 ] && [ "$images" = "$proto/images.npy" ]'
    fi
    check "  its session_start records the protocol's folder ($(start_field "$s/session.rec" protocol_dir))" \
        '[ "$(start_field "$s/session.rec" protocol_dir)" = "$proto" ]'
done

# ---- 6: check-protocol refuses what run would fail on after recording ----
for case in validation_none validation_one stream_sync_one_port neurons_above_wire; do
    f="$tests/protocols_bad/$case.yaml"
    run check-protocol "$f"
    expect=$(sed -n 's/^# expect: //p' "$f")
    check "check-protocol $case.yaml: exit 2, '$expect' ($(cat "$work/err"))" \
        '[ $(status) = 2 ] && grep -qF -- "$expect" "$work/err"'
done

# ---- 7: crafted inputs refused fast, and the smaller cases ----
$py - "$work" <<'PY'
import struct, sys, zlib
d = sys.argv[1]
def record(rtype, seq, payload):
    head = struct.pack("<4sHHIQQ", b"IREC", 1, rtype, len(payload), seq, 1000 * seq)
    return head + payload + struct.pack("<I", zlib.crc32(head + payload))
out = bytearray(record(12, 1, b""))
size = len(out) + 512 * 1024  # a header every 12 bytes, each claiming the rest
while len(out) + 32 <= size:
    out += struct.pack("<4sHHI", b"IREC", 1, 12, size - len(out) - 32)
import os
os.makedirs(d + "/crafted", exist_ok=True)
open(d + "/crafted/session.rec", "wb").write(bytes(out + bytes(size - len(out))))
open(d + "/deep.yaml", "w").write("name: " + "[" * 100000 + "]" * 100000 + "\n")
PY
seconds() { # the wall time of a command, in seconds
    $py -c "
import subprocess, sys, time
t = time.monotonic(); subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print('%.2f' % (time.monotonic() - t))" "$@"
}
# Bounds far above the figures (0.05 s and 0.001 s unloaded; the quadratic
# code took 47 s and 28 s of CPU): only a return to quadratic time fails.
t=$(seconds "$inception" record-dump "$work/crafted")
run record-dump "$work/crafted"
check "record-dump of a 512 KB crafted tail: $t s (bound 5 s), the tail reported torn" \
    '[ $(echo "$t < 5" | bc) = 1 ] && grep -q "TORN: offset" "$work/out"'
t=$(seconds "$inception" check-protocol "$work/deep.yaml")
run check-protocol "$work/deep.yaml"
check "check-protocol of 100,000 nested brackets: $t s (bound 5 s), refused ($(cat "$work/err"))" \
    '[ $(echo "$t < 5" | bc) = 1 ] && [ $(status) = 2 ] && grep -q "nested deeper than 16" "$work/err"'

mkdir -p "$work/data"
$py - "$work/data" <<'PY'
import sys
import numpy as np
d = sys.argv[1]
rng = np.random.default_rng(2)
np.save(d + "/images.npy", rng.random((6, 2, 2), dtype=np.float32))
np.save(d + "/responses.npy", rng.random((6, 3), dtype=np.float32))
np.save(d + "/tiers.npy", np.array(["train", "train", "validation", "validation", "test", "bogus"]))
PY
run import "$work/data" --out "$work/imported"
check "import of tier 'bogus': exit 1 naming tiers.npy and the value ($(cat "$work/err" | tail -1))" \
    '[ $(status) = 1 ] && grep -q "tiers.npy: tier .bogus." "$work/err"'
$py -c "
import sys; import numpy as np
np.save(sys.argv[1] + '/tiers.npy', np.array(['train', 'train', 'validation', 'validation', 'test', 'test']))" "$work/data"
run import "$work/data" --out "$work/imported"
check "import of 2×2 images: exit 1, nothing written ($(tail -1 "$work/err"))" \
    '[ $(status) = 1 ] && grep -q "2×2 images" "$work/err" && [ ! -e "$work/imported" ]'

touch "$work/a-file"
run run "$work/tiny.yaml" --out "$work/a-file/session"
check "a session folder that cannot be made: the reason given ($(cat "$work/err"))" \
    '[ $(status) = 1 ] && grep -q "a-file/session: Not a directory" "$work/err"'

before=$(md5sum <"$live/session.rec")
run resume "$live"
check "resume of a finished session: exit 1, said so, its record unchanged ($(cat "$work/err"))" \
    '[ $(status) = 1 ] && grep -q "finished" "$work/err" && ! grep -q "0 trials" "$work/out" &&
     [ "$(md5sum <"$live/session.rec")" = "$before" ]'

# ---- 10: the alignment record maps onsets to the edges, as documented ----
# acquisition ns = acquisition_ref_ns + offset_ns + slope × (onset − display_ref_ns)
# (RECORD.md), with the recording block's record: each trial's onset mapped
# so must land on its rising sync edge (a sync record's sample_num) within
# the aligner's 5 ms match tolerance, and the worst within residual_max_ns
# (+1 µs of rounding): the pairs the fit was made from.
aligned=$($py - "$live/session.rec" "$tests/../controller/record" <<'PY'
import sys
sys.path.insert(0, sys.argv[2])
from record_reader import read_records
recs = list(read_records(sys.argv[1]))
a = next(r["fields"] for r in recs if r["type"] == "alignment")  # the recording block's
edges = sorted(r["fields"]["sample_num"] for r in recs if r["type"] == "sync" and r["fields"]["state"] == 1)
trials = [r["fields"] for r in recs if r["type"] == "trial" and not r["fields"].get("flags", 0)]
worst = 0
for t in trials[:a["points"]]:
    acq = a["acquisition_ref_ns"] + a["offset_ns"] + a["slope_ns_per_sample"] * (t["onset_ns"] - a["display_ref_ns"])
    worst = max(worst, min(abs(e - acq) for e in edges))
ok = trials and worst <= 5e6 and worst <= a["residual_max_ns"] + 1e3
print("%s %d trials, worst |edge - mapped onset| %.0f ns, residual_max_ns %.0f" % ("ok" if ok else "bad", min(len(trials), a["points"]), worst, a["residual_max_ns"]))
PY
)
check "alignment record: $aligned" '[ "${aligned%% *}" = ok ]'
echo "1..$n"
[ $failed = 0 ]
