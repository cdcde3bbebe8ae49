"""Fixtures of the bup layer's integration tests: real bup, real git, real ansible, no cluster."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from bup_helpers import AnsibleRun, finish_module, start_module

from ansible_collections.statesafe.backup.plugins.module_utils.bup import operations as bup_ops
from ansible_collections.statesafe.backup.plugins.module_utils.bup import repository as bup_repository


@pytest.fixture(scope="session", autouse=True)
def bup_installed():
    for tool in ("bup", "git", "par2"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is not installed: run tests/cluster/install-deps.sh")


@pytest.fixture
def run_module():
    """run_module(name, check=False, env=None, become_user=None, **module_args) -> AnsibleRun."""
    def run(name: str, check: bool = False, env: dict | None = None, become_user: str | None = None,
            **args) -> AnsibleRun:
        return finish_module(start_module(name, args, check=check, env=env, become_user=become_user))
    return run


@pytest.fixture
def repo_path(tmp_path) -> Path:
    """An initialised, empty local repository."""
    path = tmp_path / "repo"
    params = {"repository": str(path)}
    bup_ops.run_init(bup_repository.repository_from_params(params), params)
    return path
