"""Resource limits (issue 14): images checked for their pixel count before decoding, datasets estimated before
loading, data problems named with the file, column and row."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from hybrid_studio.train.datasets import DatasetError, get_dataset
from hybrid_studio.train.imageio import ImageReadError, read_image


def png_header_only(path, width, height):
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb's calling card)."""
    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
    path.write_bytes(data)
    return path


def test_an_image_claiming_too_many_pixels_is_refused_before_decoding(tmp_path):
    path = png_header_only(tmp_path / "bomb.png", 100_000, 100_000)
    assert path.stat().st_size < 100
    with pytest.raises(ImageReadError) as e:
        read_image(path)
    assert "bomb.png" in str(e.value) and "100000 x 100000" in str(e.value)
    assert "HYBRID_STUDIO_MAX_IMAGE_PIXELS" in str(e.value)


def test_a_dataset_over_the_memory_limit_is_refused_before_loading(tmp_path, monkeypatch):
    path = tmp_path / "big.npz"
    np.savez_compressed(path, x=np.zeros((2000, 64, 64), np.uint8), y=np.arange(2000) % 2)
    assert path.stat().st_size < 200_000  # compresses to almost nothing, loads to 31 MiB as float32
    monkeypatch.setenv("HYBRID_STUDIO_MAX_DATASET_GB", "0.01")
    with pytest.raises(DatasetError) as e:
        get_dataset(str(path))
    assert "big.npz" in str(e.value) and "GiB once loaded" in str(e.value)
    monkeypatch.setenv("HYBRID_STUDIO_MAX_DATASET_GB", "1")
    assert get_dataset(str(path)).inputs[0].shape == (64, 64)


def test_a_huge_csv_label_names_the_file_column_and_row(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("a,b,label\n1,2,0\n3,4,12345678901234567890\n5,6,1\n")
    with pytest.raises(DatasetError) as e:
        get_dataset(str(path))
    assert "labels.csv" in str(e.value) and "'label'" in str(e.value) and "row 3" in str(e.value)


def test_a_validation_set_without_labels_is_named(tmp_path):
    path = tmp_path / "val.npz"
    np.savez(path, x=np.zeros((10, 4), np.float32), y=np.arange(10) % 2, x_val=np.zeros((4, 4), np.float32))
    with pytest.raises(DatasetError, match="val.npz: x_val is given but y_val"):
        get_dataset(str(path))
