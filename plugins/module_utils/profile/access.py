# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Kubernetes verbs a backup of a profile needs, and the namespaced Role rules that grant them.

The backup's preflight checks these verbs with SelfSubjectAccessReview (access_check); the schedule role
grants exactly the same ones to its ServiceAccount, so both read them from here.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Exec needs both verbs on pods/exec: the client opens it with a websocket upgrade of a GET, which the API server
# authorizes as get (v1.30 and later), while older servers and SPDY clients ask for create.
_EXEC = [
    {"verb": "create", "resource": "pods", "subresource": "exec"},
    {"verb": "get", "resource": "pods", "subresource": "exec"},
]
DUMP_VERBS = [{"verb": "get", "resource": "pods"}] + _EXEC
# A volume is copied through a helper pod that mounts the claim.
VOLUME_VERBS = [
    {"verb": "get", "resource": "persistentvolumeclaims"},
    {"verb": "get", "resource": "pods"},
    {"verb": "list", "resource": "pods"},
    {"verb": "create", "resource": "pods"},
    {"verb": "delete", "resource": "pods"},
] + _EXEC
HOOK_VERBS = [{"verb": "list", "resource": "pods"}] + _EXEC


def _unique(items):
    out = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


def needed_access(profile, hooks_from_annotations=True):
    """The access_check checks a backup of `profile` needs, each once, in a stable order.

    list on every exported kind (access_check resolves the kind to its resource through API discovery), list pods
    to discover hooks from annotations, then the exec verbs of dumps, volumes and hooks.
    """
    profile = profile or {}
    out = []
    for component in profile.get("components") or []:
        ctype = component.get("type")
        if ctype == "resources":
            for selection in component.get("resources") or []:
                out.append({"verb": "list", "kind": selection["kind"],
                            "api_version": selection.get("api_version", "v1")})
        elif ctype == "dump":
            out.extend(DUMP_VERBS)
            if component.get("workload"):
                # The pod to run in is found when the dump runs: the workload's selector, then its ready pods.
                out.append({"verb": "get", "kind": component.get("workload_kind") or "StatefulSet",
                            "api_version": "apps/v1"})
                out.append({"verb": "list", "resource": "pods"})
        elif ctype == "volume":
            out.extend(VOLUME_VERBS)
    if hooks_from_annotations:
        out.append({"verb": "list", "resource": "pods"})
    hooks = profile.get("hooks") or {}
    if list(hooks.get("pre") or []) + list(hooks.get("post") or []):
        out.extend(HOOK_VERBS)
    return _unique([dict(item) for item in out])


def policy_rules(reviews, extra_rules=None):
    """PolicyRules granting the verbs of access_check's `reviews`: one rule per API group and resource.

    Rules are sorted by group and resource, verbs sorted; `extra_rules` are appended as given.
    """
    verbs = {}
    for review in reviews or []:
        resource = review["resource"]
        if review.get("subresource"):
            resource = "{0}/{1}".format(resource, review["subresource"])
        key = "{0}|{1}".format(review.get("group") or "", resource)
        verbs.setdefault(key, []).append(review["verb"])
    rules = []
    for key in sorted(verbs):
        group, resource = key.split("|", 1)
        rules.append({"apiGroups": [group], "resources": [resource], "verbs": sorted(set(verbs[key]))})
    return rules + list(extra_rules or [])
