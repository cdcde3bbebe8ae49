"""module_utils/etcd/ops.py on real files: the control plane's files copied and put back with cp -a, the state
record, the completeness marker, and a corrupted snapshot refused before etcdutl runs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib

import pytest

from ansible_collections.statesafe.backup.plugins.module_utils.errors import ExecFailed, InvalidInput
from ansible_collections.statesafe.backup.plugins.module_utils.etcd import decision, ops, snapshot


@pytest.fixture
def control_plane(tmp_path):
    root = tmp_path / "host" / "etc" / "kubernetes"
    (root / "pki" / "etcd").mkdir(parents=True)
    (root / "pki" / "etcd" / "ca.key").write_text("-----BEGIN PRIVATE KEY-----\nsecret\n")
    (root / "pki" / "etcd" / "ca.key").chmod(0o600)
    (root / "admin.conf").write_text("apiVersion: v1\n")
    return root


def test_collect_copies_fresh_keeps_modes_and_hashes(control_plane, tmp_path):
    dest = tmp_path / "staging" / "files"
    dest.mkdir(parents=True)
    (dest / "stale").write_text("from an earlier run")
    out = ops.collect_files([str(control_plane / "pki"), str(control_plane / "admin.conf")], str(dest), 30)
    rel = str(control_plane).lstrip("/")
    assert [f["path"] for f in out["files"]] == [rel + "/admin.conf", rel + "/pki/etcd/ca.key"]
    assert not (dest / "stale").exists()
    copied = dest / rel / "pki" / "etcd" / "ca.key"
    assert oct(copied.stat().st_mode & 0o777) == "0o600"
    assert out["digest"] == decision.files_digest(out["files"])
    assert "secret" not in repr(out)


def test_collect_names_a_missing_path(control_plane, tmp_path):
    with pytest.raises(ExecFailed, match="missing.conf"):
        ops.collect_files([str(control_plane / "missing.conf")], str(tmp_path / "files"), 30)


def test_put_back_restores_the_saved_content(control_plane, tmp_path):
    dest = tmp_path / "files"
    ops.collect_files([str(control_plane / "pki")], str(dest), 30)
    key = control_plane / "pki" / "etcd" / "ca.key"
    key.write_text("changed")
    assert ops.put_back([str(control_plane / "pki")], str(dest), 30) == [str(control_plane / "pki")]
    assert key.read_text().endswith("secret\n")
    with pytest.raises(InvalidInput, match="holds no"):
        ops.put_back([str(control_plane / "admin.conf")], str(dest), 30)


def test_read_state(tmp_path):
    path = tmp_path / "state.json"
    assert ops.read_state(str(path)) == {}
    path.write_text("{not json")
    assert ops.read_state(str(path)) == {}
    path.write_text('{"commit": "abc"}')
    assert ops.read_state(str(path)) == {"commit": "abc"}


def test_marker_loose_and_packed(tmp_path):
    repo = tmp_path / "repo"
    loose = repo / "refs" / "tags" / "complete" / "etcd-cp1"
    loose.mkdir(parents=True)
    (loose / "aaaa").write_text("aaaa\n")
    (repo / "packed-refs").write_text("# pack-refs\nbbbb refs/tags/complete/etcd-cp1/bbbb\n")
    assert ops.marker_present(str(repo), "etcd-cp1", "aaaa")
    assert ops.marker_present(str(repo), "etcd-cp1", "bbbb")
    assert not ops.marker_present(str(repo), "etcd-cp1", "cccc")


def test_a_flipped_byte_is_refused_before_etcdutl_runs(tmp_path):
    body = bytearray(b"\x01" * 1024)
    data = bytearray(body + hashlib.sha256(bytes(body)).digest())
    data[100] ^= 0xFF
    path = tmp_path / "snap.db"
    path.write_bytes(bytes(data))
    with pytest.raises(snapshot.SnapshotCorrupt, match="differs from the one it ends with"):
        ops.verify(str(path), str(tmp_path / "no-etcdutl-here"), 10)


def test_run_names_the_command_and_its_exit():
    with pytest.raises(ExecFailed, match="probe exited 3: boom"):
        ops.run(["sh", "-c", "echo boom >&2; exit 3"], 10, "probe")
