# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Objects as re-appliable, deterministic YAML: pure functions from data to data."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import re

from ansible_collections.statesafe.backup.plugins.module_utils.capture.manifest_yaml import (
    load_yaml_or_none,
    render_yaml,
)

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

# Server-managed metadata: re-applying it is refused or means something else.
METADATA_FIELDS = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
)

# Per kind, fields the cluster fills in and that break a re-apply elsewhere.
KIND_FIELDS = {
    "Service": ("spec.clusterIP", "spec.clusterIPs"),
    "PersistentVolumeClaim": (
        "spec.volumeName",
        "metadata.annotations['pv.kubernetes.io/bind-completed']",
        "metadata.annotations['pv.kubernetes.io/bound-by-controller']",
        "metadata.annotations['volume.beta.kubernetes.io/storage-provisioner']",
        "metadata.annotations['volume.kubernetes.io/storage-provisioner']",
        "metadata.annotations['volume.kubernetes.io/selected-node']",
        # A claim made from a snapshot or another claim: its data comes from the archive, and the source may be
        # gone where it is restored (the claim would stay Pending).
        "spec.dataSource",
        "spec.dataSourceRef",
    ),
    "Pod": ("spec.nodeName",),
    # The Job controller writes a selector and labels with the Job's uid; a Job created with them is refused
    # (the selector is generated). Without them the API generates both for the new uid.
    "Job": (
        "spec.selector",
        "metadata.labels['controller-uid']",
        "metadata.labels['batch.kubernetes.io/controller-uid']",
        "spec.template.metadata.labels['controller-uid']",
        "spec.template.metadata.labels['batch.kubernetes.io/controller-uid']",
    ),
}

SECRET_KINDS = ("Secret",)
SECRET_VALUE_FIELDS = ("data", "stringData")
REDACTED = "<hidden>"
REDACTED_CHANGED = "<hidden, changed>"

_TOKEN = re.compile(
    r"""
    (?P<name>[^.\[\]]+)           # bare name
    | \[ (?P<star>\*) \]          # [*]
    | \[ (?P<index>-?\d+) \]      # [3]
    | \[ '(?P<sq>[^']*)' \]       # ['key.with.dots']
    | \[ "(?P<dq>[^"]*)" \]       # ["key"]
    | (?P<dot>\.)
    """,
    re.VERBOSE,
)


def parse_path(path):
    """'spec.a[*].b' -> ['spec', 'a', '*', 'b'] (ints for [N], '*' for [*])."""
    if not path or not isinstance(path, str):
        raise ValueError("empty path")
    tokens = []
    position = 0
    expect_name = True
    while position < len(path):
        match = _TOKEN.match(path, position)
        if not match:
            raise ValueError("cannot parse path {0!r} at {1!r}".format(path, path[position:]))
        position = match.end()
        if match.group("dot"):
            if expect_name:
                raise ValueError("unexpected '.' in path {0!r}".format(path))
            expect_name = True
            continue
        if match.group("name") is not None:
            if not expect_name:
                raise ValueError("missing '.' before {0!r} in path {1!r}".format(match.group("name"), path))
            tokens.append(match.group("name").strip())
        elif match.group("star"):
            tokens.append("*")
        elif match.group("index") is not None:
            tokens.append(int(match.group("index")))
        else:
            tokens.append(match.group("sq") if match.group("sq") is not None else match.group("dq"))
        expect_name = False
    if expect_name:
        raise ValueError("path {0!r} ends with '.'".format(path))
    return tokens


def path_values(obj, path):
    """All values a path reaches; [*] fans out over lists and dict values."""
    current = [obj]
    for token in parse_path(path):
        following = []
        for value in current:
            if token == "*":
                if isinstance(value, list):
                    following.extend(value)
                elif isinstance(value, dict):
                    following.extend(value[k] for k in sorted(value))
            elif isinstance(token, int):
                if isinstance(value, list) and -len(value) <= token < len(value):
                    following.append(value[token])
            elif isinstance(value, dict) and token in value:
                following.append(value[token])
        current = following
    return current


def delete_path(obj, path):
    """Remove what the path points to, in place; missing parts are ignored."""
    tokens = parse_path(path)
    parents = [obj]
    for token in tokens[:-1]:
        following = []
        for value in parents:
            if token == "*":
                if isinstance(value, list):
                    following.extend(value)
                elif isinstance(value, dict):
                    following.extend(value.values())
            elif isinstance(token, int):
                if isinstance(value, list) and -len(value) <= token < len(value):
                    following.append(value[token])
            elif isinstance(value, dict) and token in value:
                following.append(value[token])
        parents = following
    last = tokens[-1]
    for parent in parents:
        if isinstance(parent, dict):
            if last == "*":
                parent.clear()
            else:
                parent.pop(last, None)
        elif isinstance(parent, list) and isinstance(last, int) and -len(parent) <= last < len(parent):
            del parent[last]


def strip_object(obj, strip_owner_references=True, strip_namespace=False, extra_paths=()):
    """A copy of obj without what must not be re-applied.

    Keeps apiVersion, kind, name, labels, annotations (minus kubectl's
    last-applied copy), type, data and spec. Only the parts that change are
    copied (a LIST of thousands of objects is stripped in milliseconds); the
    input is never modified.
    """
    paths = KIND_FIELDS.get(obj.get("kind"), ()) + tuple(extra_paths or ())
    if obj.get("kind") == "Service" and (obj.get("spec") or {}).get("clusterIP") == "None":
        # A headless Service's "None" is the user's choice, not an assigned address.
        paths = tuple(p for p in paths if p not in ("spec.clusterIP", "spec.clusterIPs"))
    if paths:
        result = copy.deepcopy(obj)
    else:
        result = dict(obj)
    result.pop("status", None)
    metadata = dict(result.get("metadata") or {})
    result["metadata"] = metadata
    for field in METADATA_FIELDS:
        metadata.pop(field, None)
    if strip_owner_references:
        metadata.pop("ownerReferences", None)
    if strip_namespace:
        metadata.pop("namespace", None)
    if isinstance(metadata.get("annotations"), dict):
        metadata["annotations"] = dict(metadata["annotations"])
    for path in paths:
        delete_path(result, path)
    annotations = metadata.get("annotations")
    if isinstance(annotations, dict):
        annotations.pop(LAST_APPLIED, None)
        if not annotations:
            metadata.pop("annotations", None)
    if metadata.get("labels") == {}:
        metadata.pop("labels")
    return result


def _names_in(value):
    """Names a referenced field holds: a string, a {name: ...} ref, or lists of them."""
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, dict):
        name = value.get("name")
        return [name] if isinstance(name, str) and name else []
    if isinstance(value, list):
        names = []
        for item in value:
            names.extend(_names_in(item))
        return names
    return []


def _find_fields(value, field_names, found):
    if isinstance(value, dict):
        for key in sorted(value):
            if key in field_names:
                found.extend(_names_in(value[key]))
            _find_fields(value[key], field_names, found)
    elif isinstance(value, list):
        for item in value:
            _find_fields(item, field_names, found)


def referenced_names(obj, paths=(), field_names=()):
    """Sorted names obj refers to, through explicit paths or any matching key under spec."""
    found = []
    for path in paths or ():
        for value in path_values(obj, path):
            found.extend(_names_in(value))
    if field_names:
        _find_fields(obj.get("spec") or {}, frozenset(field_names), found)
    return sorted(set(found))


_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")


def object_relpath(kind, name):
    """'<Kind>/<name>.yaml'; refuses names that are not plain file names."""
    for part, what in ((kind, "kind"), (name, "name")):
        if not part or not _SAFE_NAME.match(part) or part in (".", ".."):
            raise ValueError("{0} {1!r} cannot be used as a file name".format(what, part))
    return "{0}/{1}.yaml".format(kind, name)


def is_secret(obj):
    return obj.get("kind") in SECRET_KINDS and obj.get("apiVersion", "v1") == "v1"


def redact_pair(before, after):
    """Copies of two versions of a Secret with every value hidden.

    Keys stay visible; a value that differs shows as changed on the after side,
    so --diff says which key changed without saying what it is.
    """
    before = copy.deepcopy(before) if isinstance(before, dict) else before
    after = copy.deepcopy(after) if isinstance(after, dict) else after
    for field in SECRET_VALUE_FIELDS:
        old = before.get(field) if isinstance(before, dict) else None
        new = after.get(field) if isinstance(after, dict) else None
        if isinstance(old, dict):
            before[field] = dict((key, REDACTED) for key in old)
        if isinstance(new, dict):
            after[field] = dict(
                (key, REDACTED if isinstance(old, dict) and old.get(key) == value else REDACTED_CHANGED)
                for key, value in new.items()
            )
    return before, after


def diff_entry(relpath, old_bytes, new_obj, new_bytes):
    """One --diff entry for a file; Secret values never appear in it."""
    header_before = "{0} (before)".format(relpath)
    header_after = "{0} (after)".format(relpath)
    if is_secret(new_obj):
        old_obj = None
        if old_bytes is not None:
            old_obj = load_yaml_or_none(old_bytes)
        before, after = redact_pair(old_obj if isinstance(old_obj, dict) else {}, new_obj)
        before_text = render_yaml(before).decode("utf-8") if old_bytes is not None else ""
        after_text = render_yaml(after).decode("utf-8")
    else:
        before_text = old_bytes.decode("utf-8", "replace") if old_bytes is not None else ""
        after_text = new_bytes.decode("utf-8")
    return {"before_header": header_before, "after_header": header_after,
            "before": before_text, "after": after_text}


def removal_diff_entry(relpath, is_secret_file):
    text = "# {0} removed{1}\n".format(relpath, " (content hidden)" if is_secret_file else "")
    return {"before_header": relpath, "after_header": "(absent)", "before": text, "after": ""}
