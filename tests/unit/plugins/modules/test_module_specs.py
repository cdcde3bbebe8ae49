"""The modules' argument specs, documentation and returned keys agree (no drift)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
import yaml

from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
from ansible_collections.statesafe.backup.plugins.module_utils.k8s import connection
from ansible_collections.statesafe.backup.plugins.module_utils.volume import mirror
from ansible_collections.statesafe.backup.plugins.module_utils.volume import copy as pv_copy
from ansible_collections.statesafe.backup.plugins.module_utils.capture import quiesce
from ansible_collections.statesafe.backup.plugins.module_utils.capture import resource_export as rx
from ansible_collections.statesafe.backup.plugins.modules import backup_revisions, k8s_pv_copy, k8s_wait, quiesce_exec
from ansible_collections.statesafe.backup.plugins.modules import resource_export

MODULES = [resource_export, quiesce_exec, k8s_pv_copy, backup_revisions, k8s_wait]
IDS = [m.__name__.rsplit(".", 1)[-1] for m in MODULES]


def documented_options(module):
    return yaml.safe_load(module.DOCUMENTATION)["options"]


@pytest.mark.parametrize("module", MODULES, ids=IDS)
def test_options_do_not_shadow_connection_options(module):
    assert not set(module.ARGUMENT_SPEC) & set(AUTH_ARG_SPEC)
    full = connection.module_argument_spec(module.ARGUMENT_SPEC)
    assert set(full) == set(module.ARGUMENT_SPEC) | set(AUTH_ARG_SPEC)
    assert full["api_key"]["no_log"] is True


@pytest.mark.parametrize("module", MODULES, ids=IDS)
def test_documented_options_match_the_spec(module):
    docs = documented_options(module)
    assert set(docs) == set(module.ARGUMENT_SPEC)
    for name, spec in module.ARGUMENT_SPEC.items():
        assert docs[name].get("default") == spec.get("default"), name
        assert docs[name].get("type", "str") == spec.get("type", "str"), name
        assert bool(docs[name].get("required")) == bool(spec.get("required")), name


@pytest.mark.parametrize("module", MODULES, ids=IDS)
def test_uses_kubernetes_core_fragment_and_declares_attributes(module):
    doc = yaml.safe_load(module.DOCUMENTATION)
    assert doc["extends_documentation_fragment"] == ["kubernetes.core.k8s_auth_options"]
    assert set(doc["attributes"]) == {"check_mode", "diff_mode", "idempotent"}


def returned(module):
    return yaml.safe_load(module.RETURN)


def test_resource_export_returns_what_it_documents(tmp_path):
    rendered = rx.render_objects([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}],
                                 True, False, ())
    result = rx.write_files(str(tmp_path), rendered, prune=True)
    result.update(skipped_selections=[], list_requests=1)
    doc = returned(resource_export)
    assert set(result) - {"changed"} == set(doc) - {"error_location"}
    assert set(result["objects"][0]) == set(doc["objects"]["contains"])


def test_k8s_pv_copy_returns_what_it_documents():
    plan = mirror.plan_mirror({"a": mirror.Entry("file", 1, 1, 0o644, 0, 0, None)}, {})
    result = pv_copy.copy_summary(plan, 0.0, 1, 1, True)
    doc = returned(k8s_pv_copy)
    documented = set(doc) - {"error_location", "helper_pod", "helper_node", "helper_identity", "read_through"}
    assert set(result) - {"changed"} == documented
    assert set(result["plan"]) == set(doc["plan"]["sample"])


def test_quiesce_exec_documents_every_result_field():
    source = open(quiesce.__file__).read()
    keys = set(returned(quiesce_exec)["results"]["contains"])
    for key in keys:
        assert '"{0}":'.format(key) in source, key
