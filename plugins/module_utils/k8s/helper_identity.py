# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who the helper pod runs as: the user, group and fsGroup of the pods that use the claim.

Pure choices over pod, workload and namespace dicts (docs/helper-pods.md):
- the identity comes from the first running pod that mounts the claim, else from
  the pod template of a StatefulSet, Deployment or DaemonSet that would mount it;
  a container's securityContext overrides its pod's;
- when no uid is declared, OpenShift's namespace annotation
  openshift.io/sa.scc.uid-range gives one (its first uid), as restricted-v2 would;
- a non-root identity gives a helper that passes PodSecurity `restricted`;
- a root (or unknown) identity keeps a root helper, except in a namespace that
  enforces `restricted`, where the copy fails explaining why.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.statesafe.backup.plugins.module_utils.errors import (
    HelperPodError,
    InvalidInput,
)

UID_RANGE_ANNOTATION = "openshift.io/sa.scc.uid-range"
GROUPS_ANNOTATION = "openshift.io/sa.scc.supplemental-groups"
ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"

_RANGE = re.compile(r"^\s*(\d+)\s*(?:/\s*(\d+)|-\s*(\d+))?\s*$")


def parse_uid_range(value):
    """(first, size) of an OpenShift range annotation: '1000680000/10000' (or 'first-last').

    Several ranges may be given, comma-separated; the first one counts.
    """
    text = (value or "").split(",")[0]
    match = _RANGE.match(text)
    if not match:
        raise InvalidInput("cannot parse uid range {0!r}: expected FIRST/SIZE".format(value))
    first = int(match.group(1))
    if match.group(2) is not None:
        size = int(match.group(2))
    elif match.group(3) is not None:
        size = int(match.group(3)) - first + 1
    else:
        size = 1
    if size < 1:
        raise InvalidInput("uid range {0!r} is empty".format(value))
    return first, size


class Identity(object):
    """What the helper runs as, and where that was read (for messages)."""

    __slots__ = ("uid", "gid", "fs_group", "groups", "source", "uid_origin")

    def __init__(self, uid=None, gid=None, fs_group=None, groups=(), source=None, uid_origin=None):
        self.uid = uid
        self.gid = gid
        self.fs_group = fs_group
        self.groups = list(groups)
        self.source = source
        self.uid_origin = uid_origin

    @property
    def root(self):
        """True when the helper would run as root: uid 0, or no uid known (the image's default)."""
        return not self.uid

    def describe(self):
        parts = ["uid {0}".format(self.uid if self.uid is not None else "(image default)")]
        if self.gid is not None:
            parts.append("gid {0}".format(self.gid))
        if self.fs_group is not None:
            parts.append("fsGroup {0}".format(self.fs_group))
        if self.groups:
            parts.append("supplementalGroups {0}".format(",".join(str(g) for g in self.groups)))
        return ", ".join(parts)

    def as_dict(self):
        return {"uid": self.uid, "gid": self.gid, "fs_group": self.fs_group,
                "supplemental_groups": list(self.groups), "source": self.source, "uid_origin": self.uid_origin}


def _claim_volumes(pod_spec, claim):
    return {v.get("name") for v in pod_spec.get("volumes") or []
            if (v.get("persistentVolumeClaim") or {}).get("claimName") == claim}


def mounting_containers(pod_spec, claim):
    """Containers (then init containers) of a pod spec that mount the claim, in spec order."""
    names = _claim_volumes(pod_spec, claim)
    found = []
    for key in ("containers", "initContainers"):
        for container in pod_spec.get(key) or []:
            if any(m.get("name") in names for m in container.get("volumeMounts") or []):
                found.append(container)
    return found


def spec_identity(pod_spec, claim, source):
    """The Identity of the first container mounting the claim; its securityContext overrides the pod's.

    None when no container of the spec mounts the claim.
    """
    containers = mounting_containers(pod_spec, claim)
    if not containers:
        return None
    container = containers[0]
    pod_sc = pod_spec.get("securityContext") or {}
    c_sc = container.get("securityContext") or {}

    def pick(key):
        value = c_sc.get(key)
        return pod_sc.get(key) if value is None else value

    uid = pick("runAsUser")
    return Identity(uid=uid, gid=pick("runAsGroup"), fs_group=pod_sc.get("fsGroup"),
                    groups=pod_sc.get("supplementalGroups") or (),
                    source="{0}, container {1}".format(source, container.get("name")),
                    uid_origin="declared" if uid is not None else None)


def workload_pod_spec(workload, claim):
    """The pod template's spec of a workload whose pods would mount the claim, else None.

    A StatefulSet's claims come from its volumeClaimTemplates, named <template>-<set>-<ordinal>;
    the template's spec is returned with that volume added, as the StatefulSet controller does.
    """
    spec = workload.get("spec") or {}
    pod_spec = ((spec.get("template") or {}).get("spec")) or {}
    if _claim_volumes(pod_spec, claim):
        return pod_spec
    name = (workload.get("metadata") or {}).get("name", "")
    for template in spec.get("volumeClaimTemplates") or []:
        vct = (template.get("metadata") or {}).get("name", "")
        if re.match(r"^{0}-{1}-\d+$".format(re.escape(vct), re.escape(name)), claim):
            added = dict(pod_spec)
            added["volumes"] = list(pod_spec.get("volumes") or []) + [
                {"name": vct, "persistentVolumeClaim": {"claimName": claim}}]
            return added
    return None


def claim_identity(users, workloads, claim, namespace_obj=None):
    """Identity of the claim's users: running pods first, then workload templates; OpenShift's range fills a uid.

    users: pods mounting the claim (pods.claim_users); workloads: StatefulSets, Deployments, DaemonSets.
    """
    found = None
    for pod in users:
        found = spec_identity(pod.get("spec") or {}, claim, "pod {0}".format(pod["metadata"]["name"]))
        if found:
            break
    if found is None:
        for workload in workloads:
            pod_spec = workload_pod_spec(workload, claim)
            if pod_spec is None:
                continue
            found = spec_identity(pod_spec, claim, "{0} {1} (pod template)".format(
                workload.get("kind", "workload"), workload["metadata"]["name"]))
            if found:
                break
    found = found or Identity(source=None)
    annotations = ((namespace_obj or {}).get("metadata") or {}).get("annotations") or {}
    if found.uid is None and annotations.get(UID_RANGE_ANNOTATION):
        found.uid = parse_uid_range(annotations[UID_RANGE_ANNOTATION])[0]
        found.uid_origin = "namespace annotation {0}".format(UID_RANGE_ANNOTATION)
        if found.fs_group is None and annotations.get(GROUPS_ANNOTATION):
            found.fs_group = parse_uid_range(annotations[GROUPS_ANNOTATION])[0]
    return found


def enforces_restricted(namespace_obj):
    labels = ((namespace_obj or {}).get("metadata") or {}).get("labels") or {}
    return labels.get(ENFORCE_LABEL) == "restricted"


def security_contexts(identity):
    """(pod securityContext, container securityContext) for the helper.

    Non-root: everything PodSecurity `restricted` asks. Root: none, so the helper can read any file
    and restore owners, as the image's default user.
    """
    if identity.root:
        return None, None
    pod_sc = {"runAsNonRoot": True, "runAsUser": int(identity.uid), "seccompProfile": {"type": "RuntimeDefault"}}
    if identity.gid is not None:
        pod_sc["runAsGroup"] = int(identity.gid)
    if identity.fs_group is not None:
        pod_sc["fsGroup"] = int(identity.fs_group)
    if identity.groups:
        pod_sc["supplementalGroups"] = [int(g) for g in identity.groups]
    container_sc = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                    "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    return pod_sc, container_sc


def check_allowed(identity, namespace, claim, restricted):
    """Refuse a root helper in a namespace that enforces `restricted`, saying why and what to do."""
    if not identity.root or not restricted:
        return
    if identity.source is None:
        why = ("no pod and no StatefulSet, Deployment or DaemonSet template mounts the claim, so there is no "
               "user to run as")
    elif identity.uid == 0:
        why = "{0} runs as root (runAsUser 0)".format(identity.source)
    else:
        why = "{0} declares no runAsUser (the image's user is unknown from the API)".format(identity.source)
    raise HelperPodError(
        "namespace {0} enforces PodSecurity restricted (label {1}=restricted), which refuses a helper pod running "
        "as root; the helper runs as the user of the pods that use claim {2}, and {3}. Set runAsUser (non-zero), "
        "runAsGroup and fsGroup in that pod's securityContext, or annotate the namespace with {4} (OpenShift "
        "does), or copy the claim in a namespace that does not enforce restricted".format(
            namespace, ENFORCE_LABEL, claim, why, UID_RANGE_ANNOTATION),
        namespace=namespace, kind="PersistentVolumeClaim", name=claim,
    )
