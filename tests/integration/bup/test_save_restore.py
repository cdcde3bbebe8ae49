"""save -> validate -> mark -> list -> restore, through ansible, against real bup."""

import os

from bup_helpers import git, markers, tree_digest, write_tree


def sample_files():
    return {
        "resources/Secret/zuul-keys.yaml": b"apiVersion: v1\nkind: Secret\n",
        "dumps/mariadb.sql": os.urandom(3 * 1024 * 1024) + b"\n-- Dump completed\n",
        "volumes/zookeeper-data/version-2/snapshot.0": os.urandom(200 * 1024),
        "volumes/zookeeper-data/odd name with spaces.bup": b"mangled by bup on save",
        "volumes/zookeeper-data/empty": b"",
    }


def test_repository_check_create_and_idempotence(run_module, tmp_path):
    repo = tmp_path / "repo"
    checked = run_module("bup_repo", check=True, repository=str(repo))
    assert checked["changed"] and checked["created"] and not repo.exists()
    created = run_module("bup_repo", repository=str(repo))
    assert created["changed"] and (repo / "objects" / "pack").is_dir()
    again = run_module("bup_repo", repository=str(repo))
    assert not again["changed"] and not again.failed
    assert not run_module("bup_repo", check=True, repository=str(repo))["changed"]


def test_repository_refuses_a_directory_that_is_not_one(run_module, tmp_path):
    (tmp_path / "notrepo").mkdir()
    (tmp_path / "notrepo" / "precious").write_text("keep me")
    result = run_module("bup_repo", repository=str(tmp_path / "notrepo"))
    assert result.failed and "refusing to initialise" in result["msg"]
    assert str(tmp_path / "notrepo") in result["msg"]
    assert os.listdir(tmp_path / "notrepo") == ["precious"]


def test_round_trip_is_byte_identical(run_module, repo_path, tmp_path):
    staging = write_tree(tmp_path / "staging", sample_files())
    saved = run_module("bup_save", repository=str(repo_path), branch="sf", staging=str(staging),
                       manifest="MANIFEST.json", validate="sha256", date=1700000000)
    assert not saved.failed, saved.get("msg")
    assert saved["changed"] and saved["complete"] and saved["save_rc"] == 0
    assert saved["validation"]["ok"] and saved["validation"]["level"] == "sha256"
    assert saved["validation"]["files_checked"] == 6, "five artifacts and the manifest itself"
    assert saved["marker"] == f"refs/tags/complete/sf/{saved['commit']}"
    assert markers(repo_path) == [saved["marker"]]
    assert git(repo_path, "rev-parse", saved["marker"]).strip() == saved["commit"]
    assert saved["timestamp"] == 1700000000 and saved["previous_commit"] is None

    listing = run_module("bup_archive_info", repository=str(repo_path), branch="sf", archive="latest")
    assert not listing["changed"]
    [archive] = listing["archives"]
    assert archive["commit"] == saved["commit"] and archive["complete"]
    assert archive["date"] == "2023-11-14T22:13:20Z"
    assert archive["size"] == sum(len(d) for d in sample_files().values()) + (staging / "MANIFEST.json").stat().st_size
    assert listing["selected"]["commit"] == saved["commit"]

    target = tmp_path / "restored"
    checked = run_module("bup_restore", check=True, repository=str(repo_path), branch="sf", target=str(target))
    assert checked["changed"] and checked["archive"]["commit"] == saved["commit"] and not target.exists()

    restored = run_module("bup_restore", repository=str(repo_path), branch="sf", target=str(target),
                          verify_manifest="MANIFEST.json")
    assert not restored.failed, restored.get("msg")
    assert restored["verification"]["ok"] and restored["verification"]["files_checked"] == 5
    assert tree_digest(target) == tree_digest(staging)
    assert sorted(os.listdir(tmp_path)) == ["repo", "restored", "staging"], "no scratch directory left behind"


def test_second_unchanged_save_reports_what_it_did(run_module, repo_path, tmp_path):
    staging = write_tree(tmp_path / "staging", sample_files())
    first = run_module("bup_save", repository=str(repo_path), branch="sf", staging=str(staging),
                       manifest="MANIFEST.json", date=1700000000)
    second = run_module("bup_save", repository=str(repo_path), branch="sf", staging=str(staging),
                        manifest="MANIFEST.json", date=1700003600)
    assert second["changed"], "a new archive (commit) was added"
    assert second["tree_unchanged"] and not first["tree_unchanged"]
    assert second["previous_commit"] == first["commit"]
    assert second["bytes_added"] < first["bytes_added"] / 100, (first["bytes_added"], second["bytes_added"])
    assert second["complete"] and len(markers(repo_path)) == 2


def test_restore_refuses_a_target_that_is_not_fresh(run_module, repo_path, tmp_path):
    staging = write_tree(tmp_path / "staging", {"a.txt": b"a"})
    run_module("bup_save", repository=str(repo_path), branch="sf", staging=str(staging), manifest="MANIFEST.json")
    target = tmp_path / "busy"
    target.mkdir()
    (target / "live-data").write_text("do not touch")
    result = run_module("bup_restore", repository=str(repo_path), branch="sf", target=str(target))
    assert result.failed and "not empty" in result["msg"] and str(target) in result["msg"]
    assert os.listdir(target) == ["live-data"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert not run_module("bup_restore", repository=str(repo_path), branch="sf", target=str(empty)).failed
    assert (empty / "a.txt").read_bytes() == b"a"


def test_restore_selects_by_commit_date_and_name(run_module, repo_path, tmp_path):
    commits = []
    for day, content in ((1700000000, b"one"), (1700086400, b"two"), (1700172800, b"three")):
        staging = write_tree(tmp_path / f"staging-{day}", {"data.txt": content})
        commits.append(run_module("bup_save", repository=str(repo_path), branch="sf", staging=str(staging),
                                  manifest="MANIFEST.json", date=day)["commit"])
    cases = [("latest", b"three"), (commits[0][:10], b"one"), ("2023-11-15", b"two"),
             ("2023-11-15T23:00:00Z", b"two"), ("2023-11-14-221320", b"one")]
    for number, (selector, expected) in enumerate(cases):
        target = tmp_path / f"out{number}"
        result = run_module("bup_restore", repository=str(repo_path), branch="sf", archive=selector,
                            target=str(target), verify_manifest="MANIFEST.json")
        assert not result.failed, (selector, result.get("msg"))
        assert (target / "data.txt").read_bytes() == expected, selector
    missing = run_module("bup_restore", repository=str(repo_path), branch="sf", archive="2023-01-01",
                         target=str(tmp_path / "none"))
    assert missing.failed and "no complete archive matches 2023-01-01" in missing["msg"]
    assert f"repository={repo_path}" in missing["msg"] and "branch=sf" in missing["msg"]
    assert not (tmp_path / "none").exists()


def test_restore_verification_failure_leaves_no_target(run_module, repo_path, tmp_path):
    staging = write_tree(tmp_path / "staging", {"data.txt": b"real"})
    # A manifest that lies about the data: validation at save time catches it ...
    (staging / "MANIFEST.json").write_text('{"artifacts": [{"path": "data.txt", "size": 4, "sha256": "' + "0" * 64 +
                                           '"}]}')
    saved = run_module("bup_save", repository=str(repo_path), branch="sf", staging=str(staging),
                       manifest="MANIFEST.json", validate="sha256")
    assert saved.failed and not saved["complete"] and "wrong sha256: data.txt" in saved["msg"]
    assert saved["commit"] in saved["msg"] and "branch sf" in saved["msg"] and str(repo_path) in saved["msg"]
    assert markers(repo_path) == []
    # ... and restoring it anyway, verification refuses to hand over the tree.
    target = tmp_path / "out"
    result = run_module("bup_restore", repository=str(repo_path), branch="sf", archive=saved["commit"],
                        allow_incomplete=True, target=str(target), verify_manifest="MANIFEST.json")
    assert result.failed and "does not match its manifest" in result["msg"]
    assert not target.exists() and sorted(os.listdir(tmp_path)) == ["repo", "staging"]
    refused = run_module("bup_restore", repository=str(repo_path), branch="sf", archive=saved["commit"],
                         target=str(target))
    assert refused.failed and "not marked complete" in refused["msg"]
