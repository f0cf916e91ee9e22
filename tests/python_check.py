#!/usr/bin/env python3
"""The inception Python package (python/) against the C executable; TAP output.

    python_check.py INCEPTION TESTS_DIR

Everything is checked against what C wrote or computed, never against the package itself:
- inception.record: the listing of every record (all 13 types, from a real `inception run`
  of tests/protocols/short.yaml, and an import) equals `inception record-dump`'s byte for
  byte; the trial table and stimuli equal the record's; the training arrays of an import
  equal the dataset it imported;
- inception.model: a model of the reference architecture (3 layers, 32 channels, 9/7/7,
  batch norm, Gaussian readout; and the factorized, no-batch-norm and LNP variants) loaded
  as a torch Module predicts what `inception export` predicts, and saves back to the same
  bytes; damaged files are refused;
- inception.export: an export with controls loads in one call and is refused when changed;
- fit elsewhere: a model fitted in PyTorch from a recorded session's arrays, saved as
  model.bin, is read by `inception export`, `evaluate` and `mei` (which synthesizes MEIs
  with it).
"""
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
import inception  # noqa: E402
import inception.export  # noqa: E402
import inception.model as im  # noqa: E402
import inception.record as rec  # noqa: E402

exe, tests = sys.argv[1], sys.argv[2]
work = tempfile.mkdtemp(prefix="python_check.")
count = failed = 0


def check(cond, what):
    global count, failed
    count += 1
    print("%s %d - %s" % ("ok" if cond else "not ok", count, what), flush=True)
    if not cond:
        failed += 1


def run(*args, **kw):
    p = subprocess.run([exe] + [str(a) for a in args], capture_output=True, **kw)
    if p.returncode != 0:
        print("# inception %s: exit %d\n# %s" % (" ".join(map(str, args[:2])), p.returncode,
              p.stderr.decode(errors="replace").strip().replace("\n", "\n# ")))
    return p


def path(*names):
    return os.path.join(work, *names)


def dump_matches(session):
    """The package's listing equals record-dump's, byte for byte."""
    c = run("record-dump", session).stdout
    py = ("\n".join(rec.dump(session)) + "\n").encode("latin-1")
    if c != py:
        for a, b in zip(c.split(b"\n"), py.split(b"\n")):
            if a != b:
                print("# record-dump: %r\n# package:     %r" % (a[:150], b[:150]))
                break
    return c == py and len(c) > 0


# ---------------------------------------------------------------------------------------
# The stimulus kinds: the package's tuple is C's one table (stimulus/stimulus_base.h): each
# kind's value there indexes its name there.
with open(os.path.join(HERE, "..", "stimulus", "stimulus_base.h")) as f:
    header = f.read()
values = dict(re.findall(r"^\s*STIMULUS_KIND_([A-Z_]+) = (\d+),", header, re.M))
names = dict(re.findall(r'^#define STIMULUS_KIND_NAME_([A-Z_]+) "([a-z_]+)"', header, re.M))
check(len(values) == len(names) == len(rec.STIMULUS_KINDS) and
      all(rec.STIMULUS_KINDS[int(values[k])] == names[k] for k in names),
      "inception.record.STIMULUS_KINDS is stimulus_base.h's table (%d kinds)" % len(names))

# ---------------------------------------------------------------------------------------
# An import: the training arrays are the dataset imported.
run("simulate", "--out", path("data"), "--neurons", 20, "--train", 200, "--test", 10,
    "--repeats", 2, "--seed", 3, "--images", "synthetic")
run("import", path("data"), "--out", path("imported"))
check(dump_matches(path("imported")), "record listing of an import equals record-dump's")
data = rec.open(path("imported")).dataset()
names = np.array(rec.TIERS)[np.load(path("data", "tiers.npy"))]
check(np.array_equal(data["images"], np.load(path("data", "images.npy")))
      and np.array_equal(data["responses"], np.load(path("data", "responses.npy")))
      and np.array_equal(data["tiers"], names)
      and np.array_equal(data["image_ids"], np.load(path("data", "image_ids.npy"))),
      "Session.dataset() of an import is the imported dataset, bit for bit")

# ---------------------------------------------------------------------------------------
# Models: the reference architecture and the variants, against the C model's predictions.
import torch  # noqa: E402

torch.set_num_threads(2)
variants = {
    "reference": [],
    "factorized-nobn": ["--readout", "factorized", "--no-batch-norm", "--layers", 2,
                        "--channels", 8, "--kernels", "5,3"],
    "random-core": ["--model", "random-core", "--layers", 2, "--channels", 8],
    "lnp": ["--model", "lnp"],
    # divisive normalization (model-file version 3): torch's pool is grouped conv2d
    # written from docs/model-file.md, not model/divnorm.c's loops
    "normalized": ["--layers", 2, "--channels", 8, "--kernels", "5,3", "--normalization", 2.5],
}
images = np.load(path("data", "images.npy"))[::7].astype(np.float32)  # 36 x 64, the model's
np.save(path("images.npy"), images)
for name, extra in variants.items():
    model_path = path(name + ".bin")
    run("fit", "--data", path("data"), "--out", model_path, "--epochs", 2, "--seed", 3,
        "--threads", 2, *extra)
    run("export", "--model", model_path, "--images", path("images.npy"), "--out",
        path("export-" + name), "--what", "responses")
    want = np.load(path("export-" + name, "responses.npy")).astype(np.float64)
    net = im.load(model_path)
    with torch.no_grad():
        got = net.double()(torch.from_numpy(images).double()).numpy()
    # The C model computes in float32 (FFT convolutions, float sums): its rates carry
    # relative errors of a few 1e-7 (measured up to 6e-7); torch in float64 is exact by
    # comparison, so 1e-5 relative bounds the C path's rounding with a margin.
    rel = np.max(np.abs(got - want) / np.abs(want))
    check(got.shape == want.shape and rel < 1e-5,
          "%s model as a torch Module predicts the C model's rates (max relative "
          "difference %.2g)" % (name, rel))
    out = path(name + ".roundtrip.bin")
    im.save(im.load(model_path), out)
    check(open(out, "rb").read() == open(model_path, "rb").read(),
          "%s model saved from torch is byte-identical to the file read" % name)

reference = open(path("reference.bin"), "rb").read()
refused = []
for what, damaged in (("flipped byte", reference[:500] + bytes([reference[500] ^ 1])
                       + reference[501:]),
                      ("truncated", reference[:-10]), ("not a model", b"hello")):
    try:
        im.read_bytes(damaged, what)
    except im.ModelFileError as e:
        refused.append(str(e))
check(len(refused) == 3 and "checksum" in refused[0],
      "damaged model files refused with a reason: %s" % "; ".join(refused))

# ---------------------------------------------------------------------------------------
# Exports: one call loads the manifest, arrays and controls.
run("export", "--model", path("reference.bin"), "--images", path("images.npy"), "--out",
    path("export-all"), "--what", "responses,similarity,features", "--pool", 0,
    "--controls", "shuffled,gaussian", "--data", path("data"))
ex = inception.export.load(path("export-all"))
check(sorted(ex.arrays) == ["features", "responses", "similarity"]
      and sorted(ex.controls) == sorted(["permutation", "gaussian", "responses_shuffled",
                                         "features_shuffled", "similarity_shuffled",
                                         "similarity_gaussian"])
      and np.array_equal(ex.arrays["responses"][ex.controls["permutation"]],
                         ex.controls["responses_shuffled"])
      and np.array_equal(ex.images(), images)
      and ex.neuron_metric().shape == (20,),
      "export loads in one call: arrays, controls, images, per-neuron metrics")
np.save(path("export-all", "similarity.npy"), np.zeros((3, 3), np.float32))
try:
    inception.export.load(path("export-all"))
    refused = ""
except inception.export.ExportError as e:
    refused = str(e)
check("similarity.npy" in refused, "a changed export file is refused by name: " + refused)

# ---------------------------------------------------------------------------------------
# A real session: every record type, the trial table, and fitting elsewhere.
base = 32000 + (os.getpid() % 1500) * 4
protocol = open(os.path.join(tests, "protocols", "short.yaml")).read()
protocol = protocol.replace("tcp://127.0.0.1:5746", "tcp://127.0.0.1:%d" % base)
protocol = protocol.replace("tcp://127.0.0.1:5747", "tcp://127.0.0.1:%d" % (base + 1))
with open(path("short.yaml"), "w") as f:
    f.write(protocol)
env = dict(os.environ, SDL_VIDEODRIVER="dummy")
status = run("run", path("short.yaml"), "--out", path("session"), env=env).returncode
check(status == 0, "inception run of the short protocol for a session record")
session = rec.open(path("session"))
types = {r["type"] for r in session.records()}
# `spikes` and `trial_flags` records come from Open Ephys streams only (a spike too late
# for its bin; tests/test_run_external.sh reads them and compares their listing with
# record-dump's); this session's stream is native.
check(types == set(rec.TYPES[1:]) - {"spikes", "trial_flags"}, "the session holds every "
      "record type but spikes and trial_flags (%d of %d)" % (len(types), len(rec.TYPES) - 1))
check(dump_matches(path("session")), "record listing of a run equals record-dump's, "
      "every record type")
table, trial_records = session.trials(), session.records("trial")
first = {}
for r in trial_records:
    first.setdefault(r["fields"]["trial"], r["fields"])
sched = {r["fields"]["trial"]: r["fields"] for r in session.records("schedule")}
check(len(table["trial"]) == len(first) and all(
    np.array_equal(table["counts"][k], first[t]["counts"])
    and table["image_id"][k] == first[t]["image_id"]
    and table["onset_ns"][k] == first[t]["onset_ns"]
    and table["flags"][k] == first[t].get("flags", 0)
    and table["kind"][k] == sched[t]["kind"] and table["block"][k] == sched[t]["block"]
    and table["target_neuron"][k] == sched[t]["target_neuron"]
    for k, t in enumerate(table["trial"])), "trial table: %d rows equal their trial and "
      "schedule records" % len(table["trial"]))
stim = session.stimuli()
kinds = set(stim["kind"])
check({"natural", "mei", "best_natural", "gabor", "rf"} <= kinds
      and stim["pixels"].shape == (len(stim["stimulus_id"]), 18, 32),
      "stimuli: %d images of kinds %s" % (len(stim["stimulus_id"]), sorted(kinds)))

# Fit elsewhere: the session's arrays, a model fitted in PyTorch, back here as model.bin.
arrays = session.save_dataset(path("session-data"))
train = arrays["tiers"] == "train"
x = torch.from_numpy(arrays["images"][train])
y = torch.from_numpy(arrays["responses"][train])
torch.manual_seed(1)  # the fit below is the same on every run
net = im.new({"height": 18, "width": 32, "neurons": y.shape[1], "layers": 2, "channels": 4,
              "kernel": [7, 5]}, input_mean=float(x.mean()), input_std=float(x.std()))
with torch.no_grad():
    for conv in net.core:
        torch.nn.init.kaiming_normal_(conv.weight)
    net.readout_mu.uniform_(-0.5, 0.5)
    net.readout_weight.normal_(0, 0.25)
opt = torch.optim.Adam(net.parameters(), lr=0.01)
losses = []
net.train()
for epoch in range(6):
    order = torch.randperm(len(x))
    for start in range(0, len(x), 32):
        b = order[start:start + 32]
        rate = net(x[b])
        loss = (rate - y[b] * torch.log(rate + 1e-8)).mean()  # Poisson, as the C fit's
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
net.eval()
im.save(net, path("torch.bin"))
check(np.mean(losses[-5:]) < np.mean(losses[:5]),
      "PyTorch fit on the session's arrays: Poisson loss %.3f -> %.3f"
      % (np.mean(losses[:5]), np.mean(losses[-5:])))
test_images = arrays["images"][arrays["tiers"] == "test"]
np.save(path("test-images.npy"), test_images)
run("export", "--model", path("torch.bin"), "--images", path("test-images.npy"), "--out",
    path("export-torch"), "--what", "responses")
with torch.no_grad():
    got = net.double()(torch.from_numpy(test_images).double()).numpy()
net.float()
want = np.load(path("export-torch", "responses.npy"))
rel = np.max(np.abs(got - want) / np.abs(want))
check(rel < 1e-5, "the C model reads the torch model's model.bin and predicts its rates "
      "(max relative difference %.2g)" % rel)
check(run("evaluate", "--model", path("torch.bin"), "--data", path("session-data"))
      .returncode == 0, "inception evaluate takes the torch model on the session's arrays")
p = run("mei", "--model", path("torch.bin"), "--data", path("session-data"), "--neurons",
        "top 2", "--out", path("mei"), "--steps", 20)
stimuli = np.load(path("mei", "stimuli.npy")) if p.returncode == 0 else np.zeros(0)
check(p.returncode == 0 and stimuli.shape[1:] == (18, 32) and np.all(np.isfinite(stimuli)),
      "inception mei synthesizes MEIs and controls with the torch model: %s"
      % (stimuli.shape,))

# ... and a closed loop with it: `inception run` with model.file takes it for its synthesis.
assert "\nmodel:\n" in protocol
with open(path("short-torch.yaml"), "w") as f:
    f.write(protocol.replace("\nmodel:\n", "\nmodel:\n  file: %s\n" % path("torch.bin")))
status = run("run", path("short-torch.yaml"), "--out", path("session-torch"), env=env).returncode
closed = rec.open(path("session-torch"))
notes = [r["fields"]["text"] for r in closed.records("note")]
model_bytes = [r["fields"]["model"] for r in closed.records("checkpoint")
               if r["fields"]["file_name"] == "model.bin"]
meis = [r["fields"] for r in closed.records("stimulus") if r["fields"]["kind"] == "mei"]
with torch.no_grad():
    predicted = [float(net(torch.from_numpy(m["pixels"][None]))[0, m["neuron"]]) for m in meis]
# Both float32 predictions of the same weights (1e-5 relative, as above).
rel = max((abs(p - m["predicted"]) / m["predicted"] for p, m in zip(predicted, meis)),
          default=float("inf"))
trials = closed.trials()
check(status == 0 and any("the model is model.file" in t for t in notes)
      and model_bytes == [open(path("torch.bin"), "rb").read()] and len(meis) == 3
      and rel < 1e-5 and np.count_nonzero(trials["block"] == "closed_loop") > 0,
      "inception run with model.file: the torch model recorded as model.bin, %d MEIs whose "
      "predicted responses torch reproduces (max relative difference %.2g), %d closed-loop "
      "trials" % (len(meis), rel, np.count_nonzero(trials["block"] == "closed_loop")))

with open(path("short-wrong.yaml"), "w") as f:
    f.write(protocol.replace("\nmodel:\n", "\nmodel:\n  file: %s\n" % path("reference.bin")))
p = subprocess.run([exe, "check-protocol", path("short-wrong.yaml")], capture_output=True)
said = p.stderr.decode(errors="replace").strip()
check(p.returncode == 2 and "model.file" in said and "36×64" in said,
      "a model.file of other images is refused before anything starts: " + said)

# The README's five lines "From Python", on this session (its model.bin is the torch one).
readme = open(os.path.join(tests, "..", "README.md"), encoding="utf-8").read()
snippet = readme.split("## From Python", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
scope = {}
exec(snippet.replace("sessions/demo", path("session-torch")), scope)
check(len(snippet.strip().split("\n")) == 5 and scope["rates"].shape
      == (len(scope["stimuli"]["stimulus_id"]), 12),
      "README's From Python lines load a session and its model: rates %s"
      % (tuple(scope["rates"].shape),))

# ---------------------------------------------------------------------------------------
# Versions: `inception --version`, the package's, and what a session, an export and the
# MEIs record.
import re  # noqa: E402

version = run("--version").stdout.decode().strip()
m = re.fullmatch(r"inception (\d+\.\d+\.\d+) \((\S+)\)", version)
git = subprocess.run(["git", "-C", os.path.join(tests, ".."), "describe", "--always", "--dirty",
                      "--tags"], capture_output=True)
described = git.stdout.decode().strip() if git.returncode == 0 else (m and m.group(1))
check(m is not None and m.group(1) == inception.__version__
      and m.group(2).replace("-dirty", "") == described.replace("-dirty", ""),
      "inception --version %r: the package's version %s, git describe %s"
      % (version, inception.__version__, described))
recorded = [session.start().get("inception_version"),
            inception.export.load(path("export-torch")).manifest.get("inception_version"),
            __import__("json").load(open(path("mei", "manifest.json"))).get("inception_version")]
check(recorded == [version] * 3, "session_start, export and MEI manifests record the version: %s"
      % recorded)

# The model file (format version 2) records its writer: `inception fit` writes the build's
# version string, a model saved from torch this module's; a version-1 file (the same bytes
# without the writer field, as the C writer made them before version 2) reads with the
# writer "" and the same numbers, and is written back as version 2.
ref = im.read(path("reference.bin"))
torch_written = im.read(path("torch.bin"))["writer"]
check(ref["writer"] == version and torch_written == im.DEFAULT_WRITER,
      "model files record their writer: fit %r, torch %r" % (ref["writer"], torch_written))
import struct  # noqa: E402
import zlib  # noqa: E402
writer_len = struct.unpack_from("<I", reference, im.HEADER.size)[0]
v1 = bytearray(reference[:im.HEADER.size] + reference[im.HEADER.size + 4 + writer_len:-4])
struct.pack_into("<I", v1, 8, 1)
v1 = bytes(v1) + struct.pack("<I", zlib.crc32(bytes(v1)))
old = im.read_bytes(v1, "version-1 copy")
same = all(np.array_equal(old[g][k], ref[g][k]) for g in ("parameters", "buffers")
           for k in ref[g])
rewritten = im.to_bytes(old)
check(old["writer"] == "" and same and struct.unpack_from("<I", rewritten, 8)[0] == 2
      and rewritten == reference[:8] + struct.pack("<I", 2) + reference[12:im.HEADER.size]
      + struct.pack("<I", 0) + reference[im.HEADER.size + 4 + writer_len:-4]
      + rewritten[-4:],
      "a version-1 file reads (writer '', same numbers) and is written back as version 2")
with open(path("version1.bin"), "wb") as f:
    f.write(v1)
run("export", "--model", path("version1.bin"), "--images", path("images.npy"), "--out",
    path("export-version1"), "--what", "responses")
check(np.array_equal(np.load(path("export-version1", "responses.npy")),
                     np.load(path("export-reference", "responses.npy"))),
      "the C build reads the version-1 file and predicts what it does from version 2")

# ---------------------------------------------------------------------------------------
# Installed offline with pip (a copy: pip's build writes beside the sources), and used
# without torch: records, exports and model files need numpy alone.
subprocess.run(["cp", "-r", os.path.join(HERE, "..", "python"), path("python-src")])
p = subprocess.run([sys.executable, "-m", "pip", "install", "--no-build-isolation",
                    "--no-deps", "--no-index", "--no-cache-dir", "--target", path("site"), path("python-src")],
                   capture_output=True)
print("# " + (p.stdout + p.stderr).decode(errors="replace").strip().replace("\n", "\n# "))
probe = """
import sys
sys.modules["torch"] = None  # no torch: importing it raises ImportError
import inception, inception.record, inception.export, inception.model as im
assert inception.__file__.startswith(sys.argv[1]), inception.__file__
m = im.read(sys.argv[2])
n = len(inception.record.open(sys.argv[3]).trials()["trial"])
inception.export.load(sys.argv[4])
try:
    im.load(sys.argv[2])
    print("loaded without torch?")
except ImportError as e:
    print(m["config"]["kind"], n, "/", e)
"""
q = subprocess.run([sys.executable, "-c", probe, path("site"), path("reference.bin"),
                    path("session"), path("export-reference")], capture_output=True,
                   env=dict(os.environ, PYTHONPATH=path("site")))
out = (q.stdout + q.stderr).decode(errors="replace").strip()
check(p.returncode == 0 and q.returncode == 0 and out.startswith("cnn %d /" % len(table["trial"])),
      "pip install --no-build-isolation --no-index ./python works offline; the installed "
      "package reads records, exports and model files without torch: " + out)

print("# version %s, work folder %s" % (inception.__version__, work))
print("1..%d" % count)
if failed == 0:
    subprocess.run(["rm", "-rf", work])
sys.exit(1 if failed else 0)
