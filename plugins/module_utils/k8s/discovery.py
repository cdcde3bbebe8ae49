# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a namespace holds, as the API server tells it: the reads behind namespace mode (profile/namespace.py).

Objects are listed as metadata only (PartialObjectMetadataList), so Secret values never reach this process; only
claims (for their phase), scalable workloads (for the claims their pod templates mount and the dumps their
annotations declare), Pods (for their containers) and Services (for their selectors) are listed whole. A legacy
ServiceAccount token is told by a second metadata list of Secrets selected by type.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.statesafe.backup.plugins.module_utils.errors import ApiError, InvalidInput, ObjectNotFound
from ansible_collections.statesafe.backup.plugins.module_utils.k8s.api import ResourceType, namespace_to_back_up
from ansible_collections.statesafe.backup.plugins.module_utils.profile import namespace as plan_mod

METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
# Listed whole: the planning reads a claim's phase, which claims a workload's pod template mounts, and the containers a
# dump annotation may name.
WHOLE = (("", "PersistentVolumeClaim"), ("apps", "StatefulSet"), ("apps", "Deployment"), ("apps", "ReplicaSet"),
         ("", "Service"), ("", "Pod"))


def namespaced_resources(api):
    """([{api_version, kind, plural, verbs}], [{group_version, reason}]): every namespaced top-level resource of
    every served group's preferred version, and the groups whose discovery failed."""
    versions = ["v1"]
    unavailable = []
    groups = api.request("GET", "/apis").get("groups") or []
    for group in groups:
        preferred = (group.get("preferredVersion") or {}).get("groupVersion")
        if preferred:
            versions.append(preferred)
    resources = []
    for group_version in versions:
        path = "/api/v1" if group_version == "v1" else "/apis/" + group_version
        try:
            answer = api.request("GET", path)
        except (ApiError, ObjectNotFound) as exc:
            unavailable.append({"group_version": group_version, "reason": str(exc)})
            continue
        for resource in answer.get("resources") or []:
            if "/" in resource.get("name", "") or not resource.get("namespaced"):
                continue
            resources.append({"api_version": group_version, "kind": resource["kind"], "plural": resource["name"],
                              "verbs": sorted(resource.get("verbs") or [])})
    return resources, unavailable


def _list(api, resource, namespace, whole, field_selector=None):
    rtype = ResourceType(resource["api_version"], resource["kind"], resource["plural"], True,
                         "api" if resource["api_version"] == "v1" else "apis")
    return api.list_items(rtype, namespace, field_selector=field_selector, accept=None if whole else METADATA_ONLY)


def discover(api, namespace, name, exclude=None, description=None, hooks=None):
    """The namespace's profile (profile/namespace.py ``plan``), with what was listed, left out and refused."""
    errors = plan_mod.exclusion_errors(exclude)
    if errors:
        raise InvalidInput("exclude is not valid: " + "; ".join(errors), namespace=namespace)
    # Every list in a missing namespace is empty: say so, rather than refuse an empty profile.
    namespace_to_back_up(api, namespace)
    resources, unavailable = namespaced_resources(api)
    groups = set(plan_mod.group_of(r["api_version"]) for r in resources)
    to_list, left_out = plan_mod.kinds_to_list(resources, exclude)
    listed, unlistable = [], []
    requests = 0
    for resource in to_list:
        key = (plan_mod.group_of(resource["api_version"]), resource["kind"])
        try:
            items = _list(api, resource, namespace, key in WHOLE)
            requests += 1
            if key == ("", "Secret"):
                tokens = _list(api, resource, namespace, False, field_selector="type=" + plan_mod.LEGACY_TOKEN_TYPE)
                requests += 1
                token_names = set((t.get("metadata") or {}).get("name") for t in tokens)
                for item in items:
                    if (item.get("metadata") or {}).get("name") in token_names:
                        item["type"] = plan_mod.LEGACY_TOKEN_TYPE
        except ApiError as exc:
            if exc.status in (401, 403):
                unlistable.append({"api_version": resource["api_version"], "kind": resource["kind"],
                                   "reason": "HTTP {0}".format(exc.status)})
                continue
            raise
        except ObjectNotFound:
            # Gone between discovery and the list (a CRD deleted meanwhile): nothing of it to back up.
            left_out.append({"api_version": resource["api_version"], "kind": resource["kind"],
                             "reason": "no longer served"})
            continue
        listed.append({"api_version": resource["api_version"], "kind": resource["kind"], "items": items})
    result = plan_mod.plan(namespace, name, listed, unlistable, exclude, openshift=plan_mod.OPENSHIFT_GROUP in groups,
                           description=description, hooks=hooks)
    result["problems"] = plan_mod.unavailable_problems(namespace, unavailable, exclude) + result["problems"]
    result["left_out"] = left_out + result["left_out"]
    result["unlistable"] = unlistable
    result["unavailable"] = unavailable
    result["kinds"] = sorted("{0}/{1}".format(entry["api_version"], entry["kind"]) for entry in listed)
    result["list_requests"] = requests
    return result
