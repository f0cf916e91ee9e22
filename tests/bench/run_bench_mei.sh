#!/bin/sh
# MEI synthesis speed beside its PyTorch twin. Arguments (from meson):
# bench_mei, mei_twin.py. NEURONS, STEPS and THREADS may be set in the
# environment (defaults 100, 1000, 2: the target is under 60 s), and OBJECTIVE
# (single, one-hot-mean or one-hot-softmax; default single).
set -u
bench_mei=$1
twin=$2
neurons=${NEURONS:-100}
steps=${STEPS:-1000}
threads=${THREADS:-2}
objective=${OBJECTIVE:-single}
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), $(nproc) cores," \
     "load $(cut -d' ' -f1 /proc/loadavg)"
echo "== inception (C) =="
OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive} \
    "$bench_mei" --neurons "$neurons" --steps "$steps" --threads "$threads" \
    --objective "$objective" || exit 1
echo "== PyTorch twin =="
if /usr/bin/python3 -c "import torch" 2>/dev/null; then
    /usr/bin/python3 "$twin" --neurons "$neurons" --steps "$steps" --threads "$threads" \
        --objective "$objective" || exit 1
else
    echo "python3-torch is not installed (apt-get install python3-torch): no comparison"
fi
