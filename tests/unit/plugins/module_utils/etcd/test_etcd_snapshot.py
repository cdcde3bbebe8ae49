"""module_utils/etcd/snapshot.py: what etcdctl and etcdutl print, the integrity trailer, the command lines."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import io
import json

import pytest

from ansible_collections.statesafe.backup.plugins.module_utils.etcd import snapshot

STATUS = '{"hash":2533265558,"revision":197,"totalKey":183,"totalSize":241664,"version":"3.6.0"}\n'
ENDPOINTS = json.dumps([{"Endpoint": "https://127.0.0.1:2379", "Status": {
    "header": {"cluster_id": 1, "member_id": 7, "revision": 197, "raft_term": 2}, "version": "3.6.4",
    "dbSize": 241664, "leader": 7}}])


def test_status_of_etcdutl_3_6():
    assert snapshot.parse_status(STATUS) == {"hash": 2533265558, "revision": 197, "total_keys": 183,
                                             "total_size": 241664, "version": "3.6.0"}


@pytest.mark.parametrize("text, why", [
    ("", "no JSON"),
    ("Error: snapshot file integrity check failed", "no JSON"),
    ("[1]", "not an object"),
    ('{"hash": 1, "revision": 2, "totalSize": 3}', "totalKey is None"),
    ('{"hash": 1, "revision": "2", "totalKey": 1, "totalSize": 3}', "revision is '2'"),
    ('{"hash": 1, "revision": -1, "totalKey": 1, "totalSize": 3}', "revision is -1"),
    ('{"hash": true, "revision": 1, "totalKey": 1, "totalSize": 3}', "hash is True"),
])
def test_status_that_is_not_a_status_is_refused(text, why):
    with pytest.raises(ValueError, match=why):
        snapshot.parse_status(text)


def test_endpoint_status_and_the_cluster_revision():
    endpoints = snapshot.parse_endpoint_status(ENDPOINTS)
    assert endpoints == [{"endpoint": "https://127.0.0.1:2379", "revision": 197, "version": "3.6.4",
                          "db_size": 241664, "leader": True}]
    lagging = dict(endpoints[0], revision=190, leader=False)
    assert snapshot.cluster_revision([lagging, endpoints[0]]) == 197


@pytest.mark.parametrize("text", ["", "[]", "{}", '[{"Endpoint": "x", "Status": {}}]'])
def test_endpoint_status_without_a_revision_is_refused(text):
    with pytest.raises(ValueError):
        snapshot.parse_endpoint_status(text)


def snapshot_bytes(pages=3, flip=None):
    body = bytearray(b"\x5a" * (512 * pages))
    trailer = hashlib.sha256(bytes(body)).digest()
    data = bytearray(body + trailer)
    if flip is not None:
        data[flip] ^= 0xFF
    return bytes(data)


def problem_of(data):
    head, trailer = snapshot.read_trailer(io.BytesIO(data), len(data))
    return snapshot.trailer_problem(len(data), head, trailer)


def test_a_sound_snapshot_passes():
    assert problem_of(snapshot_bytes()) is None


@pytest.mark.parametrize("flip", [0, 700, 512 * 3 - 1, 512 * 3, 512 * 3 + 31])
def test_a_flipped_byte_anywhere_is_found(flip):
    assert "differs from the one it ends with" in problem_of(snapshot_bytes(flip=flip))


def test_a_copied_db_file_without_trailer_is_named():
    assert "no integrity trailer" in problem_of(b"\x00" * 2048)


def test_a_truncated_snapshot_is_refused():
    assert "no integrity trailer" in problem_of(snapshot_bytes()[:-5])
    assert "too short" in problem_of(b"\x00" * 40)


def test_etcdctl_gets_paths_of_the_certificates_never_their_content():
    argv = snapshot.etcdctl_argv("etcdctl", ["https://a:2379", "https://b:2379"], "/pki/ca.crt", "/pki/c.crt",
                                 "/pki/c.key", 300, "snapshot", "save", "/x.db")
    assert argv == ["etcdctl", "--endpoints", "https://a:2379,https://b:2379", "--command-timeout", "300s",
                    "--dial-timeout", "10s", "--cacert", "/pki/ca.crt", "--cert", "/pki/c.crt", "--key", "/pki/c.key",
                    "snapshot", "save", "/x.db"]
    assert "--cacert" not in snapshot.etcdctl_argv("etcdctl", ["http://a:2379"], None, None, None, 5)


def test_restore_bumps_the_revision_and_marks_it_compacted_only_when_asked():
    argv = snapshot.restore_argv("etcdutl", "/s.db", "/d", "cp1", "cp1=https://10.0.0.1:2380", "https://10.0.0.1:2380",
                                 "tok", 1000000000)
    assert argv[:4] == ["etcdutl", "snapshot", "restore", "/s.db"]
    assert argv[argv.index("--bump-revision") + 1] == "1000000000" and argv[-1] == "--mark-compacted"
    plain = snapshot.restore_argv("etcdutl", "/s.db", "/d", "cp1", "x", "y", "tok", 0)
    assert "--bump-revision" not in plain and "--mark-compacted" not in plain
