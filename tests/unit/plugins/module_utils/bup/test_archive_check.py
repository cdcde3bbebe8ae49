"""archive_check: a restored tree against its manifest, every mismatch named with expected and actual values."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os

import pytest

from ansible_collections.statesafe.backup.plugins.module_utils.bup import archive_check as ac
from ansible_collections.statesafe.backup.plugins.module_utils.bup.errors import BadInput
from ansible_collections.statesafe.backup.plugins.module_utils.errors import InvalidInput


def sha(data):
    return hashlib.sha256(data).hexdigest()


def artifact(path, data):
    return {"path": path, "size": len(data), "sha256": sha(data)}


def entry(data):
    return {"kind": "file", "size": len(data), "sha256": sha(data)}


def test_everything_matches():
    report = ac.check_tree([artifact("a", b"x"), artifact("d/b", b"yy")],
                           {"a": entry(b"x"), "d": {"kind": "dir", "size": 0}, "d/b": entry(b"yy"),
                            "MANIFEST.json": entry(b"{}")})
    assert report["ok"] is True
    assert report["artifacts_checked"] == 2 and report["bytes_checked"] == 3
    assert report["problems"] == [] and report["unexpected"] == []


@pytest.mark.parametrize("found, problem", [
    ({}, "missing"),
    ({"a": {"kind": "link", "size": 3}}, "not a regular file (link)"),
    ({"a": entry(b"y")}, "sha256 differs"),
    ({"a": entry(b"xx")}, "sha256 and size differ"),
])
def test_each_kind_of_problem_is_named(found, problem):
    report = ac.check_tree([artifact("a", b"x")], found)
    assert report["ok"] is False
    assert [item["problem"] for item in report["problems"]] == [problem]
    assert report["problems"][0]["expected_sha256"] == sha(b"x")


def test_wrong_size_still_reports_both_digests():
    report = ac.check_tree([artifact("dumps/db.sql", b"abc")], {"dumps/db.sql": entry(b"abcd")})
    item = report["problems"][0]
    assert (item["expected_size"], item["actual_size"]) == (3, 4)
    assert (item["expected_sha256"], item["actual_sha256"]) == (sha(b"abc"), sha(b"abcd"))
    message = ac.describe(report, "/r")
    assert "dumps/db.sql: sha256 and size differ" in message
    assert sha(b"abc") in message and sha(b"abcd") in message


def test_no_sha256_in_manifest_is_a_problem():
    report = ac.check_tree([{"path": "a", "size": 1, "sha256": None}], {"a": entry(b"x")})
    assert report["problems"][0]["problem"] == "no sha256 in the manifest"


def test_unexpected_regular_files_fail_but_not_the_manifest_or_links():
    report = ac.check_tree([artifact("a", b"x")], {"a": entry(b"x"), "extra": entry(b"e"),
                                                   "link": {"kind": "link", "size": 1},
                                                   "MANIFEST.json": entry(b"m")})
    assert report["ok"] is False
    assert report["unexpected"] == ["extra"] and report["problem_count"] == 0
    assert "1 files not in the manifest: extra" in ac.describe(report, "/r")


def test_report_is_limited_but_counted():
    artifacts = [artifact("f{0:03d}".format(i), b"x") for i in range(ac.REPORT_LIMIT + 5)]
    report = ac.check_tree(artifacts, {})
    assert report["problem_count"] == ac.REPORT_LIMIT + 5
    assert len(report["problems"]) == ac.REPORT_LIMIT
    assert "and 5 more" in ac.describe(report, "/r")


def write_tree(root, files):
    for path, data in files.items():
        full = os.path.join(str(root), path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as stream:
            stream.write(data)


def test_verify_tree_on_disk(tmp_path):
    files = {"dumps/db.sql": b"CREATE TABLE t;\n-- Dump completed\n", "volumes/c/x": b"\x00\x01"}
    manifest = {"artifacts": [artifact(p, d) for p, d in files.items()]}
    write_tree(tmp_path, dict(files, **{"MANIFEST.json": json.dumps(manifest).encode()}))
    os.symlink("x", str(tmp_path / "volumes" / "c" / "link"))
    assert ac.verify_tree(str(tmp_path))["ok"] is True
    (tmp_path / "dumps" / "db.sql").write_bytes(b"CREATE TABLE u;\n-- Dump completed\n")
    report = ac.verify_tree(str(tmp_path))
    assert report["ok"] is False
    assert report["problems"][0]["path"] == "dumps/db.sql"
    assert report["problems"][0]["actual_sha256"] == sha(b"CREATE TABLE u;\n-- Dump completed\n")
    assert report["msg"].startswith("1 of 2 artifacts of {0}".format(tmp_path))


def test_verify_tree_without_manifest_or_directory(tmp_path):
    with pytest.raises(InvalidInput, match="no readable manifest"):
        ac.verify_tree(str(tmp_path))
    with pytest.raises(InvalidInput, match="not a directory"):
        ac.verify_tree(str(tmp_path / "nowhere"))
    (tmp_path / "MANIFEST.json").write_text('{"artifacts": []}')
    with pytest.raises(BadInput, match="no artifacts"):
        ac.verify_tree(str(tmp_path))
