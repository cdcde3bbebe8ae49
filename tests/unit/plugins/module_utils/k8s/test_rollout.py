# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which workloads a restore's changed configuration restarts, and when a rollout is done."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.statesafe.backup.plugins.module_utils.errors import ObjectNotFound, RolloutNotDone
from ansible_collections.statesafe.backup.plugins.module_utils.k8s import rollout


def obj(kind, name, action, differs=True):
    return {"kind": kind, "name": name, "key": "{0}/{1}".format(kind, name), "action": action, "differs": differs}


def workload(kind, name, spec=None, strategy=None, replicas=None):
    body = {"selector": {"matchLabels": {"app": name}}, "template": {"spec": spec or {}}}
    if strategy:
        body["updateStrategy" if kind != "Deployment" else "strategy"] = {"type": strategy}
    if replicas is not None:
        body["replicas"] = replicas
    return {"kind": kind, "metadata": {"name": name, "generation": 1}, "spec": body}


EARLY, WRITTEN, LATE = "2026-12-05T08:00:00Z", "2026-12-05T09:00:00Z", "2026-12-05T09:00:05Z"


def pod(app, created=EARLY, **extra):
    meta = {"name": app + "-0", "labels": {"app": app}, "creationTimestamp": created}
    meta.update(extra.pop("metadata", {}))
    return {"metadata": meta, "status": dict({"phase": "Running"}, **extra)}


def test_changed_config_is_what_the_plan_writes_with_a_difference():
    plan = [obj("Secret", "created", "create"), obj("Secret", "same", "update", differs=False),
            obj("ConfigMap", "new", "update"), obj("ConfigMap", "again", "recreate"),
            obj("ConfigMap", "kept", "skip"), obj("StatefulSet", "db", "update")]
    assert rollout.changed_config(plan) == ["ConfigMap/again", "ConfigMap/new", "Secret/created"]


def test_config_an_unfinished_restore_wrote_counts_as_changed():
    """A run killed between writing the configuration and restarting its readers: the re-run finds nothing left to
    change, and its readers are still on the old values."""
    resumed = dict(obj("ConfigMap", "settings", "update", differs=False), ours=True)
    plan = [resumed, obj("Secret", "same", "update", differs=False), dict(obj("ConfigMap", "kept", "skip"), ours=True)]
    assert rollout.changed_config(plan) == ["ConfigMap/settings"]
    web = workload("Deployment", "web", {"containers": [{"envFrom": [{"configMapRef": {"name": "settings"}}]}]})
    web["kind"], web["metadata"]["name"] = "Deployment", "web"
    # Readers that started before the killed run wrote it are restarted; those it restarted already are not.
    assert rollout.users_of([web], rollout.changed_config(plan), pods=[pod("web", created=EARLY)],
                            written={"ConfigMap/settings": WRITTEN})[0] == [
        {"workload": "Deployment/web", "uses": ["ConfigMap/settings"]}]
    assert rollout.users_of([web], rollout.changed_config(plan), pods=[pod("web", created=LATE)],
                            written={"ConfigMap/settings": WRITTEN})[0] == []


def test_config_references_reads_env_envfrom_and_every_volume_kind():
    spec = {
        "initContainers": [{"env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "init-secret", "key": "k"}}}]}],
        "containers": [{
            "env": [{"name": "B", "value": "plain"},
                    {"name": "C", "valueFrom": {"configMapKeyRef": {"name": "env-cm", "key": "k"}}},
                    {"name": "D", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
            "envFrom": [{"secretRef": {"name": "bulk-secret"}}, {"configMapRef": {"name": "bulk-cm"}}],
        }],
        "volumes": [
            {"name": "s", "secret": {"secretName": "vol-secret"}},
            {"name": "c", "configMap": {"name": "vol-cm"}},
            {"name": "p", "projected": {"sources": [{"secret": {"name": "proj-secret"}},
                                                    {"configMap": {"name": "proj-cm"}},
                                                    {"serviceAccountToken": {"path": "t"}}]}},
            {"name": "d", "persistentVolumeClaim": {"claimName": "data"}},
        ],
        "imagePullSecrets": [{"name": "pull"}],
    }
    assert rollout.config_references(spec) == {
        "Secret/init-secret", "ConfigMap/env-cm", "Secret/bulk-secret", "ConfigMap/bulk-cm", "Secret/vol-secret",
        "ConfigMap/vol-cm", "Secret/proj-secret", "ConfigMap/proj-cm"}


def test_users_of_restarts_readers_only_and_says_why_others_are_left():
    env_user = {"containers": [{"envFrom": [{"configMapRef": {"name": "app"}}]}]}
    workloads = [
        workload("Deployment", "web", env_user),
        workload("Deployment", "unrelated", {"containers": [{"envFrom": [{"configMapRef": {"name": "other"}}]}]}),
        workload("StatefulSet", "db", env_user),
        workload("DaemonSet", "agent", env_user, strategy="OnDelete"),
    ]
    pods = [pod(name) for name in ("web", "unrelated", "db", "agent")]
    restart, left = rollout.users_of(workloads, ["ConfigMap/app"], exclude={"StatefulSet/db"}, pods=pods,
                                     written={"ConfigMap/app": WRITTEN})
    assert restart == [{"workload": "Deployment/web", "uses": ["ConfigMap/app"]}]
    assert [(e["workload"], e["reason"].split(":")[0]) for e in left] == [
        ("StatefulSet/db", "its pods started after the restore wrote the configuration"),
        ("DaemonSet/agent", "its update strategy is OnDelete")]


def reader(kind, name, ref_kind="Secret", ref_name="app", replicas=None):
    field = "secretRef" if ref_kind == "Secret" else "configMapRef"
    return workload(kind, name, {"containers": [{"envFrom": [{field: {"name": ref_name}}]}]}, replicas=replicas)


@pytest.mark.parametrize("spec,expected", [
    ({"containers": [{"env": [{"name": "T", "valueFrom": {"secretKeyRef": {"name": "s", "key": "t"}}}]}]},
     {"Secret/s"}),
    ({"containers": [{"env": [{"name": "T", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "t"}}}]}]},
     {"ConfigMap/c"}),
    ({"containers": [{"envFrom": [{"secretRef": {"name": "s"}, "prefix": "X_"}]}]}, {"Secret/s"}),
    ({"containers": [{"envFrom": [{"configMapRef": {"name": "c"}}]}]}, {"ConfigMap/c"}),
    ({"initContainers": [{"env": [{"name": "T", "valueFrom": {"configMapKeyRef": {"name": "init", "key": "t"}}}]}],
      "containers": [{"name": "main"}]}, {"ConfigMap/init"}),
    ({"initContainers": [{"envFrom": [{"secretRef": {"name": "init"}}]}]}, {"Secret/init"}),
    ({"volumes": [{"name": "v", "secret": {"secretName": "s", "items": [{"key": "a", "path": "a"}]}}]},
     {"Secret/s"}),
    ({"volumes": [{"name": "v", "configMap": {"name": "c", "defaultMode": 420}}]}, {"ConfigMap/c"}),
    ({"volumes": [{"name": "v", "projected": {"sources": [{"configMap": {"name": "c"}}]}}]}, {"ConfigMap/c"}),
    ({"volumes": [{"name": "v", "projected": {"sources": [{"secret": {"name": "s"}},
                                                          {"downwardAPI": {"items": []}}]}}]}, {"Secret/s"}),
    # Optional references are read when the object exists: a restore that creates or changes one matters.
    ({"containers": [{"env": [{"name": "T", "valueFrom": {"secretKeyRef": {"name": "s", "key": "t",
                                                                           "optional": True}}}],
                      "envFrom": [{"configMapRef": {"name": "c", "optional": True}}]}],
      "volumes": [{"name": "v", "secret": {"secretName": "vs", "optional": True}},
                  {"name": "p", "projected": {"sources": [{"configMap": {"name": "pc", "optional": True}}]}}]},
     {"Secret/s", "ConfigMap/c", "Secret/vs", "ConfigMap/pc"}),
    ({"containers": [{"env": [{"name": "T", "value": "x"}], "volumeMounts": [{"name": "d", "mountPath": "/d"}]}],
      "volumes": [{"name": "d", "emptyDir": {}}], "imagePullSecrets": [{"name": "pull"}]}, set()),
    ({}, set()),
    (None, set()),
])
def test_config_references_each_form_alone(spec, expected):
    assert rollout.config_references(spec) == expected


def test_a_secret_and_a_configmap_of_the_same_name_are_different_objects():
    restart, left = rollout.users_of([reader("Deployment", "web", "ConfigMap", "app")], ["Secret/app"],
                                     pods=[pod("web")], written={"Secret/app": WRITTEN})
    assert restart == [] and left == []


@pytest.mark.parametrize("selector,labels,selected", [
    ({"matchLabels": {"app": "web"}}, {"app": "web", "tier": "x"}, True),
    ({"matchLabels": {"app": "web"}}, {"app": "db"}, False),
    ({"matchLabels": {"app": "web"}}, None, False),
    ({"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "api"]}]}, {"app": "api"}, True),
    ({"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]}, {}, False),
    ({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}, {"app": "db"}, True),
    ({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}, {}, True),
    ({"matchExpressions": [{"key": "app", "operator": "Exists"}]}, {"app": "db"}, True),
    ({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, {"app": "db"}, False),
    ({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "canary", "operator": "DoesNotExist"}]},
     {"app": "web", "canary": "1"}, False),
    ({}, {"anything": "x"}, True),
    (None, {"app": "web"}, False),
])
def test_selector_matches_as_the_api_server(selector, labels, selected):
    assert rollout.selector_matches(selector, labels) is selected


def test_last_written_is_the_newest_write_of_the_object():
    meta = {"creationTimestamp": EARLY, "managedFields": [{"manager": "kubectl", "time": WRITTEN},
                                                          {"manager": "statesafe", "time": LATE},
                                                          {"manager": "no-time"}]}
    assert rollout.last_written({"metadata": meta}) == LATE
    assert rollout.last_written({"metadata": {"creationTimestamp": EARLY}}) == EARLY
    assert rollout.last_written({}) is None


@pytest.mark.parametrize("pods,written,restarted,reason", [
    ([pod("web", EARLY)], WRITTEN, True, None),
    # The same second counts as before: whole-second times cannot tell, a needless restart is the safe side.
    ([pod("web", WRITTEN)], WRITTEN, True, None),
    ([pod("web", LATE)], WRITTEN, False, "its pods started after Secret/app was last written"),
    ([pod("web", LATE), pod("web", EARLY)], WRITTEN, True, None),
    ([pod("web", EARLY)], None, True, None),
    ([pod("web", EARLY, metadata={"deletionTimestamp": LATE})], WRITTEN, False, "it runs no pods"),
    ([pod("web", EARLY, phase="Succeeded")], WRITTEN, False, "it runs no pods"),
    ([pod("other", EARLY)], WRITTEN, False, "it runs no pods"),
    ([], WRITTEN, False, "it runs no pods"),
])
def test_a_reader_restarts_only_when_a_running_pod_predates_the_write(pods, written, restarted, reason):
    restart, left = rollout.users_of([reader("Deployment", "web")], ["Secret/app"], pods=pods,
                                     written={"Secret/app": written})
    assert bool(restart) is restarted
    if reason:
        assert left[0]["reason"].startswith(reason) and left[0]["uses"] == ["Secret/app"]


def test_a_workload_at_zero_replicas_is_left_alone_and_says_so():
    restart, left = rollout.users_of([reader("StatefulSet", "db", replicas=0)], ["Secret/app"], pods=[],
                                     written={"Secret/app": WRITTEN})
    assert restart == [] and left[0]["workload"] == "StatefulSet/db" and "0 replicas" in left[0]["reason"]


def test_the_newest_write_of_what_a_workload_reads_decides():
    both = workload("Deployment", "web", {"containers": [{"envFrom": [{"secretRef": {"name": "app"}},
                                                                      {"configMapRef": {"name": "cfg"}}]}]})
    restart = rollout.users_of([both], ["Secret/app", "ConfigMap/cfg"], pods=[pod("web", WRITTEN)],
                               written={"Secret/app": EARLY, "ConfigMap/cfg": LATE})[0]
    assert restart == [{"workload": "Deployment/web", "uses": ["ConfigMap/cfg", "Secret/app"]}]


def test_restarted_by_restore_counts_created_workloads_and_those_whose_data_it_wrote():
    plan = [obj("StatefulSet", "fresh", "create"), obj("StatefulSet", "again", "recreate"),
            obj("Deployment", "updated", "update"), obj("Secret", "s", "create")]
    data = [{"workload": "StatefulSet/db", "action": "overwrite"}, {"workload": "StatefulSet/kept", "action": "skip"},
            {"workload": None, "action": "restore"}]
    assert rollout.restarted_by_restore(plan, data) == {"StatefulSet/fresh", "StatefulSet/again", "StatefulSet/db"}


@pytest.mark.parametrize("kind,spec,status,done", [
    ("Deployment", {"replicas": 2}, {"observedGeneration": 2, "updatedReplicas": 2, "replicas": 2,
                                     "availableReplicas": 2}, True),
    ("Deployment", {"replicas": 2}, {"observedGeneration": 2, "updatedReplicas": 2, "replicas": 3,
                                     "availableReplicas": 2}, False),
    ("Deployment", {"replicas": 2}, {"observedGeneration": 1, "updatedReplicas": 2, "replicas": 2,
                                     "availableReplicas": 2}, False),
    ("Deployment", {"replicas": 0}, {"observedGeneration": 2}, True),
    ("StatefulSet", {"replicas": 1}, {"observedGeneration": 2, "updatedReplicas": 1, "readyReplicas": 1,
                                      "updateRevision": "b", "currentRevision": "b"}, True),
    ("StatefulSet", {"replicas": 1}, {"observedGeneration": 2, "updatedReplicas": 1, "readyReplicas": 1,
                                      "updateRevision": "b", "currentRevision": "a"}, False),
    ("StatefulSet", {"replicas": 1}, {"observedGeneration": 2, "updatedReplicas": 1, "readyReplicas": 0,
                                      "updateRevision": "b", "currentRevision": "b"}, False),
    ("DaemonSet", {}, {"observedGeneration": 2, "desiredNumberScheduled": 1, "updatedNumberScheduled": 1,
                       "numberAvailable": 1}, True),
    ("DaemonSet", {}, {"observedGeneration": 2, "desiredNumberScheduled": 1, "updatedNumberScheduled": 0,
                       "numberAvailable": 1}, False),
])
def test_rollout_status_waits_as_kubectl_rollout_status(kind, spec, status, done):
    live = {"kind": kind, "metadata": {"name": "w", "generation": 2}, "spec": spec, "status": status}
    assert rollout.rollout_status(live)[0] is done


class FakeApi(object):
    """Holds workloads by path; a PATCH bumps the generation, each GET advances one rollout step."""

    def __init__(self, workloads, finishes=True, pods=None, configs=None):
        self.objects = {}
        self.patches = []
        self.requests = []
        self.finishes = finishes
        self.pods = [pod(item["metadata"]["name"]) for item in workloads] if pods is None else pods
        if configs is None:
            configs = {"ConfigMap/app": WRITTEN, "ConfigMap/else": WRITTEN}
        for config_key, written in configs.items():
            kind, name = config_key.split("/")
            self.objects["/api/v1/namespaces/ns/{0}s/{1}".format(kind.lower(), name)] = {
                "kind": kind, "metadata": {"name": name, "creationTimestamp": written}, "data": {"k": "secret value"}}
        for item in workloads:
            self.objects["/apis/apps/v1/namespaces/ns/{0}s/{1}".format(item["kind"].lower(), item["metadata"]["name"])] \
                = item

    def resource_type(self, api_version, kind):
        from ansible_collections.statesafe.backup.plugins.module_utils.k8s.api import ResourceType
        return ResourceType(api_version, kind, kind.lower() + "s", True, "apis" if "/" in api_version else "api")

    def list_items(self, rtype, namespace=None):
        return [o for o in self.objects.values() if o["kind"] == rtype.kind]

    def list_pods(self, namespace):
        return self.pods

    def request(self, method, path, body=None, location=None, content_type=None):
        self.requests.append((method, path))
        if path not in self.objects:
            raise ObjectNotFound("gone", **(location or {}))
        item = self.objects[path]
        if method == "PATCH":
            assert content_type == "application/merge-patch+json"
            self.patches.append((item["metadata"]["name"], body))
            item["metadata"]["generation"] += 1
            item["status"] = {"observedGeneration": item["metadata"]["generation"], "updatedReplicas": 0,
                              "replicas": 1, "availableReplicas": 1}
            return item
        if self.finishes and "status" in item:
            item["status"].update(updatedReplicas=1, availableReplicas=1)
        return item


def deployment(name, config):
    item = workload("Deployment", name, {"containers": [{"envFrom": [{"configMapRef": {"name": config}}]}]})
    item["spec"]["replicas"] = 1
    item["status"] = {"observedGeneration": 1, "updatedReplicas": 1, "replicas": 1, "availableReplicas": 1}
    return item


PARAMS = {"plan_objects": [obj("ConfigMap", "app", "update")], "plan_data": [], "wait": True, "timeout": 30,
          "poll_interval": 1}


def test_run_patches_each_user_once_and_reports_its_rollout():
    api = FakeApi([deployment("web", "app"), deployment("other", "else")])
    clock = iter(range(100))
    report = rollout.run(rollout.Restarter(api, "ns", clock=lambda: next(clock), sleep=lambda s: None), PARAMS,
                         timestamp="2026-12-04T00:00:00Z")
    assert api.patches == [("web", rollout.restart_patch("2026-12-04T00:00:00Z"))]
    assert [(e["workload"], e["uses"]) for e in report["restarted"]] == [("Deployment/web", ["ConfigMap/app"])]
    assert report["restarted"][0]["seconds"] >= 0


def test_check_mode_and_an_unchanged_plan_restart_nothing():
    api = FakeApi([deployment("web", "app")])
    report = rollout.run(rollout.Restarter(api, "ns"), PARAMS, check_mode=True)
    assert [e["workload"] for e in report["restarted"]] == ["Deployment/web"] and api.patches == []
    unchanged = dict(PARAMS, plan_objects=[obj("ConfigMap", "app", "update", differs=False)])
    assert rollout.run(rollout.Restarter(api, "ns"), unchanged)["restarted"] == [] and api.patches == []


def test_a_rollout_that_does_not_finish_fails_naming_the_workload_and_what_it_reports():
    api = FakeApi([deployment("web", "app")], finishes=False)
    clock = iter(range(0, 1000, 10))
    with pytest.raises(RolloutNotDone) as error:
        rollout.run(rollout.Restarter(api, "ns", clock=lambda: next(clock), sleep=lambda s: None), PARAMS)
    assert "Deployment/web: 0 of 1 replicas updated" in str(error.value)
    assert "namespace=ns" in str(error.value)
    assert error.value.result_fields()["restarted_not_done"] == ["Deployment/web"]


def test_a_disaster_recovery_restore_restarts_nothing():
    """Secret and Deployment both created by the restore, and a StatefulSet an operator made afterwards."""
    api = FakeApi([deployment("web", "app"), deployment("made-by-operator", "app")],
                  pods=[pod("web", LATE), pod("made-by-operator", LATE)], configs={"ConfigMap/app": WRITTEN})
    params = dict(PARAMS, plan_objects=[obj("ConfigMap", "app", "create"), obj("Deployment", "web", "create")])
    report = rollout.run(rollout.Restarter(api, "ns"), params)
    assert report["restarted"] == [] and api.patches == []
    assert [(e["workload"], e["reason"]) for e in report["left_alone"]] == [
        ("Deployment/web", "its pods started after the restore wrote the configuration"),
        ("Deployment/made-by-operator", "its pods started after ConfigMap/app was last written")]


def test_a_restore_over_a_running_application_restarts_the_reader_of_its_changed_secret():
    secret_reader = workload("Deployment", "web", {"containers": [
        {"env": [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "token", "key": "token"}}}]}]})
    secret_reader["spec"]["replicas"] = 1
    secret_reader["status"] = {"observedGeneration": 1, "updatedReplicas": 1, "replicas": 1, "availableReplicas": 1}
    api = FakeApi([secret_reader], configs={"Secret/token": WRITTEN})
    clock = iter(range(100))
    unchanged_workload = obj("Deployment", "web", "update", differs=False)
    params = dict(PARAMS, plan_objects=[obj("Secret", "token", "update"), unchanged_workload])
    report = rollout.run(rollout.Restarter(api, "ns", clock=lambda: next(clock), sleep=lambda s: None), params)
    assert [(e["workload"], e["uses"]) for e in report["restarted"]] == [("Deployment/web", ["Secret/token"])]
    assert "secret value" not in repr(report)


def test_a_changed_config_gone_before_the_restart_counts_as_just_written():
    api = FakeApi([deployment("web", "app")], configs={})
    assert api.objects and rollout.Restarter(api, "ns").written(["ConfigMap/app"]) == {"ConfigMap/app": None}
    report = rollout.run(rollout.Restarter(api, "ns"), PARAMS, check_mode=True)
    assert [e["workload"] for e in report["restarted"]] == ["Deployment/web"]


def test_no_reader_of_the_changed_config_lists_no_pods():
    api = FakeApi([deployment("web", "else")])
    api.pods = None  # a pod listing would fail
    assert rollout.run(rollout.Restarter(api, "ns"), PARAMS) == {
        "changed_config": ["ConfigMap/app"], "restarted": [], "left_alone": []}


def test_readers_the_restore_made_need_no_pod_listing_nor_write_times():
    api = FakeApi([deployment("web", "app")])
    api.pods = None  # a pod listing would fail
    params = dict(PARAMS, plan_objects=[obj("ConfigMap", "app", "create"), obj("Deployment", "web", "recreate")])
    report = rollout.run(rollout.Restarter(api, "ns"), params)
    assert report["restarted"] == [] and [e["workload"] for e in report["left_alone"]] == ["Deployment/web"]
    assert api.requests == []
