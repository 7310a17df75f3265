"""Fuzzing run folders and data files (issue 14): whatever status.json, config.json, a checkpoint, an .npz or a .csv
holds, reading it gives a value or the module's own error with the file named; never another exception, never a
hang (each example has a deadline)."""

from __future__ import annotations

import io
import json

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hybrid_studio.train.checkpoints import load_checkpoint
from hybrid_studio.train.datasets import DatasetError, get_dataset
from hybrid_studio.train.runs import list_runs, load_run_config, read_status, status_problem

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(1 << 70), 1 << 70),
                      st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=6),
                      st.sampled_from(["running", "finished", "stopped", "failed", "abc", "digits"]))
json_value = st.recursive(json_leaf, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                             st.dictionaries(st.text(max_size=10), inner,
                                                                             max_size=4)), max_leaves=10)
status_like = st.fixed_dictionaries({}, optional={k: json_leaf for k in (
    "status", "epoch", "epochs", "step", "duration_s", "best_metric", "started", "message", "dataset", "device")})
FUZZ = settings(max_examples=40, deadline=20000, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                      HealthCheck.too_slow])


@FUZZ
@given(status=st.one_of(json_value, status_like), config=json_value, junk=st.binary(max_size=64))
def test_run_folder_files_never_raise_anything_unnamed(tmp_path, status, config, junk):
    runs = tmp_path / "runs"
    good, bad = runs / "good", runs / "bad"
    for d in (good, bad):
        (d / "checkpoints").mkdir(parents=True, exist_ok=True)
    (good / "status.json").write_text(json.dumps({"status": "finished", "epoch": 1, "started": "2026-01-01"}))
    (bad / "status.json").write_text(json.dumps(status))
    (bad / "config.json").write_text(json.dumps(config))
    (bad / "checkpoints" / "last.pt").write_bytes(junk)
    infos = {i.run_id: i for i in list_runs(runs)}
    assert infos["good"].status == "finished"  # one bad run never hides the others
    assert "bad" in infos and isinstance(infos["bad"].message, str)
    assert isinstance(read_status(bad), dict)
    problem = status_problem(bad)
    assert problem is None or "status.json" in problem
    try:
        load_run_config(bad)
    except ValueError as e:
        assert "config.json" in str(e) or "Expecting" in str(e) or isinstance(e, json.JSONDecodeError)
    try:
        load_checkpoint(bad / "checkpoints" / "last.pt")
    except ValueError as e:
        assert "last.pt" in str(e) and "weights_only" not in str(e)


arrays = st.one_of(
    st.builds(lambda shape, kind: np.zeros(shape, kind), st.lists(st.integers(0, 4), max_size=3).map(tuple),
              st.sampled_from([np.float32, np.int64, np.uint8, np.float64, np.bool_])),
    st.builds(lambda v: np.array(v), st.lists(st.integers(-5, 5), max_size=5)),
    st.builds(lambda s: np.array(s), st.text(max_size=5)))


@FUZZ
@given(members=st.dictionaries(st.sampled_from(["x", "y", "x0", "x1", "x_val", "y_val", "axes", "task",
                                                "class_names", "x_lengths"]), arrays, max_size=5))
def test_npz_files_give_a_dataset_or_a_named_error(tmp_path, members):
    path = tmp_path / "fuzz.npz"
    buf = io.BytesIO()
    np.savez(buf, **members)
    path.write_bytes(buf.getvalue())
    try:
        ds = get_dataset(str(path))
    except DatasetError as e:
        assert "fuzz.npz" in str(e)
    else:
        assert len(ds.train) + len(ds.val) > 0


@FUZZ
@given(rows=st.lists(st.lists(st.one_of(st.integers(-(10 ** 25), 10 ** 25).map(str), st.text(
    alphabet="abc,.-e1", max_size=4), st.floats(allow_nan=True).map(str)), min_size=1, max_size=4), max_size=6),
    header=st.booleans())
def test_csv_files_give_a_dataset_or_a_named_error(tmp_path, rows, header):
    path = tmp_path / "fuzz.csv"
    lines = (["a,b,label"] if header else []) + [",".join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    try:
        get_dataset(str(path))
    except DatasetError as e:
        assert "fuzz.csv" in str(e)
