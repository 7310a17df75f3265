"""Scale-out through a database server: two sweep processes on one PostgreSQL URL share one study.

Starts a throwaway PostgreSQL server on 127.0.0.1 (its own data folder under tmp_path, trust auth, stopped at the
end). Skipped when the server binaries (Debian's postgresql) or the psycopg2 driver are missing; .ci/run installs both.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sweep_helpers import write_data, write_project

optuna = pytest.importorskip("optuna")
pytest.importorskip("psycopg2")
ROOT = Path(__file__).resolve().parents[2]


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres_url(tmp_path):
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL server binaries are not installed (Debian: apt-get install postgresql)")
    import tempfile

    # its own folder right under the temp dir: pytest's tmp_path is private to this user, and the server runs as
    # another one when the tests run as root
    data = Path(tempfile.mkdtemp(prefix="hybrid-studio-pg-"))
    as_user = []
    if os.geteuid() == 0:  # the server refuses to run as root: run it as the postgres user
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser")
        try:
            shutil.chown(data, "postgres")
        except (LookupError, PermissionError):
            pytest.skip("no postgres user to run the server as")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    try:
        subprocess.run(as_user + [initdb, "-D", str(data), "-A", "trust", "-U", "postgres"], check=True,
                       capture_output=True, timeout=120)
        subprocess.run(as_user + [pg_ctl, "-D", str(data), "-w", "-t", "60", "-l", str(data / "log"), "-o",
                                  f"-p {port} -h 127.0.0.1 -k {data}", "start"], check=True, capture_output=True,
                       timeout=120)
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(as_user + [pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True,
                       timeout=60)
        shutil.rmtree(data, ignore_errors=True)


def test_two_processes_share_one_postgres_study(tmp_path, postgres_url):
    project, data = write_project(tmp_path), write_data(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "hybrid_studio", "sweep", str(project), "--dataset", str(data), "--epochs", "1",
           "--out", str(tmp_path / "runs"), "--storage", postgres_url, "--study", "shared",
           "--param", "rnn.hidden_size=4..16"]
    procs = [subprocess.Popen(cmd + ["--trials", str(n)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for n in (2, 2)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    study = optuna.load_study(study_name="shared", storage=postgres_url)
    assert sorted(t.number for t in study.trials) == [0, 1, 2, 3]
    ended = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    assert all(t.state in ended for t in study.trials)
    assert len({t.user_attrs["run"] for t in study.trials}) == 4
