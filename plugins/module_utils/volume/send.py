# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sending a local tree into a pod: one tar stream plus a checksum manifest, verified and swapped in by the pod."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import tarfile
import time

from ansible_collections.statesafe.backup.plugins.module_utils.volume import mirror
from ansible_collections.statesafe.backup.plugins.module_utils.volume import pod_scripts as scripts
from ansible_collections.statesafe.backup.plugins.module_utils.volume import tar_safety
from ansible_collections.statesafe.backup.plugins.module_utils.errors import (
    ExecFailed,
    InvalidInput,
    StreamError,
    VerificationFailed,
)
from ansible_collections.statesafe.backup.plugins.module_utils.k8s.exec_session import (
    ExecSession,
)
from ansible_collections.statesafe.backup.plugins.module_utils.volume.target import (
    TOOLS_HINT,
    exec_failure,
)

TAR_BUFSIZE = 64 * 1024


class _HashingReader(object):
    def __init__(self, handle):
        self._handle = handle
        self.digest = hashlib.sha256()

    def read(self, size=-1):
        data = self._handle.read(size)
        self.digest.update(data)
        return data


class _StdinWriter(object):
    """File-like adapter tarfile writes into; every write goes out as stdin frames."""

    def __init__(self, session):
        self._session = session

    def write(self, data):
        self._session.send_stdin(data)
        return len(data)


def build_tar(out, root, listing):
    """Write root's entries (sorted, parents first) and a checksum manifest as one tar to out.

    Returns {relpath: sha256} of the regular files sent.
    """
    sums = {}
    # The pod's tar extracts what we send: hold our own archive to the same rules as one we receive.
    checker = tar_safety.MemberChecker()
    archive = tarfile.open(fileobj=out, mode="w|", bufsize=TAR_BUFSIZE, format=tarfile.GNU_FORMAT)
    try:
        for relpath in sorted(listing):
            entry = listing[relpath]
            if entry.type == "other":
                continue
            info = tarfile.TarInfo(relpath)
            info.mtime = entry.mtime
            info.mode = entry.mode & 0o7777
            info.uid, info.gid = entry.uid, entry.gid
            info.uname = info.gname = ""
            path = os.path.join(root, relpath)
            if entry.type == "dir":
                info.type = tarfile.DIRTYPE
                checker.check(info)
                archive.addfile(info)
            elif entry.type == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = entry.link
                checker.check(info)
                archive.addfile(info)
            else:
                checker.check(info)
                with open(path, "rb") as handle:
                    size = os.fstat(handle.fileno()).st_size
                    if size != entry.size:
                        raise InvalidInput("local file changed size since it was listed", path=path)
                    info.size = size
                    reader = _HashingReader(handle)
                    try:
                        archive.addfile(info, reader)
                    except OSError as exc:
                        raise InvalidInput("local file changed while it was sent: {0}".format(exc), path=path) from exc
                    sums[relpath] = reader.digest.hexdigest()
        manifest = mirror.sha256sum_manifest(sums)
        info = tarfile.TarInfo(scripts.MANIFEST_NAME)
        info.size = len(manifest)
        info.mode = 0o600
        info.mtime = int(time.time())
        archive.addfile(info, _BytesReader(manifest))
    finally:
        archive.close()
    return sums


class _BytesReader(object):
    def __init__(self, data):
        self._view = memoryview(data)

    def read(self, size=-1):
        if size is None or size < 0:
            size = len(self._view)
        chunk, self._view = self._view[:size], self._view[size:]
        return bytes(chunk)


def failed_files(text):
    """Names sha256sum -c reported as FAILED."""
    names = []
    for line in text.splitlines():
        if line.endswith(": FAILED") or ": FAILED open or read" in line:
            names.append(line.rsplit(": FAILED", 1)[0].lstrip("\\").replace("./", "", 1))
    return names


def send(k8s_client, target, local_root, listing, same_owner, timeout):
    command = scripts.command(scripts.RECEIVE_TAR, target.root, os.urandom(4).hex(), "yes" if same_owner else "no")
    with ExecSession.open(k8s_client, target.namespace, target.pod, command,
                          container=target.container, stdin=True, timeout=timeout) as session:
        try:
            sums = build_tar(_StdinWriter(session), local_root, listing)
            session.close_stdin()
        except StreamError as exc:
            # The pod stopped reading: its exit status says why.
            status = session.status_after_error()
            if status is not None and status.rc:
                return _receive_failure(target, status, session.stderr)
            raise StreamError(exc.message, **target.location()) from exc
        while session.read_stdout():
            pass
        status = session.finish()
    if status.rc != 0 or not status.started:
        _receive_failure(target, status, session.stderr)
    return sums


def _receive_failure(target, status, stderr):
    text = stderr.getvalue().decode("utf-8", "replace").strip()
    if status.rc == scripts.RC_VERIFY_FAILED:
        names = failed_files(text)
        raise VerificationFailed(
            "restored data does not match what was sent{0}; the old data was left in place: {1}".format(
                " ({0})".format(", ".join(names[:5])) if names else "", text),
            **target.location(names[0] if names else None))
    if status.rc == scripts.RC_EXTRACT_FAILED:
        raise ExecFailed("extraction in the pod failed; the old data was left in place: {0}".format(text),
                         rc=status.rc, stderr=text, **target.location())
    if status.rc == scripts.RC_SWAP_FAILED:
        raise ExecFailed("swapping in the restored data failed: {0}".format(text), rc=status.rc, stderr=text,
                         **target.location())
    raise exec_failure(target, "restore in the pod", status, stderr, TOOLS_HINT if not status.started else "")
