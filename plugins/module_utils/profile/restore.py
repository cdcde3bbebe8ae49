# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the restore role derives from a profile and an archive: the objects to restore, and readiness."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import posixpath

from ansible_collections.statesafe.backup.plugins.module_utils.profile.operator import phase_of

_MISSING = object()


def archived_objects(components, files, operator_resources=()):
    """One {component, phase, api_version, kind, name, path} per archived object of the resources components.

    `files` are the archive's resources/<Kind>/<name>.yaml files (ansible.builtin.find's ``files``); each selection
    of a component takes the files of its kind, sorted by path without regard to case, in the profile's order.
    The components named in `operator_resources` (the profile's operator.resources) are of phase ``operator``.
    """
    paths = sorted((f["path"] for f in files or []), key=str.lower)
    out = []
    for component in components or []:
        if component.get("type") != "resources":
            continue
        for selection in component.get("resources") or []:
            for path in paths:
                if posixpath.basename(posixpath.dirname(path)) != selection["kind"]:
                    continue
                name = posixpath.basename(path)
                if name.endswith(".yaml"):
                    name = name[:-len(".yaml")]
                out.append({"component": component["name"], "phase": phase_of(component, operator_resources),
                            "api_version": selection.get("api_version", "v1"), "kind": selection["kind"],
                            "name": name, "path": path})
    return out


# The component keys the planning module (statesafe.backup.restore_plan) takes.
DATA_KEYS = ("name", "type", "statefulset", "claim", "pod", "extension")


def component_workload(component):
    """(kind, name) of the workload a volume or dump component names, or (None, None).

    ``workload`` with ``workload_kind`` (StatefulSet by default), or ``statefulset`` as profiles first named it.
    """
    if component.get("workload"):
        return component.get("workload_kind") or "StatefulSet", component["workload"]
    if component.get("statefulset"):
        return "StatefulSet", component["statefulset"]
    return None, None


def data_components(components):
    """The volume and dump components, each with only the keys restore_plan takes, its workload as
    ``workload_kind`` and ``workload_name`` whichever way the profile named it, and for a dump ``loads``: whether it
    has a restore command."""
    out = []
    for c in components or []:
        if c.get("type") not in ("volume", "dump"):
            continue
        entry = dict((key, c[key]) for key in DATA_KEYS if key in c)
        kind, name = component_workload(c)
        if name:
            entry.update(workload_kind=kind, workload_name=name)
        if c["type"] == "dump":
            entry["loads"] = bool(c.get("restore_command"))
        out.append(entry)
    return out


def ready_objects(components, plan_objects, ready_timeout, wait_timeout):
    """The planned objects of components with a ``ready`` description, each with it and its timeout.

    The timeout is `ready_timeout` when above 0, else the component's ``ready.timeout``, else `wait_timeout`.
    """
    out = []
    for component in components or []:
        if component.get("type") != "resources" or "ready" not in component:
            continue
        ready = component["ready"]
        timeout = ready_timeout if ready_timeout > 0 else ready.get("timeout", wait_timeout)
        for obj in plan_objects or []:
            if obj.get("component") == component["name"]:
                out.append(dict(obj, ready=ready, timeout=timeout))
    return out


def _dig(obj, dotted):
    for part in dotted.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return _MISSING
        obj = obj[part]
    return obj


def object_ready(resources, ready):
    """Whether the one object k8s_info found reports ready as `ready` says (condition True, or path == value)."""
    if len(resources or []) != 1:
        return False
    obj = resources[0]
    if "condition" in ready:
        conditions = (obj.get("status") or {}).get("conditions") or []
        return any(c.get("type") == ready["condition"] and c.get("status") == "True" for c in conditions)
    value = _dig(obj, ready["path"])
    return (None if value is _MISSING else value) == ready.get("value", True)


def statefulset_ready(statefulset):
    """Rolled out: the controller saw the current generation and every replica is ready and updated."""
    status, spec = statefulset.get("status") or {}, statefulset.get("spec") or {}
    replicas = spec.get("replicas")
    return ((status.get("observedGeneration") or 0) >= (statefulset.get("metadata") or {}).get("generation", 0)
            and (status.get("readyReplicas") or 0) == replicas and (status.get("updatedReplicas") or 0) == replicas)


def unready_statefulsets(resources, names):
    """The names among `names` whose StatefulSet (in k8s_info's `resources`) is missing or not ready."""
    ready = dict(((s.get("metadata") or {}).get("name"), statefulset_ready(s)) for s in resources or [])
    return [name for name in names if not ready.get(name, False)]


def deletion_targets(objects, namespace):
    """The minimal definitions that name each planned object in `namespace`, for a k8s state=absent task."""
    return [{"apiVersion": o["api_version"], "kind": o["kind"], "metadata": {"name": o["name"], "namespace": namespace}}
            for o in objects]


def in_namespace(document, namespace):
    """An archived object's definition placed in `namespace` (a copy; the archive's own is left as it was)."""
    placed = dict(document)
    placed["metadata"] = dict(document.get("metadata") or {}, namespace=namespace)
    return placed


def not_ready_message(failed_result, namespace):
    """Why the restore stopped waiting: the object, what it waited for, and the status the object reports.

    failed_result: Ansible's ansible_failed_result of the readiness loop (or of one of its items).
    """
    results = failed_result.get("results") or [failed_result]
    failed = next((r for r in results if r.get("failed")), results[0])
    obj = failed["__restore_object"]
    ready = obj["ready"]
    if "condition" in ready:
        waited = "condition {0} True".format(ready["condition"])
    else:
        waited = "{0} == {1}".format(ready["path"], json.dumps(ready.get("value", True)))
    found = failed.get("resources")
    status = ((found or [{}])[0].get("status") or {}) if found is not None else {}
    reason = "" if found is not None else " ({0})".format(failed.get("msg"))
    return ("{0} in namespace {1} is not ready after {2} s: waited for {3}; its status is {4}{5}. Everything before "
            "it was restored; a controller that reconciles it should set that status.").format(
        obj["key"], namespace, obj["timeout"], waited, json.dumps(status), reason)
