"""A save killed with SIGKILL in the middle leaves nothing marked complete and a sound repository."""

import os
import signal
import time
from pathlib import Path

from bup_helpers import bup, finish_module, markers, start_module, tree_digest, write_tree

from ansible_collections.statesafe.backup.plugins.module_utils.bup import repository as bup_repository


def bup_save_pid(staging: Path):
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path("/proc", entry, "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"save" in argv and ("--strip-path=" + str(staging)).encode() in argv:
            return int(entry)
    return None


def pack_tmp_bytes(repo: Path) -> int:
    return sum(f.stat().st_size for d in (repo / "objects").glob("pack-tmp-*") for f in d.iterdir())


def test_killed_save_leaves_no_marker_and_a_sound_repository(run_module, repo_path, tmp_path):
    small = write_tree(tmp_path / "small", {"keep.txt": b"the archive from before"})
    before = run_module("bup_save", repository=str(repo_path), branch="sf", staging=str(small),
                        manifest="MANIFEST.json")
    assert before["complete"]

    big = write_tree(tmp_path / "big", dict(("volumes/data/part{0}".format(n), os.urandom(40 << 20))
                                            for n in range(10)))
    process = start_module("bup_save", {"repository": str(repo_path), "branch": "sf", "staging": str(big),
                                        "manifest": "MANIFEST.json"})
    deadline = time.monotonic() + 60
    pid = None
    while time.monotonic() < deadline:
        pid = bup_save_pid(big)
        if pid and pack_tmp_bytes(repo_path) > (30 << 20):
            break
        time.sleep(0.05)
    assert pid and pack_tmp_bytes(repo_path) > (30 << 20), "bup save never got going"
    os.kill(pid, signal.SIGKILL)
    result = finish_module(process)

    assert result.failed and "bup save made no commit: it exited on signal 9" in result["msg"]
    assert f"repository={repo_path}" in result["msg"] and "branch=sf" in result["msg"]
    assert markers(repo_path) == [before["marker"]], "nothing new marked"
    listing = run_module("bup_archive_info", repository=str(repo_path), branch="sf")
    assert [a["commit"] for a in listing["archives"]] == [before["commit"]], "the branch did not move"

    # bup leaves the partial pack in objects/pack-tmp-*; fsck checks packs only, and says it is sound.
    assert pack_tmp_bytes(repo_path) > (30 << 20)
    checked = run_module("bup_fsck", repository=str(repo_path))
    assert checked["ok"] and not checked.failed
    assert checked["stale_temporaries"] == [], "younger than an hour: a save might still be writing it"

    # An hour later, retention (which runs gc under the lock) removes it.
    for directory in (repo_path / "objects").glob("pack-tmp-*"):
        for path in [directory, *directory.iterdir()]:
            os.utime(path, (time.time() - 7200, time.time() - 7200))
    pruned = run_module("bup_retention", repository=str(repo_path), branch="sf", keep_all_for="forever")
    assert pruned["changed"] and len(pruned["stale_temporaries"]) == 1
    assert pruned["bytes_freed"] > (30 << 20)
    assert list((repo_path / "objects").glob("pack-tmp-*")) == []
    bup(repo_path, "gc", "--unsafe")
    assert run_module("bup_fsck", repository=str(repo_path))["ok"]
    assert "missing" not in bup(repo_path, "fsck", "-v").stderr

    # The repository takes the next save as if nothing happened, and the old archive restores.
    again = run_module("bup_save", repository=str(repo_path), branch="sf", staging=str(small),
                       manifest="MANIFEST.json")
    assert again["complete"]
    target = tmp_path / "out"
    restored = run_module("bup_restore", repository=str(repo_path), branch="sf", archive=before["commit"],
                          target=str(target), verify_manifest="MANIFEST.json")
    assert not restored.failed and tree_digest(target) == tree_digest(small)


def test_repository_helper_ignores_fresh_temporaries(repo_path):
    fresh = repo_path / "objects" / "pack-tmp-fresh"
    fresh.mkdir()
    (fresh / "x.pack").write_bytes(b"partial")
    repo = bup_repository.repository_from_params({"repository": str(repo_path)})
    assert repo.stale_temporaries(time.time()) == []
    [stale] = repo.stale_temporaries(time.time() + 3601)
    assert stale["path"] == str(fresh) and stale["bytes"] == 7
