from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.statesafe.backup.plugins.module_utils.profile import restore

COMPONENTS = [
    {"name": "config", "type": "resources", "resources": [{"kind": "Secret"}, {"kind": "ConfigMap"}]},
    {"name": "db", "type": "dump"},
    {"name": "cr", "type": "resources", "restore_phase": "last", "ready": {"condition": "Ready", "timeout": 9},
     "resources": [{"kind": "SF", "api_version": "x/v1"}]},
]
FILES = [{"path": "/t/resources/Secret/b.yaml"}, {"path": "/t/resources/ConfigMap/c.yaml"},
         {"path": "/t/resources/Secret/a.yaml"}, {"path": "/t/resources/SF/sf.yaml"}]


def test_archived_objects_in_profile_order_files_sorted():
    assert restore.archived_objects(COMPONENTS, FILES) == [
        {"component": "config", "phase": "early", "api_version": "v1", "kind": "Secret", "name": "a",
         "path": "/t/resources/Secret/a.yaml"},
        {"component": "config", "phase": "early", "api_version": "v1", "kind": "Secret", "name": "b",
         "path": "/t/resources/Secret/b.yaml"},
        {"component": "config", "phase": "early", "api_version": "v1", "kind": "ConfigMap", "name": "c",
         "path": "/t/resources/ConfigMap/c.yaml"},
        {"component": "cr", "phase": "last", "api_version": "x/v1", "kind": "SF", "name": "sf",
         "path": "/t/resources/SF/sf.yaml"}]
    assert restore.archived_objects(COMPONENTS, []) == []


def test_ready_objects_and_their_timeout():
    plan = [{"component": "config", "key": "Secret/a"}, {"component": "cr", "key": "SF/sf"}]
    assert restore.ready_objects(COMPONENTS, plan, 0, 600) == [
        {"component": "cr", "key": "SF/sf", "ready": {"condition": "Ready", "timeout": 9}, "timeout": 9}]
    assert restore.ready_objects(COMPONENTS, plan, 30, 600)[0]["timeout"] == 30
    no_timeout = [dict(COMPONENTS[2], ready={"path": "status.ready"})]
    assert restore.ready_objects(no_timeout, plan, 0, 600)[0]["timeout"] == 600


def test_object_ready_by_condition_or_path():
    cond = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    assert restore.object_ready([cond], {"condition": "Ready"})
    assert not restore.object_ready([cond], {"condition": "Synced"})
    assert not restore.object_ready([], {"condition": "Ready"})
    assert not restore.object_ready([cond, cond], {"condition": "Ready"})
    assert restore.object_ready([{"status": {"ready": True}}], {"path": "status.ready"})
    assert not restore.object_ready([{"status": {}}], {"path": "status.ready"})
    assert restore.object_ready([{"status": {"phase": "Up"}}], {"path": "status.phase", "value": "Up"})
    assert restore.object_ready([{"status": {}}], {"path": "status.phase", "value": None})


def sts(name, generation=2, observed=2, replicas=1, ready=1, updated=1):
    return {"metadata": {"name": name, "generation": generation},
            "spec": {"replicas": replicas},
            "status": {"observedGeneration": observed, "readyReplicas": ready, "updatedReplicas": updated}}


def test_unready_statefulsets():
    found = [sts("a"), sts("b", observed=1), sts("c", ready=0), sts("d", updated=0),
             {"metadata": {"name": "e", "generation": 1}, "spec": {"replicas": 0}, "status": {}},
             {"metadata": {"name": "z", "generation": 1}, "spec": {"replicas": 0}, "status": {"observedGeneration": 1}}]
    # e: its controller has not seen it yet; z: scaled to 0 and observed, so ready; f: missing.
    assert restore.unready_statefulsets(found, ["a", "b", "c", "d", "e", "z", "f"]) == ["b", "c", "d", "e", "f"]
    assert restore.unready_statefulsets([], []) == []


def test_data_components_keep_what_the_plan_reads():
    components = COMPONENTS + [{"name": "data", "type": "volume", "claim": "c", "statefulset": "s", "path": "/",
                                "revision": {"command": "x", "pod": "p"}}]
    assert restore.data_components(components) == [
        {"name": "db", "type": "dump", "loads": False},
        {"name": "data", "type": "volume", "statefulset": "s", "claim": "c", "workload_kind": "StatefulSet",
         "workload_name": "s"}]


@pytest.mark.parametrize("component, expected", [
    ({"statefulset": "db"}, ("StatefulSet", "db")),
    ({"workload": "db"}, ("StatefulSet", "db")),
    ({"workload": "web", "workload_kind": "Deployment"}, ("Deployment", "web")),
    ({"workload": "rs", "workload_kind": "ReplicaSet"}, ("ReplicaSet", "rs")),
    ({}, (None, None)),
])
def test_a_component_names_its_workload_with_a_kind_statefulset_by_default(component, expected):
    assert restore.component_workload(dict(component, name="data", type="volume", claim="c")) == expected


def test_data_components_give_every_workload_as_kind_and_name_and_none_for_an_unused_claim():
    components = [{"name": "web", "type": "volume", "claim": "web-data", "workload": "web", "workload_kind": "Deployment"},
                  {"name": "spare", "type": "volume", "claim": "spare"}]
    assert restore.data_components(components) == [
        {"name": "web", "type": "volume", "claim": "web-data", "workload_kind": "Deployment", "workload_name": "web"},
        {"name": "spare", "type": "volume", "claim": "spare"}]


def test_deletion_targets_name_each_object_in_the_target_namespace():
    objects = [{"api_version": "apps/v1", "kind": "StatefulSet", "name": "db", "path": "/x", "action": "recreate"}]
    assert restore.deletion_targets(objects, "sf2") == [
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": "sf2"}}]
    assert restore.deletion_targets([], "sf2") == []


def test_in_namespace_places_a_copy_and_keeps_the_rest():
    document = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "old", "labels": {"a": "b"}},
                "data": {"k": "dg=="}}
    placed = restore.in_namespace(document, "new")
    assert placed == {"apiVersion": "v1", "kind": "Secret", "data": {"k": "dg=="},
                      "metadata": {"name": "s", "namespace": "new", "labels": {"a": "b"}}}
    assert document["metadata"]["namespace"] == "old", "the archive's own definition was changed"
    assert restore.in_namespace({"kind": "ConfigMap"}, "n")["metadata"] == {"namespace": "n"}


def test_not_ready_message_names_the_object_the_wait_and_the_status():
    waiting = {"key": "SoftwareFactory/my-sf", "timeout": 6, "ready": {"path": "status.ready", "value": True}}
    failed = {"failed": True, "__restore_object": waiting, "resources": [{"status": {"ready": False}}]}
    loop = {"results": [{"failed": False}, failed]}
    assert restore.not_ready_message(loop, "sf") == (
        "SoftwareFactory/my-sf in namespace sf is not ready after 6 s: waited for status.ready == true; its status is "
        '{"ready": false}. Everything before it was restored; a controller that reconciles it should set that status.')
    by_condition = dict(waiting, ready={"condition": "Ready"})
    unread = {"failed": True, "__restore_object": by_condition, "msg": "Forbidden"}
    assert ("waited for condition Ready True; its status is {} (Forbidden)."
            in restore.not_ready_message({"results": [unread]}, "sf"))
    empty = {"failed": True, "__restore_object": waiting, "resources": []}
    assert "its status is {}. Everything" in restore.not_ready_message(empty, "sf")


def test_a_dump_names_its_workload_and_whether_it_can_be_loaded():
    components = [{"name": "dump-db", "type": "dump", "workload": "db", "workload_kind": "Deployment",
                   "command": "dump", "restore_command": "load", "extension": "sql"},
                  {"name": "dump-tool", "type": "dump", "pod": "tool", "command": "dump"}]
    assert restore.data_components(components) == [
        {"name": "dump-db", "type": "dump", "extension": "sql", "workload_kind": "Deployment", "workload_name": "db",
         "loads": True},
        {"name": "dump-tool", "type": "dump", "pod": "tool", "loads": False}]
