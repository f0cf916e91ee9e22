#!/bin/sh
# `inception export` on the reference workload: responses for 10,000 images
# of 36×64 through the reference model (random weights), in images/s; then
# the 20,000 × 20,000 similarity matrix (1.6 GB on disk) with the process's
# peak resident memory. Arguments (from meson): inception, bench_export_model.
# IMAGES and SIMILARITY_IMAGES may be set in the environment; WORK picks the
# scratch folder (default: a temporary one, removed afterwards).
set -u
inception=$1
make_model=$2
images=${IMAGES:-10000}
similarity_images=${SIMILARITY_IMAGES:-20000}
work=${WORK:-$(mktemp -d)}
[ -z "${WORK:-}" ] && trap 'rm -rf "$work"' EXIT
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), $(nproc) cores"
"$make_model" "$work/model.bin" || exit 1
/usr/bin/python3 -c "
import numpy as np, sys
rng = np.random.default_rng(0)
for n, name in (($images, 'a'), ($similarity_images, 'b')):
    np.save('$work/images_%s.npy' % name, rng.random((n, 36, 64), dtype=np.float32))
" || exit 1
echo
echo "== responses: $images images of 36x64, 1,000 neurons, 2 threads =="
/usr/bin/time -f "peak RSS %M KiB, %e s wall" "$inception" export --model "$work/model.bin" \
    --images "$work/images_a.npy" --out "$work/responses" --what responses 2>&1 | tail -3
echo
echo "== similarity: $similarity_images images (responses computed first) =="
/usr/bin/time -f "peak RSS %M KiB, %e s wall" "$inception" export --model "$work/model.bin" \
    --images "$work/images_b.npy" --out "$work/similarity" --what similarity 2>&1 | tail -4
ls -l "$work/similarity/similarity.npy"
