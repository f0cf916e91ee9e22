#!/bin/sh
# Build and run every test twice: an optimized build, and one under
# AddressSanitizer + UndefinedBehaviorSanitizer; then the numerical tests
# (meson suite 'numerical') once more in the optimized build with OpenBLAS
# forced to its Haswell (AVX2) kernels: unset, OpenBLAS picks the CPU's own
# (AVX-512 ones on recent Xeons and EPYCs), whose sums round differently, and
# a check that holds for one set of kernels only must fail here, not on a
# user's machine. Ends with the line "N passed, N failed" counting every TAP
# check of the three runs.
set -u
cd "$(dirname "$0")/.."
status=0
for variant in release sanitize; do
    dir=build
    opts="--buildtype=release"
    if [ $variant = sanitize ]; then
        dir=build-sanitize
        opts="--buildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false"
    fi
    if [ ! -f $dir/build.ninja ]; then
        meson setup $dir $opts >/dev/null || { echo "meson setup $dir failed"; exit 1; }
    fi
    meson compile -C $dir >/dev/null || { meson compile -C $dir; echo "0 passed, 1 failed"; exit 1; }
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        meson test -C $dir --print-errorlogs --num-processes 2 || status=1
done
OPENBLAS_CORETYPE=Haswell meson test -C build --suite numerical --logbase testlog-haswell \
    --print-errorlogs --num-processes 2 || status=1
/usr/bin/python3 - build/meson-logs/testlog.json build-sanitize/meson-logs/testlog.json \
    build/meson-logs/testlog-haswell.json <<'PY'
import json, re, sys
passed = failed = 0
for path in sys.argv[1:]:
    try:
        lines = open(path).readlines()
    except OSError:  # a run that left no log failed
        print(f"{path}: missing", file=sys.stderr)
        failed += 1
        continue
    for line in lines:
        t = json.loads(line)
        out = t.get("stdout", "") or ""
        ok = len(re.findall(r"^ok \d+", out, re.M))
        bad = len(re.findall(r"^not ok \d+", out, re.M))
        # A crash or time-out without a "not ok" line still counts as a failure.
        if t["result"] not in ("OK", "EXPECTEDFAIL") and bad == 0:
            bad = 1
        passed += ok
        failed += bad
print(f"{passed} passed, {failed} failed")
PY
exit $status
