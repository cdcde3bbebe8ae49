# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Thin JSON access to the API server on top of kubernetes.core's client.

Discovery goes through kubernetes.core's K8SClient (its cached LazyDiscoverer);
requests are issued raw and parsed with json, returning plain dicts, because
building ResourceInstance objects for thousands of list items costs more than
the request itself. API exceptions become our ApiError / ObjectNotFound with
the namespace and name in the message.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.statesafe.backup.plugins.module_utils.errors import (
    ApiError,
    KindNotServed,
    ObjectNotFound,
)

try:
    from kubernetes.dynamic.exceptions import (
        DynamicApiError,
        ResourceNotFoundError,
        ResourceNotUniqueError,
    )
except ImportError:  # reported by the module's requirement check
    class DynamicApiError(Exception):
        """Placeholder when the kubernetes library is missing."""

    class ResourceNotFoundError(Exception):
        """Placeholder when the kubernetes library is missing."""

    class ResourceNotUniqueError(Exception):
        """Placeholder when the kubernetes library is missing."""

REQUEST_TIMEOUT = 60


class ResourceType(object):
    """What discovery says about one apiVersion/kind."""

    __slots__ = ("api_version", "kind", "plural", "namespaced", "prefix")

    def __init__(self, api_version, kind, plural, namespaced, prefix):
        self.api_version = api_version
        self.kind = kind
        self.plural = plural
        self.namespaced = namespaced
        self.prefix = prefix

    def collection_path(self, namespace=None):
        base = "/{0}/{1}".format(self.prefix, self.api_version)
        if self.namespaced:
            if not namespace:
                raise ValueError("{0} is namespaced: a namespace is required".format(self.kind))
            return "{0}/namespaces/{1}/{2}".format(base, namespace, self.plural)
        return "{0}/{1}".format(base, self.plural)

    def object_path(self, name, namespace=None):
        return "{0}/{1}".format(self.collection_path(namespace), name)


def _status_message(exc):
    body = getattr(exc, "body", None)
    if body:
        try:
            data = json.loads(body.decode("utf-8") if isinstance(body, bytes) else body)
            if isinstance(data, dict) and data.get("message"):
                return data["message"]
        except (ValueError, UnicodeDecodeError):
            pass
    reason = getattr(exc, "reason", None)
    return reason or str(exc)


class KubeApi(object):
    def __init__(self, k8s_client):
        self.k8s = k8s_client
        self._dynamic = k8s_client.client

    def resource_type(self, api_version, kind):
        """Discovery lookup; KindNotServed when the server has no such kind."""
        try:
            resource = self.k8s.resource(kind, api_version)
        except (ResourceNotFoundError, ResourceNotUniqueError) as exc:
            raise KindNotServed(
                "the API server does not serve kind {0} in {1}: {2}".format(kind, api_version, exc),
                kind=kind,
            ) from exc
        except DynamicApiError as exc:
            raise ApiError(
                "API discovery failed for {0}/{1}: {2}".format(api_version, kind, _status_message(exc)),
                status=getattr(exc, "status", None), reason=getattr(exc, "reason", None), kind=kind,
            ) from exc
        prefix = resource.prefix or ("api" if "/" not in resource.group_version else "apis")
        return ResourceType(resource.group_version, resource.kind, resource.name, bool(resource.namespaced), prefix)

    def request(self, method, path, body=None, query=None, location=None, timeout=REQUEST_TIMEOUT,
                content_type=None, accept=None):
        """Issue one request, parse the JSON answer; raise our errors on failure.

        content_type: for PATCH, which patch the body is (e.g. application/merge-patch+json).
        accept: the Accept header, e.g. to ask a list for metadata only.
        """
        location = location or {}
        extra = {"content_type": content_type} if content_type else {}
        if accept:
            extra["header_params"] = {"Accept": accept}
        try:
            response = self._dynamic.request(
                method,
                path,
                body=body,
                query_params=list(query or []),
                serialize=False,
                _request_timeout=timeout,
                **extra
            )
        except DynamicApiError as exc:
            status = getattr(exc, "status", None)
            message = _status_message(exc)
            if status == 404:
                raise ObjectNotFound(message, **location) from exc
            raise ApiError(
                "{0} {1} failed (HTTP {2}): {3}".format(method, path, status, message),
                status=status, reason=getattr(exc, "reason", None), **location
            ) from exc
        except Exception as exc:  # urllib3 connection errors, timeouts
            raise ApiError("{0} {1} failed: {2}".format(method, path, exc), **location) from exc
        data = response.data
        if not data:
            return {}
        try:
            return json.loads(data)
        except ValueError as exc:
            raise ApiError("{0} {1} returned invalid JSON: {2}".format(method, path, exc), **location) from exc

    def list_items(self, rtype, namespace=None, label_selector=None, field_selector=None, accept=None):
        """All objects of one type in one LIST request, apiVersion/kind filled in."""
        query = []
        if label_selector:
            query.append(("labelSelector", label_selector))
        if field_selector:
            query.append(("fieldSelector", field_selector))
        location = dict(namespace=namespace if rtype.namespaced else None, kind=rtype.kind)
        items = []
        token = None
        while True:
            page_query = list(query)
            if token:
                page_query.append(("continue", token))
            answer = self.request("GET", rtype.collection_path(namespace), query=page_query, location=location,
                                  accept=accept)
            for item in answer.get("items") or []:
                item.setdefault("apiVersion", rtype.api_version)
                item.setdefault("kind", rtype.kind)
                items.append(item)
            # Without a limit the server answers in one page; follow a continue
            # token anyway should a proxy or server impose one.
            token = (answer.get("metadata") or {}).get("continue")
            if not token:
                return items

    def get_pod(self, namespace, name):
        return self.request(
            "GET", "/api/v1/namespaces/{0}/pods/{1}".format(namespace, name), location=dict(namespace=namespace, pod=name)
        )

    def list_pods(self, namespace, label_selector=None):
        query = [("labelSelector", label_selector)] if label_selector else []
        answer = self.request("GET", "/api/v1/namespaces/{0}/pods".format(namespace), query=query,
                              location=dict(namespace=namespace))
        return answer.get("items") or []

    def get_claim(self, namespace, name):
        return self.request(
            "GET", "/api/v1/namespaces/{0}/persistentvolumeclaims/{1}".format(namespace, name),
            location=dict(namespace=namespace, kind="PersistentVolumeClaim", name=name),
        )

    def create_pod(self, namespace, body):
        return self.request("POST", "/api/v1/namespaces/{0}/pods".format(namespace), body=body,
                            location=dict(namespace=namespace, pod=body["metadata"]["name"]))

    def delete_pod(self, namespace, name, grace_period_seconds=0):
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": grace_period_seconds}
        return self.request("DELETE", "/api/v1/namespaces/{0}/pods/{1}".format(namespace, name), body=body,
                            location=dict(namespace=namespace, pod=name))

    def get_namespace(self, name):
        return self.request("GET", "/api/v1/namespaces/{0}".format(name), location=dict(namespace=name))

    def list_apps(self, namespace, plural):
        """statefulsets, deployments or daemonsets of a namespace (apps/v1)."""
        answer = self.request("GET", "/apis/apps/v1/namespaces/{0}/{1}".format(namespace, plural),
                              location=dict(namespace=namespace))
        kind = {"statefulsets": "StatefulSet", "deployments": "Deployment", "daemonsets": "DaemonSet"}[plural]
        items = answer.get("items") or []
        for item in items:
            item.setdefault("kind", kind)
        return items


def namespace_to_back_up(api, name):
    """The namespace, or None when the identity may not read it; a namespace that does not exist is an
    ObjectNotFound saying so, since every list in it would be empty and a backup of it meaningless."""
    try:
        return api.request("GET", "/api/v1/namespaces/{0}".format(name), location=dict(namespace=name))
    except ObjectNotFound as exc:
        raise ObjectNotFound("namespace {0} does not exist on this cluster; nothing to back up".format(name),
                             namespace=name) from exc
    except ApiError as exc:
        if exc.status != 403:
            raise
    return None
