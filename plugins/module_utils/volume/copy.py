# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Copy a directory tree out of or into a pod as one tar stream, incrementally and verified.

from_pod: list the remote tree (one exec), plan against the local mirror,
stream only the changed files (one exec, one tar stream) into a staging
directory beside the mirror, check every file's sha256 against the pod's
(one exec), and only then apply the plan: the mirror is never left half
updated, and unchanged files are never rewritten.

to_pod: list the remote tree; when it already matches, do nothing. Otherwise
stream the whole local tree plus a checksum manifest into the pod, where
RECEIVE_TAR extracts it next to the old data, verifies it and swaps it in.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import posixpath
import shutil
import stat
import tarfile
import tempfile
import threading
import time

from ansible_collections.statesafe.backup.plugins.module_utils.volume import mirror
from ansible_collections.statesafe.backup.plugins.module_utils.volume import pod_scripts as scripts
from ansible_collections.statesafe.backup.plugins.module_utils.k8s import pods as pod_utils
from ansible_collections.statesafe.backup.plugins.module_utils.volume import tar_native
from ansible_collections.statesafe.backup.plugins.module_utils.volume import tar_safety
from ansible_collections.statesafe.backup.plugins.module_utils.errors import (
    ChecksumMismatch,
    ExecFailed,
    FileChangedWhileRead,
    InvalidInput,
    ObjectNotFound,
    StatesafeError,
    StreamCut,
    StreamError,
    UnsafeArchive,
    VerificationFailed,
)
from ansible_collections.statesafe.backup.plugins.module_utils.k8s.exec_session import (
    ExecSession,
)
from ansible_collections.statesafe.backup.plugins.module_utils.k8s.helper_pod import (
    CONTAINER as HELPER_CONTAINER,
    MOUNT_PATH,
    HelperPod,
)

TAR_BUFSIZE = 64 * 1024
LOCAL_ROOT_MODE = 0o700
IGNORED_REPORT_LIMIT = 100


class Target(object):
    """Where in the cluster: a directory in one container of one pod."""

    def __init__(self, namespace, pod, container, root):
        self.namespace = namespace
        self.pod = pod
        self.container = container
        self.root = root

    def location(self, path=None):
        return dict(namespace=self.namespace, pod=self.pod, container=self.container,
                    path=posixpath.join(self.root, path) if path else self.root)


# -- exec helpers ---------------------------------------------------------------

# What GNU tar says (with rc 1 or 2) when a file is written or removed while it reads it.
_CHANGED_MARKS = ("file changed as we read it", "File removed before we read it", "Cannot stat: No such file")


def _exec_failure(target, what, status, stderr, hint=""):
    """ExecFailed for a pod script that failed; FileChangedWhileRead when tar met a file being written."""
    text = stderr.getvalue().decode("utf-8", "replace").strip()
    if status.started:
        message = "{0} failed with rc {1}: {2}{3}".format(what, status.rc, text or "(no error output)", hint)
    else:
        message = "{0} could not start: {1}{2}".format(what, status.message, hint)
    changed = status.started and status.rc in (1, 2) and any(mark in text for mark in _CHANGED_MARKS)
    error = FileChangedWhileRead if changed else ExecFailed
    return error(message, rc=status.rc, stderr=text, **target.location())


_TOOLS_HINT = ("; the container needs GNU find, tar, sort, head and sha256sum (copy the claim with pvc: "
               "to go through the helper pod instead)")


def run_capture(k8s_client, target, script, args, stdin=None, timeout=None, limit=256 * 1024 * 1024):
    """Run a pod script; (ExitStatus, stdout bytes, stderr buffer). Output beyond limit is an error."""
    with ExecSession.open(k8s_client, target.namespace, target.pod,
                          scripts.command(script, target.root, *args),
                          container=target.container, stdin=stdin is not None, timeout=timeout) as session:
        if stdin is not None:
            session.send_stdin(stdin)
            session.close_stdin()
        out = _read_all(session, target, limit)
        status = session.finish()
    return status, out, session.stderr


def _read_all(session, target, limit):
    parts, size = [], 0
    while True:
        data = session.read_stdout()
        if not data:
            return b"".join(parts)
        size += len(data)
        if size > limit:
            raise StreamError("command output exceeds {0} bytes".format(limit), **target.location())
        parts.append(data)


def remote_listing(k8s_client, target, timeout, missing_ok=False):
    status, out, stderr = run_capture(k8s_client, target, scripts.LIST, (), timeout=timeout)
    if status.rc == scripts.RC_NO_SUCH_PATH:
        if missing_ok:
            return {}
        raise ObjectNotFound("remote path does not exist", **target.location())
    if status.rc == scripts.RC_NOT_A_DIRECTORY:
        raise InvalidInput("remote path is not a directory", **target.location())
    if status.rc != 0:
        raise _exec_failure(target, "listing", status, stderr, _TOOLS_HINT)
    try:
        return mirror.parse_find_listing(out)
    except StreamError as exc:
        raise StreamError(exc.message, **target.location()) from exc


# -- receiving (from_pod) ---------------------------------------------------------

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
                raise _exec_failure(target, "tar in the pod", status, session.stderr) from exc
            if isinstance(exc, UnsafeArchive):
                raise UnsafeArchive(exc.message, **target.location(exc.location.get("path"))) from exc
            raise stream_cut_error(exc, target, progress, session.diagnostics(),
                                   session.stderr.getvalue().decode("utf-8", "replace").strip()) from exc
        _discard_padding(session, target)
        status = session.finish()
    if status.rc != 0 or not status.started:
        raise _exec_failure(target, "tar in the pod", status, session.stderr, _TOOLS_HINT if not status.started else "")
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
                self._out = _read_all(self._session, self.target, self.LIMIT)
                self._status = self._session.finish()
            except BaseException as exc:  # pylint: disable=broad-except
                self._error = exc  # raised by result()

    def result(self):
        """{relpath: sha256} as the pod computed them."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        if self._status.rc != 0 or not self._status.started:
            raise _exec_failure(self.target, "checksums", self._status, self._session.stderr, _TOOLS_HINT)
        return mirror.parse_sha256sum_z(self._out)


# -- applying a plan locally ------------------------------------------------------

def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def _mkdir(path):
    """A new directory, or one GNU tar made as a file's parent in a tree being built (never a link)."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            raise


def received_in_place(directory, received):
    """True when every received file already sits under its own name in directory (tar_native's layout)."""
    return all(item.staged == os.path.join(directory, relpath) for relpath, item in received.items())


def apply_plan(root, plan, source, received, staging, owner):
    """Make root mirror the source: removals, directories, files, links, modes, owners."""
    verified = set()
    for relpath in plan.remove:
        tar_safety.check_real_parents(root, relpath, verified)
        _remove(os.path.join(root, relpath))
    for relpath in plan.mkdirs:
        tar_safety.check_real_parents(root, relpath, verified)
        _mkdir(os.path.join(root, relpath))
    for relpath in plan.transfer:
        tar_safety.check_real_parents(root, relpath, verified)
        path = os.path.join(root, relpath)
        if received[relpath].staged != path:  # a new tree is built where the files were received
            os.replace(received[relpath].staged, path)
    for index, relpath in enumerate(plan.links):
        tar_safety.check_real_parents(root, relpath, verified)
        temp = os.path.join(staging, "link-{0}".format(index))
        os.symlink(source[relpath].link, temp)
        os.replace(temp, os.path.join(root, relpath))
    for relpath in plan.chmods:
        if source[relpath].type == "file":
            os.chmod(os.path.join(root, relpath), mirror.wanted_mode(source[relpath]))
    if owner is not None:
        for relpath in plan.chowns + plan.mkdirs:
            entry = source[relpath]
            os.lchown(os.path.join(root, relpath), entry.uid, entry.gid)
    # Directory modes last and deepest first, so no directory is closed before it is filled.
    for relpath in sorted(set(plan.mkdirs) | set(p for p in plan.chmods if source[p].type == "dir"), reverse=True):
        os.chmod(os.path.join(root, relpath), mirror.wanted_mode(source[relpath]))


# -- sending (to_pod) ---------------------------------------------------------------

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
    raise _exec_failure(target, "restore in the pod", status, stderr, _TOOLS_HINT if not status.started else "")


# -- the two directions ---------------------------------------------------------------

def copy_summary(plan, started, transferred_files, transferred_bytes, changed, stream_retries=0, changed_retries=0):
    duration = time.monotonic() - started
    ignored = plan.ignored[:IGNORED_REPORT_LIMIT]
    return {
        "changed": changed,
        "files_transferred": transferred_files,
        "bytes_transferred": transferred_bytes,
        "files_skipped": plan.unchanged,
        "files_removed": len(plan.remove),
        "dirs_created": len(plan.mkdirs),
        "links_updated": len(plan.links),
        "modes_updated": len(plan.chmods) + len(plan.chowns),
        "ignored": ignored,
        "ignored_count": len(plan.ignored),
        "duration": round(duration, 3),
        "throughput": int(transferred_bytes / duration) if duration > 0 else 0,
        "stream_retries": stream_retries,
        "changed_retries": changed_retries,
        "plan": plan.summary(),
    }


# A live application may write while its volume is copied (ZooKeeper appends to its transaction log, even when
# only a client session expires). GNU tar in the pod then ends with "file changed as we read it", or the sha256
# the pod computes while tar streams differs from the bytes received. Nothing has been applied then, so the copy
# is planned and fetched again from a fresh listing - only what differs from the mirror travels - at most this
# many more times; a file still changing after that fails the copy, naming it.
CHANGED_RETRIES = 2


def copy_from_pod(k8s_client, target, local_root, excludes, check_mode, timeout, preserve_owner,
                  changed_retries=CHANGED_RETRIES):
    """Mirror the pod's tree into local_root (see the module docstring); a copy the pod wrote into is repeated."""
    started = time.monotonic()
    attempt = 0
    while True:
        try:
            return _copy_from_pod_once(k8s_client, target, local_root, excludes, check_mode, timeout, preserve_owner,
                                       started, attempt)
        except (FileChangedWhileRead, ChecksumMismatch) as exc:
            if attempt >= changed_retries:
                exc.message = "{0}; the files kept changing while they were copied ({1} attempts)".format(
                    exc.message, attempt + 1)
                exc.args = (str(exc),)
                raise
            attempt += 1


def _copy_from_pod_once(k8s_client, target, local_root, excludes, check_mode, timeout, preserve_owner, started,
                        changed_retries):
    excluded = mirror.exclusion_matcher(excludes)
    source = mirror.filter_listing(remote_listing(k8s_client, target, timeout), excluded)
    if os.path.lexists(local_root) and not os.path.isdir(local_root):
        raise InvalidInput("local_path exists and is not a directory", path=local_root)
    owner = True if (preserve_owner and os.geteuid() == 0) else None
    local = mirror.scan_local(local_root, excluded)
    try:
        plan = mirror.plan_mirror(source, local, compare_owner=owner is not None)
    except UnsafeArchive as exc:
        raise UnsafeArchive(exc.message, **target.location(exc.location.get("path"))) from exc
    creating_root = not os.path.isdir(local_root)
    if check_mode or not (plan.changed or creating_root):
        return copy_summary(plan, started, 0, 0, plan.changed or creating_root, changed_retries=changed_retries)
    parent = os.path.dirname(os.path.abspath(local_root))
    if not os.path.isdir(parent):
        os.makedirs(parent, 0o755)
    staging = tempfile.mkdtemp(dir=parent, prefix=".{0}.statesafe-incoming-".format(os.path.basename(local_root)))
    try:
        received, retries = {}, 0
        if plan.transfer:
            sums = RemoteSums(k8s_client, target, plan.transfer, timeout)  # hashes while tar streams
            received, retries = fetch_retrying(
                lambda paths, directory: fetch(k8s_client, target, paths, directory, timeout, owner),
                plan.transfer, staging)
            try:
                check_received(received, sums.result())
            except ChecksumMismatch as exc:
                raise ChecksumMismatch(exc.message, **target.location(exc.location.get("path"))) from exc
        if creating_root:
            # A first copy is built where the files were received and renamed into place whole:
            # no per-file rename, and no half-built mirror under local_path if anything fails.
            tree = attempt_directory(staging, retries)
            if not (received and received_in_place(tree, received)):
                tree = os.path.join(staging, "tree")
                os.mkdir(tree, LOCAL_ROOT_MODE)
            apply_plan(tree, plan, source, received, staging, owner)
            os.chmod(tree, LOCAL_ROOT_MODE)
            os.rename(tree, local_root)
        else:
            apply_plan(local_root, plan, source, received, staging, owner)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    transferred = sum(r.size for r in received.values())
    return copy_summary(plan, started, len(received), transferred, True, retries, changed_retries)


def copy_to_pod(k8s_client, target, local_root, excludes, check_mode, timeout, same_owner):
    started = time.monotonic()
    if not os.path.isdir(local_root):
        raise ObjectNotFound("local_path is not a directory", path=local_root)
    excluded = mirror.exclusion_matcher(excludes)
    source = mirror.scan_local(local_root, excluded)
    try:
        mirror.check_source_tree(source)
    except UnsafeArchive as exc:
        raise UnsafeArchive(exc.message, path=os.path.join(local_root, exc.location.get("path", ""))) from exc
    dest = mirror.filter_listing(remote_listing(k8s_client, target, timeout, missing_ok=True), excluded)
    plan = mirror.plan_mirror(source, dest, compare_owner=same_owner)
    if check_mode or not plan.changed:
        return copy_summary(plan, started, 0, 0, plan.changed)
    sums = send(k8s_client, target, local_root, source, same_owner, timeout)
    sent = sum(source[p].size for p in sums)
    return copy_summary(plan, started, len(sums), sent, True)


def resolve_pod_target(api, namespace, pod, container, path):
    pod_obj = api.get_pod(namespace, pod)
    container = pod_utils.choose_container(pod_obj, container)
    pod_utils.ensure_running(pod_obj, container)
    return Target(namespace, pod, container, path)


def claim_root(path):
    """Path inside the claim, as seen in the helper; refuses '..'."""
    relative = (path or ".").strip("/")
    parts = [p for p in relative.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidInput("remote_path must stay inside the claim", path=path)
    return posixpath.join(MOUNT_PATH, *parts) if parts else MOUNT_PATH


def run(k8s_client, api, params, check_mode):
    namespace = params["namespace"]
    timeout = params["timeout"]
    from_pod = params["state"] == "from_pod"
    local_root = params["local_path"]

    def copy(target):
        if from_pod:
            return copy_from_pod(k8s_client, target, local_root, params["exclude"], check_mode, timeout,
                                 params["preserve_owner"])
        return copy_to_pod(k8s_client, target, local_root, params["exclude"], check_mode, timeout,
                           params["preserve_owner"])

    if params.get("pod"):
        if not params["remote_path"].startswith("/"):
            raise InvalidInput("remote_path must be absolute when copying from a pod", namespace=namespace,
                               pod=params["pod"], container=params.get("container"), path=params["remote_path"])
        return copy(resolve_pod_target(api, namespace, params["pod"], params.get("container"), params["remote_path"]))

    claim = params["pvc"]
    if check_mode:
        return {"changed": False, "skipped": True,
                "msg": "check mode does not start a helper pod to read claim {0}/{1}".format(namespace, claim)}
    helper = HelperPod(api, namespace, claim, params["helper_image"], read_only=from_pod,
                       lifetime=timeout + 300, start_timeout=params["helper_start_timeout"])
    try:
        with helper:
            result = copy(Target(namespace, helper.name, HELPER_CONTAINER, claim_root(params["remote_path"])))
    except StatesafeError as exc:
        if helper.warnings:
            exc.message = "{0}; also: {1}".format(exc.message, "; ".join(helper.warnings))
        raise
    result["helper_pod"] = helper.name
    result["helper_node"] = helper.node
    return result
