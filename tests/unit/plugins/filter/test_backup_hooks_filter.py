from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.statesafe.backup.plugins.filter.backup_hooks import backup_freeze_seconds, backup_hooks

POD = {"metadata": {"name": "db-0", "namespace": "shop",
                    "annotations": {"pre.hook.backup.velero.io/command": '["freeze"]',
                                    "post.hook.backup.velero.io/command": '["thaw"]'}},
       "spec": {"containers": [{"name": "db"}],
                "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data-db-0"}}]},
       "status": {"phase": "Running"}}
COMPONENTS = [{"name": "config", "type": "resources"}, {"name": "data", "type": "volume", "claim": "data-db-0"}]


def test_without_components_the_hooks_are_run_wide_as_before():
    hooks = backup_hooks([POD])
    assert [h["name"] for h in hooks["pre"]] == ["shop/db-0 pre-hook"]
    assert "by_component" not in hooks


def test_with_components_the_pod_is_frozen_around_its_volume_only():
    hooks = backup_hooks([POD], {}, COMPONENTS)
    assert hooks["pre"] == [] and hooks["post"] == []
    assert [h["argv"] for h in hooks["by_component"]["data"]["pre"]] == [["freeze"]]
    assert [h["argv"] for h in hooks["pending"]] == [["thaw"]]


def test_bad_input_is_a_filter_error():
    with pytest.raises(AnsibleFilterError, match="components"):
        backup_hooks([POD], {}, "data")
    bad = dict(POD, metadata=dict(POD["metadata"], annotations={"pre.hook.backup.velero.io/on-error": "Fail"}))
    with pytest.raises(AnsibleFilterError, match="invalid backup hook.*pre.hook.backup.velero.io/command is missing"):
        backup_hooks([bad])
    with pytest.raises(AnsibleFilterError, match="two mappings"):
        backup_freeze_seconds([], {})
    with pytest.raises(AnsibleFilterError):
        backup_freeze_seconds({"db-0": "soon"}, {"db-0": 1.0})


def test_freeze_seconds():
    assert backup_freeze_seconds({"db-0": 10.0}, {"db-0": 12.5}) == {"db-0": 2.5}


def test_a_max_freeze_is_armed_and_disarmed_with_the_run_token():
    released = dict(POD, metadata=dict(POD["metadata"], annotations=dict(POD["metadata"]["annotations"], **{
        "statesafe.backup/max-freeze": "5m"})))
    hooks = backup_hooks([released], {}, COMPONENTS, token="run-1")
    assert [h["name"] for h in hooks["by_component"]["data"]["pre"]] == [
        "shop/db-0 pre-hook", "shop/db-0 release armed (max-freeze 300s)"]
    assert [h["name"] for h in hooks["pending"]] == ["shop/db-0 release disarmed", "shop/db-0 post-hook"]
    with pytest.raises(AnsibleFilterError, match="release token"):
        backup_hooks([released], {}, COMPONENTS)
