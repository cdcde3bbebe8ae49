"""bup_offsite: documentation says what the argument spec does, secrets are no_log, main() stays thin."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import inspect

import pytest
import yaml

from ansible_collections.statesafe.backup.plugins.doc_fragments.bup_repository import ModuleDocFragment
from ansible_collections.statesafe.backup.plugins.module_utils.offsite import ops as offsite_ops
from ansible_collections.statesafe.backup.plugins.module_utils.offsite.plan import OffsiteError
from ansible_collections.statesafe.backup.plugins.modules import bup_offsite

FRAGMENT = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)


class Captured(Exception):
    pass


@pytest.fixture
def kwargs(monkeypatch):
    captured = {}

    def fake(**given):
        captured.update(given)
        raise Captured()

    monkeypatch.setattr(bup_offsite, "AnsibleModule", fake)
    with pytest.raises(Captured):
        bup_offsite.main()
    return captured


def test_documented_options_match_the_argument_spec(kwargs):
    doc = yaml.safe_load(bup_offsite.DOCUMENTATION)
    assert doc["extends_documentation_fragment"] == ["statesafe.backup.bup_repository"]
    options = dict(FRAGMENT["options"], **doc["options"])
    spec = kwargs["argument_spec"]
    assert set(options) == set(spec)
    for name, option in spec.items():
        documented = options[name]
        for key, default in (("type", "str"), ("default", None), ("choices", None), ("elements", None),
                             ("aliases", None)):
            assert documented.get(key, default) == option.get(key, default), (name, key)
    assert kwargs["supports_check_mode"] and doc["attributes"]["check_mode"]["support"] == "full"


def test_secrets_are_never_logged(kwargs):
    spec = kwargs["argument_spec"]
    assert spec["secret_key"]["no_log"] and spec["access_key"]["no_log"] and spec["session_token"]["no_log"]
    assert spec["secret_key"]["fallback"][1] == ["AWS_SECRET_ACCESS_KEY"]


def test_return_examples_and_thin_main():
    assert "error_location" in yaml.safe_load(bup_offsite.RETURN)
    assert isinstance(yaml.safe_load(bup_offsite.EXAMPLES), list)
    assert len(inspect.getsource(bup_offsite.main).splitlines()) <= 20


@pytest.mark.parametrize("params, message", [
    ({"operation": "push", "remote": "host:/srv/bup"}, "remote"),
    ({"operation": "push"}, "needs repository"),
    ({"operation": "pull"}, "needs repository"),
])
def test_operation_inputs_refused_before_any_io(params, message):
    with pytest.raises(OffsiteError, match=message):
        offsite_ops.run_operation(dict(params, bucket="b"))


def test_push_without_recipients_is_refused_before_touching_anything(tmp_path):
    params = {"operation": "push", "repository": str(tmp_path / "nothing"), "bucket": "b", "recipients": []}
    with pytest.raises(OffsiteError, match="refusing to push without encryption"):
        offsite_ops.run_operation(params)
    assert not (tmp_path / "nothing").exists()


def test_local_pack_files_take_only_data_files(tmp_path):
    pack_dir = tmp_path / "objects" / "pack"
    pack_dir.mkdir(parents=True)
    name = "pack-" + "a" * 40
    for suffix, data in ((".pack", b"PACK"), (".idx", b"idx"), (".par2", b"p"), (".vol000+01.par2", b"v")):
        (pack_dir / (name + suffix)).write_bytes(data)
    (pack_dir / ("midx-" + "b" * 40 + ".midx")).write_bytes(b"m")
    (pack_dir / "bup.bloom").write_bytes(b"b")
    found = offsite_ops.local_pack_files(str(tmp_path))
    assert sorted(found) == sorted(name + s for s in (".pack", ".idx", ".par2", ".vol000+01.par2"))
    assert found[name + ".pack"]["size"] == 4
    assert found[name + ".pack"]["sha256"] == hashlib.sha256(b"PACK").hexdigest()
