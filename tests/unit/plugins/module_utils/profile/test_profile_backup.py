from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.statesafe.backup.plugins.module_utils.profile.backup import manifest_artifacts


def test_artifacts_relative_and_sorted():
    files = [{"path": "/s/app/volumes/c/b", "size": 2, "checksum": "bb", "mode": "0600"},
             {"path": "/s/app/dumps/db.sql", "size": 1, "checksum": "aa"}]
    assert manifest_artifacts(files, "/s/app") == [
        {"path": "dumps/db.sql", "size": 1, "sha256": "aa"}, {"path": "volumes/c/b", "size": 2, "sha256": "bb"}]
    assert manifest_artifacts([], "/s") == []


def test_artifacts_sort_without_regard_to_case():
    files = [{"path": "/s/b", "size": 0, "checksum": ""}, {"path": "/s/A", "size": 0, "checksum": ""},
             {"path": "/s/a", "size": 0, "checksum": ""}]
    assert [a["path"] for a in manifest_artifacts(files, "/s")] == ["A", "a", "b"]
