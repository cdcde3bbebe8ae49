# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether an etcd backup run saves an archive. Pure functions.

A run compares what it sees now with the state of the last complete archive (a small JSON file the role
writes after a save was marked complete, next to the repository, and only while that archive's completeness
marker is still in the repository):

- etcd's revision (it moves on with every write to the cluster, and with nothing else);
- the digest of the saved files (static-pod manifests, PKI, ...): sha256 over their sorted (path, sha256).

force saves whatever the comparison says. Otherwise a run inside min_interval of the last complete archive is
skipped, and with skip_unchanged a run that finds both values equal is skipped.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import re
import time

from ansible_collections.statesafe.backup.plugins.module_utils.errors import InvalidInput

STATE_VERSION = 1
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^(?:\d+[smhdw])+$")
_PART = re.compile(r"(\d+)([smhdw])")


def parse_interval(value):
    """Seconds of min_interval: an int, digits, or units like 30m, 6h, 1d, 1h30m; 0, empty or None for none."""
    if isinstance(value, bool):
        raise InvalidInput("min_interval must be seconds or a duration like 30m, 6h or 1d, got {0!r}".format(value))
    if value is None:
        return 0
    if isinstance(value, int):
        seconds = value
    else:
        text = str(value).strip().lower().replace(" ", "")
        if text == "":
            return 0
        if text.isdigit():
            seconds = int(text)
        elif _DURATION.match(text):
            seconds = sum(int(n) * _UNITS[unit] for n, unit in _PART.findall(text))
        else:
            raise InvalidInput("min_interval must be seconds or a duration like 30m, 6h or 1d, got {0!r}".format(
                value))
    if seconds < 0:
        raise InvalidInput("min_interval must not be negative, got {0!r}".format(value))
    return seconds


def files_digest(files):
    """sha256 over the sorted (relative path, sha256) of the saved files: one value that any change moves."""
    lines = sorted("{0} {1}\n".format(entry["path"], entry["sha256"]) for entry in files)
    return "sha256:" + hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()


def iso_time(timestamp):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(timestamp)))


def format_age(seconds):
    seconds = int(round(seconds))
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append("{0}{1}".format(seconds // size, unit))
            seconds %= size
    return " ".join(parts) or "0s"


def state_problem(state, branch, marker_present):
    """Why the state of the last archive cannot be compared with, or None."""
    if not isinstance(state, dict) or not state:
        return "no complete archive is recorded"
    if state.get("version") != STATE_VERSION:
        return "the state file has version {0!r}, not {1}".format(state.get("version"), STATE_VERSION)
    if state.get("branch") != branch:
        return "the state file is of branch {0!r}, not {1!r}".format(state.get("branch"), branch)
    if not state.get("commit"):
        return "the state file names no archive"
    when = state.get("time")
    if not isinstance(when, (int, float)) or isinstance(when, bool):
        return "the state file has no time"
    if not marker_present:
        return "archive {0} is no longer marked complete in the repository".format(state["commit"][:12])
    return None


def changes(state, revision, digest):
    """[why] this run's revision and files differ from the archive's (empty when both are equal)."""
    out = []
    if state.get("revision") != revision:
        out.append("etcd revision {0} -> {1}".format(state.get("revision"), revision))
    if state.get("files_digest") != digest:
        out.append("saved files changed")
    return out


def decide(state, revision, digest, now, branch, marker_present, skip_unchanged=True, min_interval=0, force=False):
    """Save or skip this run. Returns {run, skipped_by (None, 'min_interval', 'unchanged'), reason, unchanged,
    changes, archive, since, next_allowed, revision, files_digest}."""
    problem = state_problem(state, branch, marker_present)
    usable = problem is None
    differences = changes(state, revision, digest) if usable else []
    out = {"run": True, "skipped_by": None, "reason": "", "unchanged": usable and not differences,
           "changes": differences, "archive": state["commit"] if usable else None,
           "since": iso_time(state["time"]) if usable else None, "next_allowed": None,
           "revision": revision, "files_digest": digest}
    if usable and min_interval:
        out["next_allowed"] = iso_time(float(state["time"]) + min_interval)
    if force:
        out["reason"] = "forced (force=true): min_interval and skip_unchanged are not applied"
        return out
    if not usable:
        out["reason"] = "{0}: this run saves".format(problem)
        return out
    archive = "archive {0} of {1}".format(out["archive"][:12], out["since"])
    age = max(0.0, float(now) - float(state["time"]))
    if min_interval and age < min_interval:
        out.update(run=False, skipped_by="min_interval", reason=(
            "skipped: the last complete {0} is {1} old, less than min_interval {2}; the next run may save at {3} "
            "(force=true saves now)".format(archive, format_age(age), format_age(min_interval), out["next_allowed"])))
        return out
    if skip_unchanged and not differences:
        out.update(run=False, skipped_by="unchanged", reason=(
            "skipped: etcd revision {0} and the saved files are those of the last complete {1} (force=true saves "
            "anyway)".format(revision, archive)))
        return out
    if differences:
        out["reason"] = "changed since the last complete {0}: {1}".format(archive, "; ".join(differences))
    else:
        out["reason"] = "the last complete {0} is {1} old (skip_unchanged is false)".format(archive, format_age(age))
    return out


def state_document(branch, commit, timestamp, revision, digest, snapshot_status):
    """What the role records after a complete save, for the next run to compare with."""
    return {"version": STATE_VERSION, "branch": branch, "commit": commit, "time": float(timestamp),
            "created": iso_time(timestamp), "revision": revision, "files_digest": digest,
            "snapshot": dict(snapshot_status or {})}
