#!/bin/sh
# The presenter benchmark at 1920×1080: under Xvfb when there is no display
# (an X11 window, Mesa's GL renderer), else on the display in use.
# Arguments: the bench_presenter executable, then its own (flips, Hz).
exe=$1
shift
if [ -z "${DISPLAY:-}" ] && command -v xvfb-run >/dev/null; then
    exec nice xvfb-run -a -s "-screen 0 1920x1080x24" "$exe" "$@"
fi
exec nice "$exe" "$@"
