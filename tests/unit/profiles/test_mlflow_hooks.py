"""The hooks of profiles/mlflow.yml: their shell commands, run here against real SQLite databases.

The pre-hook must hold SQLite's write lock once it returns (a writer is refused, a reader is served) and the post-hook
must let it go; a database the lock cannot keep still (WAL) and a backend store that is not SQLite are refused; a lock
that expired before the post-hook came fails the post-hook. The real MLflow runs under these hooks in
tests/integration/apps/test_mlflow.py.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
PROFILE = yaml.safe_load((ROOT / "profiles" / "mlflow.yml").read_text())
PRE = PROFILE["hooks"]["pre"][0]["command"]
POST = PROFILE["hooks"]["post"][0]["command"]


def hook(command: str, db: Path | str, state: Path, **env) -> subprocess.CompletedProcess:
    uri = db if isinstance(db, str) else f"sqlite:///{db}"
    environment = dict(os.environ, MLFLOW_BACKEND_STORE_URI=uri, STATESAFE_MLFLOW_LOCK_DIR=str(state), **env)
    return subprocess.run(["sh", "-c", command], env=environment, capture_output=True, text=True, check=False,
                          timeout=60)


def database(path: Path, wal: bool = False) -> Path:
    conn = sqlite3.connect(path)
    if wal:
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO runs (name) VALUES ('baseline')")
    conn.commit()
    conn.close()
    return path


def write(db: Path) -> None:
    conn = sqlite3.connect(db, timeout=0.3)
    try:
        conn.execute("INSERT INTO runs (name) VALUES ('during')")
        conn.commit()
    finally:
        conn.close()


def names(db: Path) -> list[str]:
    conn = sqlite3.connect(db, timeout=0.3)
    try:
        return [row[0] for row in conn.execute("SELECT name FROM runs ORDER BY id")]
    finally:
        conn.close()


@pytest.fixture
def db(tmp_path):
    return database(tmp_path / "mlflow.db")


@pytest.fixture
def state(tmp_path):
    path = tmp_path / "lock"
    yield path
    # Whatever a test did, no holder outlives it.
    (path / "release").parent.mkdir(parents=True, exist_ok=True)
    (path / "release").touch()


def test_the_pre_hook_holds_the_write_lock_until_the_post_hook_releases_it(db, state):
    pre = hook(PRE, db, state)
    assert pre.returncode == 0, pre.stderr
    assert f"write lock of {db} held" in pre.stdout
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        write(db)
    assert names(db) == ["baseline"]  # readers are served meanwhile
    post = hook(POST, db, state)
    assert post.returncode == 0, post.stderr
    assert f"held the write lock of {db} for" in post.stdout
    assert not state.exists()
    write(db)
    assert names(db) == ["baseline", "during"]


def test_a_holder_left_by_an_earlier_run_is_released_first(db, state):
    assert hook(PRE, db, state).returncode == 0
    first = (state / "locked").read_text()
    again = hook(PRE, db, state)  # the post-hook of the first never came
    assert again.returncode == 0, again.stderr
    assert "releasing the write lock an earlier backup left held" in again.stderr
    assert (state / "locked").read_text() != first
    assert hook(POST, db, state).returncode == 0
    write(db)


def test_a_wal_database_is_refused_and_nothing_stays_locked(tmp_path, state):
    db = database(tmp_path / "wal.db", wal=True)
    pre = hook(PRE, db, state)
    assert pre.returncode == 1
    assert "WAL mode" in pre.stderr and "could not take the write lock" in pre.stderr
    write(db)
    post = hook(POST, db, state)
    assert post.returncode == 0 and "nothing to release" in post.stdout


@pytest.mark.parametrize("uri, message", [
    ("postgresql://mlflow@db/mlflow", "not sqlite:////<absolute path>"),
    ("sqlite:///relative.db", "not sqlite:////<absolute path>"),
    ("", "MLFLOW_BACKEND_STORE_URI is ''"),
])
def test_a_backend_store_that_is_not_an_absolute_sqlite_path_is_refused(uri, message, state):
    pre = hook(PRE, uri, state)
    assert pre.returncode == 1 and message in pre.stderr
    assert not (state / "locked").exists()


def test_a_missing_database_is_refused(tmp_path, state):
    pre = hook(PRE, tmp_path / "absent.db", state)
    assert pre.returncode == 1 and "no SQLite database at" in pre.stderr


def test_a_lock_that_expired_before_the_post_hook_fails_it(db, state):
    assert hook(PRE, db, state, STATESAFE_MLFLOW_LOCK_LIMIT="0.5").returncode == 0
    deadline = time.monotonic() + 10
    while not (state / "exited").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    write(db)  # the holder let go at its limit
    post = hook(POST, db, state, STATESAFE_MLFLOW_LOCK_LIMIT="0.5")
    assert post.returncode == 1 and "the write lock expired" in post.stderr
