"""The etcd modules: documentation and argument specs agree, main() stays thin, no option carries key material."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import inspect

import pytest
import yaml

from ansible_collections.statesafe.backup.plugins.modules import etcd_backup_decision, etcd_files, etcd_snapshot

MODULES = [etcd_snapshot, etcd_files, etcd_backup_decision]


def ids(module):
    return module.__name__.rsplit(".", 1)[-1]


@pytest.mark.parametrize("module", MODULES, ids=ids)
def test_documented_options_match_the_argument_spec(module):
    options = yaml.safe_load(module.DOCUMENTATION)["options"]
    spec = module.ARGUMENT_SPEC
    assert set(options) == set(spec)
    for name, option in options.items():
        assert option["type"] == spec[name]["type"], name
        assert option.get("required", False) == spec[name].get("required", False), name
        assert option.get("default") == spec[name].get("default"), name
        assert option.get("choices") == spec[name].get("choices"), name
        assert option.get("elements") == spec[name].get("elements"), name


@pytest.mark.parametrize("module", MODULES, ids=ids)
def test_the_documentation_parses_and_main_is_thin(module):
    yaml.safe_load(module.EXAMPLES)
    yaml.safe_load(module.RETURN)
    assert len(inspect.getsource(module.main).splitlines()) <= 10


def test_the_key_option_is_a_path_not_key_material():
    # etcdctl gets the key's path; the module never reads the file, so nothing secret can reach a result.
    assert etcd_snapshot.ARGUMENT_SPEC["key"] == {"type": "path", "no_log": False}
