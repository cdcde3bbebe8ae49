# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a volume copy runs: a directory in one container of one pod, and the pod scripts run there."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import posixpath

from ansible_collections.statesafe.backup.plugins.module_utils.volume import mirror
from ansible_collections.statesafe.backup.plugins.module_utils.volume import pod_scripts as scripts
from ansible_collections.statesafe.backup.plugins.module_utils.errors import (
    ExecFailed,
    FileChangedWhileRead,
    InvalidInput,
    ObjectNotFound,
    StreamError,
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


def remote_listing(k8s_client, target, timeout, missing_ok=False):
    status, out, stderr = run_capture(k8s_client, target, scripts.LIST, (), timeout=timeout)
    if status.rc == scripts.RC_NO_SUCH_PATH:
        if missing_ok:
            return {}
        raise ObjectNotFound("remote path does not exist", **target.location())
    if status.rc == scripts.RC_NOT_A_DIRECTORY:
        raise InvalidInput("remote path is not a directory", **target.location())
    if status.rc != 0:
        raise exec_failure(target, "listing", status, stderr, TOOLS_HINT)
    try:
        return mirror.parse_find_listing(out)
    except StreamError as exc:
        raise StreamError(exc.message, **target.location()) from exc
