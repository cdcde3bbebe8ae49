from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat

import pytest

from ansible_collections.statesafe.backup.plugins.module_utils import local_files


def test_atomic_write_creates_with_mode_and_replaces(tmp_path):
    path = str(tmp_path / "f")
    local_files.atomic_write(path, b"one", 0o600)
    assert open(path, "rb").read() == b"one"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    local_files.atomic_write(path, b"two", 0o644)
    assert open(path, "rb").read() == b"two"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert os.listdir(str(tmp_path)) == ["f"], "no temporary file left behind"


def test_atomic_write_failure_leaves_old_content_and_no_temp(tmp_path, monkeypatch):
    path = str(tmp_path / "f")
    local_files.atomic_write(path, b"old", 0o644)

    def broken_replace(src, dst):
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        local_files.atomic_write(path, b"new", 0o644)
    monkeypatch.undo()
    assert open(path, "rb").read() == b"old"
    assert os.listdir(str(tmp_path)) == ["f"]


@pytest.mark.parametrize("setup, expected", [
    ("missing", None),
    ("dir", None),
    ("symlink", None),
    ("file", b"data"),
])
def test_read_bytes(tmp_path, setup, expected):
    path = tmp_path / "x"
    target = tmp_path / "target"
    target.write_bytes(b"data")
    if setup == "dir":
        path.mkdir()
    elif setup == "symlink":
        path.symlink_to(target)
    elif setup == "file":
        path.write_bytes(b"data")
    assert local_files.read_bytes(str(path)) == expected


def test_ensure_dir_sets_mode_despite_umask(tmp_path):
    old = os.umask(0o077)
    try:
        path = str(tmp_path / "a" / "b")
        assert local_files.ensure_dir(path, 0o755)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o755
        assert not local_files.ensure_dir(path, 0o700)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o755
    finally:
        os.umask(old)


def test_create_file_refuses_to_replace_and_sets_mode(tmp_path):
    path = str(tmp_path / "f")
    local_files.create_file(path, b"one", 0o640)
    assert open(path, "rb").read() == b"one"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    with pytest.raises(OSError):
        local_files.create_file(path, b"two", 0o640)
    assert open(path, "rb").read() == b"one"
    os.symlink(str(tmp_path / "elsewhere"), str(tmp_path / "l"))
    with pytest.raises(OSError):
        local_files.create_file(str(tmp_path / "l"), b"x", 0o600)
    assert not os.path.exists(str(tmp_path / "elsewhere")), "never written through a link"


@pytest.mark.parametrize("setup, expected", [
    ("missing", (None, None)),
    ("dir", (None, 0o700)),
    ("file", (b"data", 0o640)),
])
def test_read_state(tmp_path, setup, expected):
    path = tmp_path / "x"
    if setup == "dir":
        path.mkdir(mode=0o700)
        path.chmod(0o700)
    elif setup == "file":
        path.write_bytes(b"data")
        path.chmod(0o640)
    assert local_files.read_state(str(path)) == expected


def test_file_sha256_reads_in_chunks(tmp_path):
    import hashlib
    path = tmp_path / "f"
    path.write_bytes(b"x" * 1000)
    assert local_files.file_sha256(str(path), chunk=7) == (1000, hashlib.sha256(b"x" * 1000).hexdigest())


def test_fresh_directory_problem(tmp_path):
    assert local_files.fresh_directory_problem(str(tmp_path / "absent")) is None
    assert local_files.fresh_directory_problem(str(tmp_path)) is None
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_bytes(b"")
    assert local_files.fresh_directory_problem(str(tmp_path / "d")) == local_files.NOT_EMPTY
    assert local_files.fresh_directory_problem(str(tmp_path / "d" / "f")) == local_files.NOT_A_DIRECTORY
    (tmp_path / "e").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "e")
    assert local_files.fresh_directory_problem(str(tmp_path / "link")) == local_files.NOT_A_DIRECTORY
