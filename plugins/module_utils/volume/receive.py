# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Receiving a tree out of a pod: one tar stream into a staging directory, checked against the pod's sha256.

The pod hashes the files in an exec of its own while tar streams them
(RemoteSums); a stream whose tail the API server lost after the pod reported
success is fetched again (fetch_retrying)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import threading

from ansible_collections.statesafe.backup.plugins.module_utils.volume import mirror
from ansible_collections.statesafe.backup.plugins.module_utils.volume import pod_scripts as scripts
from ansible_collections.statesafe.backup.plugins.module_utils.volume import tar_native
from ansible_collections.statesafe.backup.plugins.module_utils.errors import (
    ChecksumMismatch,
    StreamCut,
    StreamError,
    UnsafeArchive,
)
from ansible_collections.statesafe.backup.plugins.module_utils.k8s.exec_session import (
    ExecSession,
)
from ansible_collections.statesafe.backup.plugins.module_utils.volume.target import (
    TOOLS_HINT,
    exec_failure,
    read_all,
)


class TarProgress(object):
    """How far a receiving tar stream got: for the error when it is cut."""

    __slots__ = ("expected", "files", "bytes", "path", "path_bytes", "path_size", "path_done")

    def __init__(self, expected=0):
        self.expected = expected
        self.files = 0  # files completely received
        self.bytes = 0  # file content bytes received, all files
        self.path = None  # the last member started (kept once complete, see path_done)
        self.path_bytes = 0
        self.path_size = 0
        self.path_done = False

    def start(self, path, size):
        self.path, self.path_bytes, self.path_size, self.path_done = path, 0, size, False

    def add(self, count):
        self.bytes += count
        self.path_bytes += count

    def done(self):
        self.files += 1
        self.path_done = True


def receive(stream, expected, staging, owner=None, progress=None):
    """The expected regular files of a tar stream, checked and written into staging under their own names.

    tar_native reads and checks the stream; GNU tar writes the files when it is
    installed, a Python writer thread otherwise. {relpath: Received}.
    """
    return tar_native.receive(stream, expected, staging, owner, progress)


def stream_cut_error(exc, target, progress, diagnostics, stderr_text=""):
    """The StreamCut for a tar stream that ended early or broke, with what is known about the cut.

    Says how many bytes and files arrived, which file was being written, and
    whether the exec's exit status came (and what it said), so "tar finished but
    bytes were lost" can be told apart from "the connection was cut".
    """
    parts = [exc.message]
    parts.append("{0} of {1} files complete, {2} bytes of file content and {3} bytes of tar stream received".format(
        progress.files, progress.expected, progress.bytes, diagnostics.get("stdout_bytes")))
    if progress.path is not None and progress.path_done:
        parts.append("last path written: {0} (complete, {1} bytes; the cut came between files)".format(
            progress.path, progress.path_size))
    elif progress.path is not None:
        parts.append("last path being written: {0} ({1} of {2} bytes)".format(
            progress.path, progress.path_bytes, progress.path_size))
    else:
        parts.append("no file had started")
    if diagnostics.get("status_arrived"):
        parts.append("the exec exit status arrived: {0}".format(diagnostics.get("status")))
    else:
        parts.append("the exec exit status did not arrive (connection {0}, close code {1})".format(
            "closed by the server" if diagnostics.get("closed_by_server") else "not closed by the server",
            diagnostics.get("close_code")))
    if stderr_text:
        parts.append("pod stderr: {0}".format(stderr_text))
    details = dict(diagnostics)
    details.update(files_complete=progress.files, files_expected=progress.expected,
                   file_bytes=progress.bytes, last_path=progress.path,
                   last_path_bytes=progress.path_bytes, last_path_size=progress.path_size)
    path = exc.location.get("path") or progress.path
    return StreamCut("; ".join(parts), details=details, **target.location(path))


def check_received(received, remote_sums):
    """Compare what arrived with the sha256 the pod computed; ChecksumMismatch names the file."""
    for relpath in sorted(received):
        got = received[relpath]
        want = remote_sums.get(relpath)
        if want is None:
            raise ChecksumMismatch("the pod reported no checksum for the file", path=relpath)
        if want != got.sha256:
            raise ChecksumMismatch(
                "sha256 mismatch: pod has {0}, received {1} ({2} bytes); the file changed during the copy "
                "or the stream was corrupted".format(want, got.sha256, got.size), path=relpath)


def _list_bytes(paths):
    return b"".join(mirror.encode_name(p) + b"\x00" for p in sorted(paths))


def _discard_padding(session, target):
    """Tar pads its output to whole records; anything but zeros after the archive is an error."""
    while True:
        data = session.read_stdout()
        if not data:
            return
        if data.strip(b"\x00"):
            raise StreamError("data after the end of the tar archive", **target.location())


def fetch(k8s_client, target, paths, staging, timeout, owner):
    """Stream the files in one tar; {relpath: Received}."""
    listing = _list_bytes(paths)
    with ExecSession.open(k8s_client, target.namespace, target.pod,
                          scripts.command(scripts.SEND_TAR, target.root, len(listing)),
                          container=target.container, stdin=True, timeout=timeout) as session:
        progress = TarProgress(len(paths))
        session.send_stdin(listing)
        session.close_stdin()
        try:
            received = receive(session, paths, staging, owner, progress)
        except (StreamError, UnsafeArchive) as exc:
            # Prefer the pod's own explanation (tar's error, a kill) when there is one.
            status = session.status_after_error()
            if status is not None and status.rc:
                raise exec_failure(target, "tar in the pod", status, session.stderr) from exc
            if isinstance(exc, UnsafeArchive):
                raise UnsafeArchive(exc.message, **target.location(exc.location.get("path"))) from exc
            raise stream_cut_error(exc, target, progress, session.diagnostics(),
                                   session.stderr.getvalue().decode("utf-8", "replace").strip()) from exc
        _discard_padding(session, target)
        status = session.finish()
    if status.rc != 0 or not status.started:
        raise exec_failure(target, "tar in the pod", status, session.stderr, TOOLS_HINT if not status.started else "")
    return received


# The API server can end an exec stream before it has passed on all of stdout and still send the
# exit status Success (kubernetes/kubernetes#124571, under load): the pod's tar finished,
# the tail of its output was lost in transit. Such a copy is repeated, at most this many times.
LOST_TAIL_RETRIES = 2


def attempt_directory(staging, attempt):
    return os.path.join(staging, "attempt-{0}".format(attempt))


def fetch_retrying(fetch_once, paths, staging, retries=LOST_TAIL_RETRIES):
    """fetch_once(paths, attempt_dir) again, in a fresh directory, while the tail was lost in transit.

    Returns ({relpath: Received}, retries used). Any other failure, or a lost tail
    after the last retry, is raised as it came.
    """
    attempt = 0
    while True:
        attempt_dir = attempt_directory(staging, attempt)
        os.mkdir(attempt_dir, 0o700)
        try:
            return fetch_once(paths, attempt_dir), attempt
        except StreamCut as exc:
            if attempt >= retries or not exc.lost_tail:
                raise
            shutil.rmtree(attempt_dir, ignore_errors=True)
            attempt += 1


class RemoteSums(object):
    """sha256sum of the files in the pod, run alongside the tar stream in an exec of its own.

    Started before the tar exec, read by a thread, so the pod hashes while it
    streams instead of in a second pass afterwards. What it checks is unchanged:
    every file that arrived against the pod's own sha256 of that file.
    """

    LIMIT = 256 * 1024 * 1024

    def __init__(self, k8s_client, target, paths, timeout):
        self.target = target
        listing = _list_bytes(paths)
        self._session = ExecSession.open(k8s_client, target.namespace, target.pod,
                                         scripts.command(scripts.SHA256, target.root, len(listing)),
                                         container=target.container, stdin=True, timeout=timeout)
        try:
            self._session.send_stdin(listing)
            self._session.close_stdin()
        except BaseException:
            self._session.close()
            raise
        self._out = self._status = self._error = None
        self._thread = threading.Thread(target=self._run, name="statesafe-remote-sums")
        self._thread.daemon = True  # abandoned when the copy fails; it ends with the exec or the process
        self._thread.start()

    def _run(self):
        with self._session:
            try:
                self._out = read_all(self._session, self.target, self.LIMIT)
                self._status = self._session.finish()
            except BaseException as exc:  # pylint: disable=broad-except
                self._error = exc  # raised by result()

    def result(self):
        """{relpath: sha256} as the pod computed them."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        if self._status.rc != 0 or not self._status.started:
            raise exec_failure(self.target, "checksums", self._status, self._session.stderr, TOOLS_HINT)
        return mirror.parse_sha256sum_z(self._out)
