# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A logical dump streamed out of a pod into a local file, or a local file loaded into a pod, verified.

from_pod: the command runs inside a small sh wrapper that tees its stdout into
sha256sum and wc through FIFOs, so the pod itself states how many bytes it
sent and their sha256; after the stream it writes that report, with the
command's exit code and the tail of its stderr, on stderr after a marker that
is random per run (the command's own output cannot forge it). The bytes land
in a temporary file beside dest; only when the command said 0, the pod's
report equals what arrived and the trailer (if asked) is there, does the file
replace dest, and only when its bytes differ.

to_pod: the local file is checked against the sha256 (and size) the caller
got from the manifest before anything runs in the pod; then it goes to the
command's stdin through the same kind of wrapper, which reports what the
command was given.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import re
import tempfile
import time

from ansible_collections.statesafe.backup.plugins.module_utils import local_files
from ansible_collections.statesafe.backup.plugins.module_utils.k8s import pods as pod_utils
from ansible_collections.statesafe.backup.plugins.module_utils.errors import (
    InvalidInput,
    ObjectNotFound,
    StatesafeError,
    StreamError,
    VerificationFailed,
)
from ansible_collections.statesafe.backup.plugins.module_utils.k8s.exec_session import (
    ExecSession,
)
from ansible_collections.statesafe.backup.plugins.module_utils.capture.quiesce import (
    STATUS_GRACE,
    build_argv,
)
from ansible_collections.statesafe.backup.plugins.module_utils.capture.dump_checks import (
    TailBuffer,
    check_expected_sha256,
    check_source,
    decide_replace,
    from_pod_argv,
    judge_dump,
    judge_load,
    new_marker,
    parse_report,
    stderr_tail,
    to_pod_argv,
)

COPY_CHUNK = 1024 * 1024
DUMP_MODE = 0o600


# -- local files -----------------------------------------------------------------

def file_digest(path):
    """(size, sha256) of a regular file read in chunks; (None, None) when there is none."""
    try:
        handle = open(path, "rb")
    except (IOError, OSError):
        return None, None
    with handle:
        if not os.path.isfile(path):
            return None, None
        return local_files.stream_sha256(handle, COPY_CHUNK)


# How long a piece waits for more of the stream before it is written.
LINGER = 0.05


def _batches(session):
    """The command's stdout in pieces of at most COPY_CHUNK bytes.

    The server sends a frame for every write of the command (8 KiB from tee);
    writing, hashing and keeping the tail once per megabyte rather than per
    frame halves the module's CPU time per byte received. A stream that
    pauses is written as far as it came, LINGER seconds later.
    """
    while True:
        data = session.read_stdout_available(COPY_CHUNK, LINGER)
        if not data:
            return
        yield data


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


# -- the two directions ----------------------------------------------------------------

def _local_limit(timeout, kill_after):
    return None if not timeout else timeout + kill_after + STATUS_GRACE


def _rate(size, seconds):
    return int(size / seconds) if seconds > 0 else 0


def dump_from_pod(k8s_client, location, words, params):
    """Stream the command's stdout into dest; the result dict."""
    dest = params["dest"]
    parent = os.path.dirname(os.path.abspath(dest))
    if os.path.isdir(dest):
        raise InvalidInput("dest is a directory; give a file name", path=dest)
    if not os.path.isdir(parent):
        os.makedirs(parent, 0o700)
    marker = new_marker()
    argv = from_pod_argv(marker, words, params["output_limit"])
    started = time.monotonic()
    fd, temp = tempfile.mkstemp(dir=parent, prefix=".{0}.statesafe-tmp-".format(os.path.basename(dest)))
    try:
        os.fchmod(fd, DUMP_MODE)
        digest, tail, size = hashlib.sha256(), TailBuffer(params["trailer_bytes"]), 0
        with ExecSession.open(k8s_client, location["namespace"], location["pod"], argv,
                              container=location["container"],
                              timeout=_local_limit(params["timeout"], params["kill_after"]),
                              stderr_limit=params["output_limit"] + 4096) as session:
            for data in _batches(session):
                _write_all(fd, data)
                digest.update(data)
                tail.write(data)
                size += len(data)
            status = session.finish()
        elapsed = time.monotonic() - started
        report, stderr = parse_report(session.stderr.getvalue(), marker)
        sha256 = digest.hexdigest()
        judge_dump(status, report, stderr, size, sha256, tail.getvalue(), params.get("expect_trailer"),
                   params["timeout"], elapsed, dict(location, path=dest))
        os.fsync(fd)
        os.close(fd)
        fd = None
        old_size, old_sha256 = file_digest(dest)
        changed = decide_replace(old_size, old_sha256, size, sha256)
        if changed:
            os.replace(temp, dest)
    finally:
        if fd is not None:
            os.close(fd)
        if os.path.lexists(temp):
            os.unlink(temp)
    duration = time.monotonic() - started
    return dict(changed=changed, path=dest, size=size, sha256=sha256, rc=report.rc,
                stderr=stderr_tail(stderr, params["output_limit"]), duration=round(duration, 3),
                throughput=_rate(size, duration), **location)


def load_to_pod(k8s_client, api, location, words, params):
    """Verify src, then stream it into the command's stdin; the result dict."""
    src = params["src"]
    want_sha256 = check_expected_sha256(params["sha256"])
    size, sha256 = file_digest(src)
    if size is None:
        raise ObjectNotFound("src is not a readable regular file", path=src)
    check_source(src, size, sha256, want_sha256, params.get("size"))
    location = resolve(api, location)
    marker = new_marker()
    argv = to_pod_argv(marker, words, params["output_limit"], size)
    started = time.monotonic()
    sent = hashlib.sha256()
    sent_size = 0
    with ExecSession.open(k8s_client, location["namespace"], location["pod"], argv,
                          container=location["container"], stdin=True,
                          timeout=_local_limit(params["timeout"], params["kill_after"]),
                          stderr_limit=params["output_limit"] + 4096) as session:
        stdout = TailBuffer(params["output_limit"])
        try:
            with open(src, "rb") as handle:
                while sent_size < size:
                    chunk = handle.read(min(COPY_CHUNK, size - sent_size))
                    if not chunk:
                        break
                    session.send_stdin(chunk)
                    sent.update(chunk)
                    sent_size += len(chunk)
            session.close_stdin()
            while True:
                data = session.read_stdout(COPY_CHUNK)
                if not data:
                    break
                stdout.write(data)
            status = session.finish()
        except StreamError:
            # The command stopped reading: its exit status and report say why.
            status = session.status_after_error()
            if status is None:
                raise
    elapsed = time.monotonic() - started
    report, stderr = parse_report(session.stderr.getvalue(), marker)
    judge_load(status, report, stderr, size, want_sha256, params["timeout"], elapsed, dict(location, path=src))
    if sent.hexdigest() != want_sha256 or sent_size != size:
        raise VerificationFailed("src changed while it was sent", path=src, **location)
    return dict(changed=True, path=src, bytes_sent=sent_size, sha256=want_sha256, rc=report.rc,
                stderr=stderr_tail(stderr, params["output_limit"]),
                stdout=stdout.getvalue().decode("utf-8", "backslashreplace"),
                duration=round(elapsed, 3), throughput=_rate(sent_size, elapsed), **location)


def workload_pod(api, namespace, kind, name):
    """The name of the ready pod a dump or load for the workload runs in (pods.ready_pod_of)."""
    rtype = api.resource_type("apps/v1", kind)
    workload = api.request("GET", rtype.object_path(name, namespace), location=dict(namespace=namespace, kind=kind,
                                                                                    name=name))
    workload.setdefault("kind", kind)
    return pod_utils.pod_name(pod_utils.ready_pod_of(workload, api.list_pods(namespace)))


def resolve(api, location):
    """The location with its container chosen, after checking the pod runs."""
    pod = api.get_pod(location["namespace"], location["pod"])
    container = pod_utils.choose_container(pod, location.get("container"))
    pod_utils.ensure_running(pod, container)
    return dict(location, container=container)


def check_params(params):
    """Checks the argument spec cannot express; the command's words."""
    for option, minimum in (("timeout", 1), ("kill_after", 0), ("output_limit", 1), ("trailer_bytes", 1)):
        value = params.get(option)
        if value is not None and value < minimum:
            raise InvalidInput("{0} must be at least {1}, got {2}".format(option, minimum, value))
    if params["state"] == "to_pod":
        for option in ("expect_trailer", "dest"):
            if params.get(option) is not None:
                raise InvalidInput("{0} applies to state=from_pod only".format(option))
        if params.get("size") is not None and params["size"] < 0:
            raise InvalidInput("size must not be negative")
    else:
        for option in ("src", "sha256", "size"):
            if params.get(option) is not None:
                raise InvalidInput("{0} applies to state=to_pod only".format(option))
        if params.get("expect_trailer"):
            try:
                re.compile(params["expect_trailer"])
            except re.error as exc:
                raise InvalidInput("expect_trailer is not a valid regular expression: {0}".format(exc)) from exc
    return build_argv(params.get("argv"), params.get("command"), params.get("env"), params.get("timeout"),
                      params["kill_after"], params["shell"])


def run(k8s_client, api, params):
    words = check_params(params)
    pod = params.get("pod") or workload_pod(api, params["namespace"], params["workload_kind"], params["workload"])
    location = dict(namespace=params["namespace"], pod=pod, container=params.get("container"))
    try:
        if params["state"] == "to_pod":
            return load_to_pod(k8s_client, api, location, words, params)
        return dump_from_pod(k8s_client, resolve(api, location), words, params)
    except StatesafeError as exc:
        # Errors from the exec layer know the pod, not the local file this run is about.
        exc.location.setdefault("path", params.get("dest") or params.get("src"))
        raise
