# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Component revisions and the decision to skip a scheduled backup. Pure functions, plus the probes.

A revision is a cheap value that changes whenever a component's data changes:

- ``resources`` components: built in. The objects the export would write (same selection, same
  stripping, same YAML), one LIST per kind: sha256 over the sorted (file, sha256 of its bytes). An object
  added, deleted or edited changes it; a status-only update (not exported) does not.
- ``dump`` and ``volume`` components: the profile's optional ``revision: {command, pod, container,
  timeout}``, run with exec in the pod (pod and container default to the component's); its stdout, hashed,
  is the revision. It must not be changed by the backup itself.
- A component without a probe, or whose probe failed, has no revision (None): it always counts as
  changed, so nothing is ever skipped on a guess.

The revisions taken before the capture are the ones recorded (MANIFEST.json and the state file of the
branch); a change made during the capture is seen by the next run.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import re
import time

from ansible_collections.statesafe.backup.plugins.module_utils.bup import parse as bup_parse
from ansible_collections.statesafe.backup.plugins.module_utils.k8s import pods as pod_utils
from ansible_collections.statesafe.backup.plugins.module_utils.capture import quiesce
from ansible_collections.statesafe.backup.plugins.module_utils.capture import resource_export
from ansible_collections.statesafe.backup.plugins.module_utils.errors import (
    ExecFailed,
    InvalidInput,
    StatesafeError,
)

STATE_VERSION = 1
DEFAULT_PROBE_TIMEOUT = 120
# A probe prints a few lines; more is a mistake in the profile, not a revision.
PROBE_OUTPUT_LIMIT = 65536

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^(?:\d+[smhdw])+$")
_DURATION_PART = re.compile(r"(\d+)([smhdw])")


def parse_duration(value):
    """Seconds of a duration: an int (seconds), digits, or units like 30m, 6h, 1d, 1w, 1h30m. 0 / empty = none."""
    if isinstance(value, bool):
        raise InvalidInput("min_interval must be seconds or a duration like 30m, 6h or 1d, got {0!r}".format(value))
    if value is None:
        return 0
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, float) and value.is_integer():
        seconds = int(value)
    else:
        text = str(value).strip().lower().replace(" ", "")
        if text == "":
            return 0
        if text.isdigit():
            seconds = int(text)
        elif _DURATION.match(text):
            seconds = sum(int(n) * _UNITS[unit] for n, unit in _DURATION_PART.findall(text))
        else:
            raise InvalidInput(
                "min_interval must be seconds or a duration like 30m, 6h or 1d, got {0!r}".format(value))
    if seconds < 0:
        raise InvalidInput("min_interval must not be negative, got {0!r}".format(value))
    return seconds


def format_duration(seconds):
    """1d 2h 3m 4s, leaving out zero parts; 0s for 0."""
    seconds = int(round(seconds))
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append("{0}{1}".format(seconds // size, unit))
            seconds %= size
    return " ".join(parts) or "0s"


def iso_time(timestamp):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(timestamp)))


def resources_revision(rendered):
    """The revision of a resources component: sha256 over its sorted (file, sha256 of the file's bytes).

    rendered: resource_export.render_objects' (relpath, object, bytes, is_secret) tuples.
    """
    lines = sorted("{0} {1}\n".format(relpath, hashlib.sha256(data).hexdigest())
                   for relpath, _obj, data, _secret in rendered)
    return "sha256:" + hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()


def output_revision(stdout):
    """The revision of a probe's output (text or bytes): sha256 of it without surrounding whitespace."""
    if isinstance(stdout, bytes):
        stdout = stdout.decode("utf-8", "backslashreplace")
    text = (stdout or "").strip()
    if not text:
        raise ValueError("the probe printed nothing")
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def selections(component):
    """A resources component's selections as resource_export's argument spec fills them in."""
    out = []
    for spec in component.get("resources") or []:
        item = dict(spec)
        item.setdefault("api_version", "v1")
        item.setdefault("optional", False)
        item["references"] = [dict(ref, api_version=ref.get("api_version") or "v1", optional=ref.get("optional", False))
                              for ref in item.get("references") or []]
        out.append(item)
    return out


def probe_plan(components):
    """One probe per component, in the profile's order: {name, type, method: resources|exec|none, ...}.

    Raises InvalidInput for a revision key that cannot be run (not a mapping, no command, no pod).
    """
    plan = []
    for component in components:
        name = component.get("name")
        ctype = component.get("type")
        entry = {"name": name, "type": ctype}
        if ctype == "resources":
            entry.update(method="resources", selections=selections(component))
        elif "revision" in component and component["revision"] is not None:
            spec = component["revision"]
            if not isinstance(spec, dict) or not isinstance(spec.get("command"), str) or not spec["command"].strip():
                raise InvalidInput("component {0}: revision must be a mapping with a command (and optionally pod, "
                                   "container, timeout), got {1!r}".format(name, spec))
            unknown = sorted(set(spec) - set(("command", "pod", "container", "timeout")))
            if unknown:
                raise InvalidInput("component {0}: revision has unknown keys: {1}".format(name, ", ".join(unknown)))
            pod = spec.get("pod") or component.get("pod")
            if not pod:
                raise InvalidInput("component {0} ({1}): revision needs a pod (the component names none)".format(
                    name, ctype))
            timeout = spec.get("timeout", DEFAULT_PROBE_TIMEOUT)
            if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout < 1:
                raise InvalidInput("component {0}: revision timeout must be a positive number of seconds, got "
                                   "{1!r}".format(name, timeout))
            entry.update(method="exec", pod=pod, container=spec.get("container") or component.get("container"),
                         command=spec["command"], timeout=timeout)
        else:
            entry.update(method="none")
        plan.append(entry)
    return plan


def compare(previous, current):
    """(unchanged names, [{name, why}] changed) of current revisions against the archive's; current's order."""
    previous = previous or {}
    unchanged, changed = [], []
    for name, revision in current.items():
        if revision is None:
            changed.append({"name": name, "why": "no revision (no probe, or the probe failed)"})
        elif name not in previous:
            changed.append({"name": name, "why": "not in the archive"})
        elif previous[name] is None:
            changed.append({"name": name, "why": "the archive recorded no revision"})
        elif previous[name] != revision:
            changed.append({"name": name, "why": "revision changed"})
        else:
            unchanged.append(name)
    for name in previous:
        if name not in current:
            changed.append({"name": name, "why": "in the archive, no longer in the profile"})
    return unchanged, changed


def archive_still_complete(repository, branch, commit):
    """Whether the repository still holds the completeness marker of branch/commit (loose or packed ref)."""
    ref = bup_parse.marker_ref(branch, commit)
    if os.path.isfile(os.path.join(repository, ref)):
        return True
    packed = os.path.join(repository, "packed-refs")
    if os.path.isfile(packed):
        with open(packed) as stream:
            return any(line.split()[-1:] == [ref] for line in stream if not line.startswith(("#", "^")))
    return False


def state_problem(state, namespace, branch):
    """Why a state document cannot be used for this run, or None."""
    if not isinstance(state, dict) or not state:
        return "no complete archive is recorded"
    if state.get("version") != STATE_VERSION:
        return "the state file has version {0!r}, not {1}".format(state.get("version"), STATE_VERSION)
    archive = state.get("archive")
    if not isinstance(archive, dict) or not archive.get("commit"):
        return "the state file names no archive"
    if not isinstance(state.get("time"), (int, float)) or isinstance(state.get("time"), bool):
        return "the state file has no time"
    if not isinstance(state.get("revisions"), dict):
        return "the state file has no revisions"
    if state.get("namespace") != namespace:
        return "the last complete archive is of namespace {0}, not {1}".format(state.get("namespace"), namespace)
    if branch and state.get("branch") not in (None, branch):
        return "the state file is of branch {0}, not {1}".format(state.get("branch"), branch)
    return None


def decide(state, current, now, namespace, branch="", skip_unchanged=False, min_interval=0, force=False):
    """Run or skip this backup. Pure: the state of the last complete archive, this run's revisions, the clock.

    Returns {run, skipped_by (None, 'min_interval' or 'unchanged'), reason, unchanged (every revision equals
    the archive's), compared, changed, archive, since, next_allowed}.
    """
    problem = state_problem(state, namespace, branch)
    usable = problem is None
    unchanged_names, changed = compare(state.get("revisions") if usable else {}, current)
    all_unchanged = usable and not changed and bool(unchanged_names)
    out = {"run": True, "skipped_by": None, "reason": "", "unchanged": all_unchanged,
           "compared": unchanged_names + [c["name"] for c in changed if c["name"] in current], "changed": changed,
           "archive": (state.get("archive") or {}).get("commit") if usable else None,
           "since": iso_time(state["time"]) if usable else None, "next_allowed": None}
    if usable and min_interval:
        out["next_allowed"] = iso_time(float(state["time"]) + min_interval)
    if force:
        out["reason"] = "forced (force=true): skip_unchanged and min_interval are not applied"
        return out
    if not skip_unchanged and not min_interval:
        out["reason"] = "every run backs up (skip_unchanged false, no min_interval)"
        return out
    if not usable:
        out["reason"] = "{0}: this run backs up".format(problem)
        return out
    archive = "archive {0} of {1}".format(out["archive"][:12], out["since"])
    age = max(0.0, float(now) - float(state["time"]))
    if min_interval and age < min_interval:
        out.update(run=False, skipped_by="min_interval", reason=(
            "skipped: the last complete {0} is {1} old, less than min_interval {2}; the next run may happen at {3} "
            "(force=true runs now)".format(archive, format_duration(age), format_duration(min_interval),
                                           out["next_allowed"])))
        return out
    if skip_unchanged and all_unchanged:
        out.update(run=False, skipped_by="unchanged", reason=(
            "skipped: nothing changed since the last complete {0}, which is still current (compared {1}: {2}; "
            "force=true runs anyway)".format(archive, len(unchanged_names), ", ".join(unchanged_names))))
        return out
    if skip_unchanged:
        out["reason"] = "changed since the last complete {0}: {1}".format(
            archive, "; ".join("{0} ({1})".format(c["name"], c["why"]) for c in changed))
    else:
        out["reason"] = "the last complete {0} is {1} old, at least min_interval {2}".format(
            archive, format_duration(age), format_duration(min_interval))
    return out


def read_state(path):
    """(state document or None, problem or None) of the branch's state file; a missing file is no problem."""
    if not path or not os.path.exists(path):
        return None, None
    try:
        with open(path) as stream:
            return json.load(stream), None
    except (IOError, OSError, ValueError) as exc:
        return None, "state file {0} cannot be read ({1}): this run backs up".format(path, exc)


def _probe_exec(k8s_client, api, namespace, entry):
    """Run one exec probe; its revision. Raises StatesafeError naming namespace, pod and container."""
    pod = api.get_pod(namespace, entry["pod"])
    container = pod_utils.choose_container(pod, entry.get("container"))
    pod_utils.ensure_running(pod, container)
    location = dict(namespace=namespace, pod=entry["pod"], container=container)
    argv = quiesce.build_argv(command=entry["command"], timeout=entry["timeout"])
    result = quiesce.run_one(k8s_client, pod, container, argv, entry["timeout"], 10, PROBE_OUTPUT_LIMIT, "text")
    if result["timed_out"] or result["rc"] != 0:
        raise ExecFailed("revision probe of component {0} {1}: {2}".format(
            entry["name"], "timed out" if result["timed_out"] else "exited {0}".format(result["rc"]),
            result["stderr"].strip()[-500:] or "no stderr"), rc=result["rc"], **location)
    if result["stdout_truncated"]:
        raise ExecFailed("revision probe of component {0} printed more than {1} bytes".format(
            entry["name"], PROBE_OUTPUT_LIMIT), **location)
    try:
        return output_revision(result["stdout"]), container
    except ValueError as exc:
        raise ExecFailed("revision probe of component {0}: {1}".format(entry["name"], exc), **location) from exc


def take_revisions(k8s_client, api, namespace, plan):
    """({name: revision or None}, [{name, method, pod, container, seconds, error}]) for a probe plan.

    A probe that fails leaves its component without a revision (always changed) and says why; it never
    fails the backup, which then simply runs.
    """
    revisions, probes, done = {}, [], {}
    for entry in plan:
        started = time.time()
        record = {"name": entry["name"], "type": entry["type"], "method": entry["method"], "error": None}
        revision = None
        try:
            if entry["method"] == "resources":
                objects, _skipped, _requests = resource_export.collect_objects(api, namespace, entry["selections"])
                revision = resources_revision(resource_export.render_objects(objects, True, False, None))
            elif entry["method"] == "exec":
                record.update(pod=entry["pod"], container=entry.get("container"))
                # Components sharing one probe (e.g. a volume and a dump of the same store) run it once.
                same = (entry["pod"], entry.get("container"), entry["command"])
                if same not in done:
                    done[same] = _probe_exec(k8s_client, api, namespace, entry)
                revision, record["container"] = done[same]
        except StatesafeError as exc:
            location = dict(exc.location)
            location.setdefault("namespace", namespace)
            record["error"] = "component {0}: {1}".format(entry["name"], StatesafeError(exc.message, **location))
        record["seconds"] = round(time.time() - started, 3)
        revisions[entry["name"]] = revision
        probes.append(record)
    return revisions, probes
