# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backup hooks declared on pods with annotations, in the manner of Velero's pre/post backup hooks.

A pod asks for a command to run in one of its containers before the capture (pre) and after it
(post, always run) with these annotations (PHASE is ``pre`` or ``post``)::

    statesafe.backup/PHASE-hook-command    a shell command line, or a JSON list of arguments (no shell)
    statesafe.backup/PHASE-hook-container  the container (default: the pod's
                                           kubectl.kubernetes.io/default-container, then its first one)
    statesafe.backup/PHASE-hook-on-error   Fail (default) or Continue
    statesafe.backup/PHASE-hook-timeout    seconds, or a duration such as 30s, 2m, 1h (default 300s)

Velero spells the same ``pre.hook.backup.velero.io/command`` and so on. Only the command is required;
a container, on-error or timeout annotation without a command is an error, as is any other
``statesafe.backup/...-hook-...`` key, so a typo never silently disables a freeze.

Everything here is data to data: pod objects as the API returns them in, quiesce_exec argument sets
out. Errors raise InvalidInput naming the namespace, the pod and the annotation.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

from ansible_collections.statesafe.backup.plugins.module_utils.errors import InvalidInput

PREFIX = "statesafe.backup/"
PHASES = ("pre", "post")
FIELDS = ("command", "container", "on-error", "timeout")
ON_ERROR = ("fail", "continue")
DEFAULT_TIMEOUT = 300
MAX_TIMEOUT = 86400
DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"

_KEY = re.compile(r"^(pre|post)-hook-(.+)$")
_DURATION = re.compile(r"^\s*([0-9]+)\s*(s|m|h)?\s*$")
_UNIT = {None: 1, "s": 1, "m": 60, "h": 3600}


def annotation(phase, field):
    """The annotation key of one field of one phase: statesafe.backup/pre-hook-command."""
    return "{0}{1}-hook-{2}".format(PREFIX, phase, field)


def parse_timeout(value, where):
    """'30', '30s', '2m', '1h' -> seconds (1 .. 86400)."""
    match = _DURATION.match(str(value))
    if not match:
        raise InvalidInput("{0}: timeout {1!r} is not a number of seconds or a duration such as 30s, 2m or 1h".format(
            where, value))
    seconds = int(match.group(1)) * _UNIT[match.group(2)]
    if not 1 <= seconds <= MAX_TIMEOUT:
        raise InvalidInput("{0}: timeout {1!r} must be between 1 second and 24 hours".format(where, value))
    return seconds


def parse_command(value, where):
    """A shell line -> {'command': line}; a JSON list of strings -> {'argv': list}."""
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise InvalidInput("{0}: the command is empty".format(where))
    if text.startswith("["):
        try:
            argv = json.loads(text)
        except ValueError as exc:
            raise InvalidInput("{0}: the command starts with '[' but is not a JSON list: {1}".format(where, exc)) from exc
        if not argv or not all(isinstance(word, str) and word for word in argv):
            raise InvalidInput("{0}: a JSON command must be a non-empty list of non-empty strings".format(where))
        return {"argv": argv}
    return {"command": text}


def _containers(pod):
    return [c.get("name") for c in (pod.get("spec") or {}).get("containers") or [] if c.get("name")]


def _default_container(pod, annotations):
    wanted = annotations.get(DEFAULT_CONTAINER_ANNOTATION)
    names = _containers(pod)
    if wanted and wanted in names:
        return wanted
    return names[0] if names else None


def hook_annotations(annotations):
    """{phase: {field: value}} for our hook annotations; unknown statesafe.backup/*-hook-* keys -> errors list."""
    found, unknown = {}, []
    for key in sorted(annotations or {}):
        if not key.startswith(PREFIX):
            continue
        match = _KEY.match(key[len(PREFIX):])
        if not match:
            if "hook" in key[len(PREFIX):]:
                unknown.append(key)
            continue
        phase, field = match.group(1), match.group(2)
        if field not in FIELDS:
            unknown.append(key)
            continue
        found.setdefault(phase, {})[field] = annotations[key]
    return found, unknown


def pod_hooks(pod):
    """The hooks one pod declares: {'pre': [hook], 'post': [hook]} (each list empty or of one hook).

    A hook is a quiesce_exec argument set plus name, phase and on_error:
    {'name': 'ns/pod pre-hook', 'phase': 'pre', 'pod': ..., 'container': ..., 'command' or 'argv': ...,
     'timeout': seconds, 'on_error': 'fail'|'continue', 'source': 'annotation'}.
    """
    metadata = pod.get("metadata") or {}
    namespace, name = metadata.get("namespace") or "", metadata.get("name") or "?"
    annotations = metadata.get("annotations") or {}
    found, unknown = hook_annotations(annotations)
    if unknown:
        raise InvalidInput("unknown hook annotation {0}; known fields are {1} for phases pre and post "
                           "(e.g. {2})".format(", ".join(unknown), ", ".join(FIELDS), annotation("pre", "command")),
                           namespace=namespace, pod=name)
    hooks = {"pre": [], "post": []}
    for phase in PHASES:
        fields = found.get(phase)
        if not fields:
            continue
        where = "annotation {0}".format(annotation(phase, "command"))
        if "command" not in fields:
            raise InvalidInput("{0} is missing, but {1} is set: a hook needs a command".format(
                where, ", ".join(annotation(phase, f) for f in sorted(fields))), namespace=namespace, pod=name)
        hook = {"name": "{0}/{1} {2}-hook".format(namespace, name, phase), "phase": phase, "source": "annotation",
                "namespace": namespace, "pod": name}
        try:
            hook.update(parse_command(fields["command"], where))
        except InvalidInput as exc:
            raise InvalidInput(exc.message, namespace=namespace, pod=name) from exc

        where = "annotation {0}".format(annotation(phase, "container"))
        container = fields.get("container", "")
        container = container.strip() if isinstance(container, str) else container
        if container:
            if container not in _containers(pod):
                raise InvalidInput("{0}: the pod has no container {1!r} (it has {2})".format(
                    where, container, ", ".join(_containers(pod)) or "none"),
                    namespace=namespace, pod=name, container=container)
        else:
            container = _default_container(pod, annotations)
            if not container:
                raise InvalidInput("{0}: the pod has no containers to run the hook in".format(
                    "annotation " + annotation(phase, "command")), namespace=namespace, pod=name)
        hook["container"] = container

        where = "annotation {0}".format(annotation(phase, "on-error"))
        on_error = str(fields.get("on-error", "Fail")).strip().lower()
        if on_error not in ON_ERROR:
            raise InvalidInput("{0}: {1!r} is neither Fail nor Continue".format(where, fields.get("on-error")),
                               namespace=namespace, pod=name)
        hook["on_error"] = on_error

        where = "annotation {0}".format(annotation(phase, "timeout"))
        try:
            hook["timeout"] = parse_timeout(fields.get("timeout", DEFAULT_TIMEOUT), where)
        except InvalidInput as exc:
            raise InvalidInput(exc.message, namespace=namespace, pod=name) from exc
        hooks[phase].append(hook)
    return hooks


def is_running(pod):
    """A pod a hook can run in: phase Running and not being deleted."""
    metadata = pod.get("metadata") or {}
    return (pod.get("status") or {}).get("phase") == "Running" and not metadata.get("deletionTimestamp")


def discover(pods):
    """Hooks of every pod in name order: {'pre': [...], 'post': [...], 'skipped': [...]}.

    Pods that declare hooks but are not running (pending, finished, being deleted) are not hooked; they
    are listed in 'skipped' as 'namespace/pod (phase)' so the run can show them. Their annotations are
    still validated.
    """
    result = {"pre": [], "post": [], "skipped": []}
    for pod in pods or []:
        if not isinstance(pod, dict):
            raise InvalidInput("expected pod objects (dicts), got {0}".format(type(pod).__name__))
    ordered = sorted(pods or [], key=lambda p: ((p.get("metadata") or {}).get("namespace") or "",
                                                (p.get("metadata") or {}).get("name") or ""))
    for pod in ordered:
        hooks = pod_hooks(pod)
        if not hooks["pre"] and not hooks["post"]:
            continue
        if not is_running(pod):
            metadata = pod.get("metadata") or {}
            state = "being deleted" if metadata.get("deletionTimestamp") else (
                (pod.get("status") or {}).get("phase") or "unknown phase")
            result["skipped"].append("{0}/{1} ({2})".format(metadata.get("namespace") or "", metadata.get("name"),
                                                            state))
            continue
        result["pre"].extend(hooks["pre"])
        result["post"].extend(hooks["post"])
    return result


def combine(profile_hooks, discovered):
    """The run's hooks: profile pre-hooks then pod pre-hooks; pod post-hooks then profile post-hooks.

    Profile hooks get source 'profile' and on_error 'fail' unless they say otherwise, so the role runs
    both kinds through one task.
    """
    profile_hooks = profile_hooks or {}

    def from_profile(phase):
        out = []
        for index, hook in enumerate(profile_hooks.get(phase) or []):
            if not isinstance(hook, dict):
                raise InvalidInput("profile hooks.{0}[{1}] is not a mapping".format(phase, index))
            item = dict(hook)
            item.setdefault("name", "profile {0}-hook {1}".format(phase, index + 1))
            item["phase"] = phase
            item["source"] = "profile"
            on_error = str(item.get("on_error", "fail")).lower()
            if on_error not in ON_ERROR:
                raise InvalidInput("profile hooks.{0}[{1}]: on_error {2!r} is neither fail nor continue".format(
                    phase, index, item.get("on_error")))
            item["on_error"] = on_error
            out.append(item)
        return out

    discovered = discovered or {}
    return {"pre": from_profile("pre") + list(discovered.get("pre") or []),
            "post": list(discovered.get("post") or []) + from_profile("post"),
            "skipped": list(discovered.get("skipped") or [])}
