"""restore_plan: its documented options and return values agree with its spec and with what build_plan returns."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import yaml

from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
from ansible_collections.statesafe.backup.plugins.module_utils.capture import restore_policy
from ansible_collections.statesafe.backup.plugins.modules import restore_plan

DOC = yaml.safe_load(restore_plan.DOCUMENTATION)
RETURNS = yaml.safe_load(restore_plan.RETURN)


def test_options_match_the_spec_and_leave_connection_options_alone():
    assert not set(restore_plan.ARGUMENT_SPEC) & set(AUTH_ARG_SPEC)
    assert set(DOC["options"]) == set(restore_plan.ARGUMENT_SPEC)
    for name, spec in restore_plan.ARGUMENT_SPEC.items():
        doc = DOC["options"][name]
        assert doc.get("default") == spec.get("default"), name
        assert doc.get("type", "str") == spec.get("type", "str"), name
        assert bool(doc.get("required")) == bool(spec.get("required")), name
        assert doc.get("choices") == spec.get("choices"), name
        if "options" in spec:
            assert set(doc["suboptions"]) == set(spec["options"]), name
    assert DOC["options"]["policy"]["choices"] == list(restore_policy.POLICIES)
    assert DOC["extends_documentation_fragment"] == ["kubernetes.core.k8s_auth_options"]


def test_returns_what_it_documents():
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}}
    ref = {"kind": "ConfigMap", "name": "c", "api_version": "v1", "path": "/x/c.yaml", "component": "config",
           "phase": "early"}
    component = {"name": "db", "type": "dump", "statefulset": "db", "pod": "db-0", "extension": "sql"}
    plan = restore_policy.build_plan([ref], {"ConfigMap/c": obj}, {}, [component], [], "fail", {}, want_diff=True)
    result = dict(changed=plan.pop("would_change"), list_requests=2, **plan)
    assert set(result) - {"changed", "diff"} == set(RETURNS) - {"error_location"}
    assert set(RETURNS["objects"]["contains"]) <= set(result["objects"][0])
    assert set(RETURNS["data"]["contains"]) <= set(result["data"][0])
