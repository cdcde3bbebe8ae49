# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backup hooks declared on pods with annotations, in three spellings users already have.

A pod asks for a command to run in one of its containers before the capture (pre) and after it
(post, always run). PHASE is ``pre`` or ``post``:

``statesafe`` (our own)::

    statesafe.backup/PHASE-hook-command    a shell command line, or a JSON list of arguments (no shell)
    statesafe.backup/PHASE-hook-container  the container (default: the pod's
                                           kubectl.kubernetes.io/default-container, then its first one)
    statesafe.backup/PHASE-hook-on-error   Fail (default) or Continue
    statesafe.backup/PHASE-hook-timeout    seconds, or a duration such as 30s, 2m, 1h (default 300s)

``velero`` (Velero's backup hooks, read as Velero reads them)::

    PHASE.hook.backup.velero.io/command    a JSON list of arguments, or one word run as the whole command
    PHASE.hook.backup.velero.io/container  as above
    PHASE.hook.backup.velero.io/on-error   Fail (default) or Continue
    PHASE.hook.backup.velero.io/timeout    a Go duration such as 30s, 1m30s (default 30s, Velero's)

``design`` (the CSI-snapshot backup design's example, a shell command line and nothing else)::

    backups.example.com.PHASE-hook

A phase takes its hook from one spelling: ours before Velero's before the design's. A pod that carries a
phase in several spellings (a namespace moving from Velero keeps Velero's while adding ours) gets the
first, and the others are reported as not used rather than run twice. Only the command is required; a
container, on-error or timeout annotation without a command is an error, as is any other key of a
spelling's fields (``statesafe.backup/...-hook-...``, ``PHASE.hook.backup.velero.io/...``), so a typo never
silently disables a freeze. Velero is laxer in two places and we are not: it runs a command whose JSON is
broken as a single word, and it takes an on-error it does not know as Fail.

With any spelling, ``statesafe.backup/max-freeze`` (a duration) asks for a dead-man release of the pod's
freeze: the pre-hook carries its post-hook's command for the timer, and release.py arms and disarms it.

Everything here is data to data: pod objects as the API returns them in, quiesce_exec argument sets
out. Errors raise InvalidInput naming the namespace, the pod and the annotation.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from shlex import quote

from ansible_collections.statesafe.backup.plugins.module_utils.annotation_values import (
    MAX_TIMEOUT,
    parse_command,
    parse_timeout,
)
from ansible_collections.statesafe.backup.plugins.module_utils.errors import InvalidInput

PREFIX = "statesafe.backup/"
PHASES = ("pre", "post")
FIELDS = ("command", "container", "on-error", "timeout")
ON_ERROR = ("fail", "continue")
DEFAULT_TIMEOUT = 300
DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"
# A pod-level annotation that works with every spelling: the freeze's dead-man release (release.py).
MAX_FREEZE_ANNOTATION = "statesafe.backup/max-freeze"

VELERO_SUFFIX = ".hook.backup.velero.io/"
VELERO_DEFAULT_TIMEOUT = 30
DESIGN_PREFIX = "backups.example.com."

_KEY = re.compile(r"^(pre|post)-hook-(.+)$")
_GO_PART = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|\u00b5s|ms|s|m|h)")
_GO_DURATION = re.compile(r"^(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|\u00b5s|ms|s|m|h))+$")
_GO_UNIT = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def annotation(phase, field):
    """The annotation key of one field of one phase: statesafe.backup/pre-hook-command."""
    return "{0}{1}-hook-{2}".format(PREFIX, phase, field)


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


def velero_annotation(phase, field):
    """Velero's key of one field of one phase: pre.hook.backup.velero.io/command."""
    return "{0}{1}{2}".format(phase, VELERO_SUFFIX, field)


def velero_hook_annotations(annotations):
    """{phase: {field: value}} for Velero's backup hook annotations; unknown fields of those prefixes -> errors."""
    found, unknown = {}, []
    for key in sorted(annotations or {}):
        for phase in PHASES:
            prefix = velero_annotation(phase, "")
            if key.startswith(prefix):
                field = key[len(prefix):]
                if field in FIELDS:
                    found.setdefault(phase, {})[field] = annotations[key]
                else:
                    unknown.append(key)
    return found, unknown


def design_annotation(phase, field="command"):
    """The design document's key of a phase (it has only the command): backups.example.com.pre-hook."""
    return "{0}{1}-hook".format(DESIGN_PREFIX, phase)


def design_hook_annotations(annotations):
    """{phase: {'command': value}} for the design document's annotations (no other fields exist there)."""
    annotations = annotations or {}
    found = dict((phase, {"command": annotations[design_annotation(phase)]})
                 for phase in PHASES if design_annotation(phase) in annotations)
    return found, []


def parse_velero_command(value, where):
    """Velero's reading: a JSON list -> argv; anything else is one word, the whole command (no shell)."""
    text = value.strip() if isinstance(value, str) else ""
    if text.startswith("["):
        return parse_command(text, where)
    if not text:
        raise InvalidInput("{0}: the command is empty".format(where))
    return {"argv": [text]}


def parse_go_duration(value, where):
    """A Go duration as Velero takes it ('30s', '1m30s', '500ms') -> whole seconds, rounded up (1 .. 86400)."""
    text = str(value).strip()
    if not _GO_DURATION.match(text):
        raise InvalidInput("{0}: timeout {1!r} is not a Go duration such as 30s, 1m30s or 2h".format(where, value))
    seconds = sum(float(number) * _GO_UNIT[unit] for number, unit in _GO_PART.findall(text))
    whole = int(seconds) + (1 if seconds > int(seconds) else 0)
    if not 1 <= whole <= MAX_TIMEOUT:
        raise InvalidInput("{0}: timeout {1!r} must be between 1 second and 24 hours".format(where, value))
    return whole


class Spelling:
    """One way of writing hook annotations: how its keys are found, named and read."""

    def __init__(self, name, read, key, command, timeout, default_timeout):
        self.name, self.read, self.key = name, read, key
        self.command, self.timeout, self.default_timeout = command, timeout, default_timeout


# In order of precedence: a phase takes its hook from the first spelling that declares it.
SPELLINGS = (
    Spelling("statesafe", hook_annotations, annotation, parse_command, parse_timeout, DEFAULT_TIMEOUT),
    Spelling("velero", velero_hook_annotations, velero_annotation, parse_velero_command, parse_go_duration,
             VELERO_DEFAULT_TIMEOUT),
    Spelling("design", design_hook_annotations, design_annotation, parse_command, parse_timeout, DEFAULT_TIMEOUT),
)


def _hook(pod, phase, fields, spelling):
    """One phase's quiesce_exec argument set from the fields one spelling declared."""
    metadata = pod.get("metadata") or {}
    namespace, name = metadata.get("namespace") or "", metadata.get("name") or "?"
    annotations = metadata.get("annotations") or {}
    where = "annotation {0}".format(spelling.key(phase, "command"))
    if "command" not in fields:
        raise InvalidInput("{0} is missing, but {1} is set: a hook needs a command".format(
            where, ", ".join(spelling.key(phase, f) for f in sorted(fields))), namespace=namespace, pod=name)
    hook = {"name": "{0}/{1} {2}-hook".format(namespace, name, phase), "phase": phase, "source": "annotation",
            "annotations": spelling.name, "namespace": namespace, "pod": name}
    try:
        hook.update(spelling.command(fields["command"], where))
    except InvalidInput as exc:
        raise InvalidInput(exc.message, namespace=namespace, pod=name) from exc

    where = "annotation {0}".format(spelling.key(phase, "container"))
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
                "annotation " + spelling.key(phase, "command")), namespace=namespace, pod=name)
    hook["container"] = container

    where = "annotation {0}".format(spelling.key(phase, "on-error"))
    on_error = str(fields.get("on-error", "Fail")).strip().lower()
    if on_error not in ON_ERROR:
        raise InvalidInput("{0}: {1!r} is neither Fail nor Continue".format(where, fields.get("on-error")),
                           namespace=namespace, pod=name)
    hook["on_error"] = on_error

    where = "annotation {0}".format(spelling.key(phase, "timeout"))
    hook["timeout"] = spelling.default_timeout
    if "timeout" in fields:
        try:
            hook["timeout"] = spelling.timeout(fields["timeout"], where)
        except InvalidInput as exc:
            raise InvalidInput(exc.message, namespace=namespace, pod=name) from exc
    return hook


def pod_hooks(pod):
    """The hooks one pod declares: {'pre': [hook], 'post': [hook], 'unused': [text]} (hook lists of 0 or 1).

    A hook is a quiesce_exec argument set plus name, phase and on_error:
    {'name': 'ns/pod pre-hook', 'phase': 'pre', 'pod': ..., 'container': ..., 'command' or 'argv': ...,
     'timeout': seconds, 'on_error': 'fail'|'continue', 'source': 'annotation', 'annotations': spelling}.
    'unused' names the annotations of a phase that a spelling of higher precedence already declared.
    Every spelling present is validated, the unused ones too: they may be a user's only working copy.
    """
    metadata = pod.get("metadata") or {}
    namespace, name = metadata.get("namespace") or "", metadata.get("name") or "?"
    annotations = metadata.get("annotations") or {}
    hooks = {"pre": [], "post": [], "unused": []}
    for spelling in SPELLINGS:
        found, unknown = spelling.read(annotations)
        if unknown:
            raise InvalidInput("unknown hook annotation {0}; known fields are {1} for phases pre and post "
                               "(e.g. {2})".format(", ".join(unknown), ", ".join(FIELDS),
                                                   spelling.key("pre", "command")), namespace=namespace, pod=name)
        for phase in PHASES:
            if not found.get(phase):
                continue
            hook = _hook(pod, phase, found[phase], spelling)
            if hooks[phase]:
                hooks["unused"].append("{0}/{1} {2}-hook: {3} not used, the {4} annotations are".format(
                    namespace, name, phase, ", ".join(spelling.key(phase, f) for f in sorted(found[phase])),
                    hooks[phase][0]["annotations"]))
            else:
                hooks[phase].append(hook)
    _release(pod, hooks)
    return hooks


def _release(pod, hooks):
    """With statesafe.backup/max-freeze, the pre-hook carries what arms the release and the post-hook its maximum
    (release.py turns them into the arm and disarm hooks)."""
    metadata = pod.get("metadata") or {}
    namespace, name = metadata.get("namespace") or "", metadata.get("name") or "?"
    value = (metadata.get("annotations") or {}).get(MAX_FREEZE_ANNOTATION)
    if value is None:
        return
    where = "annotation {0}".format(MAX_FREEZE_ANNOTATION)
    if not hooks["pre"] or not hooks["post"]:
        raise InvalidInput("{0} needs a pre-hook (the freeze) and a post-hook (what the release runs); the pod "
                           "declares {1}".format(where, " and ".join(p + "-hook" for p in PHASES if hooks[p]) or
                                                 "neither"), namespace=namespace, pod=name)
    try:
        seconds = parse_timeout(value, where, "max-freeze")
    except InvalidInput as exc:
        raise InvalidInput(exc.message, namespace=namespace, pod=name) from exc
    pre, post = hooks["pre"][0], hooks["post"][0]
    line = " ".join(quote(word) for word in post["argv"]) if post.get("argv") else post["command"]
    pre["release"] = {"after": seconds, "container": post["container"], "line": line}
    post["release_after"] = seconds


def is_running(pod):
    """A pod a hook can run in: phase Running and not being deleted."""
    metadata = pod.get("metadata") or {}
    return (pod.get("status") or {}).get("phase") == "Running" and not metadata.get("deletionTimestamp")


def discover(pods):
    """Hooks of every pod in name order: {'pre': [...], 'post': [...], 'skipped': [...], 'unused': [...]}.

    Pods that declare hooks but are not running (pending, finished, being deleted) are not hooked; they
    are listed in 'skipped' as 'namespace/pod (phase)' so the run can show them. Their annotations are
    still validated.
    """
    result = {"pre": [], "post": [], "skipped": [], "unused": []}
    for pod in pods or []:
        if not isinstance(pod, dict):
            raise InvalidInput("expected pod objects (dicts), got {0}".format(type(pod).__name__))
    ordered = sorted(pods or [], key=lambda p: ((p.get("metadata") or {}).get("namespace") or "",
                                                (p.get("metadata") or {}).get("name") or ""))
    for pod in ordered:
        hooks = pod_hooks(pod)
        if not hooks["pre"] and not hooks["post"]:
            continue
        result["unused"].extend(hooks["unused"])
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
            "skipped": list(discovered.get("skipped") or []),
            "unused": list(discovered.get("unused") or [])}
