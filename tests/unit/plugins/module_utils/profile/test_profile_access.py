from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.statesafe.backup.plugins.module_utils.profile.access import (
    DUMP_VERBS, HOOK_VERBS, VOLUME_VERBS, needed_access, policy_rules)


def profile(**extra):
    data = {"name": "app", "components": [
        {"name": "config", "type": "resources", "resources": [{"kind": "Secret"}, {"kind": "SF", "api_version": "x/v1"}]},
        {"name": "db", "type": "dump"},
        {"name": "db2", "type": "dump"},
        {"name": "data", "type": "volume"}]}
    data.update(extra)
    return data


def test_kinds_then_each_verb_once_in_order():
    checks = needed_access(profile(), hooks_from_annotations=False)
    assert checks[:2] == [{"verb": "list", "kind": "Secret", "api_version": "v1"},
                          {"verb": "list", "kind": "SF", "api_version": "x/v1"}]
    assert checks[2:5] == DUMP_VERBS
    assert checks[5:] == [v for v in VOLUME_VERBS if v not in DUMP_VERBS]
    assert len(checks) == len(set(tuple(sorted(c.items())) for c in checks))


def test_hooks_need_list_and_exec():
    without = needed_access(profile(), False)
    annotations = needed_access(profile(), True)
    assert {"verb": "list", "resource": "pods"} in annotations
    hooked = needed_access(profile(components=[], hooks={"pre": [{"pod": "p", "command": "x"}]}), False)
    assert hooked == HOOK_VERBS
    assert needed_access(profile(components=[], hooks={"pre": [], "post": []}), False) == []
    assert without != annotations or {"verb": "list", "resource": "pods"} in without


def test_an_empty_profile_needs_nothing():
    assert needed_access({}, False) == [] and needed_access(None, False) == []


def test_policy_rules_group_by_group_and_resource():
    reviews = [{"verb": "list", "group": "", "resource": "secrets"},
               {"verb": "get", "group": "", "resource": "pods", "subresource": "exec"},
               {"verb": "create", "group": "", "resource": "pods", "subresource": "exec"},
               {"verb": "list", "group": "apps", "resource": "statefulsets"},
               {"verb": "get", "resource": "pods"},
               {"verb": "get", "group": "", "resource": "pods"}]
    # Sorted as '<group>|<resource>' strings: the named groups first, then the core group.
    assert policy_rules(reviews, [{"apiGroups": [""], "resources": ["events"], "verbs": ["list"]}]) == [
        {"apiGroups": ["apps"], "resources": ["statefulsets"], "verbs": ["list"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create", "get"]},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["list"]}]
    assert policy_rules([]) == []


def test_a_dump_of_a_workload_reads_the_workload_and_lists_its_pods():
    checks = needed_access({"components": [{"name": "d", "type": "dump", "workload": "db",
                                            "workload_kind": "Deployment", "command": "x"}]}, False)
    assert {"verb": "get", "kind": "Deployment", "api_version": "apps/v1"} in checks
    assert {"verb": "list", "resource": "pods"} in checks
    assert {"verb": "create", "resource": "pods", "subresource": "exec"} in checks
