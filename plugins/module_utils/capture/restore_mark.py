# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mark of an unfinished restore: which objects in a namespace a re-run of the same archive may take over.

Every object a restore applies carries the annotation ``statesafe.backup/restoring: <archive commit>`` from the
moment it is applied until the restore is complete; the restore's last step removes it from each of them (the
completion marker is the mark's absence). So an object that still carries it was applied by a restore that did not
finish. A re-run of the same archive (the same commit) counts such objects as its own and finishes the work: it
applies them again and writes their data again, whatever the policy. Objects without the mark, or with the mark of
another archive, were not made by this restore and follow the policy.

The mark is removed rather than kept because a restored namespace must look like the one backed up (a later backup
would otherwise carry the marks), and because a re-run long after a complete restore must not overwrite, without
being asked, data written since: that takes ``policy=update``.

Removing the marks takes one request per object, so a run can die half-way through them. Before it starts, the
restore writes a sentinel ConfigMap naming the archive and every object it is about to unmark, and deletes it once
they all are: a re-run that finds the sentinel of its own archive counts the objects it names as its own, marked or
not, and finishes the completion. A namespace-admin may create ConfigMaps but not annotate its Namespace, hence an
object of its own rather than an annotation.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

MARK = "statesafe.backup/restoring"
SENTINEL = "statesafe-restore-completing"
# The same annotation as a path of capture.manifest.delete_path, to leave it out of comparisons.
MARK_PATH = "metadata.annotations['{0}']".format(MARK)


def mark_of(obj):
    """The archive commit an object's mark names, or None when it carries none."""
    annotations = ((obj or {}).get("metadata") or {}).get("annotations") or {}
    value = annotations.get(MARK)
    return value if isinstance(value, str) and value else None


def is_ours(obj, commit):
    """Whether `obj` was applied by an unfinished restore of the archive `commit` (a present object with its mark).

    Without a commit nothing is ours: a restore that cannot name its archive takes nothing over.
    """
    return bool(commit) and obj is not None and mark_of(obj) == commit


def with_mark(document, commit):
    """A copy of an archived definition carrying the mark of `commit` (the archive's own document is left as is)."""
    metadata = dict(document.get("metadata") or {})
    metadata["annotations"] = dict(metadata.get("annotations") or {}, **{MARK: commit})
    placed = dict(document)
    placed["metadata"] = metadata
    return placed


def unmark_patches(objects, namespace):
    """JSON merge patches (as k8s state=patched definitions) that remove the mark from each planned object."""
    return [{"apiVersion": o["api_version"], "kind": o["kind"],
             "metadata": {"name": o["name"], "namespace": namespace, "annotations": {MARK: None}}}
            for o in objects]


def sentinel_definition(objects, namespace, commit):
    """The ConfigMap that says a restore of `commit` is removing the marks of `objects` (planned objects)."""
    keys = sorted("{0}/{1}".format(o["kind"], o["name"]) for o in objects)
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": SENTINEL, "namespace": namespace,
                         "labels": {"app.kubernetes.io/managed-by": "statesafe.backup"}},
            "data": {"commit": commit, "objects": json.dumps(keys)}}


def completing_keys(sentinel, commit):
    """The "Kind/name" keys a sentinel names when it was left by a restore of `commit`; else an empty set (no
    sentinel, another archive's, or one that cannot be read: never a reason to take anything over)."""
    data = (sentinel or {}).get("data") or {}
    if not commit or data.get("commit") != commit:
        return frozenset()
    try:
        keys = json.loads(data.get("objects") or "[]")
    except ValueError:
        return frozenset()
    return frozenset(k for k in keys if isinstance(k, str)) if isinstance(keys, list) else frozenset()


def remarked(live, keys, commit):
    """`live` ({"Kind/name": object}) where each object named in `keys` that carries no mark carries `commit`'s again,
    as it did before an interrupted completion removed it (copies; the given objects are left as they are)."""
    if not keys:
        return live
    found = dict(live)
    for key in keys:
        obj = found.get(key)
        if obj is not None and mark_of(obj) is None:
            found[key] = with_mark(obj, commit)
    return found


def describe_mark(obj, commit):
    """Why a present object is or is not the restore's own, for the plan's lines and the refusal message."""
    found = mark_of(obj)
    if found is None:
        return None
    if found == commit:
        return "left by an unfinished restore of this archive"
    return "left by an unfinished restore of another archive, commit {0}".format(found[:12])
