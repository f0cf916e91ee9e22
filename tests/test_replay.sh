#!/bin/sh
# `inception import` and `inception replay` as a user meets them: a small
# simulated dataset imported as a session record; replayed twice with the same
# settings (model.bin and meis.npy identical byte for byte), once with another
# seed (they differ); the replay's record checked against the original
# (trials copied, checkpoint = model.bin, MEI records = meis.npy, the printed
# FEVE line = the record's test metrics) from Python;
# then the record's stream published to `inception acquire`, whose trial ×
# neuron matrix must equal the recorded counts. TAP output.
# Arguments: the inception executable, controller/record/record_reader.py.
inception=$1
reader=$2
py=/usr/bin/python3
. "$(dirname "$0")/tap.sh"
# Ports below the kernel's ephemeral range (32768 on), where an outgoing
# connection's source port may already hold one.
tap_ports

run replay --help
check "replay --help exits 0 with usage" '[ "$(status)" = 0 ] && grep -q "usage: inception replay" "$work/out"'
run import --help
check "import --help exits 0 with usage" '[ "$(status)" = 0 ] && grep -q "usage: inception import" "$work/out"'
run replay "$work/none" --speed 2
check "--speed without --stream: exit 2 naming it" '[ "$(status)" = 2 ] && grep -q "speed" "$work/err"'
run replay "$work/none" --epoch 2
check "unknown option: exit 2" '[ "$(status)" = 2 ] && grep -q "epoch" "$work/err"'
run replay "$work/none"
check "no record: exit 1 with a reason" '[ "$(status)" = 1 ] && grep -q "none" "$work/err"'
run import "$work/none" --out "$work/x"
check "import of a missing dataset: exit 1" '[ "$(status)" = 1 ]'

# The population of before conjunction cells (this check was tuned on it).
"$inception" simulate --out "$work/data" --neurons 16 --train 300 --test 8 --repeats 4 \
    --images synthetic --seed 5 --fraction-simple 0.4 --fraction-complex 0.4 \
    --fraction-conjunction 0 >/dev/null 2>&1
run import "$work/data" --out "$work/session"
check "import writes a record" '[ "$(status)" = 0 ] && [ -f "$work/session/session.rec" ] && grep -q "332 trials" "$work/out"'
run import "$work/data" --out "$work/session"
check "import into a folder holding a record: exit 1" '[ "$(status)" = 1 ] && grep -q "holds a session record" "$work/err"'

settings="--epochs 2 --channels 4 --mei-steps 25 --starts 2 --targets 3 --threads 2"
run replay "$work/session" --out "$work/r1" $settings
check "replay runs and writes model, MEIs, record and report" \
    '[ "$(status)" = 0 ] && [ -f "$work/r1/model.bin" ] && [ -f "$work/r1/meis.npy" ] && [ -f "$work/r1/report/index.html" ]'
check "replay says FEVE and trials/s" 'grep -q "FEVE" "$work/out" && grep -q "trials/s" "$work/out"'
cp "$work/out" "$work/r1.out"
run replay "$work/session" --out "$work/r2" $settings
check "second replay runs" '[ "$(status)" = 0 ]'
check "same record, settings and seed: model.bin identical" 'cmp -s "$work/r1/model.bin" "$work/r2/model.bin"'
check "same record, settings and seed: meis.npy identical" 'cmp -s "$work/r1/meis.npy" "$work/r2/meis.npy"'
check "same targets" 'cmp -s "$work/r1/targets.txt" "$work/r2/targets.txt"'
run replay "$work/session" --out "$work/r3" $settings --seed 9 --no-report
check "another seed: another model" '[ "$(status)" = 0 ] && ! cmp -s "$work/r1/model.bin" "$work/r3/model.bin"'

# The FEVE line replay printed is run's: the count, mean, median and neurons
# below -1 of the FEVEs that count (FEV >= 0.15), recomputed here from the
# record's test_metrics (printed to 3 decimals: 0.0005, plus float32's rounding).
check "the replay's record: original trials and schedule copied, checkpoint = model.bin, MEIs = meis.npy, test metrics; the FEVE line printed (count, mean, median, neurons below -1) from them" \
    '$py - "$reader" "$work/session" "$work/r1" "$work/r1.out" <<EOF
import re, sys, os, numpy as np
sys.path.insert(0, os.path.dirname(sys.argv[1]))
from record_reader import read_records
orig = list(read_records(sys.argv[2] + "/session.rec"))
rep = list(read_records(sys.argv[3] + "/session.rec"))
def of(recs, t): return [r["fields"] for r in recs if r["type"] == t]
ok = len(of(orig, "trial")) == 332 and len(of(rep, "trial")) == 332
ok &= all(a["trial"] == b["trial"] and np.array_equal(a["counts"], b["counts"])
          for a, b in zip(of(orig, "trial"), of(rep, "trial")))
ok &= len(of(rep, "schedule")) == 332 and len(of(rep, "session_start")) == 1
ck = of(rep, "checkpoint")
ok &= len(ck) == 1 and ck[0]["model"] == open(sys.argv[3] + "/model.bin", "rb").read()
meis = np.load(sys.argv[3] + "/meis.npy")
st = [s for s in of(rep, "stimulus") if s["kind"] == "mei"]
ok &= meis.shape == (3, 36, 64) and len(st) == 3
ok &= all(np.array_equal(s["pixels"], m) for s, m in zip(st, meis))
targets = [int(l.split()[0]) for l in open(sys.argv[3] + "/targets.txt")]
ok &= [int(s["neuron"]) for s in st] == targets
mm = [m for m in of(rep, "model_metrics") if m["split"] == "test"]
ok &= len(mm) == 1 and mm[0]["correlation"].shape == (16,) and np.isfinite(mm[0]["correlation"]).all()
tm = [e for e in of(rep, "evaluation") if e["kind"] == "test_metrics"]
feve, fev = tm[-1]["feve"].astype(float), tm[-1]["fev"].astype(float)
kept = feve[(fev >= np.float32(0.15)) & np.isfinite(feve)]
out = open(sys.argv[4]).read()
m = re.search(r"^model test FEVE (\S+) \(correlation to average \S+; the mean over (\d+) neurons "
              r"with FEV >= 0.15, median (\S+)\)$", out, re.M)
below = re.search(r"^  (\d+) of them below -1", out, re.M)
n_below = int((kept < -1).sum())
ok &= (m is not None and len(kept) > 0 and int(m.group(2)) == len(kept) and
       abs(float(m.group(1)) - kept.mean()) <= 0.0005 + 1e-6 and
       abs(float(m.group(3)) - np.median(kept)) <= 0.0005 + 1e-6 and
       (int(below.group(1)) == n_below if below else n_below == 0))
print("# printed %s; the record: %d kept, mean %.4f, median %.4f, %d below -1"
      % (m.group(0) if m else "no FEVE line", len(kept), kept.mean() if len(kept) else np.nan,
         np.median(kept) if len(kept) else np.nan, n_below))
sys.exit(not ok)
EOF'

# A replay of the replay keeps its targets (the MEI records) and rebuilds the same data.
run replay "$work/r1" --out "$work/r1r" --epochs 2 --channels 4 --mei-steps 25 --starts 2 --no-report
check "replaying a replay synthesizes for its recorded targets" \
    '[ "$(status)" = 0 ] && [ "$(cut -d" " -f1 "$work/r1r/targets.txt")" = "$(cut -d" " -f1 "$work/r1/targets.txt")" ] && grep -q "332 natural trials" "$work/err"'

# The stream, to inception acquire over loopback TCP.
"$inception" simulate --out "$work/small" --neurons 12 --train 40 --test 5 --repeats 3 \
    --images synthetic --seed 6 >/dev/null 2>&1
"$inception" import "$work/small" --out "$work/small-session" >/dev/null 2>&1
"$inception" acquire --data tcp://127.0.0.1:$base --onsets tcp://127.0.0.1:$((base + 1)) \
    --trials 55 --latency-ms 50 --window-ms 500 --hwm 200000 --timeout 120 \
    --out "$work/acq" >"$work/acq.out" 2>&1 &
acq=$!
run replay "$work/small-session" --stream tcp://127.0.0.1:$base \
    --onsets tcp://127.0.0.1:$((base + 1)) --speed 0.05 --latency-ms 50 --window-ms 500 \
    --wait-ms 1500
wait $acq
acq_status=$?
check "stream replay publishes 55 trials" '[ "$(status)" = 0 ] && grep -q "streamed 55 trials" "$work/out"'
check "acquire received them" '[ $acq_status = 0 ] && [ -f "$work/acq/responses.npy" ]' || sed 's/^/# /' "$work/acq.out"
check "acquire's trials: ids, flags (none), counts equal to the record's" \
    '$py "$(dirname "$0")/acquire_check.py" "$reader" "$work/small-session" "$work/acq" 12'

echo "1..$n"
[ $failed = 0 ]
