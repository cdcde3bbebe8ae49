# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a restore does with each object and each piece of data: pure functions, data in, data out.

An object of the archive is either absent from the target namespace or present. The policy for
its kind (``policy_by_kind[kind]``, else the default ``policy``) turns that into an action:

==========  =========  ========
policy      absent     present
==========  =========  ========
fail        create     refuse
skip        create     skip
update      create     update
recreate    create     recreate
==========  =========  ========

Data (a volume or a dump) belongs to a workload, the component's ``workload`` of kind
``workload_kind`` (or ``statefulset``, a StatefulSet): it follows the policy of that kind. When
that workload is absent the data is restored; present, it is refused (fail), kept (skip) or
overwritten (update, recreate). A volume without a workload belongs to its claim and follows
the policy of kind ``PersistentVolumeClaim`` the same way. A dump without a workload is loaded
into a running pod, so it counts as present and follows the default policy.

An object that carries the mark of an unfinished restore of the same archive (``restore_mark``) is the
restore's own whatever the policy: it is applied again (update) and the data of its workload is written
again (restore), so a re-run finishes what a killed run left half done. So is the data of a workload whose
controller is such an object (an operator's StatefulSet, made from the custom resource the unfinished restore
applied). Objects without that mark, or with the mark of another archive, follow the table above.

``build_plan`` applies this to a whole restore; the diff entries it returns never contain the
value of a Secret.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.statesafe.backup.plugins.module_utils.errors import StatesafeError
from ansible_collections.statesafe.backup.plugins.module_utils.capture.manifest import (
    is_secret,
    redact_pair,
    strip_object,
)
from ansible_collections.statesafe.backup.plugins.module_utils.capture.manifest_yaml import (
    render_yaml,
)
from ansible_collections.statesafe.backup.plugins.module_utils.capture.restore_mark import (
    MARK_PATH,
    describe_mark,
    is_ours,
)

POLICIES = ("fail", "skip", "update", "recreate")
OBJECT_ACTIONS = ("create", "skip", "update", "recreate", "refuse")
DATA_ACTIONS = ("restore", "skip", "overwrite", "refuse", "leave")
# The workload kind of a component that names only ``statefulset`` (how profiles first named it).
WORKLOAD_KIND = "StatefulSet"
# A volume no workload is named for: its claim decides whether its data is present.
CLAIM_KIND = "PersistentVolumeClaim"

_PRESENT_ACTION = {"fail": "refuse", "skip": "skip", "update": "update", "recreate": "recreate"}
_DONE = {"create": "created", "update": "updated", "recreate": "recreated"}
_PRESENT_DATA_ACTION = {"fail": "refuse", "skip": "skip", "update": "overwrite", "recreate": "overwrite"}


class PolicyError(StatesafeError):
    """A policy that is not one of POLICIES."""


def check_policies(policy, policy_by_kind):
    """Raise PolicyError unless the default and every per-kind policy is known."""
    wrong = []
    if policy not in POLICIES:
        wrong.append("policy={0!r}".format(policy))
    for kind in sorted(policy_by_kind or {}):
        if policy_by_kind[kind] not in POLICIES:
            wrong.append("{0}={1!r}".format(kind, policy_by_kind[kind]))
    if wrong:
        raise PolicyError("unknown restore policy {0}; a policy is one of {1}".format(
            ", ".join(wrong), ", ".join(POLICIES)))


def policy_for(kind, policy, policy_by_kind=None):
    """The policy that applies to objects of `kind`."""
    return (policy_by_kind or {}).get(kind, policy)


def decide(present, policy, ours=False):
    """The action for one object: create when absent, update when it is the restore's own (an unfinished run of
    the same archive applied it), else what the policy says."""
    if policy not in POLICIES:
        raise PolicyError("unknown restore policy {0!r}".format(policy))
    if not present:
        return "create"
    return "update" if ours else _PRESENT_ACTION[policy]


def decide_data(workload_present, policy, ours=False):
    """The action for a volume or a dump whose workload is present or absent: restored when absent or the
    restore's own (its data may be half written: never skipped because the workload exists), else the policy."""
    if policy not in POLICIES:
        raise PolicyError("unknown restore policy {0!r}".format(policy))
    if not workload_present or ours:
        return "restore"
    return _PRESENT_DATA_ACTION[policy]


def object_key(kind, name):
    return "{0}/{1}".format(kind, name)


def _comparable(obj):
    """An object as the archive holds it, without namespace and without the restore's mark, for comparison and
    display."""
    return strip_object(obj, strip_namespace=True, extra_paths=(MARK_PATH,))


def _redacted_pair(before, after):
    """Secret values hidden; other objects as they are."""
    if is_secret(after if after is not None else before):
        return redact_pair(before if before is not None else {}, after if after is not None else {})
    return before, after


def object_diff(key, action, live, archived):
    """A --diff entry for one object, or None for skip and refuse. Secret values never appear."""
    if action in ("skip", "refuse"):
        return None
    before = _comparable(live) if live is not None and action != "create" else None
    after = _comparable(archived)
    shown_before, shown_after = _redacted_pair(before, after)
    before_text = render_yaml(shown_before).decode("utf-8") if before is not None else ""
    after_text = render_yaml(shown_after).decode("utf-8")
    if action == "recreate":
        # The same content can come back: say what happens to the object itself.
        before_text = "# uid {0}: deleted\n{1}".format(((live or {}).get("metadata") or {}).get("uid"), before_text)
        after_text = "# a new object (new uid)\n{0}".format(after_text)
    return {
        "before_header": "{0} (in the namespace)".format(key) if before is not None else "{0} (absent)".format(key),
        "after_header": "{0} ({1} from the archive)".format(key, _DONE[action]),
        "before": before_text,
        "after": after_text,
    }


def plan_objects(objects, live, policy, policy_by_kind=None, commit=None):
    """One entry per archived object: its policy, whether it exists, whether it is the restore's own, the action.

    objects: dicts with kind, name (plus any other keys, kept); live: {"Kind/name": live object}; commit: the
    archive's commit, whose mark makes a present object the restore's own.
    """
    planned = []
    for obj in objects:
        key = object_key(obj["kind"], obj["name"])
        current = live.get(key)
        kind_policy = policy_for(obj["kind"], policy, policy_by_kind)
        ours = is_ours(current, commit)
        entry = dict(obj)
        entry.update(key=key, policy=kind_policy, present=current is not None, ours=ours,
                     action=decide(current is not None, kind_policy, ours),
                     mark=describe_mark(current, commit) if current is not None else None,
                     uid=((current or {}).get("metadata") or {}).get("uid"))
        planned.append(entry)
    return planned


def data_owner(component):
    """(kind, name) of what decides whether a component's data is present: its workload, else for a volume its
    claim, else (None, None) (a dump loaded into a running pod)."""
    if component.get("workload_name"):
        return component.get("workload_kind") or WORKLOAD_KIND, component["workload_name"]
    if component.get("statefulset"):
        return WORKLOAD_KIND, component["statefulset"]
    if component.get("type") == "volume" and component.get("claim"):
        return CLAIM_KIND, component["claim"]
    return None, None


def controlled_by(obj, uids):
    """Whether an object's controller (its ownerReference with controller: true) is one of `uids`."""
    references = ((obj or {}).get("metadata") or {}).get("ownerReferences") or []
    return any(ref.get("controller") and ref.get("uid") in uids for ref in references)


def plan_data(components, live, policy, policy_by_kind=None, commit=None, own_uids=()):
    """One entry per volume or dump component: the workload's policy and the action on its data.

    components: dicts with name, type and optionally workload_kind and workload_name (or statefulset, a
    StatefulSet's name); live and commit as for plan_objects; own_uids: the uids of the live objects that are the
    restore's own (plan_objects' ``ours``). A workload that one of them controls (an operator made it from a custom
    resource the unfinished restore applied) is the restore's own too, though it carries no mark.
    """
    planned = []
    for component in components:
        kind, name = data_owner(component)
        ours = False
        if name:
            current = live.get(object_key(kind, name))
            present = current is not None
            ours = is_ours(current, commit) or (present and controlled_by(current, own_uids))
            component_policy = policy_for(kind, policy, policy_by_kind)
        else:
            present = True
            component_policy = policy
        workload = object_key(kind, name) if name and kind != CLAIM_KIND else None
        entry = dict(component)
        # A dump with no restore command (K8up's annotations have none) is verified and left for its owner to load.
        action = "leave" if component.get("type") == "dump" and component.get("loads") is False else decide_data(
            present, component_policy, ours)
        entry.update(workload=workload, claim_key=object_key(kind, name) if kind == CLAIM_KIND else None,
                     present=present, ours=ours, policy=component_policy, action=action)
        planned.append(entry)
    return planned


def refusals(planned_objects, planned_data):
    """What the policy refuses to overwrite, as the error message names it."""
    refused = [entry["key"] + (" ({0})".format(entry["mark"]) if entry.get("mark") else "")
               for entry in planned_objects if entry["action"] == "refuse"]
    for entry in planned_data:
        if entry["action"] == "refuse":
            owner = entry["workload"] or entry.get("claim_key") or "pod {0}".format(entry.get("pod") or "?")
            refused.append("{0} (data of {1})".format(owner, entry["name"]))
    return refused


def count_actions(planned):
    counts = {}
    for entry in planned:
        counts[entry["action"]] = counts.get(entry["action"], 0) + 1
    return counts


def describe(planned_objects, planned_data):
    """One line per object and per data component, for the check-mode report."""
    lines = []
    for entry in planned_objects:
        notes = [entry["mark"]] if entry.get("mark") else []
        if entry["action"] == "update" and not entry.get("differs", True):
            notes.append("no difference")
        note = " ({0})".format("; ".join(notes)) if notes else ""
        lines.append("{0} {1}{2} [{3}]".format(entry["action"], entry["key"], note, entry["policy"]))
    for entry in planned_data:
        what = "volume {0} (claim {1})".format(entry["name"], entry.get("claim")) if entry["type"] == "volume" \
            else "dump {0}".format(entry["name"])
        size = ""
        if entry.get("bytes") is not None:
            size = ", {0} files, {1} bytes".format(entry["files"], entry["bytes"]) if entry["type"] == "volume" \
                else ", {0} bytes".format(entry["bytes"])
        owner = " of {0}".format(entry["workload"]) if entry["workload"] else ""
        if entry["action"] == "leave":
            owner += " (no restore command: not loaded, left in the staging tree)"
        elif entry.get("ours"):
            owner += " (left by an unfinished restore of this archive: written again)"
        lines.append("{0} {1}{2}{3} [{4}]".format(entry["action"], what, owner, size, entry["policy"]))
    return lines


def data_diff(entry):
    """A --diff entry for data that would be written (restored or overwritten)."""
    if entry["action"] not in ("restore", "overwrite"):
        return None
    if entry["type"] == "volume":
        target = "claim {0}".format(entry.get("claim"))
    else:
        target = "database in pod {0}".format(entry.get("pod"))
    size = "{0} bytes".format(entry.get("bytes")) if entry.get("bytes") is not None else "size unknown"
    if entry["type"] == "volume" and entry.get("files") is not None:
        size = "{0} files, {1}".format(entry["files"], size)
    before = ""
    if entry["action"] == "overwrite":
        before = "{0}: current data, overwritten\n".format(target)
    elif entry.get("ours"):
        before = "{0}: data of an unfinished restore of this archive, written again\n".format(target)
    return {
        "before_header": "{0} {1}".format(entry["type"], entry["name"]),
        "after_header": "{0} {1} (from the archive)".format(entry["type"], entry["name"]),
        "before": before,
        "after": "{0}: {1} from the archive ({2})\n".format(target, entry["type"], size),
    }


def artifact_totals(component, artifacts):
    """Files and bytes of a component in the manifest's artifact list (None when none are listed)."""
    if component["type"] == "volume":
        prefix = "volumes/{0}/".format(component.get("claim"))
        chosen = [a for a in artifacts if a.get("path", "").startswith(prefix)]
    else:
        path = "dumps/{0}.{1}".format(component["name"], component.get("extension") or "dump")
        chosen = [a for a in artifacts if a.get("path") == path]
    if not chosen:
        return None, None
    return len(chosen), sum(int(a.get("size") or 0) for a in chosen)


def build_plan(objects, archived, live, components, artifacts, policy, policy_by_kind=None, want_diff=False,
               commit=None):
    """The whole restore plan.

    objects: archived objects to restore (kind, name, ...); archived: {"Kind/name": archived object};
    live: {"Kind/name": live object} of the namespace (objects' kinds and data_owner's); components:
    volume and dump components; artifacts: the manifest's artifact list; commit: the archive's commit (the
    mark of an unfinished restore of it makes an object the restore's own).
    """
    check_policies(policy, policy_by_kind)
    planned_objects = plan_objects(objects, live, policy, policy_by_kind, commit)
    diffs = []
    for entry in planned_objects:
        current = live.get(entry["key"])
        wanted = archived[entry["key"]]
        if entry["action"] == "update":
            entry["differs"] = render_yaml(_comparable(current)) != render_yaml(_comparable(wanted))
        else:
            entry["differs"] = entry["action"] in ("create", "recreate")
        if want_diff and entry["differs"]:
            diff = object_diff(entry["key"], entry["action"], current, wanted)
            if diff:
                diffs.append(diff)
    own_uids = frozenset(entry["uid"] for entry in planned_objects if entry["ours"] and entry["uid"])
    planned_data = plan_data(components, live, policy, policy_by_kind, commit, own_uids)
    for entry in planned_data:
        entry["files"], entry["bytes"] = artifact_totals(entry, artifacts)
        if want_diff:
            diff = data_diff(entry)
            if diff:
                diffs.append(diff)
    changes = any(entry["differs"] for entry in planned_objects) or \
        any(entry["action"] in ("restore", "overwrite") for entry in planned_data)
    return {
        "objects": planned_objects,
        "data": planned_data,
        "refused": refusals(planned_objects, planned_data),
        "counts": {"objects": count_actions(planned_objects), "data": count_actions(planned_data)},
        "lines": describe(planned_objects, planned_data),
        "resumed": [entry["key"] for entry in planned_objects if entry["ours"]]
        + ["data of {0}".format(entry["name"]) for entry in planned_data if entry["ours"]],
        "would_change": changes,
        "diff": diffs,
    }
