#!/bin/sh
# check-protocol and record-dump as a user meets them. TAP output.
# Arguments: the inception executable, the source root.
inception=$1
root=$2
. "$(dirname "$0")/tap.sh"

for cmd in check-protocol record-dump; do
    run $cmd --help
    check "$cmd --help exits 0 with usage" \
        '[ "$(status)" = 0 ] && grep -q "usage: inception $cmd" "$work/out"'
    run $cmd
    check "$cmd without an argument: exit 2" '[ "$(status)" = 2 ] && [ $(wc -l <"$work/err") = 1 ]'
done

run check-protocol "$root/protocols/demo.yaml"
check "demo.yaml: exit 0, every setting with its source" \
    '[ "$(status)" = 0 ] && [ $(grep -c "# file, line\|# default\|# timing\|# unused" "$work/out") -ge 60 ] &&
     grep -q "^timing.stimulus_frames  *8  *# file, line" "$work/out" &&
     grep -q "^endpoints.stream .*# default" "$work/out" &&
     grep -q "^virtual_rig.baseline_rate  *0  *# default" "$work/out" &&
     grep -q "^virtual_rig.baseline_share  *1  *# default" "$work/out"'
run check-protocol "$root/protocols/walker2019.yaml"
check "walker2019.yaml: 500 ms shown as 30 frames derived from the file" \
    '[ "$(status)" = 0 ] && grep -q "^timing.stimulus_frames  *30  *# timing.stimulus_ms 500 ms (file, line" "$work/out"'
run check-protocol "$work/absent.yaml"
check "a missing file: exit 2, named" '[ "$(status)" = 2 ] && grep -q "absent.yaml" "$work/err"'

bad=0
total=0
for f in "$root"/tests/protocols_bad/*.yaml; do
    total=$((total + 1))
    run check-protocol "$f"
    line=$(sed -n 's/^# expect-line: //p' "$f")
    expect=$(sed -n 's/^# expect: //p' "$f")
    if [ "$(status)" != 2 ] || [ $(wc -l <"$work/err") != 1 ] || [ -s "$work/out" ] ||
        ! grep -q "^$f:$line:[0-9]*: .*(hint: " "$work/err" ||
        ! grep -qF -- "$expect" "$work/err"; then
        bad=$((bad + 1))
        sed 's/^/# /' "$work/err"
    fi
done
check "each of the $total malformed protocols: exit 2, one line FILE:LINE:COL: ... (hint: ...)" \
    '[ $bad = 0 ] && [ $total -ge 20 ]'

run record-dump "$root/tests/fuzz/corpus/record/session.rec"
check "record-dump lists a clean record, exit 0" \
    '[ "$(status)" = 0 ] && grep -q "# 5 records, 0 damaged" "$work/out" &&
     grep -q "trial .*counts=f\[3\](1 2 3)" "$work/out"'
run record-dump "$root/tests/fuzz/corpus/record/corrupt_middle.rec"
check "record-dump shows damage where it is, exit 1" \
    '[ "$(status)" = 1 ] && grep -q "CORRUPT: offset 89" "$work/out"'

echo "1..$n"
[ $failed = 0 ]
