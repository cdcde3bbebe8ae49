"""tree_checksums: the staging tree's regular files with size and sha256, as the manifest needs them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import socket

import pytest
import yaml

from ansible_collections.statesafe.backup.plugins.module_utils.capture import tree_checksums as tc
from ansible_collections.statesafe.backup.plugins.module_utils.errors import InvalidInput, UnreadableFiles
from ansible_collections.statesafe.backup.plugins.module_utils.profile.backup import manifest_artifacts
from ansible_collections.statesafe.backup.plugins.modules import tree_checksums as module


def sha(data):
    return hashlib.sha256(data).hexdigest()


def write(root, relpath, data=b""):
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def by_relpath(result, root):
    return {os.path.relpath(f["path"], str(root)): f for f in result["files"]}


def test_nested_tree_hidden_and_empty_files(tmp_path):
    write(tmp_path, "dumps/mariadb.sql", b"INSERT 1;\n")
    write(tmp_path, "volumes/zk/data/version-2/log.1", b"z" * 10)
    write(tmp_path, "volumes/zk/.hidden/.dotfile", b"h")
    write(tmp_path, "resources/Secret/empty.yaml")
    (tmp_path / "volumes/empty-dir").mkdir()
    result = tc.tree_checksums(str(tmp_path))
    assert by_relpath(result, tmp_path) == {
        "dumps/mariadb.sql": {"path": str(tmp_path / "dumps/mariadb.sql"), "size": 10, "checksum": sha(b"INSERT 1;\n")},
        "resources/Secret/empty.yaml": {"path": str(tmp_path / "resources/Secret/empty.yaml"), "size": 0,
                                        "checksum": sha(b"")},
        "volumes/zk/.hidden/.dotfile": {"path": str(tmp_path / "volumes/zk/.hidden/.dotfile"), "size": 1,
                                        "checksum": sha(b"h")},
        "volumes/zk/data/version-2/log.1": {"path": str(tmp_path / "volumes/zk/data/version-2/log.1"), "size": 10,
                                            "checksum": sha(b"z" * 10)},
    }
    assert [os.path.relpath(f["path"], str(tmp_path)) for f in result["files"]] == sorted(by_relpath(result, tmp_path))
    assert result["file_count"] == 4 and result["bytes"] == 21
    assert result["not_regular"] == [] and result["not_regular_count"] == 0 and result["root"] == str(tmp_path)


def test_result_feeds_manifest_artifacts_as_find_did(tmp_path):
    write(tmp_path, "b/File", b"2")
    write(tmp_path, "a", b"1")
    write(tmp_path, "B", b"3")
    artifacts = manifest_artifacts(tc.tree_checksums(str(tmp_path))["files"], str(tmp_path))
    assert artifacts == [{"path": "a", "size": 1, "sha256": sha(b"1")}, {"path": "B", "size": 1, "sha256": sha(b"3")},
                         {"path": "b/File", "size": 1, "sha256": sha(b"2")}]


def test_large_file_is_read_in_bounded_chunks(tmp_path, monkeypatch):
    data = os.urandom(3 * 1024 * 1024 + 17)
    write(tmp_path, "volumes/big.bin", data)
    reads = []
    opener = tc._open_regular

    class Recording(object):
        def __init__(self, handle):
            self.handle = handle

        def read(self, size=-1):
            reads.append(size)
            return self.handle.read(size)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

    monkeypatch.setattr(tc, "_open_regular", lambda path: Recording(opener(path)))
    result = tc.tree_checksums(str(tmp_path), chunk=64 * 1024)
    assert result["files"] == [{"path": str(tmp_path / "volumes/big.bin"), "size": len(data), "checksum": sha(data)}]
    assert reads and max(reads) == 64 * 1024 and -1 not in reads
    assert len(reads) == len(data) // (64 * 1024) + 2  # full chunks, the tail, the empty read at the end


def test_default_excludes_only_the_manifest_at_the_top(tmp_path):
    write(tmp_path, "MANIFEST.json", b"{}")
    write(tmp_path, "volumes/app/MANIFEST.json", b"the application's own file")
    result = tc.tree_checksums(str(tmp_path))
    assert list(by_relpath(result, tmp_path)) == ["volumes/app/MANIFEST.json"]


@pytest.mark.parametrize("exclude, left", [
    ([], ["MANIFEST.json", "tmp/x", "tmpfile"]),
    (["tmp"], ["MANIFEST.json", "tmpfile"]),
    (["./tmp/", "MANIFEST.json"], ["tmpfile"]),
    (["tmp/x", "nothing/there"], ["MANIFEST.json", "tmpfile"]),
])
def test_exclude_paths_leave_out_a_path_and_what_is_below_it(tmp_path, exclude, left):
    for relpath in ("MANIFEST.json", "tmp/x", "tmpfile"):
        write(tmp_path, relpath, b".")
    assert sorted(by_relpath(tc.tree_checksums(str(tmp_path), exclude), tmp_path)) == left


@pytest.mark.parametrize("bad", ["/etc", "..", "../x", "", "."])
def test_exclude_paths_outside_the_tree_are_refused(tmp_path, bad):
    with pytest.raises(InvalidInput, match="not a path inside the tree"):
        tc.tree_checksums(str(tmp_path), [bad])


def test_links_and_special_files_are_named_not_listed_nor_followed(tmp_path):
    write(tmp_path, "data/real", b"r")
    outside = tmp_path.parent / (tmp_path.name + "-outside")
    write(outside, "secret", b"s")
    os.symlink("real", str(tmp_path / "data/link-to-file"))
    os.symlink(str(outside), str(tmp_path / "data/link-to-dir"))
    os.symlink("missing", str(tmp_path / "data/dangling"))
    os.mkfifo(str(tmp_path / "data/fifo"))
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(tmp_path / "data/sock"))
        result = tc.tree_checksums(str(tmp_path))
    finally:
        server.close()
    assert list(by_relpath(result, tmp_path)) == ["data/real"]
    assert result["not_regular"] == [
        {"path": "data/dangling", "type": "link"}, {"path": "data/fifo", "type": "fifo"},
        {"path": "data/link-to-dir", "type": "link"}, {"path": "data/link-to-file", "type": "link"},
        {"path": "data/sock", "type": "socket"}]
    assert result["not_regular_count"] == 5


def test_not_regular_list_is_capped_and_counted(tmp_path):
    for index in range(tc.REPORT_LIMIT + 5):
        os.symlink("x", str(tmp_path / "l{0:03d}".format(index)))
    result = tc.tree_checksums(str(tmp_path))
    assert result["not_regular_count"] == tc.REPORT_LIMIT + 5 and len(result["not_regular"]) == tc.REPORT_LIMIT


def test_unreadable_files_and_directories_fail_naming_each(tmp_path, monkeypatch):
    # chmod 0 does not stop root, who runs these tests in CI: the refusals are made where the walk reads.
    write(tmp_path, "a/ok", b"1")
    write(tmp_path, "a/locked", b"2")
    write(tmp_path, "b/inside", b"3")
    scandir, opener = os.scandir, tc._open_regular

    def refuse(path, real):
        if path.endswith("/b") or path.endswith("/a/locked"):
            raise PermissionError(13, "Permission denied", path)
        return real(path)

    monkeypatch.setattr(tc.os, "scandir", lambda path: refuse(path, scandir))
    monkeypatch.setattr(tc, "_open_regular", lambda path: refuse(path, opener))
    with pytest.raises(UnreadableFiles) as caught:
        tc.tree_checksums(str(tmp_path))
    message = str(caught.value)
    assert "2 entries of the staging tree" in message and "a/locked: Permission denied" in message
    assert "b: Permission denied" in message and caught.value.location == {"path": str(tmp_path)}


def test_a_file_that_cannot_be_opened_fails_and_the_rest_are_named_without_hashing(tmp_path, monkeypatch):
    for relpath in ("a", "b", "c"):
        write(tmp_path, relpath, b"x")
    opener = tc._open_regular
    hashed = []
    original = tc.local_files.stream_sha256

    def refuse_b(path):
        if path.endswith("/b") or path.endswith("/c"):
            raise PermissionError(13, "Permission denied", path)
        return opener(path)

    def counting(handle, chunk):
        hashed.append(handle)
        return original(handle, chunk)

    monkeypatch.setattr(tc, "_open_regular", refuse_b)
    monkeypatch.setattr(tc.local_files, "stream_sha256", counting)
    with pytest.raises(UnreadableFiles, match=r"2 entries .*b: Permission denied; c: Permission denied"):
        tc.tree_checksums(str(tmp_path))
    assert len(hashed) == 1


def test_message_names_the_first_ten_and_counts_the_rest():
    message = tc.unreadable_message("/s", [("f{0}".format(i), "Permission denied") for i in range(13)])
    assert message.startswith("13 entries of the staging tree /s cannot be read")
    assert "f9: Permission denied" in message and "f10" not in message and message.endswith(" and 3 more")


def test_a_link_planted_after_the_walk_is_not_followed(tmp_path):
    os.symlink("/etc/hostname", str(tmp_path / "planted"))
    with pytest.raises(OSError):
        tc._open_regular(str(tmp_path / "planted"))


@pytest.mark.parametrize("setup, message", [
    ("relative", "absolute path"),
    ("missing", "not a directory"),
    ("file", "not a directory"),
    ("link", "not a directory"),
])
def test_root_must_be_an_absolute_directory(tmp_path, setup, message):
    root = {"relative": "staging", "missing": str(tmp_path / "missing"), "file": str(write(tmp_path, "f")),
            "link": str(tmp_path / "link")}[setup]
    if setup == "link":
        (tmp_path / "real").mkdir()
        os.symlink(str(tmp_path / "real"), root)
    with pytest.raises(InvalidInput, match=message):
        tc.tree_checksums(root)


@pytest.mark.parametrize("path, exclusions, expected", [
    ("MANIFEST.json", {"MANIFEST.json"}, True),
    ("a/MANIFEST.json", {"MANIFEST.json"}, False),
    ("tmp/deep/x", {"tmp"}, True),
    ("tmpx/y", {"tmp"}, False),
    ("a/b", {"a/b/c"}, False),
])
def test_is_excluded(path, exclusions, expected):
    assert tc.is_excluded(path, frozenset(exclusions)) is expected


def test_module_returns_what_it_documents_and_documents_its_options(tmp_path):
    write(tmp_path, "f", b"1")
    os.symlink("f", str(tmp_path / "l"))
    result = tc.tree_checksums(str(tmp_path))
    documented = yaml.safe_load(module.RETURN)
    assert set(result) == set(documented) - {"error_location"}
    assert set(result["files"][0]) == set(documented["files"]["contains"])
    options = yaml.safe_load(module.DOCUMENTATION)["options"]
    assert set(options) == set(module.ARGUMENT_SPEC)
    for name, spec in module.ARGUMENT_SPEC.items():
        assert options[name].get("default") == spec.get("default"), name
        assert options[name]["type"] == spec["type"], name
