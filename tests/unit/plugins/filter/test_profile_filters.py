"""The filter plugins are thin: they hand their arguments to the tested functions and turn misuse into filter errors."""

from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.statesafe.backup.plugins.filter import (
    archives, backup_hooks, backup_resources, profile, restore, verify_check)

ROOT = Path(__file__).resolve().parents[4]
SF = yaml.safe_load((ROOT / "profiles" / "softwarefactory.yml").read_text())


def test_every_filter_has_its_documentation():
    names = set()
    for module in (archives, backup_hooks, backup_resources, profile, restore, verify_check):
        names |= set(module.FilterModule().filters())
    for name in names:
        doc = yaml.safe_load((ROOT / "plugins" / "filter" / (name + ".yml")).read_text())
        assert doc["DOCUMENTATION"]["name"] == name


def test_profile_errors_and_access():
    assert profile.profile_errors(SF) == []
    assert profile.profile_errors({"name": "x"}) == ["components: required (a non-empty list)"]
    checks = profile.profile_access(SF, True)
    assert {"verb": "list", "kind": "SoftwareFactory", "api_version": "sf.softwarefactory-project.io/v1"} in checks
    with pytest.raises(AnsibleFilterError, match="components: required"):
        profile.profile_access({"name": "x"})


def test_policy_rules_wants_the_reviews():
    with pytest.raises(AnsibleFilterError):
        profile.policy_rules({"reviews": []})
    assert profile.policy_rules([{"verb": "get", "resource": "pods"}], []) == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]


def test_verify_check_from_loop_results():
    exec_results = [{"__verify_ns": "s", "results": [{"rc": 0, "stdout": "ok\n", "stderr": ""}]}]
    assert verify_check.verify_check(exec_results, {"name": "c", "pod": "p", "expect": "ok"}, "s", "src")["ok"]
    local = [{"__verify_ns": "s", "rc": 0, "stdout": "1"}, {"__verify_ns": "src", "rc": 0, "stdout": "2"}]
    result = verify_check.verify_check(local, {"name": "c", "local": ["x"], "compare": "source"}, "s", "src")
    assert not result["ok"] and "differs" in result["msg"]
    with pytest.raises(AnsibleFilterError):
        verify_check.verify_check([], {"name": "c"}, "s", "src")


def test_restore_filters():
    components = [c for c in SF["components"] if c["name"] == "softwarefactory"]
    files = [{"path": "/t/resources/SoftwareFactory/sf.yaml"}]
    objects = restore.restore_objects(components, files)
    assert [o["name"] for o in objects] == ["sf"]
    ready = restore.restore_ready_objects(components, [dict(objects[0], key="SoftwareFactory/sf")], "0", "600")
    assert ready[0]["timeout"] == 1200


def test_restore_definitions_read_each_file_into_the_target_namespace(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: old}\ndata: {k: dg==}\n")
    assert restore.restore_definitions([{"path": str(path)}], "new") == [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "new"}, "data": {"k": "dg=="}}]
    with pytest.raises(AnsibleFilterError, match="cannot read the archived object .*missing.yaml"):
        restore.restore_definitions([{"path": str(tmp_path / "missing.yaml")}], "new")


def test_restore_definitions_carry_the_mark_asked_for_and_unmark_patches_remove_it(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, annotations: {a: b}}\ndata: {k: v}\n")
    marked = restore.restore_definitions([{"path": str(path)}], "new", "3f1c2d4e")
    assert marked[0]["metadata"] == {"name": "c", "namespace": "new",
                                     "annotations": {"a": "b", "statesafe.backup/restoring": "3f1c2d4e"}}
    assert restore.restore_unmark_patches([{"api_version": "v1", "kind": "ConfigMap", "name": "c"}], "new") == [
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": "c", "namespace": "new", "annotations": {"statesafe.backup/restoring": None}}}]


def test_restore_definitions_never_quote_a_broken_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("kind: Secret\ndata: {k: s3cr3t-value\n")
    with pytest.raises(AnsibleFilterError) as raised:
        restore.restore_definitions([{"path": str(path)}], "new")
    assert "is not valid YAML (line" in str(raised.value) and "s3cr3t-value" not in str(raised.value)
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    with pytest.raises(AnsibleFilterError, match="is not a mapping"):
        restore.restore_definitions([{"path": str(listed)}], "new")


def test_archive_listing_is_the_listing_of_bup_archives():
    listed = [{"name": "n", "commit": "c" * 40, "timestamp": 5, "size": 1, "complete": True}]
    assert archives.archive_listing(listed) == ["n  cccccccccccc  1  complete"]


PG = yaml.safe_load((ROOT / "profiles" / "postgresql.yml").read_text())


def test_profile_errors_checks_the_given_parameters():
    assert profile.profile_errors(PG) == []
    assert profile.profile_errors(PG, {}) == []
    assert profile.profile_errors(PG, {"statefulset": "db-postgresql"}) == []
    assert profile.profile_errors(PG, {"stateful_set": "db"}) == [
        "profile 'postgresql' has no parameter 'stateful_set' (its parameters: container, password_variable, "
        "selector, statefulset, superuser)"]


def test_profile_parameters_and_resolve():
    values = profile.profile_parameters(PG, {"statefulset": "db"}, {"statefulset": "old", "container": "pg"})
    assert values["statefulset"] == "db" and values["container"] == "pg" and values["selector"] == \
        "app.kubernetes.io/part-of=postgresql"
    resolved = profile.profile_resolve(PG, {"statefulset": "db"})
    assert "parameters" not in resolved
    assert next(c for c in resolved["components"] if c["type"] == "dump")["pod"] == "db-0"
    assert profile.profile_resolve(SF) == SF
    with pytest.raises(AnsibleFilterError, match="has no parameter 'x'"):
        profile.profile_parameters(PG, {"x": "y"})
    with pytest.raises(AnsibleFilterError, match="The profile is not valid: parameter 'statefulset' of profile "
                                                 "'postgresql': 'a;b' is not a Kubernetes name"):
        profile.profile_resolve(PG, {"statefulset": "a;b"})


def test_profile_listing():
    listed = profile.profile_listing([PG, SF])
    assert [item["name"] for item in listed] == ["postgresql", "softwarefactory"]
    assert listed[1]["parameters"] == []
    assert {"name": "statefulset", "default": "postgresql", "type": "name"}.items() <= listed[0]["parameters"][3].items()
    with pytest.raises(AnsibleFilterError, match="expects a list"):
        profile.profile_listing(PG)
