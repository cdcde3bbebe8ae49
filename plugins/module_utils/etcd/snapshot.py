# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What etcdctl and etcdutl print, the snapshot's integrity trailer, and their command lines. Pure functions.

An etcd v3 snapshot (the Maintenance.Snapshot stream etcdctl saves) is the bbolt database followed by the
sha256 of everything before it: 32 bytes, and the database's size is a multiple of its 512-byte pages, so a
file whose size modulo 512 is 32 carries the trailer. `etcdutl snapshot restore` checks it; `etcdutl snapshot
status` does not (it opens the database and hashes its keys), so a snapshot counts only when both pass.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json

from ansible_collections.statesafe.backup.plugins.module_utils.errors import VerificationFailed

TRAILER_SIZE = 32
PAGE_SIZE = 512
CHUNK = 1024 * 1024


class SnapshotCorrupt(VerificationFailed):
    """A snapshot file whose trailer or database does not check out."""


def parse_status(text):
    """`etcdutl snapshot status -w json` -> {hash, revision, total_keys, total_size, version}.

    Raises ValueError when the output is not that JSON object, or a field is missing or of the wrong type.
    """
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError("etcdutl snapshot status printed no JSON: {0!r}".format(text.strip()[:200])) from exc
    if not isinstance(data, dict):
        raise ValueError("etcdutl snapshot status printed {0!r}, not an object".format(text.strip()[:200]))
    fields = (("hash", "hash"), ("revision", "revision"), ("totalKey", "total_keys"), ("totalSize", "total_size"))
    out = {}
    for key, name in fields:
        value = data.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError("etcdutl snapshot status: {0} is {1!r}, not a count".format(key, value))
        out[name] = value
    out["version"] = str(data.get("version") or "")
    return out


def parse_endpoint_status(text):
    """`etcdctl endpoint status -w json` -> [{endpoint, revision, version, db_size, leader}] (one per endpoint)."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError("etcdctl endpoint status printed no JSON: {0!r}".format(text.strip()[:200])) from exc
    if not isinstance(data, list) or not data:
        raise ValueError("etcdctl endpoint status printed {0!r}, not a list of endpoints".format(text.strip()[:200]))
    out = []
    for entry in data:
        status = (entry or {}).get("Status") or {}
        revision = (status.get("header") or {}).get("revision")
        if not isinstance(revision, int) or isinstance(revision, bool):
            raise ValueError("etcdctl endpoint status: no revision for {0!r}".format((entry or {}).get("Endpoint")))
        member = (status.get("header") or {}).get("member_id")
        out.append({"endpoint": entry.get("Endpoint"), "revision": revision, "version": status.get("version"),
                    "db_size": status.get("dbSize"), "leader": member is not None and status.get("leader") == member})
    return out


def cluster_revision(endpoints):
    """The revision of a cluster from its endpoints' status: the highest (a follower may lag by a few writes)."""
    return max(entry["revision"] for entry in endpoints)


def trailer_problem(size, head_digest, trailer):
    """Why a snapshot's integrity trailer does not check out, or None.

    size: the file's size; head_digest: sha256 of all but its last 32 bytes; trailer: those 32 bytes.
    """
    if size < PAGE_SIZE + TRAILER_SIZE:
        return "{0} bytes is too short for an etcd snapshot".format(size)
    if size % PAGE_SIZE != TRAILER_SIZE:
        return ("{0} bytes: no integrity trailer (an etcd snapshot is a whole number of 512-byte pages and the 32-byte "
                "sha256 of them; a copy of a member's db file has none)".format(size))
    if head_digest != trailer:
        return "the sha256 of its content ({0}) differs from the one it ends with ({1})".format(
            head_digest.hex(), trailer.hex())
    return None


def read_trailer(stream, size):
    """(sha256 of all but the last 32 bytes, those 32 bytes) of a binary stream of the given size."""
    digest = hashlib.sha256()
    remaining = max(0, size - TRAILER_SIZE)
    while remaining:
        chunk = stream.read(min(CHUNK, remaining))
        if not chunk:
            break
        digest.update(chunk)
        remaining -= len(chunk)
    return digest.digest(), stream.read(TRAILER_SIZE)


def etcdctl_argv(etcdctl, endpoints, cacert, cert, key, timeout, *args):
    """etcdctl's command line with the cluster's client certificates (paths only: never the key material)."""
    argv = [etcdctl, "--endpoints", ",".join(endpoints), "--command-timeout", "{0}s".format(int(timeout)),
            "--dial-timeout", "{0}s".format(min(int(timeout), 10))]
    for flag, value in (("--cacert", cacert), ("--cert", cert), ("--key", key)):
        if value:
            argv += [flag, value]
    return argv + list(args)


def restore_argv(etcdutl, snapshot, data_dir, name, initial_cluster, peer_urls, cluster_token, bump_revision):
    """`etcdutl snapshot restore` into data_dir as member name of initial_cluster."""
    argv = [etcdutl, "snapshot", "restore", snapshot, "--data-dir", data_dir, "--name", name,
            "--initial-cluster", initial_cluster, "--initial-advertise-peer-urls", peer_urls,
            "--initial-cluster-token", cluster_token]
    if bump_revision:
        # Clients that watched the old cluster (the API server's caches, controllers) must see revisions move on.
        argv += ["--bump-revision", str(int(bump_revision)), "--mark-compacted"]
    return argv
