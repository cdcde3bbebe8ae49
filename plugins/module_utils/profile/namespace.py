# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Namespace mode: the profile of a whole namespace, made from what the API server lists in it.

A profile with ``discover`` (profiles/namespace.yml) names no components: the backup asks the API server for every
namespaced kind it serves (k8s/discovery.py) and lists each one the identity may list; ``plan`` turns those lists
into an ordinary profile, which the rest of the backup runs and the archive's manifest records for the restore.

What is left out, and why:

- objects owned by another object of the namespace (ReplicaSets and Pods of a Deployment, a StatefulSet's Pods, a
  CronJob's Jobs, EndpointSlices of a Service): their owner makes them again, as Velero leaves them to it;
- kinds whose objects the cluster makes and keeps up itself (Events, Leases, ControllerRevisions,
  CSIStorageCapacities) and kinds without ``create`` (nothing could restore them);
- the Endpoints of a Service with a selector (the endpoints controller's); Endpoints written for a Service without
  one are kept, and the EndpointSlices the controllers make are owned by their Service;
- PodTemplates when the identity may not list them: Kubernetes' namespace ``admin`` role neither lists nor
  creates them, so a namespace admin's backup is not stopped by them (reported, not silent);
- objects the cluster makes in every namespace (the ``default`` ServiceAccount, the ``kube-root-ca.crt``
  ConfigMap; on OpenShift its service CA ConfigMap and its builder and deployer accounts with their
  RoleBindings), which a restore would find already there;
- Secrets that hold a legacy ServiceAccount token: the token is for an account's uid, which a restored account does
  not have;
- what the profile's ``discover.exclude`` names.

The restore order follows the components' order and phases: ServiceAccounts, RBAC and configuration, the claims,
then the workloads, Services and every other built-in kind (early); each bound claim's data, written while the
workload whose template mounts it is stopped; last the custom resources, so an operator reconciles from restored
data. The data comes after the workloads, not before them, because the helper pod that writes it runs as the
workload's user, read from its pod template: before the workload exists there is none to read, and a namespace
enforcing PodSecurity ``restricted`` refuses a helper running as root (docs/helper-pods.md).

A kind the identity may not list is not silently missed: ``plan`` returns it among the problems unless the profile
excludes it. A claim that is not Bound has no data to copy: it is reported and its object still restored.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.statesafe.backup.plugins.module_utils.profile import dump_annotations
from ansible_collections.statesafe.backup.plugins.module_utils.errors import InvalidInput

# Kinds that come with Kubernetes itself (and OpenShift's own API groups); every other group is a custom resource.
BUILTIN_GROUPS = frozenset((
    "", "apps", "batch", "autoscaling", "policy", "networking.k8s.io", "rbac.authorization.k8s.io",
    "coordination.k8s.io", "discovery.k8s.io", "events.k8s.io", "storage.k8s.io", "node.k8s.io",
    "scheduling.k8s.io", "admissionregistration.k8s.io", "certificates.k8s.io", "flowcontrol.apiserver.k8s.io",
    "apiextensions.k8s.io", "authentication.k8s.io", "authorization.k8s.io", "resource.k8s.io",
    "internal.apiserver.k8s.io", "storagemigration.k8s.io", "metrics.k8s.io", "snapshot.storage.k8s.io",
))
# The cluster keeps these up itself; a restored copy would be stale or refused.
# Endpoints and EndpointSlices are not among them: those the controllers make are told apart (a Service's selector,
# an owner) and left out; those written by hand for a Service without a selector are the user's, and backed up.
MANAGED_KINDS = frozenset((
    ("", "Event"), ("events.k8s.io", "Event"),
    ("coordination.k8s.io", "Lease"), ("apps", "ControllerRevision"), ("", "Binding"),
    ("storage.k8s.io", "CSIStorageCapacity"),
))
# Kinds Kubernetes' own namespace `admin` role neither lists nor creates: a namespace admin cannot have made objects of
# them, so one that may not list them is told (left_out), not stopped. An identity that may list them backs them up.
BEYOND_ADMIN_KINDS = frozenset((("", "PodTemplate"),))
# Objects the cluster makes in every namespace, by (group, kind, name).
CLUSTER_MADE = frozenset((
    ("", "ServiceAccount", "default"), ("", "ConfigMap", "kube-root-ca.crt"),
))
# The same on OpenShift (told by its project API group being served).
OPENSHIFT_GROUP = "project.openshift.io"
OPENSHIFT_MADE = frozenset((
    ("", "ConfigMap", "openshift-service-ca.crt"), ("", "ServiceAccount", "builder"),
    ("", "ServiceAccount", "deployer"), ("rbac.authorization.k8s.io", "RoleBinding", "system:image-pullers"),
    ("rbac.authorization.k8s.io", "RoleBinding", "system:image-builders"),
    ("rbac.authorization.k8s.io", "RoleBinding", "system:deployers"),
))
LEGACY_TOKEN_TYPE = "kubernetes.io/service-account-token"

# Component name -> the kinds it takes, in restore order; a built-in kind not named here goes to "workloads".
CONFIG_KINDS = (
    ("", "ServiceAccount"), ("rbac.authorization.k8s.io", "Role"), ("rbac.authorization.k8s.io", "RoleBinding"),
    ("", "ConfigMap"), ("", "Secret"), ("", "ResourceQuota"), ("", "LimitRange"),
    ("networking.k8s.io", "NetworkPolicy"), ("policy", "PodDisruptionBudget"),
)
CLAIM_KIND = ("", "PersistentVolumeClaim")
WORKLOAD_ORDER = (
    ("", "Service"), ("", "Endpoints"), ("discovery.k8s.io", "EndpointSlice"), ("apps", "StatefulSet"),
    ("apps", "Deployment"), ("apps", "DaemonSet"), ("apps", "ReplicaSet"),
    ("batch", "CronJob"), ("batch", "Job"), ("", "Pod"), ("", "ReplicationController"),
)
VOLUME_PREFIX = "volume-"
DUMP_PREFIX = "dump-"


def group_of(api_version):
    """'apps/v1' -> 'apps'; 'v1' -> ''."""
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


def exclusion_errors(exclude):
    """Problems of discover.exclude, named by position: [] when it is a list of {kind, api_version?, names?}."""
    if exclude is None:
        return []
    if not isinstance(exclude, list):
        return ["discover.exclude: must be a list of {kind, api_version, names}"]
    errors = []
    for index, entry in enumerate(exclude):
        path = "discover.exclude[{0}]".format(index)
        if not isinstance(entry, dict):
            errors.append("{0}: must be a mapping with kind (and api_version, names)".format(path))
            continue
        unknown = sorted(set(entry) - {"kind", "api_version", "names"})
        if unknown:
            errors.append("{0}: unknown key {1} (expected kind, api_version, names)".format(path, ", ".join(unknown)))
        if not isinstance(entry.get("kind"), str) or not entry.get("kind"):
            errors.append("{0}.kind: required (a kind such as Secret)".format(path))
        if "api_version" in entry and not (isinstance(entry["api_version"], str) and entry["api_version"]):
            errors.append("{0}.api_version: must be a group/version such as apps/v1".format(path))
        names = entry.get("names")
        if names is not None and not (isinstance(names, list) and names and all(
                isinstance(name, str) and name for name in names)):
            errors.append("{0}.names: must be a non-empty list of object names".format(path))
    return errors


def _excluded(exclude, api_version, kind, name=None):
    """Whether discover.exclude leaves out the whole kind (name None) or the object; kind "*" is every kind."""
    for entry in exclude or []:
        if entry.get("kind") not in (kind, "*"):
            continue
        if entry.get("api_version") and group_of(entry["api_version"]) != group_of(api_version):
            continue
        names = entry.get("names")
        if not names or (name is not None and name in names):
            return True
    return False


def kinds_to_list(resources, exclude=None):
    """Of discovery's namespaced resources, those worth listing: (kept, left_out).

    resources: [{api_version, kind, plural, verbs}]; kept in the same shape; left_out as [{api_version, kind,
    reason}] for the summary.
    """
    kept, left_out = [], []
    for resource in resources:
        group, kind = group_of(resource["api_version"]), resource["kind"]
        verbs = set(resource.get("verbs") or ())
        reason = None
        if (group, kind) in MANAGED_KINDS:
            reason = "the cluster keeps these up itself"
        elif not {"list", "get", "create"} <= verbs:
            reason = "the API offers no list, get and create for it"
        elif _excluded(exclude, resource["api_version"], kind):
            reason = "discover.exclude"
        if reason:
            left_out.append({"api_version": resource["api_version"], "kind": kind, "reason": reason})
        else:
            kept.append(resource)
    return kept, left_out


def _owned_by_listed(obj, uids):
    return any(ref.get("uid") in uids for ref in (obj.get("metadata") or {}).get("ownerReferences") or [])


def _cluster_made(group, kind, obj, openshift):
    key = (group, kind, (obj.get("metadata") or {}).get("name"))
    return key in CLUSTER_MADE or (openshift and key in OPENSHIFT_MADE)


def _account_token(group, kind, obj):
    """A legacy token Secret: its token is for the account's uid, which a restored account does not have (the token
    controller would drop or refill it)."""
    return kind == "Secret" and group == "" and obj.get("type") == LEGACY_TOKEN_TYPE


def _selector_services(listed):
    """Names of the Services that have a selector: the endpoints controller keeps their Endpoints up."""
    return set((item.get("metadata") or {}).get("name")
               for entry in listed if (group_of(entry["api_version"]), entry["kind"]) == ("", "Service")
               for item in entry.get("items") or [] if (item.get("spec") or {}).get("selector"))


def _component_of(group, kind):
    if (group, kind) in CONFIG_KINDS:
        return "config"
    if (group, kind) == CLAIM_KIND:
        return "claims"
    return "workloads" if group in BUILTIN_GROUPS else "custom-resources"


def _order(group, kind):
    for table in (CONFIG_KINDS, WORKLOAD_ORDER):
        if (group, kind) in table:
            return (table.index((group, kind)), group, kind)
    return (len(WORKLOAD_ORDER), group, kind)


def unavailable_problems(namespace, unavailable, exclude=None):
    """Problems for API groups whose discovery failed (an aggregated API server down), unless excluded whole."""
    return ["API group {0} did not answer discovery ({1}): its kinds in namespace {2} cannot be listed; name it in "
            "discover.exclude as {{kind: '*', api_version: {0}}} to back up without it".format(
                entry["group_version"], entry["reason"], namespace)
            for entry in unavailable if not _excluded(exclude, entry["group_version"], "*")]


# The workloads a volume's restore can stop and start (a scale subresource), in the order one is chosen.
SCALABLE = (("apps", "StatefulSet"), ("apps", "Deployment"), ("apps", "ReplicaSet"))


def claim_users(listed, uids):
    """(mounted, made): {claim: (kind, name)} of the workload whose pod template mounts each claim, and
    [(prefix, (kind, name))] of the StatefulSets whose volumeClaimTemplates make claims <template>-<set>-<ordinal>;
    the first of SCALABLE's order, then by name, wins. Owned workloads (a Deployment's ReplicaSets) are left to their
    owner."""
    mounted, made = {}, []
    for group_kind in SCALABLE:
        for entry in listed:
            if (group_of(entry["api_version"]), entry["kind"]) != group_kind:
                continue
            for item in sorted(entry.get("items") or [], key=lambda i: (i.get("metadata") or {}).get("name") or ""):
                metadata = item.get("metadata") or {}
                if _owned_by_listed(item, uids) or not metadata.get("name"):
                    continue
                user = (entry["kind"], metadata["name"])
                spec = item.get("spec") or {}
                for volume in ((spec.get("template") or {}).get("spec") or {}).get("volumes") or []:
                    claim_name = (volume.get("persistentVolumeClaim") or {}).get("claimName")
                    if claim_name:
                        mounted.setdefault(claim_name, user)
                for claim_template in spec.get("volumeClaimTemplates") or []:
                    made.append(("{0}-{1}-".format((claim_template.get("metadata") or {}).get("name"),
                                                   metadata["name"]), user))
    return mounted, made


def _user_of(mounted, made, claim_name):
    if claim_name in mounted:
        return mounted[claim_name]
    for prefix, user in made:
        if claim_name.startswith(prefix) and claim_name[len(prefix):].isdigit():
            return user
    return None


def _containers(pod_spec):
    return [c.get("name") for c in (pod_spec or {}).get("containers") or [] if c.get("name")]


def _top_owner(item, by_uid):
    """(kind, object) at the top of an object's owners among the listed objects (its controller first); the object
    itself, kind None, when nothing listed owns it."""
    kind, current, seen = None, item, set()
    while True:
        references = [ref for ref in (current.get("metadata") or {}).get("ownerReferences") or []
                      if ref.get("uid") in by_uid and ref.get("uid") not in seen]
        if not references:
            return kind, current
        reference = next((ref for ref in references if ref.get("controller")), references[0])
        seen.add(reference["uid"])
        kind, current = by_uid[reference["uid"]]


def annotated_dumps(namespace, listed, uids, exclude=None):
    """(components, problems, unused): a dump component for every workload whose pod template, and every pod nothing
    owns, that declares a dump with annotations (capture/dump_annotations.py), after the volumes in restore order.

    A workload's dump runs in one of its ready pods, found when the dump runs; the template's annotations decide,
    as they are what every pod, a restored one too, carries. A pod whose annotations its template lacks (annotated by
    hand) and a pod whose owners end at something else (a Job, a DaemonSet, a custom resource that the restore applies
    after the dumps) are problems, never silently passed over. `unused` are left_out entries for annotations a
    spelling of higher precedence made unused.
    """
    by_uid = {}
    for entry in listed:
        for item in entry.get("items") or []:
            uid = (item.get("metadata") or {}).get("uid")
            if uid:
                by_uid[uid] = (entry["kind"], item)
    components, problems, unused, names = [], [], [], set()

    def add(api_version, kind, metadata, pod_spec, target):
        where = "pod {0}".format(metadata["name"]) if kind == "Pod" else "{0} {1} (its pod template)".format(
            kind, metadata["name"])
        try:
            fields = dump_annotations.dump_fields(metadata.get("annotations"), _containers(pod_spec), namespace,
                                                  where)
        except InvalidInput as exc:
            problems.append(str(exc))
            return
        if fields is None:
            return
        component = {"name": DUMP_PREFIX + metadata["name"], "type": "dump"}
        if component["name"] in names:
            problems.append("{0} in namespace {1}: a dump named {2} is declared twice (a pod and a workload of one "
                            "name); leave one out with discover.exclude".format(where, namespace, component["name"]))
            return
        names.add(component["name"])
        component.update(target)
        component.update((key, fields[key]) for key in ("command", "restore_command", "container", "extension",
                                                        "timeout", "trailer") if key in fields)
        components.append(component)
        unused.extend({"api_version": api_version, "kind": kind, "name": metadata["name"], "reason": note}
                      for note in fields["unused"])

    for entry in sorted(listed, key=lambda e: (e["kind"], e["api_version"])):
        group_kind = (group_of(entry["api_version"]), entry["kind"])
        for item in sorted(entry.get("items") or [], key=lambda i: (i.get("metadata") or {}).get("name") or ""):
            metadata = item.get("metadata") or {}
            if not metadata.get("name") or _excluded(exclude, entry["api_version"], entry["kind"], metadata["name"]):
                continue
            if group_kind in SCALABLE and not _owned_by_listed(item, uids):
                template = (item.get("spec") or {}).get("template") or {}
                add(entry["api_version"], entry["kind"], dict(template.get("metadata") or {}, name=metadata["name"]),
                    template.get("spec"), {"workload": metadata["name"], "workload_kind": entry["kind"]})
            elif group_kind == ("", "Pod") and dump_annotations.declares_dump(metadata.get("annotations")):
                if not _owned_by_listed(item, uids):
                    add(entry["api_version"], "Pod", metadata, item.get("spec"), {"pod": metadata["name"]})
                    continue
                top_kind, top = _top_owner(item, by_uid)
                top_name = (top.get("metadata") or {}).get("name")
                if top_kind in [kind for _group, kind in SCALABLE]:
                    template = ((top.get("spec") or {}).get("template") or {}).get("metadata") or {}
                    if not dump_annotations.declares_dump(template.get("annotations")):
                        problems.append(
                            "pod {0} in namespace {1} declares a dump, but the pod template of its {2} {3} does not: "
                            "annotate the template (spec.template.metadata.annotations), which every pod and a "
                            "restored one carry".format(metadata["name"], namespace, top_kind, top_name))
                else:
                    problems.append(
                        "pod {0} in namespace {1} declares a dump, but it is made by {2} {3}: namespace mode dumps "
                        "the pods of StatefulSets, Deployments and ReplicaSets and pods nothing owns (a custom "
                        "resource is restored after the dumps are loaded); write a profile for it "
                        "(docs/profile-reference.md) or leave the pod out with discover.exclude".format(
                            metadata["name"], namespace, top_kind, top_name))
    return sorted(components, key=lambda c: c["name"]), problems, unused


def plan(namespace, name, listed, unlistable=(), exclude=None, openshift=False, description=None, hooks=None):
    """The namespace's profile and what was left out.

    listed: [{api_version, kind, items}] for every kind that was listed (items as the API returns them; only
    metadata, and a claim's status, are read). unlistable: [{api_version, kind, reason}] of kinds the identity may
    not list. Returns {profile, objects, left_out, pending_claims, problems}; problems (a kind that cannot be
    listed and is not excluded, one kind name served by two API groups) make the profile unusable.
    """
    problems, left_out = [], []
    for entry in unlistable:
        if (group_of(entry["api_version"]), entry["kind"]) in BEYOND_ADMIN_KINDS:
            left_out.append({"api_version": entry["api_version"], "kind": entry["kind"],
                             "reason": "may not be listed ({0}); a namespace admin cannot make these".format(
                                 entry["reason"])})
        elif not _excluded(exclude, entry["api_version"], entry["kind"]):
            problems.append("{0} ({1}) cannot be listed in namespace {2}: {3}; grant list on it or name it in "
                            "discover.exclude".format(entry["kind"], entry["api_version"], namespace, entry["reason"]))
    uids = set()
    for entry in listed:
        for item in entry.get("items") or []:
            uid = (item.get("metadata") or {}).get("uid")
            if uid:
                uids.add(uid)

    by_component = {"config": [], "claims": [], "workloads": [], "custom-resources": []}
    pending, volumes, objects, seen_kinds = [], [], 0, {}
    controlled_endpoints = _selector_services(listed)
    for entry in sorted(listed, key=lambda e: _order(group_of(e["api_version"]), e["kind"])):
        api_version, kind = entry["api_version"], entry["kind"]
        group = group_of(api_version)
        names = []
        for item in entry.get("items") or []:
            metadata = item.get("metadata") or {}
            object_name = metadata.get("name")
            if not object_name:
                continue
            if _owned_by_listed(item, uids):
                why = "owned by an object that is backed up"
            elif _cluster_made(group, kind, item, openshift):
                why = "the cluster makes it in every namespace"
            elif (group, kind) == ("", "Endpoints") and object_name in controlled_endpoints:
                why = "kept up by the endpoints controller for the Service's selector"
            elif _account_token(group, kind, item):
                why = "a ServiceAccount token, valid only for the account it was made for"
            elif _excluded(exclude, api_version, kind, object_name):
                why = "discover.exclude"
            else:
                why = None
            if why:
                left_out.append({"api_version": api_version, "kind": kind, "name": object_name, "reason": why})
            else:
                names.append(object_name)
            if (group, kind) == CLAIM_KIND and not _excluded(exclude, api_version, kind, object_name):
                phase = (item.get("status") or {}).get("phase") or "Pending"
                try:
                    opted_out = dump_annotations.claim_opted_out(item)
                except InvalidInput as exc:
                    problems.append(str(exc))
                    opted_out = False
                if opted_out:
                    left_out.append({"api_version": api_version, "kind": kind, "name": object_name,
                                     "reason": "its files: {0} is false (the claim itself is restored, empty)".format(
                                         dump_annotations.K8UP_BACKUP)})
                elif phase == "Bound":
                    volumes.append(object_name)
                else:
                    pending.append({"claim": object_name, "phase": phase})
        if not names:
            continue
        if kind in seen_kinds:
            # The archive keeps objects as resources/<Kind>/<name>.yaml: two groups' kinds of one name would mix.
            problems.append("kind {0} is served by {1} and {2}, and the archive keeps objects by kind name; name one "
                            "of them in discover.exclude".format(kind, seen_kinds[kind], api_version))
            continue
        seen_kinds[kind] = api_version
        objects += len(names)
        by_component[_component_of(group, kind)].append(
            {"kind": kind, "api_version": api_version, "names": sorted(names), "optional": True})

    def resources(component, phase):
        return [{"name": component, "type": "resources", "restore_phase": phase,
                 "resources": by_component[component]}] if by_component[component] else []

    components = resources("config", "early") + resources("claims", "early") + resources("workloads", "early")
    mounted, made = claim_users(listed, uids)
    for claim in sorted(volumes):
        volume = {"name": VOLUME_PREFIX + claim, "type": "volume", "claim": claim}
        user = _user_of(mounted, made, claim)
        if user:
            volume.update(workload=user[1], workload_kind=user[0])
        components.append(volume)
    dumps, dump_problems, unused = annotated_dumps(namespace, listed, uids, exclude)
    components += dumps
    problems += dump_problems
    left_out += unused
    components += resources("custom-resources", "last")
    if not components:
        problems.append("namespace {0} holds nothing to back up (every object listed is left out or owned; "
                        "see left_out)".format(namespace))
    profile = {"name": name, "label_selector": "", "components": components}
    if description:
        profile["description"] = description
    if hooks:
        profile["hooks"] = hooks
    return {"profile": profile, "objects": objects, "left_out": left_out, "pending_claims": pending,
            "problems": problems}
