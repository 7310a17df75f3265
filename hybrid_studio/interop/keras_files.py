"""Reading Keras files as data: ``.keras`` (a zip of config.json and model.weights.h5), legacy ``.h5`` (HDF5 with
a ``model_config`` attribute and ``model_weights``) and the JSON of ``model.to_json()``.

Keras itself is never imported: the config is parsed with ``json`` and the weights are read with h5py as plain
arrays, so nothing in the file can run (no pickle, no Lambda bytecode).
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

from .result import ImportFailure

#: Subgroups of a layer in a ``.keras`` weights file, in the order Keras lists the layer's weights.
_CHILD_ORDER = ("forward_layer", "backward_layer", "layer", "cell", "query_dense", "key_dense", "value_dense",
                "output_dense")


def snake_case(name: str) -> str:
    """Keras's ``naming.to_snake_case`` (the ``.keras`` weights file names layers by their class this way)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


class KerasSource:
    """A Keras model read from a file: ``config`` (the model's class_name/config dict) and its weights."""

    def __init__(self, path, config: dict, h5=None, legacy: bool = False):
        self.path = str(path)
        self.config = config
        self._h5 = h5
        self._legacy = legacy
        self._keras_names: dict | None = None

    @property
    def has_weights(self) -> bool:
        return self._h5 is not None

    def weights(self, layer: dict) -> list:
        """The arrays of a top-level layer (its config dict), in Keras's ``layer.weights`` order."""
        import numpy as np

        if self._h5 is None:
            return []
        name = layer.get("config", {}).get("name") or layer.get("name")
        try:
            if self._legacy:
                root = self._h5["model_weights"] if "model_weights" in self._h5 else self._h5
                if name not in root:
                    return []
                group = root[name]
                names = [n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs.get("weight_names", [])]
                return [np.asarray(group[n], dtype=np.float32) for n in names]
            path = self._keras_path(name)
            if path is None or path not in self._h5:
                return []
            return [np.asarray(d, dtype=np.float32) for d in _walk(self._h5[path])]
        except (KeyError, OSError, ValueError, TypeError) as e:
            raise ImportFailure(self.path, f"the weights of layer '{name}' cannot be read ({e})") from None

    def _keras_path(self, name):
        """Where a layer's weights live in a ``.keras`` file: ``layers/<snake_case(class)>[_k]``, numbered in the
        order of the model's layers (Keras does not use the layer's own name, which is not reproducible)."""
        if self._keras_names is None:
            self._keras_names = {}
            used: dict = {}
            seq = self.config.get("class_name") == "Sequential"
            for layer in self.config.get("config", {}).get("layers", []):
                cls = layer.get("class_name", "")
                if seq and cls == "InputLayer":
                    continue  # a Sequential model does not list its InputLayer among its layers
                base = snake_case(cls)
                if base in used:
                    used[base] += 1
                    key = f"{base}_{used[base]}"
                else:
                    used[base] = 0
                    key = base
                lname = layer.get("config", {}).get("name") or layer.get("name")
                self._keras_names[lname] = f"layers/{key}"
        return self._keras_names.get(name)


def _walk(group) -> list:
    """Datasets of a ``.keras`` weights group: its ``vars`` (0, 1, ...) first, then its sublayers in order."""
    out = []
    if "vars" in group:
        v = group["vars"]
        out += [v[k] for k in sorted(v.keys(), key=lambda s: int(s) if s.isdigit() else 1 << 30)]
    children = [k for k in group.keys() if k != "vars"]
    children.sort(key=lambda k: (_CHILD_ORDER.index(k) if k in _CHILD_ORDER else len(_CHILD_ORDER), k))
    for k in children:
        if hasattr(group[k], "keys"):
            out += _walk(group[k])
    return out


def read_keras(path) -> KerasSource:
    """Read a Keras model file (``.keras``, ``.h5``/``.hdf5`` or ``.json``); raises ImportFailure naming the file."""
    path = Path(path)
    try:
        head = path.read_bytes()[:8]
    except OSError as e:
        raise ImportFailure(path, f"cannot be read ({e.strerror or e})") from None
    if head.startswith(b"PK"):
        return _read_zip(path)
    if head.startswith(b"\x89HDF"):
        return _read_h5(path)
    return KerasSource(path, _model_config(path, _parse_json(path, path.read_bytes(), "the file")))


def _parse_json(path, data: bytes, what: str) -> dict:
    try:
        cfg = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ImportFailure(path, f"{what} is not a Keras model: not JSON ({e})") from None
    if not isinstance(cfg, dict):
        raise ImportFailure(path, f"{what} is not a Keras model config (expected an object)")
    return cfg


def _model_config(path, cfg: dict) -> dict:
    """The model's {class_name, config} dict, refusing anything that is not a model."""
    if "model_config" in cfg and isinstance(cfg["model_config"], dict):  # a saved training config wrapper
        cfg = cfg["model_config"]
    cls = cfg.get("class_name")
    if cls not in ("Sequential", "Functional", "Model"):
        what = f"a '{cls}'" if isinstance(cls, str) else "not a Keras model"
        raise ImportFailure(path, f"the config describes {what}, not a Keras model (Sequential or Functional)")
    inner = cfg.get("config")
    if not isinstance(inner, dict) or not isinstance(inner.get("layers"), list):
        raise ImportFailure(path, f"the {cls} model config has no list of layers")
    return cfg


def _read_zip(path) -> KerasSource:
    import h5py

    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            if "config.json" not in names:
                raise ImportFailure(path, "the zip file has no config.json: not a .keras model")
            cfg = _model_config(path, _parse_json(path, z.read("config.json"), "config.json"))
            weights = z.read("model.weights.h5") if "model.weights.h5" in names else None
    except ImportFailure:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as e:
        raise ImportFailure(path, f"is not a readable .keras file (corrupt zip: {e})") from None
    h5 = None
    if weights is not None:
        try:
            h5 = _h5_from_bytes(weights)
        except (OSError, ValueError) as e:
            raise ImportFailure(path, f"model.weights.h5 inside the .keras file is not readable HDF5 ({e})") from None
    return KerasSource(path, cfg, h5)


def _h5_from_bytes(data: bytes):
    """An HDF5 file held in memory, opened as an HDF5 file image (reading through a Python file object costs a
    callback per block read: several times slower for a model of a thousand layers)."""
    import h5py

    try:
        fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
        fapl.set_fapl_core(backing_store=False)
        fapl.set_file_image(data)
        return h5py.File(h5py.h5f.open(b"model.weights.h5", h5py.h5f.ACC_RDONLY, fapl=fapl))
    except (AttributeError, TypeError):  # an h5py without file images
        return h5py.File(io.BytesIO(data), "r")


def _read_h5(path) -> KerasSource:
    import h5py

    try:
        f = h5py.File(path, "r")
    except (OSError, ValueError) as e:
        raise ImportFailure(path, f"is not a readable HDF5 file ({e})") from None
    raw = f.attrs.get("model_config")
    if raw is None:
        f.close()
        raise ImportFailure(path, "the HDF5 file has no model_config: it holds weights only, not a Keras model")
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    cfg = _model_config(path, _parse_json(path, str(raw).encode("utf-8"), "model_config"))
    return KerasSource(path, cfg, f, legacy=True)
