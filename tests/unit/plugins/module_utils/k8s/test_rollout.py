# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which workloads a restore's changed configuration restarts, and when a rollout is done."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.statesafe.backup.plugins.module_utils.errors import RolloutNotDone
from ansible_collections.statesafe.backup.plugins.module_utils.k8s import rollout


def obj(kind, name, action, differs=True):
    return {"kind": kind, "name": name, "key": "{0}/{1}".format(kind, name), "action": action, "differs": differs}


def workload(kind, name, spec=None, strategy=None):
    body = {"template": {"spec": spec or {}}}
    if strategy:
        body["updateStrategy" if kind != "Deployment" else "strategy"] = {"type": strategy}
    return {"kind": kind, "metadata": {"name": name, "generation": 1}, "spec": body}


def test_changed_config_is_what_the_plan_writes_with_a_difference():
    plan = [obj("Secret", "created", "create"), obj("Secret", "same", "update", differs=False),
            obj("ConfigMap", "new", "update"), obj("ConfigMap", "again", "recreate"),
            obj("ConfigMap", "kept", "skip"), obj("StatefulSet", "db", "update")]
    assert rollout.changed_config(plan) == ["ConfigMap/again", "ConfigMap/new", "Secret/created"]


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
    restart, left = rollout.users_of(workloads, ["ConfigMap/app"], exclude={"StatefulSet/db"})
    assert restart == [{"workload": "Deployment/web", "uses": ["ConfigMap/app"]}]
    assert [(e["workload"], e["reason"].split(":")[0]) for e in left] == [
        ("StatefulSet/db", "its pods started after the restore wrote the configuration"),
        ("DaemonSet/agent", "its update strategy is OnDelete")]


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

    def __init__(self, workloads, finishes=True):
        self.objects = {}
        self.patches = []
        self.finishes = finishes
        for item in workloads:
            self.objects["/apis/apps/v1/namespaces/ns/{0}s/{1}".format(item["kind"].lower(), item["metadata"]["name"])] \
                = item

    def resource_type(self, api_version, kind):
        from ansible_collections.statesafe.backup.plugins.module_utils.k8s.api import ResourceType
        return ResourceType(api_version, kind, kind.lower() + "s", True, "apis")

    def list_items(self, rtype, namespace=None):
        return [o for o in self.objects.values() if o["kind"] == rtype.kind]

    def request(self, method, path, body=None, location=None, content_type=None):
        item = self.objects[path]
        if method == "PATCH":
            assert content_type == "application/merge-patch+json"
            self.patches.append((item["metadata"]["name"], body))
            item["metadata"]["generation"] += 1
            item["status"] = {"observedGeneration": item["metadata"]["generation"], "updatedReplicas": 0,
                              "replicas": 1, "availableReplicas": 1}
            return item
        if self.finishes:
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
