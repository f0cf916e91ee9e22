#!/bin/sh
# The screenshot test on a real X server without a monitor: Xvfb (Debian's
# xvfb, through xvfb-run). Argument 1 is test_presenter_screen. Leak checking
# is off here only: Mesa's GL drivers, loaded by the X11 renderer, keep
# allocations LeakSanitizer reports; our own code is leak-checked by the
# dummy-driver tests.
if ! command -v xvfb-run >/dev/null; then
    echo "not ok 1 - xvfb-run not found (install xvfb: sh .ci/install-deps --test)"
    echo "1..1"
    exit 1
fi
export SDL_VIDEODRIVER=x11
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
exec xvfb-run -a -s "-screen 0 1024x768x24" "$1"
