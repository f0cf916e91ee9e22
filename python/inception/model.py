"""Model files (`model.bin`, docs/model-file.md) in Python: read and write them with numpy,
and as a torch.nn.Module of the same architecture.

    import inception.model as im
    net = im.load("sessions/demo/model.bin")     # torch.nn.Module, in evaluation mode
    rates = net(images)                          # images: B x H x W luminance in [0, 1]
    im.save(net, "model.bin")                    # back to the file format, bit for bit

read()/write() need numpy only: a dict of the header's fields and the parameter arrays by
name, in the file's order. load()/save()/from_file() need torch.
"""
import builtins
import struct
import zlib
from collections import OrderedDict

import numpy as np

from . import __version__

MAGIC = b"INCMODEL"
FILE_VERSION = 2          # written; version 1 (no writer field) is read too
FILE_VERSION_NORMALIZED = 3  # written for a model with a normalization stage (its pool)
MAX_NORMALIZATION_POOL = 16.0  # MODEL_MAX_NORMALIZATION_POOL, model/model.h
DIVNORM_EPS = 1e-3        # model/layers.h
WRITER_MAX = 256          # MODEL_WRITER_MAX, model/model.h
# The writer this module records when a model carries none of its own.
DEFAULT_WRITER = "inception.model %s (Python)" % __version__
MAX_LAYERS = 8
KINDS = {0: "cnn", 1: "random-core", 2: "lnp"}
READOUTS = {0: "gaussian", 1: "factorized"}
FEATURES = {0: "pixels", 1: "gabor"}
BATCHNORM_EPS = 1e-5      # model/layers.h
BATCHNORM_MOMENTUM = 0.1  # model/network.c
# magic, version, 6 + MAX_LAYERS + 3 u32, 2 f32, u64, 2 f32, 2 u64
HEADER = struct.Struct("<8sI%dIffQffQQ" % (6 + MAX_LAYERS + 3))


class ModelFileError(ValueError):
    """A file that is not a valid inception model file; the message says why."""


def config_sizes(config):
    """The parameter arrays and buffer arrays of a configuration, in the file's order:
    two lists of (name, shape) (docs/model-file.md, "Parameters")."""
    N, H, W = config["neurons"], config["height"], config["width"]
    if config["kind"] == "lnp":
        D = H * W if config["features"] == "pixels" else None
        if D is None:
            raise ModelFileError("LNP models with Gabor features are not supported in Python "
                                 "(the Gabor bank is built in model/dense.c)")
        return ([("readout.weight", (N, D)), ("readout.bias", (N,))],
                [("features.mean", (D,)), ("features.scale", (D,))])
    C = config["channels"]
    params, buffers = [], []
    for layer in range(config["layers"]):
        k, cin = config["kernel"][layer], 1 if layer == 0 else C
        params += [("core.%d.weight" % layer, (C, cin, k, k)), ("core.%d.bias" % layer, (C,))]
        if config["batch_norm"]:
            params += [("core.%d.gamma" % layer, (C,)), ("core.%d.beta" % layer, (C,))]
            buffers += [("core.%d.running_mean" % layer, (C,)),
                        ("core.%d.running_var" % layer, (C,))]
    if config.get("normalization_pool", 0.0) > 0.0:
        params += [("norm.weight", (C, C)), ("norm.const", (C,))]
    if config["readout"] == "gaussian":
        params += [("readout.mu", (N, 2)), ("readout.sigma", (N,))]
    else:
        params += [("readout.mask", (N, H, W))]
    params += [("readout.weight", (N, C)), ("readout.bias", (N,))]
    return params, buffers


def _count(shapes):
    return sum(int(np.prod(s)) for _, s in shapes)


def _validate(config):
    """The checks of model_config_validate (model/network.c), as ModelFileError."""
    if not (1 <= config["height"] <= 1024 and 1 <= config["width"] <= 1024):
        raise ModelFileError("image size %d x %d outside 1..1024" % (config["height"],
                                                                  config["width"]))
    if not 1 <= config["neurons"] <= 1000000:
        raise ModelFileError("neuron count %d outside 1..1000000" % config["neurons"])
    if config["kind"] == "lnp":
        return
    if not 1 <= config["layers"] <= MAX_LAYERS:
        raise ModelFileError("layer count %d outside 1..%d" % (config["layers"], MAX_LAYERS))
    if not 1 <= config["channels"] <= 512:
        raise ModelFileError("channel count %d outside 1..512" % config["channels"])
    for layer in range(config["layers"]):
        k = config["kernel"][layer]
        if not (1 <= k <= 31 and k % 2 == 1):
            raise ModelFileError("layer %d kernel %d must be odd, 1..31" % (layer + 1, k))
    if config["batch_norm"] not in (0, 1):
        raise ModelFileError("batch_norm must be 0 or 1")
    pool = config.get("normalization_pool", 0.0)
    if not 0.0 <= pool <= MAX_NORMALIZATION_POOL:
        raise ModelFileError("normalization pool %g px outside 0..%g"
                             % (pool, MAX_NORMALIZATION_POOL))


def read_bytes(data, name="model file"):
    """Parse a model file's bytes: {"config": dict, "input_mean", "input_std", "writer"
    (the program that wrote the file, e.g. "inception 0.1.0 (v0.1.0-12-gabc)"; "" for a
    version-1 file), "parameters": OrderedDict name -> float32 array, "buffers": likewise}."""
    if len(data) < 8 or data[:8] != MAGIC:
        raise ModelFileError("%s: not an inception model file (bad magic)" % name)
    if len(data) < HEADER.size + 4:
        raise ModelFileError("%s: truncated model file (%d bytes, header needs %d)"
                             % (name, len(data), HEADER.size + 4))
    h = HEADER.unpack_from(data, 0)
    if h[1] not in (1, FILE_VERSION, FILE_VERSION_NORMALIZED):
        raise ModelFileError("%s: model file version %d; this reader reads versions 1 to %d"
                             % (name, h[1], FILE_VERSION_NORMALIZED))
    if zlib.crc32(data[:-4]) != struct.unpack_from("<I", data, len(data) - 4)[0]:
        raise ModelFileError("%s: model file is corrupt or truncated (checksum mismatch)" % name)
    u = h[2:2 + 6 + MAX_LAYERS + 3]
    init_sigma, init_mu_range, seed, input_mean, input_std, n_params, n_buffers = \
        h[2 + len(u):]
    try:
        config = {"kind": KINDS[u[0]], "height": u[1], "width": u[2], "neurons": u[3],
                  "layers": u[4], "channels": u[5], "kernel": list(u[6:6 + MAX_LAYERS]),
                  "batch_norm": u[6 + MAX_LAYERS],
                  "readout": READOUTS[u[7 + MAX_LAYERS]],
                  "features": FEATURES[u[8 + MAX_LAYERS]],
                  "init_sigma": init_sigma, "init_mu_range": init_mu_range, "seed": seed}
    except KeyError as e:
        raise ModelFileError("%s: unknown kind, readout or features code %s" % (name, e))
    # Version 2: u32 length, then the writer's bytes, between header and parameters;
    # version 3 the same, then the normalization pool (f32).
    writer, values_at = "", HEADER.size
    if h[1] != 1:
        if len(data) < HEADER.size + 4 + 4:
            raise ModelFileError("%s: truncated model file (%d bytes, header needs %d)"
                                 % (name, len(data), HEADER.size + 4 + 4))
        n = struct.unpack_from("<I", data, HEADER.size)[0]
        if n > WRITER_MAX or n > len(data) - (HEADER.size + 4 + 4):
            raise ModelFileError("%s: model file's writer length %d out of range (at most %d "
                                 "bytes, within the file)" % (name, n, WRITER_MAX))
        raw = bytes(data[HEADER.size + 4:HEADER.size + 4 + n])
        if b"\0" in raw:
            raise ModelFileError("%s: model file's writer text holds a NUL byte" % name)
        # surrogateescape: bytes that are not UTF-8 survive a round trip unchanged.
        writer = raw.decode("utf-8", "surrogateescape")
        values_at = HEADER.size + 4 + n
    config["normalization_pool"] = 0.0
    if h[1] == FILE_VERSION_NORMALIZED:
        if len(data) < values_at + 4 + 4:
            raise ModelFileError("%s: truncated model file (%d bytes, header needs %d)"
                                 % (name, len(data), values_at + 4 + 4))
        config["normalization_pool"] = struct.unpack_from("<f", data, values_at)[0]
        values_at += 4
        if not config["normalization_pool"] > 0.0:
            raise ModelFileError("%s: model file version 3 with a normalization pool of %g px "
                                 "(must be above 0)" % (name, config["normalization_pool"]))
    _validate(config)
    if not (np.isfinite(input_mean) and np.isfinite(input_std) and input_std > 0):
        raise ModelFileError("%s: model file has invalid input standardization" % name)
    pshapes, bshapes = config_sizes(config)
    want_p, want_b = _count(pshapes), _count(bshapes)
    if (n_params, n_buffers) != (want_p, want_b) or \
            len(data) != values_at + 4 * (want_p + want_b) + 4:
        raise ModelFileError("%s: model file size does not match its configuration (%d "
                             "parameters, expected %d)" % (name, n_params, want_p))
    values = np.frombuffer(data, "<f4", want_p + want_b, values_at)
    if not np.all(np.isfinite(values[:want_p])):
        raise ModelFileError("%s: model file holds a non-finite parameter (#%d)"
                             % (name, int(np.flatnonzero(~np.isfinite(values[:want_p]))[0])))
    out = {"config": config, "input_mean": input_mean, "input_std": input_std,
           "writer": writer, "parameters": OrderedDict(), "buffers": OrderedDict()}
    at = 0
    for group, shapes in (("parameters", pshapes), ("buffers", bshapes)):
        for key, shape in shapes:
            n = int(np.prod(shape))
            out[group][key] = values[at:at + n].reshape(shape).astype(np.float32)
            at += n
    return out


def read(path):
    """Read a model file with numpy alone (see read_bytes)."""
    with builtins.open(path, "rb") as f:
        return read_bytes(f.read(), str(path))


def to_bytes(model):
    """A model dict (as read() returns) as the file's bytes (format version 2; 3 with a
    normalization stage). Its
    "writer" is kept, so read() then to_bytes() gives the same bytes; a dict without one
    (or with None) records DEFAULT_WRITER."""
    c = model["config"]
    writer = model.get("writer")
    raw = (DEFAULT_WRITER if writer is None else writer).encode("utf-8", "surrogateescape")
    if len(raw) > WRITER_MAX or b"\0" in raw:
        raise ModelFileError("writer text must be at most %d bytes without NUL (%d given)"
                             % (WRITER_MAX, len(raw)))
    pshapes, bshapes = config_sizes(c)
    code = {v: k for k, v in KINDS.items()}[c["kind"]]
    readout = {v: k for k, v in READOUTS.items()}[c["readout"]]
    features = {v: k for k, v in FEATURES.items()}[c["features"]]
    kernel = list(c["kernel"]) + [0] * (MAX_LAYERS - len(c["kernel"]))
    pool = float(c.get("normalization_pool", 0.0))
    header = HEADER.pack(MAGIC, FILE_VERSION_NORMALIZED if pool > 0.0 else FILE_VERSION, code, c["height"], c["width"], c["neurons"],
                         c["layers"], c["channels"], *kernel[:MAX_LAYERS], c["batch_norm"],
                         readout, features, c["init_sigma"], c["init_mu_range"], c["seed"],
                         model["input_mean"], model["input_std"], _count(pshapes),
                         _count(bshapes))
    parts = [header, struct.pack("<I", len(raw)), raw]
    if pool > 0.0:
        parts.append(struct.pack("<f", pool))
    for group, shapes in (("parameters", pshapes), ("buffers", bshapes)):
        for key, shape in shapes:
            a = np.asarray(model[group][key], dtype="<f4")
            if a.shape != tuple(shape):
                raise ModelFileError("%s has shape %s, the configuration wants %s"
                                     % (key, a.shape, tuple(shape)))
            if group == "parameters" and not np.all(np.isfinite(a)):
                raise ModelFileError("%s holds a non-finite value" % key)
            parts.append(a.tobytes())
    body = b"".join(parts)
    return body + struct.pack("<I", zlib.crc32(body))


def write(model, path):
    """Write a model dict to path (through a temporary name, as model_save does)."""
    import os
    data = to_bytes(model)
    tmp = str(path) + ".tmp"
    with builtins.open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------
# torch

def _torch():
    try:
        import torch
    except ImportError as e:  # torch is optional for the package, required here
        raise ImportError("inception.model's Module needs PyTorch (python3-torch or "
                          "pip install torch)") from e
    return torch


def _module_class():
    torch = _torch()
    nn, F = torch.nn, torch.nn.functional

    class InceptionModel(nn.Module):
        """The inception model (model/network.c) in PyTorch, same parameters and results.

        CNN: per layer a same-padded convolution, batch norm (optional), ELU; with a
        normalization pool, divisive normalization of the last maps; then per
        neuron a readout (Gaussian: the last map sampled bilinearly at one position in
        [-1, 1]^2, align-corners; factorized: a full spatial mask) and ELU + 1. LNP: the
        standardized pixels -> dense -> exp. The input is standardized by the stored
        training-pixel mean and standard deviation. forward() takes B x H x W (or
        B x 1 x H x W) luminance in [0, 1] and returns B x neurons rates. In training mode
        the Gaussian readout samples positions mu + |sigma| eps, clamped to [-1, 1], and
        batch norm uses batch statistics (momentum 0.1, eps 1e-5), as the C fit does."""

        def __init__(self, config, input_mean=0.0, input_std=1.0):
            super().__init__()
            # The file's writer: kept from load() so save() writes the same bytes; None
            # (a new model) records DEFAULT_WRITER.
            self.writer = None
            self.config = dict(config, kernel=list(config["kernel"]))
            c = self.config
            pshapes, bshapes = config_sizes(c)
            self.register_buffer("input_mean", torch.tensor(float(input_mean)))
            self.register_buffer("input_std", torch.tensor(float(input_std)))
            if c["kind"] == "lnp":
                N, D = pshapes[0][1]
                self.readout_weight = nn.Parameter(torch.zeros(N, D))
                self.readout_bias = nn.Parameter(torch.zeros(N))
                self.register_buffer("feature_mean", torch.zeros(D))
                self.register_buffer("feature_scale", torch.ones(D))
                return
            C, N = c["channels"], c["neurons"]
            self.core = nn.ModuleList()
            self.norms = nn.ModuleList()
            for layer in range(c["layers"]):
                k = c["kernel"][layer]
                self.core.append(nn.Conv2d(1 if layer == 0 else C, C, k, padding=k // 2))
                if c["batch_norm"]:
                    self.norms.append(nn.BatchNorm2d(C, eps=BATCHNORM_EPS,
                                                     momentum=BATCHNORM_MOMENTUM))
            if c.get("normalization_pool", 0.0) > 0.0:
                self.norm_weight = nn.Parameter(torch.full((C, C), 0.1))
                self.norm_const = nn.Parameter(torch.ones(C))
                # the pool's 1-D taps (model/divnorm.c): exp(-k^2 / 2 sigma^2) over
                # |k| <= ceil(3 sigma), summing to 1
                sigma = float(c["normalization_pool"])
                r = int(np.ceil(np.float32(3.0) * np.float32(sigma)))
                k = np.arange(-r, r + 1, dtype=np.float64)
                g = np.exp(-0.5 * k * k / (sigma * sigma))
                self.register_buffer("norm_taps", torch.tensor((g / g.sum()).astype(np.float32)),
                                     persistent=False)
            if c["readout"] == "gaussian":
                self.readout_mu = nn.Parameter(torch.zeros(N, 2))
                self.readout_sigma = nn.Parameter(torch.full((N,), float(c["init_sigma"])))
            else:
                self.readout_mask = nn.Parameter(torch.zeros(N, c["height"], c["width"]))
            self.readout_weight = nn.Parameter(torch.zeros(N, C))
            self.readout_bias = nn.Parameter(torch.zeros(N))
            if c["kind"] == "random-core":  # the control's core stays as it was drawn
                for p in list(self.core.parameters()) + list(self.norms.parameters()):
                    p.requires_grad_(False)

        # The file's names (config_sizes) -> this module's tensors.
        def file_tensors(self):
            """OrderedDicts (parameters, buffers) of this module's tensors under the file's
            names, in the file's order."""
            c = self.config
            if c["kind"] == "lnp":
                return (OrderedDict([("readout.weight", self.readout_weight),
                                     ("readout.bias", self.readout_bias)]),
                        OrderedDict([("features.mean", self.feature_mean),
                                     ("features.scale", self.feature_scale)]))
            params, buffers = OrderedDict(), OrderedDict()
            for layer, conv in enumerate(self.core):
                params["core.%d.weight" % layer] = conv.weight
                params["core.%d.bias" % layer] = conv.bias
                if c["batch_norm"]:
                    bn = self.norms[layer]
                    params["core.%d.gamma" % layer] = bn.weight
                    params["core.%d.beta" % layer] = bn.bias
                    buffers["core.%d.running_mean" % layer] = bn.running_mean
                    buffers["core.%d.running_var" % layer] = bn.running_var
            if c.get("normalization_pool", 0.0) > 0.0:
                params["norm.weight"] = self.norm_weight
                params["norm.const"] = self.norm_const
            if c["readout"] == "gaussian":
                params["readout.mu"] = self.readout_mu
                params["readout.sigma"] = self.readout_sigma
            else:
                params["readout.mask"] = self.readout_mask
            params["readout.weight"] = self.readout_weight
            params["readout.bias"] = self.readout_bias
            return params, buffers

        def core_features(self, x):
            """The last core layer's maps (B x C x H x W) of standardized images,
            divisively normalized where the model has that stage."""
            for layer, conv in enumerate(self.core):
                x = conv(x)
                if self.config["batch_norm"]:
                    x = self.norms[layer](x)
                x = F.elu(x)
            if self.config.get("normalization_pool", 0.0) > 0.0:
                x = self.normalize(x)
            return x

        def normalize(self, e):
            """x / sqrt(a^2 + eps + sum_c' w[c, c']^2 (G * x[c']^2)): G the separable
            Gaussian pool, zero outside the map (docs/model-file.md)."""
            C, r = e.shape[1], self.norm_taps.shape[0] // 2
            g = self.norm_taps.to(e.dtype)
            q = e * e
            q = F.conv2d(q, g.view(1, 1, 1, -1).expand(C, 1, 1, 2 * r + 1), padding=(0, r),
                         groups=C)
            q = F.conv2d(q, g.view(1, 1, -1, 1).expand(C, 1, 2 * r + 1, 1), padding=(r, 0),
                         groups=C)
            d = (self.norm_const ** 2)[None, :, None, None] + DIVNORM_EPS + \
                torch.einsum("cd,bdhw->bchw", self.norm_weight ** 2, q)
            return e / torch.sqrt(d)

        def forward(self, images):
            x = images if images.dim() == 4 else images.unsqueeze(1)
            x = (x - self.input_mean) / self.input_std
            if self.config["kind"] == "lnp":
                f = (x.flatten(1) - self.feature_mean) * self.feature_scale
                return torch.exp(F.linear(f, self.readout_weight, self.readout_bias))
            maps = self.core_features(x)
            if self.config["readout"] == "gaussian":
                B, N = maps.shape[0], self.readout_mu.shape[0]
                pos = self.readout_mu.expand(B, N, 2)
                if self.training:
                    eps = torch.randn_like(pos)
                    pos = pos + self.readout_sigma.abs()[None, :, None] * eps
                pos = pos.clamp(-1.0, 1.0)
                # grid (B, N, 1, 2) with x along the width first: samples (B, C, N, 1).
                samples = F.grid_sample(maps, pos.unsqueeze(2), mode="bilinear",
                                        padding_mode="border", align_corners=True)
                pooled = samples.squeeze(3).transpose(1, 2)  # B x N x C
            else:
                pooled = torch.einsum("bchw,nhw->bnc", maps, self.readout_mask)
            linear = (pooled * self.readout_weight).sum(2) + self.readout_bias
            return F.elu(linear) + 1.0

    return InceptionModel


def from_dict(model):
    """A torch Module from a model dict (as read() returns)."""
    torch = _torch()
    net = _module_class()(model["config"], model["input_mean"], model["input_std"])
    net.writer = model.get("writer")
    params, buffers = net.file_tensors()
    with torch.no_grad():
        for group, tensors in (("parameters", params), ("buffers", buffers)):
            for key, t in tensors.items():
                t.copy_(torch.from_numpy(np.asarray(model[group][key], np.float32)))
    return net.eval()


def load(path):
    """model.bin as a torch.nn.Module in evaluation mode (see InceptionModel)."""
    return from_dict(read(path))


def new(config, input_mean=0.0, input_std=1.0):
    """A fresh torch Module of a configuration, to fit in PyTorch and save() as model.bin.
    config: kind ("cnn", "random-core", "lnp"), height, width, neurons, and for the CNN
    layers, channels, kernel (list), batch_norm (0/1), readout ("gaussian", "factorized");
    init_sigma, init_mu_range, seed and features take the C defaults when left out."""
    c = {"kind": "cnn", "layers": 3, "channels": 32, "kernel": [9, 7, 7], "batch_norm": 1,
         "readout": "gaussian", "features": "pixels", "init_sigma": 0.1,
         "init_mu_range": 0.5, "seed": 1}
    c.update(config)
    c["kernel"] = (list(c["kernel"]) + [c["kernel"][-1]] * MAX_LAYERS)[:MAX_LAYERS]
    _validate(c)
    return _module_class()(c, input_mean, input_std)


def to_dict(net):
    """A torch Module of this architecture as a model dict (as read() returns)."""
    params, buffers = net.file_tensors()
    return {"config": net.config, "input_mean": float(net.input_mean),
            "input_std": float(net.input_std), "writer": getattr(net, "writer", None),
            "parameters": OrderedDict((k, t.detach().cpu().float().numpy())
                                      for k, t in params.items()),
            "buffers": OrderedDict((k, t.detach().cpu().float().numpy())
                                   for k, t in buffers.items())}


def save(net, path):
    """Write a torch Module of this architecture as model.bin (docs/model-file.md)."""
    write(to_dict(net), path)
