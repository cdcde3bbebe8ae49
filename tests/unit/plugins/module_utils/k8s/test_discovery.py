"""Namespace mode's reads (k8s/discovery.py) over a stand-in for the API: which requests, and what they become.

The stand-in answers discovery and list requests as the API server does; the real server is in
tests/integration/roles/test_namespace_mode.py.
"""

import pytest

from ansible_collections.statesafe.backup.plugins.module_utils.errors import ApiError, InvalidInput, ObjectNotFound
from ansible_collections.statesafe.backup.plugins.module_utils.k8s import discovery

CORE = {"resources": [
    {"name": "secrets", "kind": "Secret", "namespaced": True, "verbs": ["create", "get", "list"]},
    {"name": "persistentvolumeclaims", "kind": "PersistentVolumeClaim", "namespaced": True,
     "verbs": ["create", "get", "list"]},
    {"name": "pods/exec", "kind": "PodExecOptions", "namespaced": True, "verbs": ["create", "get"]},
    {"name": "namespaces", "kind": "Namespace", "namespaced": False, "verbs": ["create", "get", "list"]},
    {"name": "events", "kind": "Event", "namespaced": True, "verbs": ["create", "get", "list"]},
]}
GROUPS = {"groups": [{"name": "shop.example.org", "preferredVersion": {"groupVersion": "shop.example.org/v1"}},
                     {"name": "metrics.k8s.io", "preferredVersion": {"groupVersion": "metrics.k8s.io/v1beta1"}}]}
SHOP = {"resources": [{"name": "shops", "kind": "Shop", "namespaced": True, "verbs": ["create", "get", "list"]}]}


class Api:
    """Answers GETs from a table; an exception in the table is raised."""

    def __init__(self, answers):
        self.answers = answers
        self.asked = []

    def request(self, method, path, query=None, location=None, accept=None, **_kwargs):
        self.asked.append((path, tuple(query or ()), accept))
        answer = self.answers[(path, tuple(query or ()))]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def list_items(self, rtype, namespace=None, label_selector=None, field_selector=None, accept=None):
        query = (("fieldSelector", field_selector),) if field_selector else ()
        return self.request("GET", rtype.collection_path(namespace), query=query, accept=accept).get("items", [])


def meta(name, **extra):
    return dict(extra, metadata={"name": name, "uid": "uid-" + name})


def answers(shops):
    return {
        ("/api/v1/namespaces/shop", ()): meta("shop"),
        ("/apis", ()): GROUPS, ("/api/v1", ()): CORE, ("/apis/shop.example.org/v1", ()): SHOP,
        ("/apis/metrics.k8s.io/v1beta1", ()): ApiError("503 service unavailable", status=503),
        ("/api/v1/namespaces/shop/secrets", ()): {"items": [meta("db"), meta("old-token")]},
        ("/api/v1/namespaces/shop/secrets", (("fieldSelector", "type=kubernetes.io/service-account-token"),)):
            {"items": [meta("old-token")]},
        ("/api/v1/namespaces/shop/persistentvolumeclaims", ()): {"items": [meta("data", status={"phase": "Bound"})]},
        ("/apis/shop.example.org/v1/namespaces/shop/shops", ()): shops,
    }


def test_every_kind_listed_once_as_metadata_and_claims_whole():
    api = Api(answers({"items": [meta("main")]}))
    result = discovery.discover(api, "shop", "namespace", exclude=[{"kind": "*", "api_version": "metrics.k8s.io/v1"}])
    assert result["problems"] == []
    assert api.asked[0] == ("/api/v1/namespaces/shop", (), None)
    lists = {path: accept for path, _query, accept in api.asked[1:] if "/namespaces/" in path}
    assert lists == {"/api/v1/namespaces/shop/secrets": discovery.METADATA_ONLY,
                     "/api/v1/namespaces/shop/persistentvolumeclaims": None,
                     "/apis/shop.example.org/v1/namespaces/shop/shops": discovery.METADATA_ONLY}
    assert result["kinds"] == ["shop.example.org/v1/Shop", "v1/PersistentVolumeClaim", "v1/Secret"]
    assert result["list_requests"] == 4
    config = next(c for c in result["profile"]["components"] if c["name"] == "config")
    assert config["resources"][0]["names"] == ["db"]
    assert {"api_version": "v1", "kind": "Event", "reason": "the cluster keeps these up itself"} in result["left_out"]
    assert result["unavailable"] == [{"group_version": "metrics.k8s.io/v1beta1",
                                      "reason": "503 service unavailable"}]


def test_a_kind_refused_and_a_group_that_did_not_answer_are_problems():
    api = Api(answers(ApiError("forbidden", status=403)))
    result = discovery.discover(api, "shop", "namespace")
    assert result["unlistable"] == [{"api_version": "shop.example.org/v1", "kind": "Shop", "reason": "HTTP 403"}]
    assert len(result["problems"]) == 2
    assert result["problems"][0].startswith("API group metrics.k8s.io/v1beta1 did not answer discovery")
    assert result["problems"][1].startswith("Shop (shop.example.org/v1) cannot be listed in namespace shop")


def test_another_api_error_is_not_taken_for_a_refusal():
    api = Api(answers(ApiError("etcd timeout", status=500)))
    with pytest.raises(ApiError) as failed:
        discovery.discover(api, "shop", "namespace")
    assert failed.value.status == 500


def test_an_invalid_exclude_is_refused_before_any_request():
    api = Api({})
    with pytest.raises(InvalidInput, match=r"exclude is not valid: discover.exclude\[0\].kind: required"):
        discovery.discover(api, "shop", "namespace", exclude=[{"names": ["x"]}])
    assert api.asked == []


def test_a_missing_namespace_is_named_before_anything_is_listed():
    table = answers({"items": []})
    table[("/api/v1/namespaces/shop", ())] = ObjectNotFound("not found")
    api = Api(table)
    with pytest.raises(ObjectNotFound, match="namespace shop does not exist on this cluster; nothing to back up"):
        discovery.discover(api, "shop", "namespace")
    assert [path for path, _query, _accept in api.asked] == ["/api/v1/namespaces/shop"]
