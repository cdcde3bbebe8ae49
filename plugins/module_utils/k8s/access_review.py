# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Preflight access checks: which user this is, and whether every verb a plan needs is allowed.

Kinds are resolved to their resource names through API discovery (so a custom resource whose plural
is irregular is checked under its real name), then one SelfSubjectAccessReview is made per distinct
(verb, group, resource, subresource). The pure functions here build the requests and the messages;
``run`` makes the requests through KubeApi.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.statesafe.backup.plugins.module_utils.errors import (
    ApiError,
    InvalidInput,
    ObjectNotFound,
    StatesafeError,
)
from ansible_collections.statesafe.backup.plugins.module_utils.k8s.api import namespace_to_back_up

SSAR_PATH = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
WHOAMI_PATH = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")


class AccessDenied(StatesafeError):
    """A verb the plan needs is not allowed."""

    def __init__(self, message, result, **location):
        self.result = result
        super(AccessDenied, self).__init__(message, **location)

    def result_fields(self):
        fields = super(AccessDenied, self).result_fields()
        fields.update(self.result)
        return fields


def normalise(check, index):
    """One requested check -> {'verb', 'kind', 'api_version'} or {'verb', 'resource', 'group', 'subresource'}."""
    if not isinstance(check, dict):
        raise InvalidInput("checks[{0}] is not a mapping".format(index))
    verb = check.get("verb")
    if verb not in VERBS:
        raise InvalidInput("checks[{0}]: verb {1!r} is not one of {2}".format(index, verb, ", ".join(VERBS)))
    if check.get("kind") and check.get("resource"):
        raise InvalidInput("checks[{0}]: give kind (resolved through discovery) or resource, not both".format(index))
    if check.get("kind"):
        return {"verb": verb, "kind": check["kind"], "api_version": check.get("api_version") or "v1",
                "subresource": check.get("subresource") or ""}
    if check.get("resource"):
        return {"verb": verb, "resource": check["resource"], "group": check.get("group") or "",
                "subresource": check.get("subresource") or ""}
    raise InvalidInput("checks[{0}]: needs kind (with api_version) or resource".format(index))


def group_of(api_version):
    """'apps/v1' -> 'apps'; 'v1' -> '' (the core group)."""
    return api_version.split("/", 1)[0] if "/" in api_version else ""


def attributes(check, namespace, plural=None, namespaced=True):
    """SelfSubjectAccessReview resourceAttributes for a normalised check (plural from discovery for kinds)."""
    if "kind" in check:
        attrs = {"verb": check["verb"], "group": group_of(check["api_version"]), "resource": plural}
    else:
        attrs = {"verb": check["verb"], "group": check["group"], "resource": check["resource"]}
    if check.get("subresource"):
        attrs["subresource"] = check["subresource"]
    if namespaced:
        attrs["namespace"] = namespace
    return attrs


def describe(attrs):
    """'create pods/exec', 'list softwarefactories.sf.softwarefactory-project.io'."""
    resource = attrs["resource"] + ("." + attrs["group"] if attrs.get("group") else "")
    if attrs.get("subresource"):
        resource += "/" + attrs["subresource"]
    return "{0} {1}".format(attrs["verb"], resource)


def unique(items):
    seen, out = set(), []
    for item in items:
        key = tuple(sorted(item.items()))
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def review_body(attrs):
    return {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attrs}}


def user_of(review):
    """The user name from a SelfSubjectReview answer ('' when absent)."""
    info = ((review or {}).get("status") or {}).get("userInfo") or {}
    return info.get("username") or ""


def denied_message(namespace, user, denied):
    """The preflight failure: every denied verb, the namespace and who asked."""
    return ("missing RBAC permission in namespace {0} for user {1}: {2}. Grant these verbs to that identity "
            "(a namespaced Role bound to it is enough); nothing was captured".format(
                namespace, user or "(unknown: SelfSubjectReview not available)",
                ", ".join(describe(a) for a in denied)))


def run(api, namespace, checks):
    """Resolve, review, and return the result dict; raise StatesafeError when a verb is denied."""
    normalised = [normalise(check, index) for index, check in enumerate(checks or [])]
    try:
        user = user_of(api.request("POST", WHOAMI_PATH, body={
            "apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}))
    except ObjectNotFound:
        user = ""
    except ApiError as exc:
        if exc.status in (403, 404, 405):
            user = ""
        else:
            raise
    namespace_found, namespace_labels = None, None
    found = namespace_to_back_up(api, namespace)
    if found is not None:
        namespace_found = True
        namespace_labels = (found.get("metadata") or {}).get("labels") or {}
    wanted = []
    for check in normalised:
        if "kind" in check:
            rtype = api.resource_type(check["api_version"], check["kind"])
            wanted.append(attributes(check, namespace, rtype.plural, rtype.namespaced))
        else:
            wanted.append(attributes(check, namespace))
    reviews, denied = [], []
    for attrs in unique(wanted):
        answer = api.request("POST", SSAR_PATH, body=review_body(attrs), location={"namespace": namespace})
        status = answer.get("status") or {}
        allowed = bool(status.get("allowed"))
        reviews.append(dict(attrs, allowed=allowed, reason=status.get("reason") or ""))
        if not allowed:
            denied.append(attrs)
    result = {"user": user, "namespace_found": namespace_found, "namespace_labels": namespace_labels,
              "reviews": reviews,
              "denied": [describe(a) for a in denied]}
    if denied:
        raise AccessDenied(denied_message(namespace, user, denied), result, namespace=namespace)
    return result
