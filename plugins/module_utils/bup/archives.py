# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Archives of a bup branch: completeness, selection and retention, as pure functions.

An archive is one save (one commit) on a branch. It is *complete* when the
repository holds a marker ref refs/tags/complete/<branch>/<commit>, written only
after the commit was validated against the staging tree's manifest.

`bup rm` (retention) rewrites every commit after the first removed one: same
tree, author, committer and message, new id. A marker whose commit is no longer
on the branch therefore still vouches for the rewritten commit with the same
(tree, author time, committer time); `carry_markers` finds it, so listing is
right even before the markers have been moved.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import re
import time

from ansible_collections.statesafe.backup.plugins.module_utils.bup.errors import (
    ArchiveIncomplete,
    ArchiveNotFound,
    BadInput,
)
from ansible_collections.statesafe.backup.plugins.module_utils.bup.parse import (
    save_names,
)

# Same units and sizes as bup's period_as_secs (a month is 31 days, a year 366).
_PERIOD = re.compile(r"^([0-9]+)(s|min|h|d|w|m|y)$")
_PERIOD_UNITS = {"s": 1, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "m": 31 * 86400, "y": 366 * 86400}
POLICY_KEYS = ("all", "dailies", "weeklies", "monthlies", "yearlies")
_PERIOD_NOUN = {"dailies": "day", "weeklies": "ISO week", "monthlies": "month", "yearlies": "year"}


def _identity(commit):
    """What `bup rm` keeps when it rewrites a commit."""
    return (commit["tree"], commit["time"], commit["commit_time"])


def carry_markers(commits, markers):
    """Which commits of a branch are complete, and which markers must move or go.

    commits: rev-list records of the branch (dicts with commit, tree, time,
    commit_time); markers: the branch's markers, each with the record of the
    commit it names under "record" (None when that commit no longer exists).
    Returns (complete_ids, moves, stale) where moves is [(marker, new_commit)]
    and stale the markers that vouch for nothing on the branch any more.
    """
    on_branch = dict((c["commit"], c) for c in commits)
    by_identity = {}
    for record in commits:
        by_identity.setdefault(_identity(record), []).append(record["commit"])
    complete = set()
    moves = []
    stale = []
    for marker in markers:
        if marker["commit"] in on_branch and marker["target"] == marker["commit"]:
            complete.add(marker["commit"])
            continue
        record = marker.get("record")
        candidates = by_identity.get(_identity(record), []) if record else []
        if candidates:
            complete.add(candidates[0])
            moves.append((marker, candidates[0]))
        else:
            stale.append(marker)
    return complete, moves, stale


def iso_utc(timestamp):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def build_archives(branch, commits, complete_ids, localtime=time.localtime):
    """Archive records, newest date first, as listed to users.

    commits come in branch order (tip first), which is also date order unless
    saves were made with explicit dates out of order (bup save -d, imports);
    names follow branch order as bup's do, the list is sorted by date (stable)
    so that 'latest' and retention mean the newest by date.
    """
    names = save_names([c["time"] for c in commits], localtime)
    archives = []
    for record, name in zip(commits, names):
        archives.append({
            "branch": branch,
            "name": name,
            "commit": record["commit"],
            "tree": record["tree"],
            "timestamp": record["time"],
            "date": iso_utc(record["time"]),
            "complete": record["commit"] in complete_ids,
        })
    return sorted(archives, key=lambda a: -a["timestamp"])


_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SAVE_NAME = re.compile(r"^\d{4}-\d{2}-\d{2}-\d{6}(-\d+)?$")
_ISO = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?(Z|[+-]\d{2}:?\d{2})?$")
_HEX = re.compile(r"^[0-9a-f]{7,40}$")


def _parse_iso(text):
    """ISO 8601 date-time -> epoch seconds; no offset means UTC."""
    match = _ISO.match(text)
    day, hour, minute, second, offset = match.groups()
    struct = time.strptime("{0} {1}:{2}:{3}".format(day, hour, minute, second or "00"), "%Y-%m-%d %H:%M:%S")
    epoch = calendar.timegm(struct)
    if offset and offset != "Z":
        sign = 1 if offset[0] == "+" else -1
        digits = offset[1:].replace(":", "")
        epoch -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return epoch


def selector_kind(selector):
    """'latest', 'commit', 'name', 'day' or 'before'; BadInput for anything else."""
    if selector in (None, "", "latest"):
        return "latest"
    if _SAVE_NAME.match(selector):
        return "name"
    if _DAY.match(selector):
        return "day"
    if _ISO.match(selector):
        return "before"
    if _HEX.match(selector):
        return "commit"
    raise BadInput("archive {0!r} is not 'latest', a commit id (7 to 40 hex digits), a save name "
                   "(YYYY-MM-DD-HHMMSS), a day (YYYY-MM-DD) or a date-time (YYYY-MM-DDTHH:MM[:SS][Z|+HH:MM])"
                   .format(selector))


def select_archive(archives, selector, allow_incomplete=False, localtime=time.localtime):
    """The archive a restore means: newest complete unless told otherwise.

    archives: newest first. A day is a local-time day, as bup names saves;
    a date-time selects the newest archive at or before it. A commit or a save
    name selects that archive, which must be complete unless allow_incomplete.
    """
    kind = selector_kind(selector)
    branch = archives[0]["branch"] if archives else None
    if kind in ("commit", "name"):
        key = "commit" if kind == "commit" else "name"
        found = [a for a in archives if a[key] == selector or (key == "commit" and a[key].startswith(selector))]
        if not found:
            raise ArchiveNotFound("no archive has {0} {1}".format(key, selector), branch=branch, archive=selector)
        if len(found) > 1:
            raise ArchiveNotFound("commit prefix {0} matches {1} archives; give more digits"
                                  .format(selector, len(found)), branch=branch, archive=selector)
        archive = found[0]
        if not archive["complete"] and not allow_incomplete:
            raise ArchiveIncomplete("archive {0} ({1}) is not marked complete: it was never validated, or "
                                    "validation failed; set allow_incomplete to restore it anyway"
                                    .format(archive["name"], archive["commit"]),
                                    branch=archive["branch"], commit=archive["commit"])
        return archive
    candidates = [a for a in archives if a["complete"] or allow_incomplete]
    if kind == "day":
        candidates = [a for a in candidates if time.strftime("%Y-%m-%d", localtime(a["timestamp"])) == selector]
    elif kind == "before":
        limit = _parse_iso(selector)
        candidates = [a for a in candidates if a["timestamp"] <= limit]
    if not candidates:
        skipped = len([a for a in archives if not a["complete"]])
        hint = " ({0} incomplete archive(s) not considered)".format(skipped) if skipped and not allow_incomplete else ""
        what = "" if allow_incomplete else "complete "
        raise ArchiveNotFound("no {0}archive matches {1}{2}".format(what, selector or "latest", hint),
                              branch=branch, archive=selector or "latest")
    return candidates[0]


def period_seconds(text, what):
    """bup's period syntax ('30d', '12w', '6m', '2y', 'forever') -> seconds (inf for forever)."""
    if text in (None, ""):
        return None
    if text == "forever":
        return float("inf")
    match = _PERIOD.match(str(text))
    if not match:
        raise BadInput("{0} {1!r} is not a period: a number followed by s, min, h, d, w, m (31 days) "
                       "or y (366 days), or 'forever'".format(what, text))
    return int(match.group(1)) * _PERIOD_UNITS[match.group(2)]


def retention_policy(keep_all_for=None, keep_dailies_for=None, keep_weeklies_for=None,
                     keep_monthlies_for=None, keep_yearlies_for=None):
    """Periods in seconds (None when unset); at least one must be set, each no shorter than the previous."""
    given = (("all", keep_all_for, "keep_all_for"), ("dailies", keep_dailies_for, "keep_dailies_for"),
             ("weeklies", keep_weeklies_for, "keep_weeklies_for"),
             ("monthlies", keep_monthlies_for, "keep_monthlies_for"),
             ("yearlies", keep_yearlies_for, "keep_yearlies_for"))
    policy = {}
    previous = None
    for key, text, option in given:
        seconds = period_seconds(text, option)
        policy[key] = seconds
        if seconds is None:
            continue
        if previous and seconds < previous[1]:
            raise BadInput("{0} ({1}) is shorter than {2} ({3}): its region would be empty, since each "
                           "period starts where the shorter ones end".format(option, text, previous[0], previous[2]))
        previous = (option, seconds, text)
    if previous is None:
        raise BadInput("a retention policy needs at least one of keep_all_for, keep_dailies_for, "
                       "keep_weeklies_for, keep_monthlies_for, keep_yearlies_for")
    return policy


def _region_key(kind, timestamp, localtime):
    tm = localtime(timestamp)
    if kind == "dailies":
        return (tm.tm_year, tm.tm_yday)
    if kind == "weeklies":
        return time.strftime("%G-%V", tm)
    if kind == "monthlies":
        return (tm.tm_year, tm.tm_mon)
    return tm.tm_year


def retention_plan(archives, policy, now, keep_incomplete=False, localtime=time.localtime):
    """Which archives survive a policy, with the reason for each decision.

    Mirrors bup prune-older: every archive newer than now - all is kept; the
    older ones fall, by age, into the dailies, weeklies, monthlies, yearlies
    regions (each region starts where the shorter one ends) and the newest
    archive of each local day/ISO week/month/year in its region is kept; the
    rest go. Unlike prune-older, only complete archives compete for a slot (an
    incomplete save never displaces a complete one of the same day), the newest
    complete archive is always kept, and incomplete archives are removed unless
    keep_incomplete. archives: newest first. Returns a list of
    (archive, keep, reason) in the same order.
    """
    decisions = {}
    complete = [a for a in archives if a["complete"]]
    starts = dict((key, now - policy[key] if policy.get(key) is not None else float("inf"))
                  for key in POLICY_KEYS)
    remaining = []
    for archive in complete:
        if archive["timestamp"] >= starts["all"]:
            decisions[archive["commit"]] = (True, "within keep_all_for")
        else:
            remaining.append(archive)
    for kind in POLICY_KEYS[1:]:
        in_region = [a for a in remaining if a["timestamp"] >= starts[kind]]
        remaining = [a for a in remaining if a["timestamp"] < starts[kind]]
        seen = set()
        for archive in in_region:  # newest first, so the first of a period is its newest
            key = _region_key(kind, archive["timestamp"], localtime)
            if key in seen:
                decisions[archive["commit"]] = (False, "not the newest of its {0} ({1})"
                                                .format(_PERIOD_NOUN[kind], kind))
            else:
                seen.add(key)
                decisions[archive["commit"]] = (True, "newest of its {0} ({1})".format(_PERIOD_NOUN[kind], kind))
    for archive in remaining:
        decisions[archive["commit"]] = (False, "older than every retention period")
    if complete and not decisions[complete[0]["commit"]][0]:
        decisions[complete[0]["commit"]] = (True, "newest complete archive (always kept)")
    plan = []
    for archive in archives:
        if archive["complete"]:
            keep, reason = decisions[archive["commit"]]
        elif keep_incomplete:
            keep, reason = True, "incomplete, kept because keep_incomplete is set"
        else:
            keep, reason = False, "incomplete (never validated and marked)"
        plan.append((archive, keep, reason))
    return plan


def listing_lines(archives):
    """One line per archive, newest first: 'name  commit[:12]  size  complete|INCOMPLETE' (playbooks/list.yml)."""
    newest_first = sorted(archives, key=lambda archive: archive["timestamp"], reverse=True)
    return ["{0}  {1}  {2}  {3}".format(archive["name"], archive["commit"][:12], archive.get("size"),
                                        "complete" if archive.get("complete") else "INCOMPLETE")
            for archive in newest_first]
