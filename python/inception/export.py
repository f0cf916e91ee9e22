"""Load an `inception export` folder (manifest.json and its NPY files) in one call.

    import inception.export
    ex = inception.export.load("exports/run1")
    ex.manifest["model"]["sha256"], ex.arrays["responses"].shape, ex.controls.keys()
    images = ex.images()          # the exported image set as the model saw it (NPY sources)

numpy only. Every file the manifest lists is loaded and checked against the shape and dtype
the manifest gives, so a folder that was changed or cut short is refused by name.
"""
import json
import os

import numpy as np

FORMAT = "inception export 1"
# Files of the controls (manifest "controls"), apart from the model's own outputs.
CONTROL_FILES = ("permutation", "gaussian", "responses_shuffled", "features_shuffled",
                 "similarity_shuffled", "similarity_gaussian")


class ExportError(ValueError):
    """A folder that is not a whole export; the message names the file."""


class Export:
    """An export folder: manifest (dict), arrays (name -> numpy array: responses,
    similarity, features, as exported), controls (name -> array: permutation, gaussian,
    the *_shuffled and *_gaussian files)."""

    def __init__(self, folder, manifest, arrays, controls):
        self.folder, self.manifest, self.arrays, self.controls = folder, manifest, arrays, controls

    def neuron_metric(self, key="test_correlation_to_average"):
        """A per-neuron metric of the manifest as float64 (NaN where null), or None when
        the export was made without --data."""
        values = self.manifest["neurons"].get(key)
        if values is None:
            return None
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)

    def images(self):
        """The exported images as luminance in [0, 1] (N x H x W float32, their original
        size; the model saw them cropped and resized as manifest["preprocessing"] says),
        for an NPY source; a folder or image-file source raises (load manifest["images"]["names"])."""
        info = self.manifest["images"]
        if info["kind"] != "npy":
            raise ExportError("%s: the images came from a %s: load the files "
                              "manifest['images']['names'] lists, in that order"
                              % (self.folder, info["kind"]))
        images = np.load(info["source"])
        x = images.astype(np.float32)
        if images.dtype == np.uint8:
            x /= 255.0
        if x.ndim == 2:  # an H x W array is one image
            x = x[None]
        if x.ndim == 4:  # Rec. 709 luminance weights, as the export combined them
            x = x @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
        if x.shape[0] != info["count"]:
            raise ExportError("%s: %d images, the manifest says %d"
                              % (info["source"], x.shape[0], info["count"]))
        return x


def load(folder, mmap=False):
    """Read an export folder's manifest and every array it lists (mmap: memory-map them)."""
    path = os.path.join(folder, "manifest.json")
    try:
        with open(path) as f:
            manifest = json.load(f)
    except (OSError, ValueError) as e:
        raise ExportError("%s: %s" % (path, e)) from e
    if manifest.get("format") != FORMAT:
        raise ExportError("%s: format %r, this reader reads %r"
                          % (path, manifest.get("format"), FORMAT))
    arrays, controls = {}, {}
    for name, info in manifest["files"].items():
        file_path = os.path.join(folder, name)
        try:
            a = np.load(file_path, mmap_mode="r" if mmap else None)
        except (OSError, ValueError) as e:
            raise ExportError("%s: %s" % (file_path, e)) from e
        if list(a.shape) != list(info["shape"]) or a.dtype != np.dtype(info["dtype"]):
            raise ExportError("%s: %s %s, the manifest says %s %s" % (
                file_path, a.dtype, list(a.shape), info["dtype"], info["shape"]))
        key = name[:-4] if name.endswith(".npy") else name
        (controls if key in CONTROL_FILES else arrays)[key] = a
    return Export(folder, manifest, arrays, controls)
