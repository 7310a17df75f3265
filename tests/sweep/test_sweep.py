"""Real sweeps of a tiny project: trials are run folders, the study is Optuna's, bad trials don't stop the rest."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hybrid_studio.cli import main
from sweep_helpers import TINY, write_data, write_project

optuna = pytest.importorskip("optuna")
ROOT = Path(__file__).resolve().parents[2]


def sweep(tmp_path, capsys, *extra, project=None, data=None):
    project = project or write_project(tmp_path)
    data = data or write_data(tmp_path)
    code = main(["sweep", str(project), "--dataset", str(data), "--out", str(tmp_path / "runs"), "--json",
                 "--seed", "1", *extra])
    out = capsys.readouterr()
    return code, (json.loads(out.out) if out.out.strip() else None), out.err


def storage_of(tmp_path):
    return "sqlite:///" + str((tmp_path / "runs" / "sweeps.sqlite3").resolve())


def test_a_sweep_writes_run_folders_and_an_optuna_study(tmp_path, capsys):
    code, report, err = sweep(tmp_path, capsys, "--trials", "3", "--param", "rnn.hidden_size=4,8,16",
                              "--param", "training.lr=1e-3..3e-2:log")
    assert code == 0, err
    assert report["study"] == "tiny-sweep" and report["storage"] == storage_of(tmp_path)
    assert len(report["trials"]) == 3 and [t["number"] for t in report["trials"]] == [0, 1, 2]
    # the first trial of a new study is the project as it is (hidden 8, the default lr)
    first = report["trials"][0]
    assert first["params"] == {"rnn.hidden_size": 8, "training.lr": 1e-3} and first.get("baseline")
    for t in report["trials"]:
        assert t["state"] == "complete" and 0 <= t["value"] <= 1
        run = Path(t["run"])
        status = json.loads((run / "status.json").read_text())
        assert status["status"] == "finished"
        trained = json.loads((run / "project.json").read_text())
        rnn = next(n for n in trained["nodes"] if n["id"] == "rnn")
        assert rnn["params"].get("hidden_size", 8) == t["params"]["rnn.hidden_size"]
        config = json.loads((run / "config.json").read_text())
        assert config["lr"] == pytest.approx(t["params"]["training.lr"])
    best = max(report["trials"], key=lambda t: t["value"])
    assert report["best"]["value"] == best["value"] and report["best"]["run"] == best["run"]
    study = optuna.load_study(study_name="tiny-sweep", storage=storage_of(tmp_path))
    assert len(study.trials) == 3 and study.best_value == best["value"]
    assert study.best_trial.user_attrs["run"] == best["run"]


def test_rerunning_continues_the_study(tmp_path, capsys):
    args = ("--trials", "1", "--param", "rnn.hidden_size=4,8", "--epochs", "1")
    assert sweep(tmp_path, capsys, *args)[0] == 0
    code, report, _ = sweep(tmp_path, capsys, *args)
    assert code == 0 and [t["number"] for t in report["trials"]] == [0, 1]
    assert len({t["run"] for t in report["trials"]}) == 2


def test_an_invalid_trial_graph_is_pruned_with_its_diagnostic_and_others_go_on(tmp_path, capsys):
    data = copy.deepcopy(TINY)
    data["nodes"].insert(1, {"id": "conv", "type": "Conv1d", "params": {"out_channels": 4, "kernel_size": 3}})
    data["edges"] = [{"source": "series", "target": "conv"}, {"source": "conv", "target": "rnn"},
                     {"source": "rnn", "target": "fc"}, {"source": "fc", "target": "out"}]
    project = write_project(tmp_path, data)
    code, report, err = sweep(tmp_path, capsys, "--trials", "2", "--sampler", "grid", "--epochs", "1",
                              "--param", "conv.kernel_size=3,20", project=project)
    assert code == 0, err
    by_k = {t["params"]["conv.kernel_size"]: t for t in report["trials"]}
    assert by_k[3]["state"] == "complete"
    assert by_k[20]["state"] == "pruned" and "conv" in by_k[20]["diagnostic"]
    assert by_k[20]["run"] is None  # nothing trained


def test_a_failing_trial_is_recorded_and_the_study_goes_on(tmp_path, capsys):
    # 1 output class for 2 labels: the run refuses the data; the other trial trains
    code, report, err = sweep(tmp_path, capsys, "--trials", "2", "--sampler", "grid", "--epochs", "1",
                              "--param", "fc.out_features=2,1")
    assert code == 0, err
    by_n = {t["params"]["fc.out_features"]: t for t in report["trials"]}
    assert by_n[2]["state"] == "complete"
    assert by_n[1]["state"] == "fail" and by_n[1]["error"]


@pytest.mark.parametrize("args, words", [
    (("--param", "nosuch.hidden_size=4,8"), "no block 'nosuch'"),
    (("--param", "rnn.hidden_size=4,8", "--storage", "sqlite:////nonexistent-dir/x/y.db"),
     "cannot open the study storage"),
    (("--param", "training.lr=1e-3..1e-2", "--sampler", "grid"), "float range has no grid"),
    (("--storage", "nosuchdb://x"), "cannot open the study storage"),
    # --epochs would silently overrule the searched epochs (every trial trained the same number)
    (("--param", "training.epochs=1,2", "--epochs", "1"), "leave it out when --param training.epochs"),
])
def test_bad_input_is_named_with_exit_2(tmp_path, capsys, args, words):
    code, report, err = sweep(tmp_path, capsys, "--trials", "1", *args)
    assert code == 2 and report is None
    assert words in err and "Traceback" not in err


def test_parallel_runs_trials_in_worker_processes(tmp_path, capsys):
    code, report, err = sweep(tmp_path, capsys, "--trials", "3", "--parallel", "2", "--epochs", "1",
                              "--param", "rnn.hidden_size=4..16")
    assert code == 0, err
    assert sorted(t["number"] for t in report["trials"]) == [0, 1, 2]
    assert all(t["state"] == "complete" for t in report["trials"])
    assert len({t["run"] for t in report["trials"]}) == 3
    # each worker has its own seed (--seed 1 given): side by side they do not pick the same values
    picked = [t["params"]["rnn.hidden_size"] for t in report["trials"] if not t.get("baseline")]
    assert len(set(picked)) == len(picked)


def test_two_processes_share_one_study_without_losing_or_duplicating_trials(tmp_path):
    project, data = write_project(tmp_path), write_data(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "hybrid_studio", "sweep", str(project), "--dataset", str(data), "--epochs", "1",
           "--out", str(tmp_path / "runs"), "--param", "rnn.hidden_size=4..16", "--param",
           "training.lr=1e-3..1e-2:log"]
    procs = [subprocess.Popen(cmd + ["--trials", str(n)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for n in (2, 3)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    study = optuna.load_study(study_name="tiny-sweep", storage=storage_of(tmp_path))
    numbers = [t.number for t in study.trials]
    assert sorted(numbers) == list(range(5))
    ended = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)  # the median pruner may stop some
    assert all(t.state in ended for t in study.trials), [t.state for t in study.trials]
    runs = [t.user_attrs["run"] for t in study.trials]
    assert len(set(runs)) == 5 and all(Path(r, "status.json").is_file() for r in runs)


def test_the_pruner_never_throws_away_a_finished_run(tmp_path, capsys):
    # with one epoch every report is the run's result: past the pruner's start-up trials nothing may be pruned
    code, report, err = sweep(tmp_path, capsys, "--trials", "5", "--epochs", "1", "--param",
                              "training.lr=1e-5..1e-1:log")
    assert code == 0, err
    assert [t["state"] for t in report["trials"]] == ["complete"] * 5


def test_a_grid_tries_each_value_once_even_when_one_is_the_projects_own(tmp_path, capsys):
    # 1e-3 is the project's lr: a queued baseline trial is unknown to Optuna's grid, which then tried 1e-3 again
    code, report, err = sweep(tmp_path, capsys, "--trials", "3", "--sampler", "grid", "--epochs", "1",
                              "--param", "training.lr=0.001,0.01")
    assert code == 0, err
    assert sorted(t["params"]["training.lr"] for t in report["trials"]) == [0.001, 0.01]  # then the grid is done


def test_a_failing_trial_is_named_on_its_line_without_a_traceback(tmp_path):
    # Optuna logs a failed trial with its traceback on stderr; the sweep's own line names the failure
    project, data = write_project(tmp_path), write_data(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-m", "hybrid_studio", "sweep", str(project), "--dataset", str(data),
                          "--trials", "1", "--epochs", "1", "--out", str(tmp_path / "runs"),
                          "--param", "fc.out_features=1,3", "--sampler", "grid", "--seed", "0"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 1, out.stderr  # no trial completed
    assert "trial 0 failed:" in out.stdout and "fc" in out.stdout
    assert "Traceback" not in out.stderr, out.stderr


def test_importances_of_trials_that_scored_the_same_are_given_without_a_warning():
    import warnings

    from hybrid_studio.sweep.study import importances
    study = optuna.create_study(direction="maximize")
    dist = {"a.x": optuna.distributions.FloatDistribution(0, 1), "a.y": optuna.distributions.IntDistribution(1, 9)}
    for x, y in ((0.1, 2), (0.7, 5), (0.4, 8)):
        study.add_trial(optuna.trial.create_trial(params={"a.x": x, "a.y": y}, distributions=dist, value=0.5))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning printed on the sweep's stderr fails here
        got = importances(study)
    assert set(got) == {"a.x", "a.y"} and sum(got.values()) == pytest.approx(1.0)


@pytest.mark.slow  # about 30 s: two worker processes must start and train before the kill
def test_workers_stop_their_trials_when_the_sweep_process_is_killed(tmp_path):
    # the app's window closing kills its sweep process; its --parallel workers must not train on as orphans
    import signal
    import time
    project, data = write_project(tmp_path), write_data(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    runs = tmp_path / "runs"
    proc = subprocess.Popen([sys.executable, "-m", "hybrid_studio", "sweep", str(project), "--dataset", str(data),
                             "--trials", "2", "--parallel", "2", "--epochs", "2000", "--pruner", "none",
                             "--out", str(runs), "--param", "rnn.hidden_size=4,8"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)

    def statuses():
        return [json.loads(p.read_text())["status"] for p in runs.glob("*/status.json")]
    try:
        deadline = time.monotonic() + 120
        while statuses().count("running") < 2 and time.monotonic() < deadline:
            time.sleep(0.3)
        assert statuses() == ["running", "running"]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 60
    while statuses() != ["stopped", "stopped"] and time.monotonic() < deadline:
        time.sleep(0.3)
    assert statuses() == ["stopped", "stopped"]
    study = optuna.load_study(study_name="tiny-sweep", storage=storage_of(tmp_path))
    failed = [optuna.trial.TrialState.FAIL] * 2
    while [t.state for t in study.trials] != failed and time.monotonic() < deadline:  # the workers tell Optuna last
        time.sleep(0.3)
    assert [t.state for t in study.trials] == failed
    assert all(t.user_attrs["error"].startswith("interrupted") for t in study.trials)
