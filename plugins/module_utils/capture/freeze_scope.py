# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A pod's freeze only as long as the capture of that pod's data.

A hook a pod declares (annotations) quiesces that pod. Held for the whole run, it would keep the
application frozen while unrelated volumes and dumps are copied; so a pod hook is bound to the
components that capture the pod's data: a dump run in the pod (or in a pod of its workload), or a volume whose
claim the pod mounts.
Its pre-hook runs right before the first of them and its post-hook right after the last; several pods
bound to one component thaw in the reverse order of their freeze. A pod hook that no component
captures, and every hook of the profile, stays run-wide: before the first component, after the last.

Data to data: the run's hooks (pod_hooks.combine), the profile's components and the pod objects in,
the plan out.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def pod_claims(pod):
    """The names of the PersistentVolumeClaims a pod mounts."""
    volumes = (pod.get("spec") or {}).get("volumes") or []
    return set((v.get("persistentVolumeClaim") or {}).get("claimName") for v in volumes
               if (v.get("persistentVolumeClaim") or {}).get("claimName"))


def belongs_to(pod, kind, name):
    """Whether a pod is one of the workload's: its controller is the StatefulSet or ReplicaSet, or for a Deployment
    the ReplicaSet the Deployment names after itself and the pod's template hash."""
    metadata = pod.get("metadata") or {}
    owner = next((ref for ref in metadata.get("ownerReferences") or [] if ref.get("controller")), None)
    if owner is None:
        return False
    if kind == "Deployment":
        template_hash = (metadata.get("labels") or {}).get("pod-template-hash")
        return owner.get("kind") == "ReplicaSet" and bool(template_hash) and \
            owner.get("name") == "{0}-{1}".format(name, template_hash)
    return owner.get("kind") == kind and owner.get("name") == name


def captures_pod(component, pod_name, claims, pod=None):
    """Whether a component reads the data of the pod: its dump runs there (in that pod, or in a pod of that
    workload), or its claim is mounted there."""
    kind = component.get("type")
    if kind == "dump":
        if component.get("workload"):
            return belongs_to(pod or {}, component.get("workload_kind") or "StatefulSet", component["workload"])
        return component.get("pod") == pod_name
    if kind == "volume":
        return component.get("claim") in claims
    return False


def scope(hooks, components, pods):
    """Bind the pods' hooks to the components that capture their pods.

    Returns {'pre': [...], 'post': [...]} (run-wide, in the order given), 'by_component': {component name:
    {'pre': [...], 'post': [...]}} for every component, and 'bound': [{'pod', 'hook', 'first', 'last'}] in
    order, plus the other keys of `hooks` unchanged.
    """
    hooks = hooks or {}
    components = components or []
    claims, by_key = {}, {}
    for pod in pods or []:
        metadata = pod.get("metadata") or {}
        claims[(metadata.get("namespace") or "", metadata.get("name"))] = pod_claims(pod)
        by_key[(metadata.get("namespace") or "", metadata.get("name"))] = pod

    def span(hook):
        """The first and last component capturing the hook's pod, or None (the hook stays run-wide)."""
        if hook.get("source") != "annotation":
            return None
        key = (hook.get("namespace") or "", hook.get("pod"))
        touched = [index for index, component in enumerate(components)
                   if captures_pod(component, hook.get("pod"), claims.get(key, set()), by_key.get(key))]
        return (touched[0], touched[-1]) if touched else None

    result = dict(hooks)
    result.update({"pre": [], "post": [], "bound": [],
                   "by_component": dict((c.get("name"), {"pre": [], "post": []}) for c in components)})
    for hook in hooks.get("pre") or []:
        where = span(hook)
        if where is None:
            result["pre"].append(hook)
            continue
        result["by_component"][components[where[0]]["name"]]["pre"].append(hook)
        result["bound"].append({"pod": hook["pod"], "hook": hook["name"], "first": components[where[0]]["name"],
                                "last": components[where[1]]["name"]})
    for hook in hooks.get("post") or []:
        where = span(hook)
        if where is None:
            result["post"].append(hook)
            continue
        # Inserted at the front: pods frozen in name order at one component thaw in the reverse order.
        result["by_component"][components[where[1]]["name"]]["post"].insert(0, hook)
        result["bound"].append({"pod": hook["pod"], "hook": hook["name"], "first": components[where[0]]["name"],
                                "last": components[where[1]]["name"]})
    return result


def pending_posts(plan):
    """Every bound post-hook in thaw order, the reverse of the freezes: what the run owes its pods if it stops.

    The capture arms them all before its first component and runs what remains, in this order, in its
    always: a post-hook runs even when its pre-hook failed or never ran, as run-wide post-hooks do.
    """
    order = dict((name, index) for index, name in enumerate(plan.get("by_component") or {}))
    first = dict((entry["hook"], order[entry["first"]]) for entry in plan.get("bound") or [])
    posts = [hook for name in order for hook in plan["by_component"][name]["post"]]
    return sorted(posts, key=lambda hook: (first.get(hook["name"], -1), hook.get("pod") or ""), reverse=True)


def freeze_seconds(started, ended):
    """{pod: seconds frozen} from {pod: start timestamp} and {pod: end timestamp}; pods never thawed are left out."""
    return dict((pod, round(float(ended[pod]) - float(started[pod]), 3)) for pod in started if pod in ended)
