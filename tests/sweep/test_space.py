"""The search space: --param NAME=SPEC parsed and checked against the project, without Optuna or torch."""

from __future__ import annotations

import json

import pytest
from hybrid_studio.project import loads_project
from hybrid_studio.sweep.space import SpaceError, build_param, build_space, split_values
from sweep_helpers import TINY


@pytest.fixture
def graph():
    return loads_project(json.dumps(TINY))


def test_list_int_range_and_log_float_range(graph):
    sp = build_param(graph, "rnn.hidden_size=8,16,32")
    assert (sp.kind, sp.choices) == ("choice", (8, 16, 32))
    sp = build_param(graph, "rnn.hidden_size=4..64")
    assert (sp.kind, sp.low, sp.high, sp.log) == ("int", 4, 64, False)
    sp = build_param(graph, "training.lr=1e-4..1e-2:log")
    assert (sp.kind, sp.low, sp.high, sp.log) == ("float", 1e-4, 1e-2, True)
    sp = build_param(graph, "training.optimizer=adam,sgd")
    assert sp.choices == ("adam", "sgd")
    sp = build_param(graph, "rnn.bidirectional=true,false")
    assert sp.choices == (True, False)


@pytest.mark.parametrize("text, words", [
    ("nosuch.hidden_size=8,16", "no block 'nosuch'"),
    ("rnn.nosuch=1,2", "GRU block 'rnn' has no param 'nosuch'"),
    ("training.nosuch=1,2", "no training setting 'nosuch'"),
    ("training.device=cpu,cuda", "cannot be swept"),
    ("rnn.hidden_size=0..8", "range end 0 is not allowed"),
    ("rnn.hidden_size=1.5..8.5", "takes whole numbers"),
    ("rnn.bidirectional=1..3", "not a number"),
    ("rnn.hidden_size=8,oops", "not allowed"),
    ("training.lr=0..1:log", "log range must be above 0"),
    ("training.lr=1e-2..1e-4", "low end must be below"),
    ("training.epochs=1.5..3.5", "whole number"),
    ("training.lr=-1,0.1", "not allowed"),
    ("training.optimizer=adam,bogus", "not allowed"),
    ("rnn.hidden_size", "expected NAME=SPEC"),
    ("hidden_size=8,16", "training.<setting> or <block id>.<param>"),
    ("rnn.hidden_size=8,,16", "empty value"),
    ("rnn.hidden_size=8,8", "repeats"),
    ("rnn.hidden_size=8:log", "':log' goes with a range"),
])
def test_bad_params_are_named(graph, text, words):
    with pytest.raises(SpaceError) as e:
        build_param(graph, text)
    assert words in str(e.value)
    assert text.split("=")[0] in str(e.value)


def test_a_param_given_twice_is_refused(graph):
    with pytest.raises(SpaceError, match="given twice"):
        build_space(graph, ["rnn.hidden_size=8,16", "rnn.hidden_size=4..8"])


def test_grid_values():
    from hybrid_studio.sweep.space import SearchParam
    assert SearchParam("a.b", "int", low=2, high=5).grid_values() == [2, 3, 4, 5]
    with pytest.raises(SpaceError, match="float range has no grid"):
        SearchParam("a.b", "float", low=0.1, high=0.5).grid_values()


def test_split_values():
    assert split_values({"training.lr": 0.1, "rnn.hidden_size": 8, "rnn.bidirectional": True}) == (
        {"lr": 0.1}, {"rnn": {"hidden_size": 8, "bidirectional": True}})


def test_the_space_loads_neither_optuna_nor_torch():
    import subprocess
    import sys
    code = ("import sys, hybrid_studio.sweep, hybrid_studio.sweep.cli; "
            "print([m for m in ('torch', 'optuna', 'PySide6') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_outputs_task_cannot_be_swept(graph):
    # the task picks the objective's metric and direction: a regression trial in a maximised accuracy study
    # would be ranked by its loss
    with pytest.raises(SpaceError, match="out.task: the Output's task sets what the sweep optimises"):
        build_param(graph, "out.task=regression,classification")
