"""Saves bup commits although files are missing are never marked complete."""

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from bup_helpers import git, markers, write_tree

VANISHING_BUP = """#!/bin/sh
# real bup; after `bup index`, the file named by $VANISH disappears, as files do in a live tree
bup "$@"
rc=$?
if [ "$1" = index ] && [ -n "$VANISH" ]; then rm -f "$VANISH"; fi
exit $rc
"""


def test_file_vanishing_between_index_and_save_leaves_the_commit_unmarked(run_module, repo_path, tmp_path):
    staging = write_tree(tmp_path / "staging", {"dumps/db.sql": b"x" * 50000, "resources/cm.yaml": b"kind: ConfigMap\n"})
    wrapper = tmp_path / "bup-vanishing"
    wrapper.write_text(VANISHING_BUP)
    wrapper.chmod(0o755)
    result = run_module("bup_save", env={"VANISH": str(staging / "dumps/db.sql")}, bup_command=str(wrapper),
                        repository=str(repo_path), branch="sf", staging=str(staging), manifest="MANIFEST.json")
    assert result.failed and result["changed"], "a commit was made, and the task fails"
    assert result["save_rc"] == 1, "bup save exits 1 after skipping the file ..."
    commit = result["commit"]
    assert git(repo_path, "rev-parse", "refs/heads/sf").strip() == commit, "... and still commits the save"
    assert not result["complete"] and result["marker"] is None and markers(repo_path) == []
    assert result["validation"]["missing"] == ["dumps/db.sql"]
    assert any("No such file or directory" in line for line in result["bup_errors"])
    assert f"archive {commit} on branch sf in {repo_path} is not complete" in result["msg"]
    assert "bup save exited 1" in result["msg"] and "missing: dumps/db.sql" in result["msg"]

    listing = run_module("bup_archive_info", repository=str(repo_path), branch="sf")
    assert [(a["commit"], a["complete"]) for a in listing["archives"]] == [(commit, False)]
    restore = run_module("bup_restore", repository=str(repo_path), branch="sf", target=str(tmp_path / "out"))
    assert restore.failed and "no complete archive matches latest (1 incomplete archive(s) not considered)" in \
        restore["msg"]


def test_fail_on_incomplete_false_reports_without_failing(run_module, repo_path, tmp_path):
    staging = write_tree(tmp_path / "staging", {"a": b"1234"})
    with open(staging / "a", "ab") as handle:
        handle.write(b"changed after the manifest was written")
    result = run_module("bup_save", repository=str(repo_path), branch="sf", staging=str(staging),
                        manifest="MANIFEST.json", fail_on_incomplete=False)
    assert not result.failed and result["save_rc"] == 0, "bup itself saw nothing wrong"
    assert not result["complete"] and result["validation"]["wrong_size"][0]["path"] == "a"
    assert markers(repo_path) == []


def test_save_without_manifest_is_never_complete(run_module, repo_path, tmp_path):
    staging = write_tree(tmp_path / "staging", {"a": b"1"}, manifest=None)
    result = run_module("bup_save", repository=str(repo_path), branch="sf", staging=str(staging))
    assert result.failed and "no manifest given" in result["msg"] and markers(repo_path) == []


@pytest.fixture
def shared_tmp():
    """A temporary directory other users can reach (pytest's tmp_path lives under a 0700 directory)."""
    path = Path(tempfile.mkdtemp(prefix="statesafe-bup-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_unreadable_file_for_an_unprivileged_backup_user(run_module, shared_tmp):
    """chmod 000 stops no root process; as the 'nobody' user it does, and bup commits without the file."""
    nobody = pwd.getpwnam("nobody")
    tmp_path = shared_tmp
    staging = write_tree(tmp_path / "staging", {"ok.txt": b"readable", "secret/key.pem": b"-----BEGIN KEY-----\n"})
    repo = tmp_path / "repo"
    repo.mkdir()
    for path in [staging, repo, *staging.rglob("*")]:
        os.chown(path, nobody.pw_uid, nobody.pw_gid)
    (staging / "secret/key.pem").chmod(0o000)
    created = run_module("bup_repo", become_user="nobody", repository=str(repo))
    assert created["changed"], created.get("msg")
    result = run_module("bup_save", become_user="nobody", repository=str(repo), branch="sf", staging=str(staging),
                        manifest="MANIFEST.json")
    assert result.failed and result["commit"] and result["save_rc"] == 1
    assert not result["complete"] and result["validation"]["missing"] == ["secret/key.pem"]
    assert any("Permission denied" in line for line in result["bup_errors"])
    refs = subprocess.run(["git", f"--git-dir={repo}", "for-each-ref", "--format=%(refname)"], capture_output=True,
                          text=True, check=True, timeout=120).stdout.split()
    assert refs == ["refs/heads/sf"], "the commit exists, no marker does"
