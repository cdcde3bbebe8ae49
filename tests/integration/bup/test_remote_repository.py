"""A repository reached with bup -r: over ssh (a stand-in ssh that runs the command here) and file://.

There is no ssh server on the test machine. The stand-in `ssh` receives exactly
what bup and the collection pass to ssh, logs it, and runs the remote command
locally, so bup's own client/server protocol runs for real; only the transport
is replaced.
"""

import os

import pytest
from bup_helpers import git, tree_digest, write_tree

FAKE_SSH = """#!/bin/sh
echo "$*" >> "$SSH_LOG"
while [ $# -gt 0 ]; do
  case "$1" in
    -p|-o|-i|-l) shift 2 ;;
    --) shift; break ;;
    -*) shift ;;
    *) shift; [ "$1" = "--" ] && shift; break ;;
  esac
done
exec sh -c "$*"
"""


@pytest.fixture
def ssh_env(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "ssh").write_text(FAKE_SSH)
    (bindir / "ssh").chmod(0o755)
    log = tmp_path / "ssh.log"
    return {"PATH": f"{bindir}:{os.environ['PATH']}", "SSH_LOG": str(log)}, log


def test_save_validate_mark_list_restore_over_ssh(run_module, tmp_path, ssh_env):
    env, log = ssh_env
    repo = tmp_path / "remote-repo"
    common = {"remote": f"backuphost:{repo}", "remote_cache_dir": str(tmp_path / "cache"), "env": env}
    created = run_module("bup_repo", **common)
    assert created["changed"] and (repo / "objects" / "pack").is_dir()
    assert not run_module("bup_repo", **common)["changed"]

    staging = write_tree(tmp_path / "staging", {"dumps/db.sql": os.urandom(3 << 20), "resources/a.yaml": b"a: 1\n"})
    saved = run_module("bup_save", branch="sf", staging=str(staging), manifest="MANIFEST.json", validate="sha256",
                       **common)
    assert not saved.failed, saved.get("msg")
    assert saved["complete"] and saved["validation"]["ok"] and saved["validation"]["level"] == "sha256"
    assert saved["bytes_added"] is None, "growth of a remote repository is not measured from here"
    assert git(repo, "rev-parse", saved["marker"]).strip() == saved["commit"], "the marker is in the remote repo"
    assert not (tmp_path / "cache" / "refs" / "heads" / "sf").exists(), "nothing was saved locally"

    listing = run_module("bup_archive_info", branch="sf", archive="latest", **common)
    assert [(a["commit"], a["complete"]) for a in listing["archives"]] == [(saved["commit"], True)]
    assert "size" not in listing["archives"][0]

    target = tmp_path / "restored"
    restored = run_module("bup_restore", branch="sf", target=str(target), verify_manifest="MANIFEST.json", **common)
    assert not restored.failed, restored.get("msg")
    assert tree_digest(target) == tree_digest(staging)

    calls = log.read_text().splitlines()
    assert calls and all(line.startswith("backuphost -- ") for line in calls if "bup server" in line), calls
    assert any("bup server" in line for line in calls)

    for module, args in (("bup_retention", {"keep_all_for": "1d"}), ("bup_fsck", {})):
        refused = run_module(module, **common, **args)
        assert refused.failed and "needs the repository on this host" in refused["msg"], refused["msg"]
        assert f"repository=backuphost:{repo}" in refused["msg"]


def test_remote_incomplete_save_is_not_marked(run_module, tmp_path, ssh_env):
    env, _log = ssh_env
    repo = tmp_path / "remote-repo"
    common = {"remote": f"backuphost:{repo}", "remote_cache_dir": str(tmp_path / "cache"), "env": env}
    run_module("bup_repo", **common)
    staging = write_tree(tmp_path / "staging", {"a": b"12345"})
    (staging / "a").write_bytes(b"1234")  # shorter than the manifest says
    saved = run_module("bup_save", branch="sf", staging=str(staging), manifest="MANIFEST.json", **common)
    assert saved.failed and saved["commit"] and saved["validation"]["wrong_size"][0]["path"] == "a"
    assert git(repo, "for-each-ref", "refs/tags").strip() == ""


def test_file_url_runs_bup_server_locally(run_module, tmp_path):
    repo = tmp_path / "repo"
    common = {"remote": f"file://{repo}", "remote_cache_dir": str(tmp_path / "cache")}
    assert run_module("bup_repo", **common)["changed"]
    staging = write_tree(tmp_path / "staging", {"a": b"a"})
    saved = run_module("bup_save", branch="sf", staging=str(staging), manifest="MANIFEST.json", **common)
    assert saved["complete"]
    assert run_module("bup_archive_info", branch="sf", archive=saved["commit"][:8], **common)["selected"]["complete"]
