"""Import models made elsewhere (Keras, ONNX) as studio projects with their weights.

Qt-free and light: the graph, block and numpy layers only; torch is imported only to save weights. Files are read
as data (zip + JSON, HDF5 via h5py, ONNX protobuf): nothing in a file is ever executed.
"""

from __future__ import annotations

from pathlib import Path

from .result import ImportFailure, ImportResult, ReportEntry, save_weights, weights_path_for

__all__ = ["ImportFailure", "ImportResult", "ReportEntry", "import_model", "save_weights", "weights_path_for"]


def import_model(path) -> ImportResult:
    """Import ``path`` (``.keras``, ``.h5``, Keras ``.json`` or ``.onnx``); raises ImportFailure when unreadable."""
    path = Path(path)
    if not path.is_file():
        raise ImportFailure(path, "no such file")
    if path.suffix.lower() == ".onnx":
        from .onnx_import import import_onnx
        return import_onnx(path)
    from .keras_import import import_keras
    return import_keras(path)
