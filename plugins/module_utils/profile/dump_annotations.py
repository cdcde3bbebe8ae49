# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Dumps declared with annotations, in our spelling and in K8up's (namespace mode, profile/namespace.py).

``statesafe`` (our own)::

    statesafe.backup/dump-command     a shell command line, or a JSON list of arguments; its stdout is the dump
    statesafe.backup/dump-container   the container (default: kubectl.kubernetes.io/default-container, then the first)
    statesafe.backup/dump-extension   the dump file's extension (default dump)
    statesafe.backup/dump-timeout     seconds, or a duration such as 30s, 2m, 1h (limit of the dump and of the load)
    statesafe.backup/dump-trailer     a regular expression the end of a complete dump matches

``k8up`` (K8up's, read as K8up reads them)::

    k8up.io/backupcommand             split into words quote-aware and run without a shell, as K8up runs it
    k8up.io/backupcommand-container   the container (K8up's default is the first; ours as above)
    k8up.io/file-extension            with or without its leading dot (.sql)

With either spelling, ``statesafe.backup/restore-command`` (a shell line or a JSON list) is the command the restore
feeds the dump on stdin. K8up has none (its restores leave the file for the user): without it the dump is backed up
and the restore says it did not load it.

A dump takes the first spelling that declares a command; the other's command is reported as not used. A field
without its spelling's command, a restore command without a dump command, an unknown ``statesafe.backup/dump-*`` or
``k8up.io/*`` key, an unknown container, a bad duration, extension or regular expression: each an InvalidInput
naming the namespace, the pod (or workload) and the annotation, so a typo never silently drops a database's dump.

K8up's ``k8up.io/backup`` on a claim (``false`` leaves its files out) is read here too, as strconv.ParseBool reads it.

Data to data: annotations and container names in, a dump component's fields out.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import shlex

from ansible_collections.statesafe.backup.plugins.module_utils.annotation_values import parse_command, parse_timeout
from ansible_collections.statesafe.backup.plugins.module_utils.errors import InvalidInput

PREFIX = "statesafe.backup/"
OURS = {"command": PREFIX + "dump-command", "container": PREFIX + "dump-container",
        "extension": PREFIX + "dump-extension", "timeout": PREFIX + "dump-timeout",
        "trailer": PREFIX + "dump-trailer"}
RESTORE_COMMAND = PREFIX + "restore-command"
DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"
K8UP = {"command": "k8up.io/backupcommand", "container": "k8up.io/backupcommand-container",
        "extension": "k8up.io/file-extension"}
K8UP_BACKUP = "k8up.io/backup"
# K8up's other annotations: its restic arguments and node pinning mean nothing here, and are not errors.
K8UP_OTHERS = (K8UP_BACKUP, "k8up.io/backup-restic-args", "k8up.io/hostname")
DEFAULT_EXTENSION = "dump"
_EXTENSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def _line(argv):
    """A shell line that runs exactly these words (the dump wrapper runs every command through /bin/sh)."""
    return " ".join(shlex.quote(word) for word in argv)


def _ours_command(value, where):
    parsed = parse_command(value, where)
    return _line(parsed["argv"]) if "argv" in parsed else parsed["command"]


def _k8up_command(value, where):
    try:
        words = shlex.split(value if isinstance(value, str) else "")
    except ValueError as exc:
        raise InvalidInput("{0}: cannot be split into words ({1})".format(where, exc)) from exc
    if not words:
        raise InvalidInput("{0}: the command is empty".format(where))
    return _line(words)


# Every key that declares (part of) a dump, in either spelling.
DUMP_KEYS = frozenset(OURS.values()) | frozenset(K8UP.values()) | frozenset((RESTORE_COMMAND,))


def unknown_keys(annotations):
    """Keys that look like ours or K8up's but are neither: a typo that would drop a dump."""
    known = DUMP_KEYS | frozenset(K8UP_OTHERS)
    return sorted(key for key in annotations or {} if key not in known and (
        key.startswith(PREFIX + "dump-") or key.startswith(PREFIX + "restore-") or key.startswith("k8up.io/")))


def declares_dump(annotations):
    """Whether annotations declare a dump, or try to (an unknown key of the dumps' prefixes counts: it is an error
    to report, not a dump to pass over)."""
    return any(key in DUMP_KEYS for key in annotations or {}) or bool(unknown_keys(annotations))


def dump_fields(annotations, containers, namespace, owner):
    """The dump an object's (pod or pod template's) annotations ask for, or None.

    containers: the pod's container names, in order. owner: how errors name the object ('pod db-0',
    'Deployment shop'). Returns {command, container, extension, spelling, unused[, restore_command, timeout,
    trailer]}: the dump component's fields, the spelling used and the annotations not used.
    """
    annotations = annotations or {}

    def fail(message):
        return InvalidInput("{0}: {1}".format(owner, message), namespace=namespace)

    unknown = unknown_keys(annotations)
    if unknown:
        raise fail("unknown dump annotation {0}; known are {1}, {2} and K8up's {3}".format(
            ", ".join(unknown), ", ".join(sorted(OURS.values())), RESTORE_COMMAND, ", ".join(sorted(K8UP.values()))))
    spellings = []
    for spelling, keys, read_command in (("statesafe", OURS, _ours_command), ("k8up", K8UP, _k8up_command)):
        given = dict((field, annotations[key]) for field, key in keys.items() if key in annotations)
        if not given:
            continue
        if "command" not in given:
            raise fail("annotation {0} is missing, but {1} is set: a dump needs a command".format(
                keys["command"], ", ".join(keys[field] for field in sorted(given))))
        spellings.append((spelling, keys, read_command, given))
    if not spellings:
        if RESTORE_COMMAND in annotations:
            raise fail("annotation {0} is set, but no dump command ({1} or {2})".format(
                RESTORE_COMMAND, OURS["command"], K8UP["command"]))
        return None
    spelling, keys, read_command, given = spellings[0]
    unused = ["{0} not used: {1} is".format(", ".join(other[1][f] for f in sorted(other[3])), keys["command"])
              for other in spellings[1:]]
    try:
        fields = {"command": read_command(given["command"], "annotation " + keys["command"]), "spelling": spelling,
                  "unused": unused}
        if RESTORE_COMMAND in annotations:
            fields["restore_command"] = _ours_command(annotations[RESTORE_COMMAND], "annotation " + RESTORE_COMMAND)
        if "timeout" in given:
            fields["timeout"] = parse_timeout(given["timeout"], "annotation " + keys["timeout"])
    except InvalidInput as exc:
        raise fail(exc.message) from exc

    container = given.get("container", "")
    container = container.strip() if isinstance(container, str) else ""
    if container:
        if container not in containers:
            raise fail("annotation {0}: there is no container {1!r} (there are {2})".format(
                keys["container"], container, ", ".join(containers) or "none"))
    else:
        wanted = annotations.get(DEFAULT_CONTAINER_ANNOTATION)
        container = wanted if wanted in containers else (containers[0] if containers else "")
        if not container:
            raise fail("has no containers to run {0} in".format(keys["command"]))
    fields["container"] = container

    extension = given.get("extension")
    extension = extension.strip().lstrip(".") if isinstance(extension, str) else ""
    if extension and not _EXTENSION.match(extension):
        raise fail("annotation {0}: {1!r} is not a file extension (letters, digits, '.', '_', '-')".format(
            keys["extension"], given.get("extension")))
    fields["extension"] = extension or DEFAULT_EXTENSION

    if "trailer" in given:
        try:
            re.compile(given["trailer"])
        except (re.error, TypeError) as exc:
            raise fail("annotation {0}: {1!r} is not a regular expression ({2})".format(
                keys["trailer"], given["trailer"], exc)) from exc
        fields["trailer"] = given["trailer"]
    return fields


def claim_opted_out(claim):
    """Whether a claim's ``k8up.io/backup`` says to leave its files out; InvalidInput for a value that is no bool."""
    metadata = claim.get("metadata") or {}
    value = (metadata.get("annotations") or {}).get(K8UP_BACKUP)
    if value is None:
        return False
    if value in _FALSE:
        return True
    if value in _TRUE:
        return False
    raise InvalidInput("claim {0}: annotation {1} is {2!r}, neither true nor false".format(
        metadata.get("name"), K8UP_BACKUP, value), namespace=metadata.get("namespace"))
