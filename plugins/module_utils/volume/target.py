# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a volume copy runs: a directory in one container of one pod, and the pod scripts run there."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import posixpath
import re

from ansible_collections.statesafe.backup.plugins.module_utils.volume import mirror
from ansible_collections.statesafe.backup.plugins.module_utils.volume import pod_scripts as scripts
from ansible_collections.statesafe.backup.plugins.module_utils.errors import (
    ExecFailed,
    FileChangedWhileRead,
    InvalidInput,
    ObjectNotFound,
    StreamError,
    UnreadableFiles,
    UnwritableFiles,
)
from ansible_collections.statesafe.backup.plugins.module_utils.k8s.exec_session import (
    ExecSession,
)


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


# What GNU tar says (with rc 1 or 2) when a file is written or removed while it reads it.
_CHANGED_MARKS = ("file changed as we read it", "File removed before we read it", "Cannot stat: No such file")


def exec_failure(target, what, status, stderr, hint=""):
    """ExecFailed for a pod script that failed; FileChangedWhileRead when tar met a file being written."""
    text = stderr.getvalue().decode("utf-8", "replace").strip()
    if status.started:
        message = "{0} failed with rc {1}: {2}{3}".format(what, status.rc, text or "(no error output)", hint)
    else:
        message = "{0} could not start: {1}{2}".format(what, status.message, hint)
    changed = status.started and status.rc in (1, 2) and any(mark in text for mark in _CHANGED_MARKS)
    error = FileChangedWhileRead if changed else ExecFailed
    return error(message, rc=status.rc, stderr=text, **target.location())


TOOLS_HINT = ("; the container needs GNU find, tar, sort, head and sha256sum (copy the claim with pvc: "
              "to go through the helper pod instead)")


def run_capture(k8s_client, target, script, args, stdin=None, timeout=None, limit=256 * 1024 * 1024):
    """Run a pod script; (ExitStatus, stdout bytes, stderr buffer). Output beyond limit is an error."""
    with ExecSession.open(k8s_client, target.namespace, target.pod,
                          scripts.command(script, target.root, *args),
                          container=target.container, stdin=stdin is not None, timeout=timeout) as session:
        if stdin is not None:
            session.send_stdin(stdin)
            session.close_stdin()
        out = read_all(session, target, limit)
        status = session.finish()
    return status, out, session.stderr


def read_all(session, target, limit):
    parts, size = [], 0
    while True:
        data = session.read_stdout()
        if not data:
            return b"".join(parts)
        size += len(data)
        if size > limit:
            raise StreamError("command output exceeds {0} bytes".format(limit), **target.location())
        parts.append(data)


_DENIED = re.compile(r"^find: ['\u2018`]\./(.*)['\u2019]: Permission denied$")


def only_excluded_denied(stderr_text, excluded):
    """True when every line of find's errors says it could not enter a directory the copy excludes."""
    lines = [line for line in stderr_text.splitlines() if line.strip()]
    if not lines or excluded is None:
        return False
    for line in lines:
        match = _DENIED.match(line)
        if not (match and excluded(match.group(1))):
            return False
    return True


def remote_listing(k8s_client, target, timeout, missing_ok=False, excluded=None):
    status, out, stderr = run_capture(k8s_client, target, scripts.LIST, (), timeout=timeout)
    rc = status.rc
    if rc == 1 and only_excluded_denied(stderr.getvalue().decode("utf-8", "replace"), excluded):
        rc = 0  # the directories find could not enter are left out anyway
    if rc == scripts.RC_NO_SUCH_PATH:
        if missing_ok:
            return {}
        raise ObjectNotFound("remote path does not exist", **target.location())
    if rc == scripts.RC_NOT_A_DIRECTORY:
        raise InvalidInput("remote path is not a directory", **target.location())
    if rc != 0:
        raise exec_failure(target, "listing", status, stderr, TOOLS_HINT)
    try:
        return mirror.parse_find_listing(out)
    except StreamError as exc:
        raise StreamError(exc.message, **target.location()) from exc


UNREADABLE_REPORT_LIMIT = 20


def parse_unreadable(data):
    """[(relpath, uid, octal mode)] from the UNREADABLE script's NUL-separated output."""
    fields = data.split(b"\x00")
    if fields and fields[-1] == b"":
        fields.pop()
    entries = []
    for start in range(0, len(fields) - len(fields) % 3, 3):
        path, uid, mode = fields[start:start + 3]
        entries.append((mirror.decode_name(path), uid.decode("ascii", "replace"), mode.decode("ascii", "replace")))
    return entries


def _named_entries(entries):
    """(relpath, uid, mode) entries as an error names them, at most UNREADABLE_REPORT_LIMIT, then how many more."""
    shown = ", ".join("{0} (uid {1}, mode {2})".format(p or ". (the root)", u, m)
                      for p, u, m in entries[:UNREADABLE_REPORT_LIMIT])
    more = len(entries) - UNREADABLE_REPORT_LIMIT
    return shown + (" and {0} more".format(more) if more > 0 else "")


def unreadable_message(entries, reader=None):
    """The error text naming the files the copy cannot read."""
    return ("{0} file(s) or directories cannot be read by the copy{1}: {2}; nothing was copied. Make them readable "
            "by the application's user or group (or fsGroup), or leave them out with exclude".format(
                len(entries), " running as " + reader if reader else "", _named_entries(entries)))


def unwritable_message(entries, writer=None):
    """The error text naming the directories a restore cannot empty or write."""
    return ("{0} directories cannot be emptied or written by the restore{1}: {2}; nothing was written. A restore "
            "replaces the whole tree: make them writable by the application's user or group (or fsGroup), or remove "
            "them".format(len(entries), " running as " + writer if writer else "", _named_entries(entries)))


def check_writable(k8s_client, target, timeout, writer=None):
    """Raise UnwritableFiles naming the directories the user running in the pod cannot replace."""
    status, out, stderr = run_capture(k8s_client, target, scripts.UNWRITABLE, (), timeout=timeout)
    entries = parse_unreadable(out)
    if entries:
        raise UnwritableFiles(unwritable_message(entries, writer), **target.location())
    if status.rc not in (0, 1) or (status.rc == 1 and not out):
        if status.rc == scripts.RC_NO_SUCH_PATH:  # created by the restore
            return
        raise exec_failure(target, "writability check", status, stderr, TOOLS_HINT)


def check_readable(k8s_client, target, timeout, excluded=None, reader=None):
    """Raise UnreadableFiles naming what the user running in the pod cannot read (excluded paths aside)."""
    status, out, stderr = run_capture(k8s_client, target, scripts.UNREADABLE, (), timeout=timeout)
    entries = [e for e in parse_unreadable(out) if not (excluded and excluded(e[0]))]
    if entries:
        raise UnreadableFiles(unreadable_message(entries, reader), **target.location())
    # find exits 1 when it could not enter a directory; such a directory is reported above unless excluded.
    if status.rc not in (0, 1) or (status.rc == 1 and not out):
        if status.rc in (scripts.RC_NO_SUCH_PATH, scripts.RC_NOT_A_DIRECTORY):
            return
        raise exec_failure(target, "readability check", status, stderr, TOOLS_HINT)
