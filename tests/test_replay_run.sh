#!/bin/sh
# `inception replay` of a session that `inception run` recorded reproduces it:
# tests/protocols/short.yaml run against the virtual rig (offscreen), then
# replayed with the same settings: the final fit starts from the recorded
# start model (the background fit's), so model.bin is byte-identical, the MEI
# arrays equal the recorded ones, the test metrics and validation correlations
# equal, and the regenerated report has the same figures (every PNG byte for
# byte) and the same page apart from the record's header and notes. Then
# --fresh and changed settings: from scratch, said so, another model. TAP output.
# Arguments: the inception executable, the tests folder, controller/record/record_reader.py.
inception=$1
tests=$2
reader=$3
py=/usr/bin/python3
. "$(dirname "$0")/tap.sh"
tap_ports 26000 390
tap_protocol short "$work/short.yaml" $base

# The dummy driver: software rendering (see test_run.sh).
SDL_VIDEODRIVER=dummy "$inception" run "$work/short.yaml" --out "$work/session" \
    >"$work/run.out" 2>"$work/run.err"
run_status=$?
check "inception run finishes the short protocol" '[ $run_status = 0 ]' ||
    tr '\r' '\n' <"$work/run.err" | tail -5 | sed 's/^/# /'
check "run recorded the start model of its final fit" \
    '[ -f "$work/session/model_start.bin" ] && [ -f "$work/session/model.bin" ]'

run replay "$work/session" --out "$work/replay"
check "replay runs" '[ "$(status)" = 0 ]' || sed 's/^/# /' "$work/err"
check "replay says it starts from the recorded start model" \
    'grep -q "starts from the recorded background model" "$work/err"'
check "model.bin: byte for byte the run's" 'cmp -s "$work/session/model.bin" "$work/replay/model.bin"'

check "MEIs, test metrics, validation correlations and targets equal the run's" \
    '$py - "$reader" "$work/session" "$work/replay" <<EOF
import sys, os, numpy as np
sys.path.insert(0, os.path.dirname(sys.argv[1]))
from record_reader import read_records
run = list(read_records(sys.argv[2] + "/session.rec"))
rep = list(read_records(sys.argv[3] + "/session.rec"))
def of(recs, t, **kw):
    return [r["fields"] for r in recs if r["type"] == t and
            all(r["fields"].get(k) == v for k, v in kw.items())]
run_meis = sorted(of(run, "stimulus", kind="mei"), key=lambda s: s["neuron"])
rep_meis = sorted(of(rep, "stimulus", kind="mei"), key=lambda s: s["neuron"])
npy = np.load(sys.argv[3] + "/meis.npy")
ok = len(run_meis) == 3 and len(rep_meis) == 3 and npy.shape[0] == 3
for a, b in zip(run_meis, rep_meis):
    ok &= a["stimulus_id"] == b["stimulus_id"] and np.array_equal(a["pixels"], b["pixels"])
    ok &= a["predicted"] == b["predicted"]
ok &= sorted(map(bytes, (m.tobytes() for m in npy))) == sorted(a["pixels"].tobytes() for a in run_meis)
for kind in ("test_metrics", "validation_corr"):
    a, b = of(run, "evaluation", kind=kind), of(rep, "evaluation", kind=kind)
    ok &= len(a) == 1 and len(b) == 1
    for name, v in a[0].items():
        if isinstance(v, np.ndarray):
            ok &= np.array_equal(v, b[0][name], equal_nan=True)
a, b = of(run, "model_metrics", split="test"), of(rep, "model_metrics", split="test")
ok &= len(a) == 1 and len(b) == 1 and np.array_equal(a[0]["correlation"], b[0]["correlation"])
ok &= np.array_equal(a[0]["feve"], b[0]["feve"], equal_nan=True)
t = lambda recs: [n["targets"].tolist() for n in of(recs, "note", text="targets")]
ok &= len(t(run)) == 1 and t(run) == t(rep)
sys.exit(not ok)
EOF'

check "report: the same figure list" \
    '[ -n "$(ls "$work/session/report" | grep png)" ] && [ "$(ls "$work/session/report")" = "$(ls "$work/replay/report")" ]'
same_pngs=1
for f in "$work/session/report/"*.png; do
    cmp -s "$f" "$work/replay/report/$(basename "$f")" || { same_pngs=0; echo "# differs: $(basename "$f")"; }
done
check "report: every figure byte for byte the run's" '[ $same_pngs = 1 ]'
check "report: the same numbers (test correlations, ratios, statistics) on the page" \
    '$py - "$work/session/report/index.html" "$work/replay/report/index.html" <<EOF
import re, sys
def body(path):
    h = open(path).read()
    for pattern in (r"<pre>.*?</pre>", r"<p>Record: .*?</p>", r"<p>Phases: .*?</p>",
                    r"<title>.*?</title>"):
        h = re.sub(pattern, "", h, flags=re.S)
    return h
a, b = body(sys.argv[1]), body(sys.argv[2])
sys.exit(not (a == b and "median" in a))
EOF'

run replay "$work/session" --out "$work/fresh" --fresh --no-report
check "--fresh: from scratch, said so, another model" \
    '[ "$(status)" = 0 ] && grep -q "from scratch (--fresh)" "$work/err" && ! cmp -s "$work/session/model.bin" "$work/fresh/model.bin"'
run replay "$work/session" --out "$work/changed" --epochs 3 --no-report
check "changed fit settings: from scratch, said so" \
    '[ "$(status)" = 0 ] && grep -q "from scratch (fit settings changed)" "$work/err"'
run replay "$work/replay" --out "$work/again" --no-report
check "a replay of the replay: the same model again" \
    '[ "$(status)" = 0 ] && cmp -s "$work/session/model.bin" "$work/again/model.bin"'

# The run's record streamed again into `inception acquire` with the
# protocol's response window (short.yaml: 2 ms after the onset, 24 ms long)
# gives back every recorded trial's counts. At --speed 0.05 (the record's ~20
# s in ~1 s): at --speed 0 on a loaded machine acquire falls behind (about
# 15 of 376 trials flagged, the first 10 with other counts; likely the first
# onsets paired with sync edges by arrival time), as test_replay.sh found.
trials=$($py - "$reader" "$work/session" <<EOF
import sys, os
sys.path.insert(0, os.path.dirname(sys.argv[1]))
from record_reader import read_records
print(sum(r["type"] == "trial" for r in read_records(sys.argv[2] + "/session.rec")))
EOF
)
"$inception" acquire --data tcp://127.0.0.1:$((base + 2)) --onsets tcp://127.0.0.1:$((base + 3)) \
    --trials "$trials" --latency-ms 2 --window-ms 24 --hwm 1000000 --timeout 120 \
    --out "$work/acq" >"$work/acq.out" 2>&1 &
acq=$!
run replay "$work/session" --stream tcp://127.0.0.1:$((base + 2)) \
    --onsets tcp://127.0.0.1:$((base + 3)) --speed 0.05 --wait-ms 1500
wait $acq
acq_status=$?
check "the run's record streamed with --speed 0.05: $trials trials" \
    '[ "$(status)" = 0 ] && [ "$trials" -gt 300 ] && grep -q "streamed $trials trials" "$work/out"'
check "acquire received them all" '[ $acq_status = 0 ] && [ -f "$work/acq/responses.npy" ]' ||
    sed 's/^/# /' "$work/acq.out"
check "acquire's trials: every recorded trial, its image, its flags and its counts equal to the record's" \
    '$py "$tests/acquire_check.py" "$reader" "$work/session" "$work/acq" 12'

echo "1..$n"
[ $failed = 0 ]
