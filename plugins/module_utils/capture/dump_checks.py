# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The checks of a logical dump, as pure functions: the in-pod wrappers, their report, the verdicts.

dump.py streams the bytes; this module says what the pod must run around the
command (a sh wrapper that reports what the command sent or was given, after
a marker random per run), reads that report back, and judges a run: the
command's exit code, the pod's byte count and sha256 against what arrived or
was sent, the trailer, and whether dest must be replaced.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii
import os
import re

from ansible_collections.statesafe.backup.plugins.module_utils.errors import (
    ExecFailed,
    ExecTimeout,
    InvalidInput,
    StreamError,
    VerificationFailed,
)
from ansible_collections.statesafe.backup.plugins.module_utils.capture.quiesce import (
    is_timeout,
)

SHELL = "/bin/sh"
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
        # What it said last tells where it hung (a profile prints which database it dumps).
        return ExecTimeout("{0}: the command timed out after {1} s and was ended in the container{2}".format(
            what, timeout, "; its last output: " + detail if detail else ""), rc=report.rc, stderr=detail,
            **location)
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
