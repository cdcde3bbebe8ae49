# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who runs a backup, and whether a run lease was left behind by a run that is dead.

A backup run holds the repository's lease (statesafe.backup.bup_lock) from before the capture until
its end. The lease outlives the process that took it, so a run killed with SIGKILL (or a crashed
controller) would keep every later run out until the lease expires. To tell a dead run from a slow
one, the backup role puts the identity of the ansible-playbook process in the lease's owner:

    <owner> [run pid=<pid> start=<start ticks> host=<hostname>]

where start is the process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat), so
a recycled pid is not mistaken for the run. A lease is *stale* when its run was on this host and that
process no longer exists with that start time. Leases from other hosts are never judged here.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re

LOCK_FILE = "statesafe.lock"
_RUN = re.compile(r"\[run pid=(?P<pid>[0-9]+) start=(?P<start>[0-9]+) host=(?P<host>[^\]\s]+)\]")


def start_ticks(pid, proc="/proc"):
    """The process's start time (clock ticks since boot), or None when there is no such process."""
    try:
        with open(os.path.join(proc, str(pid), "stat"), "rb") as handle:
            data = handle.read().decode("utf-8", "replace")
    except (IOError, OSError):
        return None
    # The command name (field 2) is in parentheses and may hold spaces or ')'; fields resume after the last ')'.
    fields = data[data.rfind(")") + 2:].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def owner_tag(pid, ticks, host):
    return "[run pid={0} start={1} host={2}]".format(pid, ticks, host)


def parse_owner(owner):
    """{'pid': int, 'start': int, 'host': str} from a lease owner, or None when it names no run."""
    match = _RUN.search(owner or "")
    if not match:
        return None
    return {"pid": int(match.group("pid")), "start": int(match.group("start")), "host": match.group("host")}


def read_lease(repository):
    """The lease recorded in <repository>/statesafe.lock, or None (no file, no lease, unreadable)."""
    try:
        with open(os.path.join(repository, LOCK_FILE), "rb") as handle:
            record = json.loads(handle.read().decode("utf-8") or "{}")
    except (IOError, OSError, ValueError, UnicodeDecodeError):
        return None
    lease = record.get("lease") if isinstance(record, dict) else None
    return lease if isinstance(lease, dict) else None


def stale_lease(lease, host, now, proc="/proc"):
    """The lease with a 'reason' when its run is dead on this host; None when it is live, expired or foreign."""
    if not lease or not lease.get("token"):
        return None
    expires = lease.get("expires_epoch")
    if isinstance(expires, (int, float)) and expires <= now:
        return None  # expired: bup_lock already ignores it
    run = parse_owner(lease.get("owner"))
    if run is None or run["host"] != host:
        return None
    ticks = start_ticks(run["pid"], proc)
    if ticks == run["start"]:
        return None
    reason = ("the run that took it (ansible-playbook pid {0} on {1}) is gone".format(run["pid"], host)
              if ticks is None else
              "pid {0} on {1} is now another process (started at tick {2}, the run at {3})".format(
                  run["pid"], host, ticks, run["start"]))
    return dict(lease, reason=reason)
