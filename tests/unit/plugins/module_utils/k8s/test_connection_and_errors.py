from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
from ansible_collections.statesafe.backup.plugins.module_utils.k8s import connection
from ansible_collections.statesafe.backup.plugins.module_utils.errors import (
    ApiError,
    ExecFailed,
    StatesafeError,
    describe_location,
)


def test_connection_spec_is_kubernetes_core_s_and_a_copy():
    spec = connection.connection_argument_spec()
    assert spec == AUTH_ARG_SPEC
    spec["kubeconfig"]["no_log"] = False
    spec["proxy_headers"]["options"]["basic_auth"]["no_log"] = False
    assert AUTH_ARG_SPEC["kubeconfig"]["no_log"] is True
    assert AUTH_ARG_SPEC["proxy_headers"]["options"]["basic_auth"]["no_log"] is True


def test_error_messages_name_the_location():
    error = ExecFailed("command failed", rc=2, stderr="boom", namespace="sf", pod="db-0", container="db",
                       path="/var/lib/mysql")
    assert str(error) == "command failed (namespace=sf pod=db-0 container=db path=/var/lib/mysql)"
    assert error.result_fields() == {"error_location": {"namespace": "sf", "pod": "db-0", "container": "db",
                                                        "path": "/var/lib/mysql"}, "rc": 2, "stderr": "boom"}
    assert str(StatesafeError("plain")) == "plain"
    api = ApiError("forbidden", status=403, reason="Forbidden", namespace="sf", name=None)
    assert api.result_fields()["api_status"] == 403 and api.location == {"namespace": "sf"}
    assert describe_location({"path": "/x", "namespace": "n", "other": 1}) == "namespace=n path=/x"


def test_adds_location_names_what_the_error_does_not():
    from ansible_collections.statesafe.backup.plugins.module_utils.errors import InvalidInput, adds_location

    @adds_location(InvalidInput, "namespace", lambda namespace, **kwargs: namespace)
    def operation(namespace, error):
        raise error

    with pytest.raises(InvalidInput) as raised:
        operation("ns", error=InvalidInput("bad", pod="p"))
    assert str(raised.value) == "bad (namespace=ns pod=p)" and raised.value.args == (str(raised.value),)
    with pytest.raises(InvalidInput) as raised:
        operation("ns", error=InvalidInput("bad", namespace="other"))
    assert raised.value.location["namespace"] == "other"
    assert operation.__name__ == "operation"
