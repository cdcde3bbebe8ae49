"""The restore role's operator filters, over archived files written here (no cluster)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.statesafe.backup.plugins.filter import restore_operator


def planned(tmp_path, name, data, action="create", kind="Secret"):
    path = tmp_path / "{0}.yaml".format(name)
    lines = ["apiVersion: v1", "kind: {0}".format(kind), "metadata:", "  name: {0}".format(name), "data:"]
    lines += ["  {0}: {1}".format(k, v) for k, v in data.items()] or ["  {}"]
    path.write_text("\n".join(lines) + "\n")
    return {"kind": kind, "name": name, "path": str(path), "action": action, "key": "{0}/{1}".format(kind, name)}


def test_changed_secrets_compares_the_restored_ones_with_their_archived_files(tmp_path):
    plan = [planned(tmp_path, "kept", {"k": "YQ=="}), planned(tmp_path, "regenerated", {"k": "YQ=="}, "update"),
            planned(tmp_path, "skipped", {"k": "YQ=="}, "skip"), planned(tmp_path, "cm", {"k": "YQ=="}, kind="ConfigMap")]
    live = [{"metadata": {"name": "kept"}, "data": {"k": "YQ=="}},
            {"metadata": {"name": "regenerated"}, "data": {"k": "bmV3"}},
            {"metadata": {"name": "skipped"}, "data": {"k": "b3RoZXI="}}]
    assert restore_operator.restore_changed_secrets(live, plan) == ["regenerated"]


def test_an_unreadable_archived_secret_is_named_without_its_content(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: {k: 'c2VjcmV0\n")
    with pytest.raises(AnsibleFilterError) as caught:
        restore_operator.restore_changed_secrets([], [{"kind": "Secret", "name": "bad", "path": str(bad),
                                                      "action": "create"}])
    assert str(bad) in str(caught.value) and "c2VjcmV0" not in str(caught.value)


def test_pause_and_settings_filters():
    paused = restore_operator.restore_operator_pause({"spec": {"replicas": 1,
                                                               "selector": {"matchLabels": {"app": "op"}}}})
    assert paused == {"selector": "app=op", "replicas": 1, "stopped": False, "interrupted": False}
    assert restore_operator.restore_operator_settings({"name": "a", "components": []}, "sf") == {}


def test_scale_patch_filter_names_the_deployment():
    stop = restore_operator.restore_operator_scale_patch(2, "op", "ops", True)
    assert stop == {"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": "op", "namespace": "ops",
                                 "annotations": {"statesafe.backup/operator-replicas": "2"}},
                    "spec": {"replicas": 0}}
    start = restore_operator.restore_operator_scale_patch(2, "op", "ops", False)
    assert start["spec"] == {"replicas": 2}
    assert start["metadata"]["annotations"] == {"statesafe.backup/operator-replicas": None}
