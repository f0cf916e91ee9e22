#!/bin/sh
# The reference-workload benchmark, side by side with its PyTorch twin and
# OpenBLAS sgemm's peak, in one run. Arguments (from meson): bench_model,
# sgemm_peak, torch_twin.py. THREADS and SECONDS may be set in the environment.
set -u
bench_model=$1
sgemm_peak=$2
torch_twin=$3
threads=${THREADS:-2}
seconds=${SECONDS_PER_MEASURE:-5}
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), $(nproc) cores"
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-unset}"
echo
echo "== OpenBLAS sgemm =="
"$sgemm_peak"
echo
echo "== inception (C) =="
ours=$("$bench_model" --threads "$threads" --seconds "$seconds" --json) || exit 1
echo "$ours"
echo
echo "== PyTorch twin =="
if /usr/bin/python3 -c "import torch" 2>/dev/null; then
    theirs=$(/usr/bin/python3 "$torch_twin" --threads "$threads" --seconds "$seconds" --json) || exit 1
    echo "$theirs"
else
    echo "python3-torch is not installed (apt-get install python3-torch): no comparison"
    theirs=""
fi
echo
/usr/bin/python3 - "$ours" "$theirs" <<'PY'
import json, sys
ours = json.loads(sys.argv[1])
theirs = json.loads(sys.argv[2].strip().splitlines()[-1]) if sys.argv[2].strip() else None
rows = [("training images/s", "train_images_per_s", 1.5),
        ("1-image gradient steps/s", "grad_steps_per_s_single", 3.0),
        ("64-image gradient steps/s", "grad_steps_per_s_batch64", None)]
print(f"{'':28}{'inception':>12}{'pytorch':>12}{'ratio':>8}{'target':>8}")
for label, key, target in rows:
    a = ours[key]
    b = theirs[key] if theirs else float("nan")
    ratio = a / b if theirs else float("nan")
    t = f">={target}x" if target else ""
    mark = "" if not theirs or not target else ("  met" if ratio >= target else "  MISSED")
    print(f"{label:28}{a:12.1f}{b:12.1f}{ratio:8.2f}{t:>8}{mark}")
# PyTorch's backward costs the same whatever the objective's weights; ours
# scatters only a one-neuron objective's receptive field (conv_sparse.c), so
# the step with every neuron weighted is quoted too, against the same figure.
if "grad_steps_per_s_single_all_neurons" in ours:
    a = ours["grad_steps_per_s_single_all_neurons"]
    b = theirs["grad_steps_per_s_single"] if theirs else float("nan")
    print(f"{'  same, all neurons weighted':28}{a:12.1f}{b:12.1f}{a / b if theirs else float('nan'):8.2f}")
print(f"fit on 5,000 images: {ours['fit_5000_peak_rss_mib']:.0f} MiB peak resident (target < 2048)")
PY
