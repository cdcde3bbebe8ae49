from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.statesafe.backup.plugins.module_utils.profile import operator, restore
from ansible_collections.statesafe.backup.plugins.module_utils.profile.schema import validate


def profile(**op):
    return {"name": "app", "components": [
        {"name": "config", "type": "resources", "resources": [{"kind": "Secret"}]},
        {"name": "db", "type": "dump", "pod": "db-0", "command": "dump", "restore_command": "load"},
        {"name": "cr", "type": "resources", "resources": [{"kind": "App", "api_version": "x/v1"}]},
        {"name": "late", "type": "resources", "restore_phase": "last", "resources": [{"kind": "ConfigMap"}]}],
        "operator": op}


# ---------------------------------------------------------------- schema


def test_a_whole_operator_is_valid():
    assert validate(profile(deployment="op", namespace="ops", resources=["cr"], settle=0,
                            workloads=[{"kind": "StatefulSet", "name": "db"}, {"kind": "Deployment", "name": "w"}])) == []


@pytest.mark.parametrize("op, problem", [
    ({"resources": ["cr"]}, "operator.deployment: required (the operator's Deployment, stopped while data is written)"),
    ({"deployment": "op"}, "operator.resources: required (the resources components holding what the operator "
                           "reconciles)"),
    ({"deployment": "op", "resources": []}, "operator.resources: must be a non-empty list of strings, got []"),
    ({"deployment": "op", "resources": ["nope"]}, "operator.resources[0]: 'nope' is not a component of the profile"),
    ({"deployment": "op", "resources": ["db"]},
     "operator.resources[0]: 'db' is a dump component; only resources components hold what an operator reconciles"),
    ({"deployment": "op", "resources": ["late"]},
     "operator.resources[0]: 'late' has restore_phase last, but the operator's resources are applied before the data: "
     "leave restore_phase out"),
    ({"deployment": "op", "resources": ["cr"], "workloads": [{"kind": "Job", "name": "j"}]},
     "operator.workloads[0].kind: 'Job' is not one of StatefulSet, Deployment"),
    ({"deployment": "op", "resources": ["cr"], "workloads": [{"kind": "StatefulSet"}]},
     "operator.workloads[0].name: required"),
    ({"deployment": "op", "resources": ["cr"], "settle": -1},
     "operator.settle: must be a number of seconds (0 or more), got -1"),
    ({"deployment": "op", "resources": ["cr"], "pause": "annotation"},
     "operator.pause: unknown key (expected one of deployment, namespace, resources, workloads, settle)"),
    ({"deployment": "op", "resources": ["cr"], "namespace": "Ops"}, "operator.namespace: 'Ops' is not a namespace name"),
])
def test_operator_problems_name_their_key_path(op, problem):
    assert validate(profile(**op)) == [problem]


def test_operator_must_be_a_mapping():
    broken = profile()
    broken["operator"] = ["op"]
    assert validate(broken) == ["operator: must be a mapping, got a list"]


# ---------------------------------------------------------------- settings and phases


def test_settings_with_defaults_and_none_without_an_operator():
    assert operator.settings(profile(deployment="op", resources=["cr"]), "sf") == {
        "deployment": "op", "namespace": "sf", "resources": ["cr"], "workloads": [], "settle": 10}
    assert operator.settings(profile(deployment="op", namespace="ops", resources=["cr"], settle=0,
                                     workloads=[{"kind": "StatefulSet", "name": "db"}]), "sf") == {
        "deployment": "op", "namespace": "ops", "resources": ["cr"],
        "workloads": [{"kind": "StatefulSet", "name": "db"}], "settle": 0}
    assert operator.settings({"name": "app", "components": []}, "sf") == {}
    assert operator.settings({"name": "app", "components": [], "operator": None}, "sf") == {}


def test_the_operators_resources_are_applied_in_their_own_phase():
    components = profile()["components"]
    files = [{"path": "/t/resources/Secret/s.yaml"}, {"path": "/t/resources/App/a.yaml"},
             {"path": "/t/resources/ConfigMap/c.yaml"}]
    phases = {o["name"]: o["phase"] for o in restore.archived_objects(components, files, ["cr"])}
    assert phases == {"s": "early", "a": "operator", "c": "last"}
    # Without an operator the component keeps its own phase: the operator-less path is unchanged.
    assert {o["name"]: o["phase"] for o in restore.archived_objects(components, files)} == {
        "s": "early", "a": "early", "c": "last"}


# ---------------------------------------------------------------- workloads and the operator's Deployment


def workload(kind="StatefulSet", replicas=1, ready=1, generation=2, observed=2):
    counted = "availableReplicas" if kind == "Deployment" else "readyReplicas"
    return {"kind": kind, "metadata": {"generation": generation}, "spec": {"replicas": replicas},
            "status": {"observedGeneration": observed, counted: ready}}


@pytest.mark.parametrize("obj, ready", [
    (workload(), True),
    (workload(ready=0), False),
    (workload(observed=1), False),
    (workload(replicas=3, ready=3), True),
    (workload("Deployment"), True),
    (workload("Deployment", ready=0), False),
    ({"kind": "StatefulSet", "metadata": {"generation": 1}, "spec": {"replicas": 1}, "status": {}}, False),
    ({"kind": "Deployment", "metadata": {"generation": 1}, "spec": {"replicas": 0},
      "status": {"observedGeneration": 1}}, True),
])
def test_workload_ready(obj, ready):
    assert operator.workload_ready(obj) is ready
    assert operator.found_ready([obj]) is ready


def test_found_ready_needs_exactly_one():
    assert not operator.found_ready([])
    assert not operator.found_ready(None)
    assert not operator.found_ready([workload(), workload()])


def test_pause_selector_and_replicas():
    deployment = {"spec": {"replicas": 2, "selector": {"matchLabels": {"b": "2", "a": "1"}}}}
    assert operator.pod_selector(deployment) == "a=1,b=2"
    assert operator.replicas_to_restore(deployment) == 2
    # An operator found at 0 is started with 1: at 0 it reconciles nothing and the Secret check would prove nothing.
    assert operator.replicas_to_restore({"spec": {"replicas": 0}}) == 1
    assert operator.replicas_to_restore({"spec": {}}) == 1


def annotated(replicas, value):
    return {"metadata": {"annotations": {operator.STOPPED_ANNOTATION: value}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "op"}}}}


def test_an_operator_a_killed_restore_stopped_is_given_back_the_count_it_recorded():
    assert operator.pause(annotated(0, "3")) == {"selector": "app=op", "replicas": 3, "stopped": True,
                                                 "interrupted": True}
    # Killed between its stop and the pods' end, or started by hand since: still the recorded count.
    assert operator.pause(annotated(1, "3"))["replicas"] == 3
    assert operator.pause(annotated(1, "3"))["stopped"] is False


@pytest.mark.parametrize("value", ["0", "-2", "two", "", None])
def test_a_record_that_is_not_a_positive_count_is_ignored(value):
    assert operator.pause(annotated(0, value)) == {"selector": "app=op", "replicas": 1, "stopped": True,
                                                   "interrupted": False}


def test_an_operator_stopped_by_hand_is_stopped_but_not_interrupted():
    assert operator.pause({"spec": {"replicas": 0}}) == {"selector": "", "replicas": 1, "stopped": True,
                                                         "interrupted": False}


def test_stop_and_start_patches_carry_the_record_with_the_replicas():
    assert operator.stop_patch(2) == {"metadata": {"annotations": {operator.STOPPED_ANNOTATION: "2"}},
                                      "spec": {"replicas": 0}}
    assert operator.start_patch("2") == {"metadata": {"annotations": {operator.STOPPED_ANNOTATION: None}},
                                         "spec": {"replicas": 2}}


# ---------------------------------------------------------------- restored Secrets after the operator reconciled


def secret(name, **data):
    return {"metadata": {"name": name}, "data": data}


def test_changed_secrets_names_regenerated_rewritten_and_gone_ones():
    archived = {"same": {"k": "YQ=="}, "regenerated": {"k": "YQ=="}, "gone": {"k": "YQ=="},
                "extra-key": {"k": "YQ=="}, "empty": {}}
    live = [secret("same", k="YQ=="), secret("regenerated", k="Yg=="), secret("extra-key", k="YQ==", x="eA=="),
            {"metadata": {"name": "empty"}}, secret("not-restored", k="Yw==")]
    assert operator.changed_secrets(archived, live) == ["extra-key", "gone", "regenerated"]
    assert operator.changed_secrets({}, live) == []
    assert operator.changed_secrets(archived, []) == sorted(archived)


def test_the_message_names_namespace_and_secret_and_no_value():
    settings = {"deployment": "op", "namespace": "ops"}
    message = operator.regenerated_message(["a", "zuul-db"], "sf", settings)
    assert "Deployment ops/op" in message
    assert "sf/Secret/a, sf/Secret/zuul-db" in message
    assert "2 restored Secret(s)" in message
    assert "running it again with the same archive" in message
