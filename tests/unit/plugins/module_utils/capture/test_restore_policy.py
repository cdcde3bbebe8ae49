from __future__ import absolute_import, division, print_function

__metaclass__ = type

import itertools
import json

import pytest

from ansible_collections.statesafe.backup.plugins.module_utils.capture import restore_policy as rp

EXPECTED = {
    # (present, policy): action
    (False, "fail"): "create",
    (False, "skip"): "create",
    (False, "update"): "create",
    (False, "recreate"): "create",
    (True, "fail"): "refuse",
    (True, "skip"): "skip",
    (True, "update"): "update",
    (True, "recreate"): "recreate",
}
EXPECTED_DATA = {
    (False, "fail"): "restore",
    (False, "skip"): "restore",
    (False, "update"): "restore",
    (False, "recreate"): "restore",
    (True, "fail"): "refuse",
    (True, "skip"): "skip",
    (True, "update"): "overwrite",
    (True, "recreate"): "overwrite",
}
SECRET_VALUE = "c3VwZXItc2VjcmV0"  # base64 of a password that must never be shown
NEW_SECRET_VALUE = "bmV3LXNlY3JldA=="


def test_the_tables_cover_every_case():
    cases = set(itertools.product((False, True), rp.POLICIES))
    assert set(EXPECTED) == cases == set(EXPECTED_DATA)
    assert set(EXPECTED.values()) == set(rp.OBJECT_ACTIONS)
    # "leave" is no policy's: a dump without a restore command (tested below).
    assert set(EXPECTED_DATA.values()) | {"leave"} == set(rp.DATA_ACTIONS)


@pytest.mark.parametrize("present, policy", sorted(EXPECTED))
def test_decide(present, policy):
    assert rp.decide(present, policy) == EXPECTED[(present, policy)]


@pytest.mark.parametrize("present, policy", sorted(EXPECTED_DATA))
def test_decide_data(present, policy):
    assert rp.decide_data(present, policy) == EXPECTED_DATA[(present, policy)]


@pytest.mark.parametrize("function", [rp.decide, rp.decide_data])
@pytest.mark.parametrize("present", [False, True])
def test_unknown_policy_is_refused_even_for_absent_objects(function, present):
    with pytest.raises(rp.PolicyError, match="unknown restore policy 'overwrite'"):
        function(present, "overwrite")


@pytest.mark.parametrize("kind, by_kind, expected", [
    ("Secret", {}, "fail"),
    ("Secret", None, "fail"),
    ("Secret", {"Secret": "skip"}, "skip"),
    ("ConfigMap", {"Secret": "skip"}, "fail"),
    ("StatefulSet", {"Secret": "skip", "StatefulSet": "recreate"}, "recreate"),
    # Kinds are matched exactly as the API spells them.
    ("secret", {"Secret": "skip"}, "fail"),
])
def test_policy_for(kind, by_kind, expected):
    assert rp.policy_for(kind, "fail", by_kind) == expected


def test_check_policies_names_every_wrong_one():
    rp.check_policies("skip", {"Secret": "recreate", "ConfigMap": "update"})
    with pytest.raises(rp.PolicyError) as info:
        rp.check_policies("drop", {"Secret": "keep", "ConfigMap": "update"})
    message = str(info.value)
    assert "policy='drop'" in message and "Secret='keep'" in message and "ConfigMap" not in message
    assert "fail, skip, update, recreate" in message


def secret(name="db", value=SECRET_VALUE, **meta):
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": dict({"name": name, "namespace": "sf"}, **meta), "data": {"password": value}}


def configmap(name="cfg", value="a", **meta):
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": dict({"name": name, "namespace": "sf"}, **meta), "data": {"key": value}}


def statefulset(name, replicas=1, **meta):
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": dict({"name": name, "namespace": "sf"}, **meta), "spec": {"replicas": replicas}}


def ref(obj, component="config", phase="early"):
    return {"kind": obj["kind"], "name": obj["metadata"]["name"], "api_version": obj["apiVersion"],
            "component": component, "phase": phase, "path": "/staging/{0}.yaml".format(obj["metadata"]["name"])}


def live_copy(obj, uid, **changes):
    """obj as the API server returns it: uid, resourceVersion, managedFields, status and maybe changes."""
    copy = json.loads(json.dumps(obj))
    copy["metadata"].update(uid=uid, resourceVersion="7", creationTimestamp="2026-01-01T00:00:00Z",
                            managedFields=[{"manager": "statesafe-restore"}])
    copy["status"] = {"observed": True}
    for key, value in changes.items():
        copy[key] = value
    return copy


VOLUME = {"name": "zookeeper", "type": "volume", "statefulset": "zookeeper", "claim": "data-zk-0"}
DUMP = {"name": "mariadb", "type": "dump", "statefulset": "mariadb", "pod": "mariadb-0", "extension": "sql"}
LOOSE_DUMP = {"name": "cache", "type": "dump", "pod": "cache-0", "extension": "rdb"}
DEPLOYMENT_VOLUME = {"name": "web", "type": "volume", "workload_kind": "Deployment", "workload_name": "web",
                     "claim": "web-data"}
UNUSED_VOLUME = {"name": "spare", "type": "volume", "claim": "spare"}
ARTIFACTS = [
    {"path": "volumes/data-zk-0/version-2/snapshot.0", "size": 100},
    {"path": "volumes/data-zk-0/myid", "size": 2},
    {"path": "dumps/mariadb.sql", "size": 5000},
    {"path": "resources/Secret/db.yaml", "size": 10},
]


class TestPlanObjects:
    def test_absent_objects_are_created_whatever_the_policy(self):
        objects = [ref(secret()), ref(configmap())]
        for policy in rp.POLICIES:
            planned = rp.plan_objects(objects, {}, policy)
            assert [(e["key"], e["action"], e["present"], e["uid"]) for e in planned] == [
                ("Secret/db", "create", False, None), ("ConfigMap/cfg", "create", False, None)]

    def test_per_kind_policy_overrides_the_default(self):
        live = {"Secret/db": live_copy(secret(), "u1"), "ConfigMap/cfg": live_copy(configmap(), "u2"),
                "StatefulSet/zk": live_copy(statefulset("zk"), "u3")}
        objects = [ref(secret()), ref(configmap()), ref(statefulset("zk"), "workloads")]
        planned = rp.plan_objects(objects, live, "fail", {"Secret": "skip", "StatefulSet": "recreate"})
        assert [(e["key"], e["policy"], e["action"], e["uid"]) for e in planned] == [
            ("Secret/db", "skip", "skip", "u1"),
            ("ConfigMap/cfg", "fail", "refuse", "u2"),
            ("StatefulSet/zk", "recreate", "recreate", "u3"),
        ]
        # The caller's keys are kept.
        assert planned[2]["component"] == "workloads" and planned[2]["path"] == "/staging/zk.yaml"


class TestPlanData:
    @pytest.mark.parametrize("present, policy", sorted(EXPECTED_DATA))
    def test_data_follows_the_statefulset_policy(self, present, policy):
        live = {"StatefulSet/zookeeper": live_copy(statefulset("zookeeper"), "u")} if present else {}
        # The default says something else: the StatefulSet's policy wins.
        other = "update" if policy == "fail" else "fail"
        (entry,) = rp.plan_data([VOLUME], live, other, {"StatefulSet": policy})
        assert entry["action"] == EXPECTED_DATA[(present, policy)]
        assert entry["workload"] == "StatefulSet/zookeeper" and entry["present"] is present

    @pytest.mark.parametrize("policy", rp.POLICIES)
    def test_data_without_workload_is_present_and_follows_the_default(self, policy):
        (entry,) = rp.plan_data([LOOSE_DUMP], {}, policy, {"StatefulSet": "update"})
        assert entry["workload"] is None and entry["present"] is True
        assert entry["action"] == EXPECTED_DATA[(True, policy)]

    @pytest.mark.parametrize("present, policy", sorted(EXPECTED_DATA))
    def test_data_of_a_deployment_follows_the_deployment_policy(self, present, policy):
        deployment = dict(statefulset("web"), kind="Deployment")
        live = {"Deployment/web": live_copy(deployment, "u")} if present else {}
        other = "update" if policy == "fail" else "fail"
        (entry,) = rp.plan_data([DEPLOYMENT_VOLUME], live, other, {"Deployment": policy, "StatefulSet": other})
        assert entry["action"] == EXPECTED_DATA[(present, policy)]
        assert entry["workload"] == "Deployment/web" and entry["present"] is present and entry["claim_key"] is None

    @pytest.mark.parametrize("present, policy", sorted(EXPECTED_DATA))
    def test_a_volume_without_workload_follows_the_policy_of_its_claim(self, present, policy):
        claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "spare", "namespace": "sf"}}
        live = {"PersistentVolumeClaim/spare": live_copy(claim, "u")} if present else {}
        other = "update" if policy == "fail" else "fail"
        (entry,) = rp.plan_data([UNUSED_VOLUME], live, other, {"PersistentVolumeClaim": policy})
        assert entry["action"] == EXPECTED_DATA[(present, policy)]
        assert entry["workload"] is None and entry["claim_key"] == "PersistentVolumeClaim/spare"

    @pytest.mark.parametrize("present, policy", sorted(EXPECTED_DATA))
    def test_a_dump_without_a_restore_command_is_left_whatever_the_policy(self, present, policy):
        """K8up's annotations have no restore command: the dump is verified and left, never a refusal."""
        deployment = dict(statefulset("db"), kind="Deployment")
        live = {"Deployment/db": live_copy(deployment, "u")} if present else {}
        component = {"name": "dump-db", "type": "dump", "workload_kind": "Deployment", "workload_name": "db",
                     "loads": False}
        (entry,) = rp.plan_data([component], live, policy)
        assert entry["action"] == "leave"
        assert rp.refusals([], [entry]) == []
        assert rp.describe([], [entry]) == [
            "leave dump dump-db of Deployment/db (no restore command: not loaded, left in the staging tree) "
            "[{0}]".format(policy)]
        assert rp.data_diff(entry) is None

    def test_data_owner_reads_every_spelling(self):
        assert rp.data_owner(VOLUME) == ("StatefulSet", "zookeeper")
        assert rp.data_owner(DEPLOYMENT_VOLUME) == ("Deployment", "web")
        assert rp.data_owner(UNUSED_VOLUME) == ("PersistentVolumeClaim", "spare")
        assert rp.data_owner(LOOSE_DUMP) == (None, None)

    def test_refusals_name_a_deployment_and_an_unused_claim(self):
        live = {"Deployment/web": {"metadata": {"name": "web"}}, "PersistentVolumeClaim/spare": {"metadata": {}}}
        data = rp.plan_data([DEPLOYMENT_VOLUME, UNUSED_VOLUME], live, "fail")
        assert rp.refusals([], data) == ["Deployment/web (data of web)", "PersistentVolumeClaim/spare (data of spare)"]
        assert rp.describe([], data)[0] == "refuse volume web (claim web-data) of Deployment/web [fail]"

    def test_refusals_name_objects_and_data_as_the_error_message_does(self):
        live = {"Secret/db": live_copy(secret(), "u1"), "StatefulSet/mariadb": live_copy(statefulset("mariadb"), "u")}
        objects = rp.plan_objects([ref(secret()), ref(configmap())], live, "fail")
        data = rp.plan_data([DUMP, VOLUME, LOOSE_DUMP], live, "fail")
        assert rp.refusals(objects, data) == [
            "Secret/db", "StatefulSet/mariadb (data of mariadb)", "pod cache-0 (data of cache)"]


def test_artifact_totals():
    assert rp.artifact_totals(VOLUME, ARTIFACTS) == (2, 102)
    assert rp.artifact_totals(DUMP, ARTIFACTS) == (1, 5000)
    assert rp.artifact_totals(LOOSE_DUMP, ARTIFACTS) == (None, None)


def build(live, policy="fail", by_kind=None, want_diff=True, objects=None):
    objects = objects or [secret(), configmap(), statefulset("mariadb")]
    refs = [ref(o) for o in objects]
    archived = {"{0}/{1}".format(o["kind"], o["metadata"]["name"]): o for o in objects}
    return rp.build_plan(refs, archived, live, [DUMP, VOLUME], ARTIFACTS, policy, by_kind, want_diff=want_diff)


class TestBuildPlan:
    def test_empty_namespace_creates_everything_and_restores_all_data(self):
        plan = build({})
        assert plan["would_change"] is True and plan["refused"] == []
        assert plan["counts"] == {"objects": {"create": 3}, "data": {"restore": 2}}
        assert plan["lines"] == [
            "create Secret/db [fail]", "create ConfigMap/cfg [fail]", "create StatefulSet/mariadb [fail]",
            "restore dump mariadb of StatefulSet/mariadb, 5000 bytes [fail]",
            "restore volume zookeeper (claim data-zk-0) of StatefulSet/zookeeper, 2 files, 102 bytes [fail]",
        ]
        assert [d["after_header"] for d in plan["diff"]] == [
            "Secret/db (created from the archive)", "ConfigMap/cfg (created from the archive)",
            "StatefulSet/mariadb (created from the archive)", "dump mariadb (from the archive)",
            "volume zookeeper (from the archive)"]
        assert all(d["before"] == "" for d in plan["diff"])

    def test_running_stack_with_default_policy_refuses_everything(self):
        live = {"Secret/db": live_copy(secret(), "u1"), "ConfigMap/cfg": live_copy(configmap(), "u2"),
                "StatefulSet/mariadb": live_copy(statefulset("mariadb"), "u3")}
        plan = build(live)
        assert plan["refused"] == ["Secret/db", "ConfigMap/cfg", "StatefulSet/mariadb",
                                   "StatefulSet/mariadb (data of mariadb)"]
        assert plan["counts"]["objects"] == {"refuse": 3}
        assert plan["counts"]["data"] == {"refuse": 1, "restore": 1}

    def test_update_of_identical_objects_changes_nothing(self):
        live = {"Secret/db": live_copy(secret(), "u1"), "ConfigMap/cfg": live_copy(configmap(), "u2"),
                "StatefulSet/mariadb": live_copy(statefulset("mariadb"), "u3"),
                "StatefulSet/zookeeper": live_copy(statefulset("zookeeper"), "u4")}
        plan = build(live, "update", {"StatefulSet": "skip"})
        assert [(e["action"], e["differs"]) for e in plan["objects"]] == [
            ("update", False), ("update", False), ("skip", False)]
        assert plan["counts"]["data"] == {"skip": 2}
        assert plan["would_change"] is False and plan["diff"] == []
        assert plan["lines"][0] == "update Secret/db (no difference) [update]"

    def test_update_shows_what_differs_without_secret_values(self):
        live = {"Secret/db": live_copy(secret(value=NEW_SECRET_VALUE), "u1"),
                "ConfigMap/cfg": live_copy(configmap(value="b"), "u2")}
        plan = build(live, "update", objects=[secret(), configmap()])
        assert plan["would_change"] is True
        assert [e["differs"] for e in plan["objects"]] == [True, True]
        secret_diff, config_diff = plan["diff"][:2]
        text = json.dumps(plan)
        assert SECRET_VALUE not in text and NEW_SECRET_VALUE not in text
        assert "password: '<hidden>'" in secret_diff["before"]
        assert "password: '<hidden, changed>'" in secret_diff["after"]
        assert secret_diff["before_header"] == "Secret/db (in the namespace)"
        assert "key: b" in config_diff["before"] and "key: a" in config_diff["after"]
        # What the server adds is not a difference and is not shown.
        assert "uid" not in config_diff["before"] and "status" not in config_diff["before"]
        assert "namespace" not in config_diff["before"]

    def test_recreate_always_changes_and_hides_secret_values(self):
        live = {"Secret/db": live_copy(secret(), "u1"), "StatefulSet/mariadb": live_copy(statefulset("mariadb"), "u3")}
        plan = build(live, "recreate", objects=[secret(), statefulset("mariadb")])
        assert [(e["action"], e["differs"], e["uid"]) for e in plan["objects"]] == [
            ("recreate", True, "u1"), ("recreate", True, "u3")]
        assert plan["counts"]["data"] == {"overwrite": 1, "restore": 1}
        assert SECRET_VALUE not in json.dumps(plan)
        assert plan["diff"][0]["before"].startswith("# uid u1: deleted\n")
        assert plan["diff"][0]["after"].startswith("# a new object (new uid)\n")
        overwrite = [d for d in plan["diff"] if d["before_header"] == "dump mariadb"][0]
        assert overwrite["before"] == "database in pod mariadb-0: current data, overwritten\n"

    def test_created_secret_values_are_hidden_too(self):
        plan = build({}, objects=[secret()])
        assert SECRET_VALUE not in json.dumps(plan)
        assert "password: '<hidden, changed>'" in plan["diff"][0]["after"]

    def test_no_diff_unless_asked(self):
        assert build({}, want_diff=False)["diff"] == []

    def test_unknown_policy_fails_before_anything_is_decided(self):
        with pytest.raises(rp.PolicyError, match="StatefulSet='delete'"):
            build({}, "update", {"StatefulSet": "delete"})
