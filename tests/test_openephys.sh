#!/bin/sh
# `inception acquire --format openephys` against tests/acq_openephys_publisher.py,
# a publisher written from the Open Ephys ZMQ Interface plugin's source (JUCE's
# multi-line CRLF JSON, spikes under "spike", 10-byte TTL payloads, one
# message_num over all message types). acq_compare.py checks every trial's
# counts, unit by unit, against the publisher's truth, and that every trial it
# damaged is flagged. TAP output. Arguments: the inception executable, the
# tests folder.
inception=$1
tests=$2
py=/usr/bin/python3
. "$tests/tap.sh"
tap_ports 40000 2000

compare() { # name trials [acq_compare options]: one TAP line for the whole comparison
    name=$1 trials=$2
    shift 2
    $py "$tests/acq_compare.py" "$work/$name" "$work/$name-truth" "$trials" "$@" >"$work/cmp" 2>&1
    rc=$?
    cp "$work/cmp" "$work/out"
    check "$name: $(grep -c '^ok' "$work/cmp") comparisons hold ($(tail -1 "$work/cmp" | sed 's/^# //'))" \
        '[ $rc = 0 ]'
}

session() { # name trials port-offset "acquire options" publisher-options...
    name=$1 trials=$2 p=$((base + $3)) opts=$4
    shift 4
    "$inception" acquire --format openephys --data tcp://127.0.0.1:$p \
        --onsets tcp://127.0.0.1:$((p + 1)) --trials "$trials" --window-ms 200 --timeout 60 \
        --out "$work/$name" $opts >"$work/$name.out" 2>&1 &
    acq=$!
    sleep 0.3
    $py "$tests/acq_openephys_publisher.py" tcp://127.0.0.1:$p tcp://127.0.0.1:$((p + 1)) \
        "$trials" "$work/$name-truth" "$@"
    wait $acq
    echo $? >"$work/$name.status"
    sed 's/^/# /' "$work/$name.out" | grep -v "trials (.* flagged)$"
}

# A clean stream: exact counts, sorted units and each tetrode's unsorted
# spikes in their own columns, decoy TTL lines and falling edges ignored.
session clean 40 0 "--units 6 --electrodes 4 --sync-line 0"
compare clean 40
$py - "$work/clean/unit_map.json" >"$work/out" 2>&1 <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
cols = m["columns"]
assert m["units"] == 6 and m["electrodes"] == 4 and len(cols) == 10, m
for c in cols[:6]:  # the publisher's sorted unit u lives on Tetrode (u - 1) % 4 + 1
    assert c["sorted_id"] == c["column"] + 1 and c["electrode"] == "Tetrode %d" % (c["column"] % 4 + 1), c
for c in cols[6:]:
    assert c["sorted_id"] == 0 and c["electrode"] == "Tetrode %d" % (c["column"] - 5), c
print("unit map of 10 columns")
PY
check "unit_map.json: sorted ids 1-6 in columns 0-5, unsorted spikes per tetrode in 6-9" '[ $? = 0 ]'

# Lost, truncated, reordered and duplicated spike, TTL and data messages.
for seed in 1 2 3; do
    session faults$seed 80 $((2 * seed)) "--units 6 --electrodes 4 --sync-line 0" --faults $seed
    compare faults$seed 80 --faults
    cp "$work/faults$seed.out" "$work/out"
    check "faults$seed: acquire reports the rejected and lost messages" \
        'grep -q "3 rejected, [1-9][0-9]* lost, [1-9][0-9]* late, 3 duplicate" "$work/out"'
done

# A GUI stop and start, with the sample numbers reset and going on: only the
# trials straddling it are flagged, the clock fit starts again and the
# session goes on to the end.
for mode in reset continue; do
    session stop-$mode 40 $((10 + ${#mode})) "--units 6 --electrodes 4 --sync-line 0" --stop-start $mode
    compare stop-$mode 40 --faults --only-damaged
    cp "$work/stop-$mode.out" "$work/out"
    check "stop-$mode: acquire ends by itself and says the clock fit began anew" \
        '[ $(cat "$work/stop-$mode.status") = 0 ] && grep -q "clock restarted 1 times" "$work/out"'
done

# The stream's sample rate against --sample-rate: stop, naming both.
session rate 10 20 "--units 6 --sample-rate 25000"
cp "$work/rate.out" "$work/out"
check "a sample-rate mismatch stops acquire, naming both rates" \
    '[ $(cat "$work/rate.status") = 1 ] && grep -q "sample_rate 30000 Hz, but --sample-rate is 25000 Hz" "$work/out"'

# Sorted ids beyond --units and unsorted spikes left out: in no column, reported.
session beyond 20 22 "--units 6" --beyond 30 --no-electrodes
compare beyond 20
cp "$work/beyond.out" "$work/out"
check "sorted ids above --units are reported with the highest one" \
    'grep -q "[1-9][0-9]* spikes of sorted units beyond --units (highest sorted_id 9)" "$work/out"'
check "unsorted spikes left out (--electrodes 0) are reported" \
    'grep -q "unsorted spikes in no column: [1-9][0-9]* left out" "$work/out"'
echo "1..$n"
[ $failed = 0 ]
