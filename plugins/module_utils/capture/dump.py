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

import binascii
import hashlib
import os
import re
import tempfile
import time

from ansible_collections.statesafe.backup.plugins.module_utils import local_files
from ansible_collections.statesafe.backup.plugins.module_utils.k8s import pods as pod_utils
from ansible_collections.statesafe.backup.plugins.module_utils.errors import (
    ExecFailed,
    ExecTimeout,
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
    is_timeout,
)

SHELL = "/bin/sh"
COPY_CHUNK = 1024 * 1024
DUMP_MODE = 0o600
RC_SETUP_FAILED = 125
_SHA256 = re.compile(r"^[0-9a-f]{64}$")

# Shared start of both wrappers: a private directory with two FIFOs whose
# readers count and hash whatever tee writes into them.
_PREPARE = r"""
marker=$1 tail_bytes=$2
shift 2
dir=$(mktemp -d "${TMPDIR:-/tmp}/statesafe-dump.XXXXXX") || {
  echo "cannot create a temporary directory in the container (set TMPDIR to a writable place)" >&2; exit 125; }
trap 'rm -rf -- "$dir"' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
mkfifo "$dir/sum.fifo" "$dir/size.fifo" || { echo "mkfifo failed" >&2; exit 125; }
sha256sum < "$dir/sum.fifo" > "$dir/sum" &
wc -c < "$dir/size.fifo" > "$dir/size" &
"""

# The report: the tail of the command's stderr, then one line after the marker.
# rc comes from a file the command's own subshell writes, so a pipeline cannot
# mask it (dash has no pipefail); rc=none means that subshell died first.
_REPORT = r"""
wait
rc=$(cat "$dir/rc" 2>/dev/null) || rc=
size=$(tr -dc 0-9 < "$dir/size" 2>/dev/null) || size=
sum=$(cut -c1-64 "$dir/sum" 2>/dev/null) || sum=
tail -c "$tail_bytes" "$dir/err" >&2 2>/dev/null
printf '\n%s rc=%s tee=%s size=%s sha256=%s\n' "$marker" "${rc:-none}" "$tee_rc" "${size:-none}" "${sum:-none}" >&2
if [ "${rc:-1}" != 0 ]; then exit "${rc:-1}"; fi
exit "$tee_rc"
"""

# stdout of the whole script is exactly the command's stdout.
FROM_POD = _PREPARE + r"""
{ "$@" 2> "$dir/err"; echo $? > "$dir/rc"; } | tee "$dir/sum.fifo" "$dir/size.fifo"
tee_rc=$?
""" + _REPORT

# $3 (before the command's words) is the exact byte count to pass on, so no stdin EOF
# is needed (the v4 protocol cannot signal one). When the command fails before
# reading everything, the rest of stdin is drained so the sender sees our exit
# status rather than a full pipe.
TO_POD = _PREPARE + r"""
want=$1
shift
head -c "$want" | tee "$dir/sum.fifo" "$dir/size.fifo" | { "$@" > "$dir/out" 2> "$dir/err"; echo $? > "$dir/rc"; }
tee_rc=0
if [ "$(cat "$dir/rc" 2>/dev/null)" != 0 ]; then
  if command -v timeout >/dev/null 2>&1; then timeout 600 cat >/dev/null; else cat >/dev/null; fi
fi
tail -c "$tail_bytes" "$dir/out" 2>/dev/null
""" + _REPORT


# -- pure parts ----------------------------------------------------------------

def new_marker():
    return "STATESAFE-DUMP-REPORT-" + binascii.hexlify(os.urandom(12)).decode("ascii")


def from_pod_argv(marker, words, tail_bytes):
    """argv of the dump wrapper around the command's words."""
    return [SHELL, "-c", FROM_POD, "sh", marker, str(int(tail_bytes))] + list(words)


def to_pod_argv(marker, words, tail_bytes, size):
    """argv of the load wrapper: exactly `size` bytes of stdin go to the command."""
    return [SHELL, "-c", TO_POD, "sh", marker, str(int(tail_bytes)), str(int(size))] + list(words)


class Report(object):
    """What the wrapper in the pod said after the stream."""

    __slots__ = ("rc", "tee_rc", "size", "sha256")

    def __init__(self, rc, tee_rc, size, sha256):
        self.rc = rc
        self.tee_rc = tee_rc
        self.size = size
        self.sha256 = sha256

    def __repr__(self):
        return "Report(rc={0!r}, tee_rc={1!r}, size={2!r}, sha256={3!r})".format(
            self.rc, self.tee_rc, self.size, self.sha256)


def _number(text):
    return int(text) if text.isdigit() else None


def parse_report(stderr, marker):
    """(Report or None, the stderr text before the report).

    Only the last line starting with the marker counts, and only when nothing
    but whitespace follows it: the wrapper writes it last.
    """
    text = stderr.decode("utf-8", "backslashreplace") if isinstance(stderr, bytes) else stderr
    start = text.rfind("\n" + marker + " ")
    if start < 0:
        if text.startswith(marker + " "):
            start = 0
        else:
            return None, text
    line = text[start:].strip()
    before = text[:start]
    if "\n" in line:
        return None, text
    fields = dict(part.split("=", 1) for part in line.split()[1:] if "=" in part)
    sha = fields.get("sha256", "")
    report = Report(_number(fields.get("rc", "")), _number(fields.get("tee", "")),
                    _number(fields.get("size", "")), sha if _SHA256.match(sha) else None)
    return report, before


def stderr_tail(text, limit):
    """The last `limit` characters, trimmed, for messages and results."""
    text = text.strip()
    return text[-limit:] if len(text) > limit else text


class TailBuffer(object):
    """Keeps the last `limit` bytes written (for the trailer check)."""

    def __init__(self, limit):
        self.limit = limit
        self._data = b""

    def write(self, data):
        self._data = (self._data + bytes(data))[-self.limit:] if self.limit else b""

    def getvalue(self):
        return self._data


def trailer_present(tail, pattern):
    """Whether the regular expression `pattern` matches somewhere in the last bytes."""
    return re.search(pattern.encode("utf-8"), tail) is not None


def check_expected_sha256(value):
    """Normalised expected checksum; InvalidInput unless it is 64 hex digits."""
    value = (value or "").strip().lower()
    if not _SHA256.match(value):
        raise InvalidInput("sha256 must be 64 hexadecimal digits, got {0!r}".format(value))
    return value


def check_source(path, size, sha256, want_sha256, want_size=None):
    """Refuse a load whose source differs from what the manifest says."""
    if want_size is not None and size != want_size:
        raise VerificationFailed(
            "refusing to load: src has {0} bytes, the manifest says {1}; nothing was run in the pod".format(
                size, want_size), path=path)
    if sha256 != want_sha256:
        raise VerificationFailed(
            "refusing to load: src sha256 is {0}, the manifest says {1}; nothing was run in the pod".format(
                sha256, want_sha256), path=path)


def _start_failure(what, status, stderr, location):
    detail = stderr_tail(stderr, 2000)
    message = "{0} could not start: {1}".format(what, status.message)
    if detail:
        message += ": " + detail
    message += ("; the container needs sh, mktemp, mkfifo, tee, sha256sum, wc, tail, and timeout when a "
                "timeout is set")
    return ExecFailed(message, stderr=detail, **location)


def _command_failure(what, report, status, stderr, timeout, elapsed, location):
    """The error for a command that did not exit 0 (None when it did)."""
    detail = stderr_tail(stderr, 2000)
    if report is None:
        if status.rc == RC_SETUP_FAILED:
            return ExecFailed("{0}: the wrapper could not be set up in the container: {1}".format(what, detail),
                              rc=status.rc, stderr=detail, **location)
        return StreamError("{0}: the pod side ended (rc {1}) without reporting what it sent; the stream was cut "
                           "or the process was killed{2}".format(what, status.rc, ": " + detail if detail else ""),
                           **location)
    if report.rc is None:
        return ExecFailed("{0}: the command was killed before it could report its exit code{1}".format(
            what, ": " + detail if detail else ""), rc=status.rc, stderr=detail, **location)
    if report.rc == 0:
        return None
    if is_timeout(report.rc, elapsed, timeout):
        return ExecTimeout("{0}: the command timed out after {1} s and was ended in the container".format(
            what, timeout), rc=report.rc, stderr=detail, **location)
    return ExecFailed("{0}: the command failed with rc {1}: {2}".format(what, report.rc, detail or "(no error output)"),
                      rc=report.rc, stderr=detail, **location)


def judge_dump(status, report, stderr, received_size, received_sha256, tail, expect_trailer, timeout, elapsed,
               location):
    """Raise unless the dump is complete and is exactly what the pod sent."""
    if not status.started:
        raise _start_failure("dump", status, stderr, location)
    failure = _command_failure("dump", report, status, stderr, timeout, elapsed, location)
    if failure is not None:
        raise failure
    if report.tee_rc != 0:
        raise StreamError("dump: writing the stream out of the pod failed (tee rc {0})".format(report.tee_rc),
                          **location)
    if report.size != received_size or report.sha256 != received_sha256:
        raise VerificationFailed(
            "dump: received {0} bytes with sha256 {1}, but the pod sent {2} bytes with sha256 {3}; the stream was "
            "cut or corrupted".format(received_size, received_sha256, report.size, report.sha256), **location)
    if expect_trailer and not trailer_present(tail, expect_trailer):
        raise VerificationFailed(
            "dump: the last {0} bytes do not match the expected trailer {1!r}; the dump ended early".format(
                len(tail), expect_trailer), **location)
    if status.rc != 0:
        raise ExecFailed("dump: the wrapper in the pod ended with rc {0}".format(status.rc), rc=status.rc,
                         stderr=stderr_tail(stderr, 2000), **location)


def judge_load(status, report, stderr, sent_size, sent_sha256, timeout, elapsed, location):
    """Raise unless the command got exactly the bytes sent and exited 0."""
    if not status.started:
        raise _start_failure("load", status, stderr, location)
    failure = _command_failure("load", report, status, stderr, timeout, elapsed, location)
    if failure is not None:
        raise failure
    if report.size != sent_size or report.sha256 != sent_sha256:
        raise VerificationFailed(
            "load: sent {0} bytes with sha256 {1}, but the command was given {2} bytes with sha256 {3}".format(
                sent_size, sent_sha256, report.size, report.sha256), **location)
    if status.rc != 0:
        raise ExecFailed("load: the wrapper in the pod ended with rc {0}".format(status.rc), rc=status.rc,
                         stderr=stderr_tail(stderr, 2000), **location)


def decide_replace(existing_size, existing_sha256, new_size, new_sha256):
    """Whether dest must be replaced: only when its bytes differ (None: there is no dest)."""
    return existing_size != new_size or existing_sha256 != new_sha256


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
            while True:
                data = session.read_stdout(COPY_CHUNK)
                if not data:
                    break
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
    location = dict(namespace=params["namespace"], pod=params["pod"], container=params.get("container"))
    try:
        if params["state"] == "to_pod":
            return load_to_pod(k8s_client, api, location, words, params)
        return dump_from_pod(k8s_client, resolve(api, location), words, params)
    except StatesafeError as exc:
        # Errors from the exec layer know the pod, not the local file this run is about.
        exc.location.setdefault("path", params.get("dest") or params.get("src"))
        raise
