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
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

MARK = "statesafe.backup/restoring"
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


def describe_mark(obj, commit):
    """Why a present object is or is not the restore's own, for the plan's lines and the refusal message."""
    found = mark_of(obj)
    if found is None:
        return None
    if found == commit:
        return "left by an unfinished restore of this archive"
    return "left by an unfinished restore of another archive, commit {0}".format(found[:12])
