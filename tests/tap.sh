# tap.sh: the TAP helpers the shell tests share, sourced after they set
# $inception (the executable). Gives $work (a temporary folder removed at
# exit), check DESCRIPTION CONDITION (one TAP line; on failure the last
# command's output follows as comments), run ARGS... (runs $inception with
# stdout, stderr and the exit status kept in $work) and status; for the tests
# that listen on TCP, tap_ports and tap_protocol (at the end).
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
n=0
failed=0
tap_context_lines=${tap_context_lines:-20}

check() { # description, then a shell condition that must hold
    n=$((n + 1))
    desc=$1
    shift
    if eval "$@"; then
        echo "ok $n - $desc"
    else
        echo "not ok $n - $desc"
        failed=$((failed + 1))
        sed 's/^/# /' "$work/out" "$work/err" 2>/dev/null | tail -"$tap_context_lines"
    fi
}

run() { "$inception" "$@" >"$work/out" 2>"$work/err"; echo $? >"$work/status"; }
status() { cat "$work/status"; }

# The tests that listen on TCP. tap_ports [FIRST [SPREAD]] sets $base, the
# first of the ten ports this test may use: FIRST + (pid % SPREAD) * 10
# (default 10000 + (pid % 2200) * 10: below the ephemeral range, and apart
# for tests that run at the same time).
tap_ports() { base=$((${1:-10000} + ($$ % ${2:-2200}) * 10)); }
# tap_protocol NAME OUT PORT [SED-ARGUMENTS...]: $tests/protocols/NAME.yaml
# written to OUT with its stream endpoint on PORT and its sync endpoint on
# PORT + 1 (both on loopback), then the further sed arguments applied.
tap_protocol() {
    tap_source=$tests/protocols/$1.yaml tap_out=$2 tap_port=$3
    shift 3
    sed -e "s|^\(  stream: \)tcp://127.0.0.1:[0-9]*|\1tcp://127.0.0.1:$tap_port|" \
        -e "s|^\(  sync: \)tcp://127.0.0.1:[0-9]*|\1tcp://127.0.0.1:$((tap_port + 1))|" \
        "$@" "$tap_source" >"$tap_out"
}
