"""The bup modules' documentation says what their argument specs do, and their main() stays thin."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import inspect

import pytest
import yaml

from ansible_collections.statesafe.backup.plugins.doc_fragments.bup_repository import ModuleDocFragment
from ansible_collections.statesafe.backup.plugins.module_utils.bup.args import REPOSITORY_ARG_SPEC
from ansible_collections.statesafe.backup.plugins.modules import (
    bup_archive_info,
    bup_fsck,
    bup_lock,
    bup_repo,
    bup_restore,
    bup_retention,
    bup_save,
)

MODULES = [bup_repo, bup_save, bup_archive_info, bup_restore, bup_retention, bup_fsck, bup_lock]
FRAGMENT = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)


def ids(module):
    return module.__name__.rsplit(".", 1)[-1]


class Captured(Exception):
    pass


def module_kwargs(module, monkeypatch):
    captured = {}

    def fake(**kwargs):
        captured.update(kwargs)
        raise Captured()

    monkeypatch.setattr(module, "AnsibleModule", fake)
    with pytest.raises(Captured):
        module.main()
    return captured


def documented_options(module):
    doc = yaml.safe_load(module.DOCUMENTATION)
    assert doc["extends_documentation_fragment"] == ["statesafe.backup.bup_repository"]
    options = dict(FRAGMENT["options"])
    options.update(doc.get("options") or {})
    return doc, options


@pytest.mark.parametrize("module", MODULES, ids=ids)
def test_documented_options_match_the_argument_spec(module, monkeypatch):
    _doc, options = documented_options(module)
    spec = module_kwargs(module, monkeypatch)["argument_spec"]
    assert set(options) == set(spec)
    for name, option in spec.items():
        documented = options[name]
        assert documented.get("type", "str") == option.get("type", "str"), name
        assert documented.get("default") == option.get("default"), name
        assert bool(documented.get("required")) == bool(option.get("required")), name
        assert documented.get("choices") == option.get("choices"), name
        assert documented.get("elements") == option.get("elements"), name


@pytest.mark.parametrize("module", MODULES, ids=ids)
def test_check_mode_attribute_is_honest(module, monkeypatch):
    doc, _options = documented_options(module)
    kwargs = module_kwargs(module, monkeypatch)
    support = doc["attributes"]["check_mode"]["support"]
    assert kwargs["supports_check_mode"] is (support != "none")
    assert ("repository", "remote") in kwargs["mutually_exclusive"]
    assert ("repository", "remote") in kwargs["required_one_of"]


@pytest.mark.parametrize("module", MODULES, ids=ids)
def test_return_and_examples_parse(module):
    assert isinstance(yaml.safe_load(module.RETURN), dict)
    assert isinstance(yaml.safe_load(module.EXAMPLES), list)
    assert "error_location" in yaml.safe_load(module.RETURN)


@pytest.mark.parametrize("module", MODULES, ids=ids)
def test_main_is_thin(module):
    assert len(inspect.getsource(module.main).splitlines()) <= 20


@pytest.mark.parametrize("module", MODULES, ids=ids)
def test_no_module_redefines_a_shared_option(module):
    assert not set(module.ARGUMENT_SPEC) & set(REPOSITORY_ARG_SPEC)
