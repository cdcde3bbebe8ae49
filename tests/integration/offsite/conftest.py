"""Fixtures of the offsite tests: a real MinIO server and real age, both built from the Go module proxy.

MinIO (tests/integration/minio_server.py) listens on a free localhost port with its data in a temporary directory
and is stopped after the module's tests. No Kubernetes: real bup repositories are enough.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bup"))

# pylint: disable=wrong-import-position
from bup_helpers import finish_module, start_module  # noqa: E402
from minio_server import build_offsite_tools, serve_minio  # noqa: E402

from ansible_collections.statesafe.backup.plugins.module_utils.bup import operations as bup_ops  # noqa: E402
from ansible_collections.statesafe.backup.plugins.module_utils.bup import repository as bup_repository  # noqa: E402


@pytest.fixture(scope="session")
def offsite_bin() -> Path:
    """The bin directory holding minio, age and age-keygen (built once, then cached)."""
    for tool in ("bup", "git"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is not installed: run tests/cluster/install-deps.sh")
    try:
        return build_offsite_tools()
    except RuntimeError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def minio(offsite_bin, tmp_path_factory):
    with serve_minio(offsite_bin, tmp_path_factory.mktemp("minio-data")) as server:
        yield server


@pytest.fixture(scope="module")
def age_key(offsite_bin, tmp_path_factory) -> tuple[Path, str]:
    """(identity file, recipient) of a fresh age key pair."""
    directory = tmp_path_factory.mktemp("age")
    identity = directory / "offsite.key"
    subprocess.run([str(offsite_bin / "age-keygen"), "-o", str(identity)], check=True, capture_output=True, timeout=120)
    recipient = subprocess.run([str(offsite_bin / "age-keygen"), "-y", str(identity)], check=True,
                               capture_output=True, text=True, timeout=120).stdout.strip()
    return identity, recipient


@pytest.fixture
def run_module():
    """run_module(name, check=False, env=None, **module_args) -> AnsibleRun."""
    def run(name: str, check: bool = False, env: dict | None = None, **args):
        return finish_module(start_module(name, args, check=check, env=env))
    return run


@pytest.fixture
def repo_path(tmp_path) -> Path:
    path = tmp_path / "repo"
    params = {"repository": str(path)}
    bup_ops.run_init(bup_repository.repository_from_params(params), params)
    return path
