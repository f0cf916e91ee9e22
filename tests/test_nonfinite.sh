#!/bin/sh
# Non-finite values (issue 14, item 5): model files with a valid checksum whose
# batch-norm running statistics or input standardization are NaN, negative or
# near zero are refused by the loader, naming the buffer; a model that loads
# but whose every prediction overflows to NaN (an extreme input mean) makes
# mei, evaluate and export exit 1 with a message, never write "nan" into a
# manifest, and never read out of bounds (this test also runs in the
# ASan+UBSan build); an export image set with one NaN pixel is refused naming
# the image. The files are crafted here from the format in model/model_file.c's
# header comment, their checksum by Python's zlib.crc32 (not our CRC code).
# TAP; argument 1 is the executable.
inception=$1
tap_context_lines=30
. "$(dirname "$0")/tap.sh"

run simulate --out "$work/data" --neurons 6 --train 200 --test 10 --repeats 2 --seed 7 \
    --images synthetic
check "simulate" '[ "$(status)" = 0 ]'
run fit --data "$work/data" --out "$work/model.bin" --layers 2 --channels 4 --kernels 7,5 \
    --epochs 1
check "a small model with batch norm" '[ "$(status)" = 0 ] && [ -f "$work/model.bin" ]'

# craft NAME FIELD LAYER VALUE: a copy of model.bin with one number changed and
# the checksum recomputed. FIELD: var or mean (the running statistics of layer
# LAYER, channel 0), input_mean or input_std.
craft() {
    /usr/bin/python3 - "$work/model.bin" "$work/$1" "$2" "$3" "$4" <<'PY'
import struct, sys, zlib
src, dst, field, layer, value = sys.argv[1:6]
b = bytearray(open(src, "rb").read())
version = struct.unpack_from("<I", b, 8)[0]
assert b[:8] == b"INCMODEL" and version in (1, 2)
MAX_LAYERS = 8
fields = struct.unpack_from("<%dI" % (6 + MAX_LAYERS + 3), b, 12)
channels, layers, batch_norm = fields[5], fields[4], fields[6 + MAX_LAYERS]
assert batch_norm == 1 and layers == 2
off = 12 + 4 * len(fields) + 4 * 2 + 8          # init_sigma, init_mu_range, seed
mean_at, std_at = off, off + 4
n_params, n_buffers = struct.unpack_from("<QQ", b, off + 8)
assert n_buffers == 2 * channels * layers
values = off + 8 + 16                            # version 2: u32 writer length, the writer
if version == 2:
    values += 4 + struct.unpack_from("<I", b, values)[0]
buffers = values + 4 * n_params                  # per layer: running mean, running variance
assert len(b) == buffers + 4 * n_buffers + 4
at = {"input_mean": mean_at, "input_std": std_at,
      "mean": buffers + 4 * (2 * channels * (int(layer) - 1)),
      "var": buffers + 4 * (2 * channels * (int(layer) - 1) + channels)}[field]
struct.pack_into("<f", b, at, float(value))
struct.pack_into("<I", b, len(b) - 4, zlib.crc32(bytes(b[:-4])) & 0xFFFFFFFF)
open(dst, "wb").write(b)
PY
}

# no_nan FILE: the file, where it exists, is strict JSON: Python's parser
# refuses C's "nan" and "inf" and, asked to, JavaScript's NaN and Infinity.
no_nan() {
    [ ! -f "$1" ] || /usr/bin/python3 -c "
import json, sys
def refuse(word): raise ValueError(word)
json.load(open(sys.argv[1]), parse_constant=refuse)" "$1"
}

craft nan_var.bin var 2 nan
craft neg_var.bin var 1 -1
craft inf_mean.bin mean 1 inf
craft tiny_std.bin input_std 0 1e-30
craft nan_input.bin input_mean 0 nan
craft overflow.bin input_mean 0 3e38
check "crafted files" '[ -f "$work/nan_var.bin" ] && [ -f "$work/overflow.bin" ]'

for cmd in evaluate mei export; do
    case $cmd in
    evaluate) args="--data $work/data" ;;
    mei) args="--data $work/data --neurons 0,1 --steps 5 --out $work/mei_out" ;;
    export) args="--images $work/data/images.npy --out $work/export_out --controls gaussian" ;;
    esac
    run $cmd --model "$work/nan_var.bin" $args
    check "$cmd: NaN running variance refused naming the buffer" \
        '[ "$(status)" = 1 ] && grep -q "running variance.*(layer 2, channel 0: nan)" "$work/err"'
    run $cmd --model "$work/neg_var.bin" $args
    check "$cmd: negative running variance refused" \
        '[ "$(status)" = 1 ] && grep -q "running variance.*layer 1, channel 0: -1" "$work/err"'
    run $cmd --model "$work/inf_mean.bin" $args
    check "$cmd: infinite running mean refused" \
        '[ "$(status)" = 1 ] && grep -q "running mean (layer 1, channel 0: inf)" "$work/err"'
    run $cmd --model "$work/tiny_std.bin" $args
    check "$cmd: input std 1e-30 refused" \
        '[ "$(status)" = 1 ] && grep -q "invalid input standardization" "$work/err"'
    run $cmd --model "$work/nan_input.bin" $args
    check "$cmd: NaN input mean refused" \
        '[ "$(status)" = 1 ] && grep -q "invalid input standardization (mean nan" "$work/err"'
    rm -rf "$work/mei_out" "$work/export_out"
    run $cmd --model "$work/overflow.bin" $args
    check "$cmd: a model whose predictions overflow to NaN: exit 1 with a message" \
        '[ "$(status)" = 1 ] && grep -qiE "non-finite|not finite" "$work/err"'
    check "$cmd: no nan written to a manifest" \
        'no_nan "$work/mei_out/manifest.json" && no_nan "$work/export_out/manifest.json"'
done

# The same model file with the original numbers still loads and runs.
run evaluate --model "$work/model.bin" --data "$work/data"
check "the untouched model evaluates" '[ "$(status)" = 0 ]'
version=$("$inception" --version)
check "evaluate names the model file's writer, the build that fitted it ($version)" \
    'grep -qxF "$work/model.bin: written by $version" "$work/out"'

# An export image set with one NaN pixel, float32 and float64, grayscale and RGB.
/usr/bin/python3 - "$work" <<'PY'
import sys, numpy as np
w = sys.argv[1]
a = np.full((5, 12, 20), 0.5, np.float32)
a[3, 7, 11] = np.nan
np.save(w + "/nan32.npy", a)
b = np.full((4, 12, 20, 3), 0.5, np.float64)
b[2, 1, 9, 2] = np.inf
np.save(w + "/inf64rgb.npy", b)
np.save(w + "/clean.npy", np.full((5, 12, 20), 0.5, np.float32))
PY
run export --model "$work/model.bin" --images "$work/nan32.npy" --out "$work/e1" --controls gaussian
check "export: a NaN pixel refused naming image, row and column" \
    '[ "$(status)" = 1 ] && grep -q "nan32.npy: image 3, row 7, column 11 is nan" "$work/err" && no_nan "$work/e1/manifest.json"'
run export --model "$work/model.bin" --images "$work/inf64rgb.npy" --out "$work/e2"
check "export: an infinite RGB value refused naming its channel" \
    '[ "$(status)" = 1 ] && grep -q "inf64rgb.npy: image 2, row 1, column 9, channel 2 is inf" "$work/err"'
run export --model "$work/model.bin" --images "$work/clean.npy" --out "$work/e3" --controls gaussian
check "export: the same set without the bad pixel exports, finite throughout" \
    '[ "$(status)" = 0 ] && no_nan "$work/e3/manifest.json" && /usr/bin/python3 -c "
import sys, numpy as np
sys.exit(not all(np.isfinite(np.load(sys.argv[1] + f)).all() for f in (\"/responses.npy\", \"/similarity.npy\", \"/gaussian.npy\")))" "$work/e3"'

# A protocol's NPY image file with one NaN pixel: refused naming it when the
# images are made, before any of them is shown (no flip in the record). The
# dummy video driver, as in test_run.sh: offscreen's OpenGL driver allocations
# would read as leaks under LeakSanitizer.
/usr/bin/python3 - "$work" <<'PY'
import sys, numpy as np
a = np.full((80, 18, 32), 0.5, np.float32)
a[4, 2, 3] = np.nan
np.save(sys.argv[1] + "/run_images.npy", a)
PY
sed -e 's/^  source: synthetic$/  source: npy\n  path: '"$(printf %s "$work" | sed 's/[\/&]/\\&/g')"'\/run_images.npy/' \
    "$2/protocols/tiny.yaml" > "$work/nan_run.yaml"
export SDL_VIDEODRIVER=dummy
run run "$work/nan_run.yaml" --out "$work/nan_session"
flips=$(/usr/bin/python3 -c "
import sys; sys.path.insert(0, sys.argv[1] + '/../controller/record')
from record_reader import read_records
print(sum(r['type'] == 'flip' for r in read_records(sys.argv[2])))" "$2" "$work/nan_session/session.rec" 2>&1)
check "run: a NaN pixel in the protocol's NPY images refused naming image, row and column, nothing shown ($flips flips)" \
    '[ "$(status)" = 1 ] && grep -q "run_images.npy: image 4, row 2, column 3 is nan" "$work/err" && [ "$flips" = 0 ]'

echo "1..$n"
[ "$failed" = 0 ]
