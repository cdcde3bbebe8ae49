# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Finding pods and containers to run in: pure choices over pod dicts, plus lookups."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.statesafe.backup.plugins.module_utils.errors import (
    ObjectNotFound,
    PodNotReady,
)
from ansible_collections.statesafe.backup.plugins.module_utils.k8s.rollout import selector_matches

DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"


def pod_name(pod):
    return pod["metadata"]["name"]


def is_terminating(pod):
    return bool(pod["metadata"].get("deletionTimestamp"))


def container_names(pod):
    return [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]


def choose_container(pod, wanted=None):
    """The container to exec in: the one asked for, else the pod's default.

    The default follows kubectl: the default-container annotation, then the
    first container.
    """
    names = container_names(pod)
    location = dict(namespace=pod["metadata"].get("namespace"), pod=pod_name(pod), container=wanted)
    if wanted:
        if wanted not in names:
            raise ObjectNotFound(
                "container {0} not found in pod; it has: {1}".format(wanted, ", ".join(names) or "none"), **location
            )
        return wanted
    annotated = (pod["metadata"].get("annotations") or {}).get(DEFAULT_CONTAINER_ANNOTATION)
    if annotated in names:
        return annotated
    if not names:
        raise ObjectNotFound("pod has no containers", **location)
    return names[0]


def ensure_running(pod, container):
    """Raise PodNotReady unless the pod runs and the container is up."""
    location = dict(namespace=pod["metadata"].get("namespace"), pod=pod_name(pod), container=container)
    if is_terminating(pod):
        raise PodNotReady("pod is being deleted", **location)
    phase = (pod.get("status") or {}).get("phase")
    if phase != "Running":
        raise PodNotReady("pod is not running (phase {0})".format(phase), **location)
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") != container:
            continue
        state = status.get("state") or {}
        if "running" in state:
            return
        why = (state.get("waiting") or state.get("terminated") or {}).get("reason") or "unknown"
        raise PodNotReady("container is not running ({0})".format(why), **location)
    raise PodNotReady("container has no status yet", **location)


def order_pods(pods):
    """Pods a selector matched, minus those being deleted, sorted by name.

    Returns (chosen, skipped_names): a terminating pod is on its way out, so a
    hook for the workload belongs in its replacement, not in it.
    """
    chosen = sorted((p for p in pods if not is_terminating(p)), key=pod_name)
    skipped = sorted(pod_name(p) for p in pods if is_terminating(p))
    return chosen, skipped


def claim_users(pods, claim):
    """Pods (not finished) that mount the claim, sorted by name."""
    users = []
    for pod in pods:
        phase = (pod.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed") or is_terminating(pod):
            continue
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            if (volume.get("persistentVolumeClaim") or {}).get("claimName") == claim:
                users.append(pod)
                break
    return sorted(users, key=pod_name)


def claim_mount(pods, claim, container=None):
    """Where a running pod mounts the whole claim: (pod, container name, mount path) of the first such pod by name,
    in `container` or else the first of its containers that mounts the claim.

    A mount with subPath shows only part of the claim, so it is passed over; ObjectNotFound names every pod looked
    at and why it was not taken when none fits."""
    passed = []
    for pod in claim_users(pods, claim):
        phase = (pod.get("status") or {}).get("phase")
        if phase != "Running":
            passed.append("{0} ({1})".format(pod_name(pod), phase or "no phase"))
            continue
        volumes = set(v.get("name") for v in (pod.get("spec") or {}).get("volumes") or []
                      if (v.get("persistentVolumeClaim") or {}).get("claimName") == claim)
        reasons = []
        for candidate in (pod.get("spec") or {}).get("containers") or []:
            if container and candidate.get("name") != container:
                continue
            for mount in candidate.get("volumeMounts") or []:
                if mount.get("name") not in volumes:
                    continue
                if mount.get("subPath") or mount.get("subPathExpr"):
                    reasons.append("container {0} mounts only a subPath of it".format(candidate["name"]))
                    continue
                return pod, candidate["name"], mount["mountPath"]
        passed.append("{0} ({1})".format(pod_name(pod), "; ".join(reasons) or (
            "no container {0} mounting it".format(container) if container else "no container mounts it")))
    raise ObjectNotFound(
        "no running pod mounts claim {0} whole{1}{2}; copy it through a helper pod instead".format(
            claim, " in container " + container if container else "",
            ": looked at " + ", ".join(passed) if passed else " (no pod mounts it)"),
        kind="PersistentVolumeClaim", name=claim)


def is_ready(pod):
    """Running, not being deleted, and its Ready condition True."""
    conditions = (pod.get("status") or {}).get("conditions") or []
    return ((pod.get("status") or {}).get("phase") == "Running" and not is_terminating(pod)
            and any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions))


def ready_pod_of(workload, pods):
    """The pod a command for the workload runs in: the first by name of its ready pods (a StatefulSet's ordinal 0
    when it is ready), picked by the workload's selector. ObjectNotFound names every pod looked at when none is."""
    metadata = workload.get("metadata") or {}
    location = dict(namespace=metadata.get("namespace"), kind=workload.get("kind"), name=metadata.get("name"))
    selector = (workload.get("spec") or {}).get("selector")
    if not selector:
        raise ObjectNotFound("the workload has no selector to find its pods by", **location)
    selected = sorted((p for p in pods if selector_matches(selector, (p.get("metadata") or {}).get("labels"))),
                      key=pod_name)
    for pod in selected:
        if is_ready(pod):
            return pod
    raise ObjectNotFound("no ready pod of the workload to run in{0}".format(
        ": looked at " + ", ".join("{0} ({1})".format(pod_name(p), "being deleted" if is_terminating(p) else (
            p.get("status") or {}).get("phase") or "no phase") for p in selected)
        if selected else " (it has no pods)"), **location)


def find_pods(api, namespace, name=None, label_selector=None):
    """The pods named or selected; ObjectNotFound when there are none."""
    if name:
        return [api.get_pod(namespace, name)], []
    pods, skipped = order_pods(api.list_pods(namespace, label_selector))
    if not pods:
        raise ObjectNotFound(
            "no running pod matches label selector {0!r}{1}".format(
                label_selector, " (terminating: {0})".format(", ".join(skipped)) if skipped else ""
            ),
            namespace=namespace,
        )
    return pods, skipped
