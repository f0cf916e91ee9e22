# tap.sh: the TAP helpers the shell tests share, sourced after they set
# $inception (the executable). Gives $work (a temporary folder removed at
# exit), check DESCRIPTION CONDITION (one TAP line; on failure the last
# command's output follows as comments), run ARGS... (runs $inception with
# stdout, stderr and the exit status kept in $work) and status.
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
