# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run lock of a repository: no save, prune, gc or repair overlaps another.

One file, <repository>/statesafe.lock, serves two purposes:

* an flock(2) on it is held for the length of one operation (a save, a
  retention pass, a repair). The kernel releases it when the process dies, so
  a killed run never leaves it stuck. While held, the file names the holder:
  pid, host, operation and since when.
* a *lease* recorded in it reserves the repository for a whole backup run
  across many tasks (statesafe.backup.bup_lock). Operations that present the
  lease's token proceed; others wait for it to be released or to expire.

Waiting polls with a timeout; on timeout the error names the holder.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import json
import os
import socket
import time
import uuid

from ansible_collections.statesafe.backup.plugins.module_utils.bup.errors import (
    LockNotHeld,
    LockTimeout,
)

LOCK_FILE = "statesafe.lock"


def iso(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def parse_record(data):
    """The lock file's JSON content -> dict ({} when empty or unreadable)."""
    try:
        record = json.loads(data.decode("utf-8")) if data.strip() else {}
    except (ValueError, UnicodeDecodeError):
        return {"unreadable": True}
    return record if isinstance(record, dict) else {"unreadable": True}


def active_lease(record, now):
    """The lease in a record if it has not expired, else None."""
    lease = record.get("lease") if isinstance(record, dict) else None
    if not isinstance(lease, dict):
        return None
    expires = lease.get("expires_epoch")
    if isinstance(expires, (int, float)) and expires <= now:
        return None
    return lease


def lease_blocks(record, token, now):
    """Whether a live lease held under another token keeps this caller out."""
    lease = active_lease(record, now)
    return bool(lease) and lease.get("token") != token


def describe_holder(record, now):
    """'pid 42 on host db1 (operation: save branch=sf) since 2024-...Z, 12s ago' or the lease's owner."""
    if not record:
        return "an unknown process (the lock file names no holder)"
    if record.get("unreadable"):
        return "an unknown process (the lock file is being rewritten or is not ours)"
    if "pid" in record:
        since = record.get("since_epoch")
        age = " ({0}s ago)".format(int(now - since)) if isinstance(since, (int, float)) else ""
        return "pid {0} on host {1} (operation: {2}) since {3}{4}".format(
            record.get("pid"), record.get("host", "?"), record.get("operation") or "?",
            record.get("since", "?"), age)
    lease = record.get("lease") or {}
    expires = lease.get("expires_epoch")
    return "the run lease of {0!r} (token {1}...) taken on host {2} by pid {3} since {4}, until {5}".format(
        lease.get("owner") or "?", str(lease.get("token", ""))[:8], lease.get("host", "?"),
        lease.get("pid", "?"), lease.get("since", "?"), iso(expires) if isinstance(expires, (int, float)) else "?")


def timeout_message(label, record, waited, now):
    return ("timed out after {0:.0f}s waiting for the run lock of repository {1}: it is held by {2}. "
            "Wait for that run to finish, or if it is gone, release its lease with "
            "statesafe.backup.bup_lock state=released force=true".format(waited, label, describe_holder(record, now)))


class RunLock(object):
    """Context manager: hold the repository's lock for one operation."""

    def __init__(self, directory, label, operation, timeout=0, token=None, poll_interval=0.25,
                 clock=time.time, sleep=time.sleep, honour_lease=True):
        self.honour_lease = honour_lease
        self.path = os.path.join(directory, LOCK_FILE)
        self.label = label
        self.operation = operation
        self.timeout = timeout
        self.token = token
        self.poll_interval = poll_interval
        self.clock = clock
        self.sleep = sleep
        self.fd = None
        self.record = {}
        self.waited = 0.0

    def _read(self):
        os.lseek(self.fd, 0, os.SEEK_SET)
        chunks = []
        while True:
            chunk = os.read(self.fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
        return parse_record(b"".join(chunks))

    def _write(self, record):
        data = json.dumps(record, sort_keys=True).encode("utf-8") if record else b""
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, data, 0)
        os.fsync(self.fd)

    def acquire(self):
        start = self.clock()
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            while True:
                holder = self._try_once()
                if holder is None:
                    break
                now = self.clock()
                self.waited = now - start
                if self.waited >= self.timeout:
                    raise LockTimeout(timeout_message(self.label, holder, self.waited, now), holder=holder,
                                      repository=self.label)
                self.sleep(min(self.poll_interval, max(self.timeout - self.waited, 0.01)))
        except BaseException:
            os.close(self.fd)
            self.fd = None
            raise
        self.waited = self.clock() - start
        return self

    def _try_once(self):
        """None when we now hold the lock, else the record naming who does."""
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (IOError, OSError) as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            return self._read()
        record = self._read()
        now = self.clock()
        if self.honour_lease and lease_blocks(record, self.token, now):
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            return {"lease": record["lease"]}
        current = {"pid": os.getpid(), "host": socket.gethostname(), "operation": self.operation,
                   "since": iso(now), "since_epoch": now}
        lease = active_lease(record, now)
        if lease:
            current["lease"] = lease
        self.record = current
        self._write(current)
        return None

    def lease(self):
        return active_lease(self.record, self.clock())

    def take_lease(self, owner, ttl, token=None):
        """Reserve the repository beyond this operation; returns the token."""
        now = self.clock()
        current = self.lease()
        if current and token and current.get("token") == token:
            lease = dict(current, expires_epoch=now + ttl)
        else:
            lease = {"token": token or uuid.uuid4().hex, "owner": owner, "host": socket.gethostname(),
                     "pid": os.getpid(), "since": iso(now), "since_epoch": now, "expires_epoch": now + ttl}
        self.record["lease"] = lease
        self._write(self.record)
        return lease

    def drop_lease(self, token, force=False):
        """Release the lease; LockNotHeld when it is someone else's (unless force)."""
        current = self.lease()
        if not current:
            return None
        if current.get("token") != token and not force:
            raise LockNotHeld("the run lease of repository {0} belongs to {1}, not to token {2}".format(
                self.label, describe_holder({"lease": current}, self.clock()), (token or "")[:8] + "..."),
                repository=self.label)
        self.record.pop("lease", None)
        self._write(self.record)
        return current

    def release(self):
        if self.fd is None:
            return
        try:
            lease = self.lease()
            self._write({"lease": lease} if lease else {})
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        finally:
            os.close(self.fd)
            self.fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc_info):
        self.release()
        return False
