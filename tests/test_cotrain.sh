#!/bin/sh
# The co-training example as a user runs it: a tiny simulated recording, a
# model fitted to it, a two-class image set (horizontal vs vertical gratings
# in noise, RGB uint8 of another size than the model's), its export with the
# neurons' test correlations, and tests/cotrain_example.py co-training a small
# PyTorch network on it. TAP; arguments: the inception executable and the
# example script.
inception=$1
example=$2
python=/usr/bin/python3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
n=0
failed=0

check() { # description, then the command that must succeed
    n=$((n + 1))
    desc=$1
    shift
    if "$@" >"$work/out" 2>&1; then
        echo "ok $n - $desc"
    else
        echo "not ok $n - $desc"
        failed=$((failed + 1))
    fi
    sed 's/^/# /' "$work/out" | grep -v '^# #' | tail -8
    grep '^#' "$work/out"
}

check "simulate a small recording" "$inception" simulate --out "$work/data" --neurons 24 \
    --train 600 --test 20 --repeats 4 --height 18 --width 32 --seed 2 --images synthetic
check "fit a small model" "$inception" fit --data "$work/data" --out "$work/model.bin" \
    --epochs 4 --layers 2 --channels 8 --kernels 5,3 --seed 2
check "make a two-class image set" "$python" -c "
import numpy as np
rng = np.random.default_rng(3)
n, h, w = 256, 27, 40
labels = rng.integers(0, 2, n)
yy, xx = np.mgrid[0:h, 0:w]
images = np.empty((n, h, w, 3), np.uint8)
for i in range(n):
    f, ph = rng.uniform(0.1, 0.25), rng.uniform(0, 2 * np.pi)
    axis = yy if labels[i] else xx
    g = 0.5 + 0.3 * np.sin(2 * np.pi * f * axis + ph) + rng.normal(0, 0.1, (h, w))
    images[i] = (np.clip(g, 0, 1)[..., None] * 255).astype(np.uint8)
np.save('$work/images.npy', images)
np.save('$work/labels.npy', labels)
"
check "export responses and similarity with test correlations" "$inception" export \
    --model "$work/model.bin" --images "$work/images.npy" --out "$work/export" \
    --what responses,similarity --data "$work/data"
check "co-train: shapes align and the neural loss falls" "$python" "$example" \
    "$work/export" --labels "$work/labels.npy" --steps 60 --ratio 1
echo "1..$n"
[ $failed = 0 ]
