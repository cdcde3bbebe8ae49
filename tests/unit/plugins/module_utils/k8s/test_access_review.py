from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.statesafe.backup.plugins.module_utils.k8s import access_review as ar
from ansible_collections.statesafe.backup.plugins.module_utils.errors import InvalidInput


@pytest.mark.parametrize("check, normal", [
    ({"verb": "list", "kind": "Secret"}, {"verb": "list", "kind": "Secret", "api_version": "v1", "subresource": ""}),
    ({"verb": "create", "resource": "pods", "subresource": "exec"},
     {"verb": "create", "resource": "pods", "group": "", "subresource": "exec"}),
])
def test_normalise(check, normal):
    assert ar.normalise(check, 0) == normal


@pytest.mark.parametrize("check", ["x", {"verb": "frobnicate", "kind": "Secret"}, {"verb": "list"},
                                   {"verb": "list", "kind": "Secret", "resource": "secrets"}])
def test_normalise_refuses(check):
    with pytest.raises(InvalidInput, match=r"checks\[3\]"):
        ar.normalise(check, 3)


def test_attributes_use_the_discovered_plural_and_group():
    check = ar.normalise({"verb": "list", "kind": "Octopus", "api_version": "sea.example.com/v1"}, 0)
    assert ar.attributes(check, "sf", plural="octopodes") == {
        "verb": "list", "group": "sea.example.com", "resource": "octopodes", "namespace": "sf"}
    assert "namespace" not in ar.attributes(check, "sf", plural="octopodes", namespaced=False)


def test_attributes_of_a_resource_check():
    check = ar.normalise({"verb": "create", "resource": "pods", "subresource": "exec"}, 0)
    assert ar.attributes(check, "sf") == {"verb": "create", "group": "", "resource": "pods", "subresource": "exec",
                                          "namespace": "sf"}


@pytest.mark.parametrize("attrs, text", [
    ({"verb": "create", "group": "", "resource": "pods", "subresource": "exec"}, "create pods/exec"),
    ({"verb": "list", "group": "apps", "resource": "statefulsets"}, "list statefulsets.apps"),
])
def test_describe(attrs, text):
    assert ar.describe(attrs) == text


def test_unique_keeps_order():
    a, b = {"verb": "get", "resource": "pods"}, {"verb": "list", "resource": "pods"}
    assert ar.unique([a, b, dict(a)]) == [a, b]


def test_user_of():
    assert ar.user_of({"status": {"userInfo": {"username": "system:serviceaccount:sf:narrow"}}}) == \
        "system:serviceaccount:sf:narrow"
    assert ar.user_of({}) == ""


def test_denied_message_names_verbs_namespace_and_user():
    message = ar.denied_message("sf", "system:serviceaccount:sf:narrow", [
        {"verb": "create", "group": "", "resource": "pods", "subresource": "exec", "namespace": "sf"}])
    assert "create pods/exec" in message and "namespace sf" in message
    assert "system:serviceaccount:sf:narrow" in message and "nothing was captured" in message
    assert "unknown" in ar.denied_message("sf", "", [{"verb": "get", "resource": "pods"}])


def test_access_denied_carries_the_result():
    exc = ar.AccessDenied("no", {"denied": ["get pods"], "user": "u"}, namespace="sf")
    fields = exc.result_fields()
    assert fields["denied"] == ["get pods"] and fields["error_location"] == {"namespace": "sf"}
