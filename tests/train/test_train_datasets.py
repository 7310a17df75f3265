"""Built-in datasets and the user's own files: shapes, determinism, and clear errors naming the file."""

from __future__ import annotations

import numpy as np
import pytest

from hybrid_studio.train.builtin import sktime_data_dir
from hybrid_studio.train.datasets import DatasetError, get_dataset, list_datasets, read_ts, split_indices
from hybrid_studio.train.imageio import read_image, resize, write_png


def test_list_datasets_names_the_builtins():
    names = [d.name for d in list_datasets()]
    assert names[:5] == ["digits", "digits-seq", "moving-shapes", "waveforms", "image+series"]
    assert "basic-motions" in names
    assert all(d.title and d.description for d in list_datasets())


def test_digits_is_mnist_like():
    ds = get_dataset("digits")
    (info,) = ds.inputs
    assert (info.shape, info.axes, info.dtype) == ((1, 28, 28), "CHW", "float32")
    assert ds.task == "classification" and ds.num_classes == 10 and ds.class_names[3] == "3"
    assert len(ds.train) + len(ds.val) == 1797
    assert abs(len(ds.val) / 1797 - 0.2) < 0.01
    x = ds.x_train[0]
    assert x.shape[1:] == (1, 28, 28) and 0 <= x.min() and x.max() <= 1
    assert np.all(x[:, :, :4] == 0) and np.all(x[:, :, :, 24:] == 0)  # centred in a 20x20 box like MNIST
    # stratified split: every class in both halves
    assert set(np.unique(ds.y_val)) == set(range(10))


def test_digits_seq_reads_rows_as_time():
    img, seq = get_dataset("digits"), get_dataset("digits-seq")
    assert seq.inputs[0].shape == (8, 8) and seq.inputs[0].axes == "TF"
    assert len(seq.train) == len(img.train)
    np.testing.assert_array_equal(seq.y_train, img.y_train)  # same split for the same seed


def test_split_depends_on_seed_and_is_reproducible():
    a, b, c = get_dataset("waveforms", seed=1), get_dataset("waveforms", seed=1), get_dataset("waveforms", seed=2)
    np.testing.assert_array_equal(a.x_train[0], b.x_train[0])
    assert not np.array_equal(a.x_train[0][:10], c.x_train[0][:10])
    tr, va = split_indices(None, 10, 0.3, 0)
    assert sorted(np.concatenate([tr, va]).tolist()) == list(range(10)) and len(va) == 3
    assert len(split_indices(None, 10, 0.0, 0)[1]) == 0


def test_val_split_zero_gives_no_validation():
    ds = get_dataset("waveforms", val_split=0.0)
    assert len(ds.val) == 0 and len(ds.train) == 1200
    assert ds.preview(2)[0][0][0].shape == (128, 1)  # preview falls back to train


def test_moving_shapes_needs_more_than_one_frame():
    ds = get_dataset("moving-shapes")
    (info,) = ds.inputs
    assert (info.shape, info.axes) == ((12, 1, 32, 32), "TCHW") and ds.num_classes == 4
    x, y = ds.x_train[0], ds.y_train
    # In any single frame, where the shape is does not depend on the class (positions wrap around)...
    ys, xs = np.mgrid[0:32, 0:32]
    frame = np.clip(x[:, 5, 0], 0, None)
    mass = frame.sum((1, 2))
    cy = (frame * ys).sum((1, 2)) / mass
    means = [cy[y == k].mean() for k in range(4)]
    assert max(means) - min(means) < 2.5
    # ...but the motion between frames does: rows move for up/down, columns for left/right.
    shift = np.abs(x[:, 1, 0] - np.roll(x[:, 0, 0], 2, axis=1)).mean((1, 2))  # matches "down"
    assert shift[y == 1].mean() < shift[y == 0].mean() * 0.8


def test_waveforms_and_determinism():
    a, b = get_dataset("waveforms"), get_dataset("waveforms")
    assert a.inputs[0].shape == (128, 1) and a.class_names == ["sine", "square", "triangle", "sawtooth"]
    np.testing.assert_array_equal(a.x_val[0], b.x_val[0])
    # square waves sit near +-amplitude; sines spend time near zero
    sq, sine = a.x_train[0][a.y_train == 1, :, 0], a.x_train[0][a.y_train == 0, :, 0]
    assert np.mean(np.abs(sq) < 0.2) < np.mean(np.abs(sine) < 0.2)


def test_image_series_label_needs_both_inputs():
    ds = get_dataset("image+series")
    assert [(i.name, i.shape, i.axes) for i in ds.inputs] == [("image", (1, 28, 28), "CHW"), ("series", (8, 8), "TF")]
    assert ds.num_classes == 10
    img, ser, y = ds.x_train[0], ds.x_train[1], ds.y_train
    # the series' oscillation speed is the low bit of the label: mean |difference| between steps is larger when fast
    roughness = np.abs(np.diff(ser, axis=1)).mean((1, 2))
    assert roughness[y % 2 == 1].mean() > 1.5 * roughness[y % 2 == 0].mean()
    # the image pattern is the rest: horizontal strokes (pattern 0) have more row energy than vertical (pattern 1)
    clean = np.clip(img[:, 0], 0.5, None) - 0.5
    rows, cols = clean.sum(2).max(1), clean.sum(1).max(1)
    assert (rows[y // 2 == 0] > cols[y // 2 == 0]).mean() > 0.9
    assert (cols[y // 2 == 1] > rows[y // 2 == 1]).mean() > 0.9


def test_unknown_name_lists_the_builtins():
    with pytest.raises(DatasetError, match="unknown dataset 'nope'.*digits"):
        get_dataset("nope")


# ---- .npz ------------------------------------------------------------------------------------------------------------

def test_npz_one_input(tmp_path):
    p = tmp_path / "d.npz"
    x = np.random.default_rng(0).normal(size=(50, 3, 16)).astype(np.float32)
    np.savez(p, x=x, y=np.arange(50) % 3, axes=np.array("CL"), class_names=np.array(["a", "b", "c"]))
    ds = get_dataset(p, val_split=0.2)
    assert ds.inputs[0].shape == (3, 16) and ds.inputs[0].axes == "CL"
    assert ds.class_names == ["a", "b", "c"] and ds.task == "classification" and ds.source == str(p)
    assert len(ds.train) == 40 and len(ds.val) == 10


def test_npz_several_inputs_given_validation_and_regression(tmp_path):
    p = tmp_path / "two.npz"
    rng = np.random.default_rng(0)
    np.savez(p, x0=rng.normal(size=(30, 5, 2)), x1=rng.normal(size=(30, 4)), y=rng.normal(size=(30, 2)),
             x0_val=rng.normal(size=(6, 5, 2)), x1_val=rng.normal(size=(6, 4)), y_val=rng.normal(size=(6, 2)))
    ds = get_dataset(p)
    assert [(i.shape, i.axes) for i in ds.inputs] == [((5, 2), "TF"), ((4,), "F")]
    assert ds.task == "regression" and ds.num_targets == 2 and ds.num_classes is None
    assert len(ds.train) == 30 and len(ds.val) == 6


def test_npz_tokens_and_uint8(tmp_path):
    p = tmp_path / "tok.npz"
    np.savez(p, x=np.random.default_rng(0).integers(0, 50, (20, 7)), y=np.arange(20) % 2)
    assert get_dataset(p).inputs[0] == get_dataset(p).inputs[0]
    info = get_dataset(p).inputs[0]
    assert (info.axes, info.dtype) == ("T", "int64")
    p2 = tmp_path / "img.npz"
    np.savez(p2, x=np.full((10, 1, 4, 4), 255, np.uint8), y=np.arange(10) % 2)
    ds = get_dataset(p2)
    assert ds.inputs[0].dtype == "float32" and ds.x_train[0].max() == 1.0


@pytest.mark.parametrize("arrays, message", [
    ({"x": np.zeros((10, 3)), "y": np.zeros(9, int)}, "x has 10 samples but y has 9"),
    ({"x": np.array([np.nan] + [0.0] * 29).reshape(10, 3), "y": np.arange(10) % 2}, "NaN"),
    ({"x": np.zeros((10, 3)), "y": np.array([0, 2] * 5)}, "class.*1 have no training samples"),
    ({"x": np.zeros((10, 3)), "y": np.zeros(10, int)}, "at least 2 classes"),
    ({"y": np.zeros(10, int)}, "no input array"),
    ({"x": np.zeros((10, 3))}, "no label array"),
    ({"x": np.zeros((10, 3)), "y": np.arange(10) % 2, "axes": np.array("CHW")}, "axes 'CHW'"),
    ({"x": np.zeros((10, 3)), "y": np.array(["a"] * 10)}, "must be numeric"),
])
def test_npz_problems_are_named(tmp_path, arrays, message):
    p = tmp_path / "bad.npz"
    np.savez(p, **arrays)
    with pytest.raises(DatasetError, match=message) as info:
        get_dataset(p)
    assert str(p) in str(info.value)


def test_npz_ragged_is_refused(tmp_path):
    p = tmp_path / "ragged.npz"
    ragged = np.empty(2, dtype=object)
    ragged[0], ragged[1] = np.zeros(3), np.zeros(4)
    np.savez(p, x=ragged, y=np.array([0, 1]))
    with pytest.raises(DatasetError, match="ragged") as info:
        get_dataset(p)
    assert str(p) in str(info.value) and "'x'" in str(info.value)


def test_not_an_npz(tmp_path):
    p = tmp_path / "broken.npz"
    p.write_text("hello")
    with pytest.raises(DatasetError, match="broken.npz"):
        get_dataset(p)


# ---- .csv ------------------------------------------------------------------------------------------------------------

def test_csv_with_header_and_text_labels(tmp_path):
    p = tmp_path / "iris.csv"
    lines = ["a,b,species"] + [f"{i},{i * 2},{'cat' if i % 2 else 'dog'}" for i in range(20)]
    p.write_text("\n".join(lines) + "\n")
    ds = get_dataset(p, val_split=0.25)
    assert ds.inputs[0].shape == (2,) and ds.inputs[0].axes == "F"
    assert ds.class_names == ["cat", "dog"] and len(ds.train) == 15


def test_csv_label_column_by_name_and_regression(tmp_path):
    p = tmp_path / "reg.csv"
    p.write_text("target,f1,f2\n" + "\n".join(f"{i * 0.5 + 0.25},{i},{-i}" for i in range(10)))
    ds = get_dataset(p, val_split=0)
    assert ds.task == "regression" and ds.num_targets == 1
    np.testing.assert_allclose(ds.x_train[0][:, 0], np.arange(10))


def test_csv_without_header_integer_labels(tmp_path):
    p = tmp_path / "plain.csv"
    p.write_text("\n".join(f"{i},{i % 3}" for i in range(12)))
    ds = get_dataset(p)
    assert ds.task == "classification" and ds.num_classes == 3


@pytest.mark.parametrize("text, message", [
    ("a,b,label\n1,x,0\n2,3,1\n", "column 'b' in row 2 holds 'x'"),
    ("a,b,label\n1,2,0\n2,3\n", "row 3 has 2 columns"),
    ("a,label\n", "no data rows"),
    ("", "empty"),
    ("a,label\n1,0\n2,2\n", "class.*1 have no training samples"),
    ("a,b,label\n1,2,0\n3,nan,1\n4,5,0\n6,7,1\n", "NaN or infinite value.*first in sample 1"),
])
def test_csv_problems_are_named(tmp_path, text, message):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(DatasetError, match=message) as info:
        get_dataset(p)
    assert "bad.csv" in str(info.value)


# ---- .ts -------------------------------------------------------------------------------------------------------------

def test_ts_file(tmp_path):
    p = tmp_path / "mini.ts"
    rows = [f"{','.join(str(v) for v in range(k, k + 5))}:{','.join('1' for _ in range(5))}:{'up' if k % 2 else 'down'}"
            for k in range(6)]
    p.write_text("@problemName mini\n@univariate false\n@classLabel true up down\n@data\n" + "\n".join(rows))
    x, labels = read_ts(p)
    assert x.shape == (6, 2, 5) and labels[:2] == ["down", "up"]
    ds = get_dataset(p, val_split=0)
    assert ds.inputs[0].shape == (5, 2) and ds.inputs[0].axes == "TF" and ds.class_names == ["down", "up"]


def test_ts_unequal_lengths_are_refused(tmp_path):
    p = tmp_path / "uneven.ts"
    p.write_text("@data\n1,2,3:a\n1,2:b\n")
    with pytest.raises(DatasetError, match="uneven.ts: line 3"):
        get_dataset(p)


@pytest.mark.skipif(sktime_data_dir() is None, reason="BasicMotions ships with sktime, which is not installed")
def test_basic_motions_from_sktime():
    ds = get_dataset("basic-motions")
    assert ds.inputs[0].shape == (100, 6) and ds.inputs[0].axes == "TF"
    assert len(ds.train) == 40 and len(ds.val) == 40 and ds.num_classes == 4
    assert abs(float(ds.x_train[0].mean())) < 0.1  # standardised


def test_basic_motions_missing_names_the_extra(monkeypatch):
    import hybrid_studio.train.builtin as builtin

    monkeypatch.setattr(builtin, "sktime_data_dir", lambda: None)
    with pytest.raises(DatasetError, match="sktime"):
        builtin.basic_motions(0)
    assert not [d for d in list_datasets() if d.name == "basic-motions"][0].available


# ---- image folders ---------------------------------------------------------------------------------------------------

def _image_folder(root, classes=("cats", "dogs"), per_class=4, size=(10, 12), rgb=False):
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            shape = (3, *size) if rgb else size
            write_png(root / c / f"{i}.png", rng.uniform(0, 1, shape))
    return root


def test_image_folder_resized_to_the_input(tmp_path):
    root = _image_folder(tmp_path / "pets", rgb=True)
    ds = get_dataset(root, val_split=0.25, shape_hint=[[1, 28, 28]])
    assert ds.inputs[0].shape == (1, 28, 28) and ds.class_names == ["cats", "dogs"]
    assert len(ds.train) == 6 and len(ds.val) == 2
    ds2 = get_dataset(root, val_split=0)
    assert ds2.inputs[0].shape == (3, 10, 12)  # no hint: the first image's size


def test_image_folder_empty_class_is_named(tmp_path):
    root = _image_folder(tmp_path / "pets")
    (root / "birds").mkdir()
    with pytest.raises(DatasetError, match="birds.*no images"):
        get_dataset(root)


def test_image_folder_unreadable_image_is_named(tmp_path):
    root = _image_folder(tmp_path / "pets")
    (root / "cats" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match="broken.png"):
        get_dataset(root)


def test_png_and_pgm_round_trip(tmp_path):
    img = np.linspace(0, 1, 6 * 5).reshape(6, 5).astype(np.float32)
    write_png(tmp_path / "a.png", img)
    np.testing.assert_allclose(read_image(tmp_path / "a.png")[0], img, atol=1 / 255)
    rgb = np.random.default_rng(1).uniform(0, 1, (3, 4, 7))
    write_png(tmp_path / "b.png", rgb)
    np.testing.assert_allclose(read_image(tmp_path / "b.png"), rgb, atol=1 / 255)
    pix = (img * 255).round().astype(np.uint8)
    (tmp_path / "c.pgm").write_bytes(b"P5\n# comment\n5 6\n255\n" + pix.tobytes())
    np.testing.assert_allclose(read_image(tmp_path / "c.pgm")[0], img, atol=1 / 255)


def test_resize_keeps_constant_images_and_averages():
    a = np.full((2, 8, 8), 0.5, np.float32)
    assert np.allclose(resize(a, 20, 20), 0.5)
    b = np.zeros((4, 4), np.float32)
    b[:, 2:] = 1
    r = resize(b, 2, 2)
    np.testing.assert_allclose(r, [[0, 1], [0, 1]], atol=1e-6)


def test_preview():
    ds = get_dataset("image+series")
    items = ds.preview(3)
    assert len(items) == 3
    (xs, label) = items[0]
    assert [x.shape for x in xs] == [(1, 28, 28), (8, 8)] and isinstance(label, int)
    assert "image+series" in ds.describe() and "10 classes" in ds.describe()
