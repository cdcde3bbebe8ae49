from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.statesafe.backup.plugins.module_utils.profile.access import VOLUME_VERBS, needed_access
from ansible_collections.statesafe.backup.plugins.module_utils.profile.schedule_rbac import (
    kind_checks, namespace_mode_access, own_objects, without_own_objects)


def discovered(**profile):
    base = {"name": "namespace", "components": [
        {"name": "config", "type": "resources", "resources": [
            {"kind": "ConfigMap", "api_version": "v1", "names": ["settings"]},
            {"kind": "Secret", "api_version": "v1", "names": ["credentials"]}]},
        {"name": "volume-web-data", "type": "volume", "claim": "web-data"}]}
    base.update(profile)
    return {"profile": base, "kinds": ["apps/v1/Deployment", "sfn.example.org/v1/Widget", "v1/ConfigMap",
                                       "v1/Pod", "v1/Secret"]}


def test_kind_checks_split_group_version_from_kind():
    assert kind_checks(["v1/Secret", "apps/v1/Deployment", "sfn.example.org/v1beta1/Widget"], "get") == [
        {"verb": "get", "kind": "Secret", "api_version": "v1"},
        {"verb": "get", "kind": "Deployment", "api_version": "apps/v1"},
        {"verb": "get", "kind": "Widget", "api_version": "sfn.example.org/v1beta1"}]


def test_kind_checks_each_once_and_nothing_for_nothing():
    assert kind_checks(["v1/Secret", "v1/Secret"], "list") == [{"verb": "list", "kind": "Secret", "api_version": "v1"}]
    assert kind_checks([], "list") == [] and kind_checks(None, "list") == []


@pytest.mark.parametrize("bad", ["Secret", "v1/", "/Secret"])
def test_kind_checks_refuse_what_is_not_an_api_version_and_kind(bad):
    with pytest.raises(ValueError, match="namespace_discover"):
        kind_checks([bad], "list")


def test_a_run_needs_the_components_verbs_then_list_on_every_listed_kind():
    found = discovered()
    checks = namespace_mode_access(found, hooks_from_annotations=True)
    components = needed_access(found["profile"], True)
    assert checks[:len(components)] == components
    assert [c for c in VOLUME_VERBS if c not in checks] == []
    # Listed kinds with nothing backed up (Deployment here, Pods left to their owners) are listed by every run too.
    assert checks[len(components):] == [
        {"verb": "list", "kind": "Deployment", "api_version": "apps/v1"},
        {"verb": "list", "kind": "Widget", "api_version": "sfn.example.org/v1"},
        {"verb": "list", "kind": "Pod", "api_version": "v1"}]
    assert len(checks) == len(set(tuple(sorted(c.items())) for c in checks))


def test_no_claim_no_volume_verbs():
    found = discovered(components=[{"name": "config", "type": "resources", "resources": [{"kind": "ConfigMap"}]}])
    checks = namespace_mode_access(found, hooks_from_annotations=False)
    assert {"verb": "create", "resource": "pods"} not in checks
    assert {"verb": "list", "kind": "Secret", "api_version": "v1"} in checks


def test_the_schedules_own_objects_by_name():
    entries = own_objects("nightly", "nightly-restore", "nightly-data")
    by_kind = {entry["kind"]: entry for entry in entries}
    assert by_kind["PersistentVolumeClaim"]["names"] == ["nightly-data"]
    assert by_kind["CronJob"] == {"kind": "CronJob", "api_version": "batch/v1", "names": ["nightly"]}
    assert by_kind["Role"]["names"] == by_kind["RoleBinding"]["names"] == ["nightly", "nightly-restore"]
    assert all(entry["names"] for entry in entries)


def test_the_runs_profile_keeps_the_users_exclusions_and_adds_the_schedules():
    profile = {"name": "namespace", "discover": {"exclude": [{"kind": "Secret", "names": ["scratch"]}]}}
    run = without_own_objects(profile, "s", "s-restore", "s-data")
    assert run["discover"]["exclude"][0] == {"kind": "Secret", "names": ["scratch"]}
    assert run["discover"]["exclude"][1:] == own_objects("s", "s-restore", "s-data")
    assert profile["discover"]["exclude"] == [{"kind": "Secret", "names": ["scratch"]}]  # a copy
    assert without_own_objects(run, "s", "s-restore", "s-data") == run


@pytest.mark.parametrize("discover", [None, {}, {"exclude": None}, {"exclude": []}])
def test_an_empty_discover_gets_the_schedules_exclusions(discover):
    run = without_own_objects({"name": "namespace", "discover": discover}, "s", "s-restore", "s-data")
    assert run["discover"]["exclude"] == own_objects("s", "s-restore", "s-data")


def test_a_profile_without_discover_is_left_as_it_is():
    profile = {"name": "app", "components": [{"name": "config", "type": "resources", "resources": [{"kind": "Secret"}]}]}
    assert without_own_objects(profile, "s", "s-restore", "s-data") is profile


def test_the_runs_profile_is_valid():
    from ansible_collections.statesafe.backup.plugins.module_utils.profile import schema
    run = without_own_objects({"name": "namespace", "discover": {"exclude": []}}, "s", "s-restore", "s-data")
    assert schema.validate(run) == []


def test_the_filters_name_a_bad_input():
    from ansible.errors import AnsibleFilterError
    from ansible_collections.statesafe.backup.plugins.filter import schedule_rbac as filters
    with pytest.raises(AnsibleFilterError, match="namespace_discover"):
        filters.schedule_namespace_access({"kinds": []})
    with pytest.raises(AnsibleFilterError, match="namespace_discover"):
        filters.schedule_kind_checks(["Secret"], "get")
    assert filters.schedule_namespace_access(discovered(), False) == namespace_mode_access(discovered(), False)
