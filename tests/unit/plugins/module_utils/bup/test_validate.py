from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible_collections.statesafe.backup.plugins.module_utils.bup import validate
from ansible_collections.statesafe.backup.plugins.module_utils.bup.errors import BadInput

SHA_A = "a" * 64
SHA_B = "b" * 64


def manifest(artifacts):
    return json.dumps({"version": 1, "artifacts": artifacts}).encode()


@pytest.mark.parametrize("path, expected", [
    ("a/b", "a/b"), ("./a//b", "a/b"), ("a/./b/", "a/b"), ("a/../b", "b"),
    ("/etc/passwd", None), ("../x", None), ("a/../../x", None), (".", None), ("", None), (None, None),
])
def test_normalize_relpath(path, expected):
    assert validate.normalize_relpath(path) == expected


def test_load_manifest_list_form_sorted_and_normalized():
    artifacts = validate.load_manifest(manifest([
        {"path": "./dumps/db.sql", "size": 10, "sha256": SHA_A.upper(), "step": "dump"},
        {"path": "resources/Secret/x.yaml", "size": 0, "sha256": SHA_B},
    ]), "M")
    assert artifacts == [{"path": "dumps/db.sql", "size": 10, "sha256": SHA_A},
                         {"path": "resources/Secret/x.yaml", "size": 0, "sha256": SHA_B}]


def test_load_manifest_mapping_form():
    data = json.dumps({"artifacts": {"b": {"size": 1, "sha256": SHA_A}, "a": {"size": 2}}}).encode()
    assert validate.load_manifest(data, "M") == [{"path": "a", "size": 2, "sha256": None},
                                                 {"path": "b", "size": 1, "sha256": SHA_A}]


@pytest.mark.parametrize("data, message", [
    (b"{not json", "not valid JSON"),
    (b"[]", "no 'artifacts' list"),
    (json.dumps({"artifacts": []}).encode(), "lists no artifacts"),
    (manifest([{"path": "/abs", "size": 1}]), "no relative path"),
    (manifest([{"path": "../up", "size": 1}]), "no relative path"),
    (manifest([{"path": "a", "size": -1}]), "no valid size"),
    (manifest([{"path": "a", "size": True}]), "no valid size"),
    (manifest([{"path": "a", "size": "12"}]), "no valid size"),
    (manifest([{"path": "a", "size": 1, "sha256": "xyz"}]), "invalid sha256"),
    (manifest([{"path": "a", "size": 1}, {"path": "./a", "size": 1}]), "lists a twice"),
])
def test_load_manifest_rejects_with_the_source_named(data, message):
    with pytest.raises(BadInput, match=message) as info:
        validate.load_manifest(data, "/staging/MANIFEST.json")
    assert "path=/staging/MANIFEST.json" in str(info.value)


ARTIFACTS = [{"path": "a", "size": 3, "sha256": SHA_A}, {"path": "b", "size": 5, "sha256": SHA_B},
             {"path": "c", "size": 1, "sha256": None}]


def test_compare_all_good_by_size():
    files = {"a": {"size": 3, "kind": "file"}, "b": {"size": 5, "kind": "file"}, "c": {"size": 1, "kind": "file"},
             "extra": {"size": 9, "kind": "file"}}
    report = validate.compare(ARTIFACTS, files)
    assert report["ok"] and report["level"] == "size"
    assert report["files_checked"] == 3 and report["bytes_checked"] == 9 and report["problems"] == 0


def test_compare_reports_every_kind_of_problem():
    files = {"a": {"size": 2, "kind": "file"}, "b": {"size": 5, "kind": "symlink"}}
    report = validate.compare(ARTIFACTS, files)
    assert not report["ok"]
    assert report["missing"] == ["c"]
    assert report["wrong_size"] == [{"path": "a", "expected": 3, "found": 2}]
    assert report["not_a_file"] == ["b"]
    assert report["problems"] == 3
    assert validate.summarize(report) == ("3 of 3 artifacts failed (missing: c; wrong size: a; "
                                          "not a regular file: b)")


def test_compare_with_digests_catches_same_size_different_content_and_missing_sha():
    files = {"a": {"size": 3, "kind": "file"}, "b": {"size": 5, "kind": "file"}, "c": {"size": 1, "kind": "file"}}
    report = validate.compare(ARTIFACTS, files, {"a": SHA_A, "b": SHA_A, "c": SHA_A})
    assert report["level"] == "sha256"
    assert report["wrong_sha256"] == [{"path": "b", "expected": SHA_B, "found": SHA_A}]
    assert report["no_sha256_in_manifest"] == ["c"]
    assert not report["ok"]


def test_compare_caps_the_lists_but_counts_everything():
    artifacts = [{"path": "f{0:03d}".format(n), "size": 1, "sha256": None} for n in range(50)]
    report = validate.compare(artifacts, {})
    assert report["problems"] == 50 and len(report["missing"]) == validate.REPORT_LIMIT
    assert validate.summarize(report).startswith("50 of 50 artifacts failed (missing: f000, f001, f002 and more")
