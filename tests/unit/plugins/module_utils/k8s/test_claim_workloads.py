# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who uses a claim (its pods' owners up to what scales), and stopping and starting them around a restore."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.statesafe.backup.plugins.module_utils.errors import (
    ClaimBusy,
    InvalidInput,
    ObjectNotFound,
    WorkloadsNotReady,
)
from ansible_collections.statesafe.backup.plugins.module_utils.k8s import claim_workloads as cw
from ansible_collections.statesafe.backup.plugins.module_utils.k8s import helper_pod
from ansible_collections.statesafe.backup.plugins.module_utils.k8s.api import ResourceType

NS = "shop"


def owner(kind, name, controller=True):
    return {"apiVersion": "apps/v1", "kind": kind, "name": name, "controller": controller, "uid": "u-" + name}


def pod(name, claims=("data",), owners=(), phase="Running", terminating=False, container="main", path="/var/lib"):
    meta = {"name": name, "namespace": NS, "ownerReferences": list(owners)}
    if terminating:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    volumes = [{"name": "v{0}".format(i), "persistentVolumeClaim": {"claimName": c}} for i, c in enumerate(claims)]
    mounts = [{"name": "v{0}".format(i), "mountPath": path} for i in range(len(claims))]
    return {"metadata": meta, "status": {"phase": phase},
            "spec": {"volumes": volumes + [{"name": "tmp", "emptyDir": {}}],
                     "containers": [{"name": "sidecar", "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}]},
                                    {"name": container, "volumeMounts": mounts}]}}


def replicaset(name, deployment=None):
    return {"kind": "ReplicaSet", "metadata": {"name": name, "ownerReferences": [owner("Deployment", deployment)]
                                               if deployment else []}}


RS = {"web-7d9": replicaset("web-7d9", "web"), "loose": replicaset("loose"),
      "odd": {"kind": "ReplicaSet", "metadata": {"name": "odd", "ownerReferences": [owner("Rollout", "canary")]}}}


class TestUsers:
    def test_a_deployment_is_found_through_its_replicaset(self):
        pods = [pod("web-7d9-a", owners=[owner("ReplicaSet", "web-7d9")])]
        assert cw.claim_users(pods, RS, "data") == (["Deployment/web"], [])

    def test_statefulset_and_loose_replicaset_are_their_own_owners(self):
        pods = [pod("db-0", owners=[owner("StatefulSet", "db")]), pod("loose-x", owners=[owner("ReplicaSet", "loose")])]
        assert cw.claim_users(pods, RS, "data") == (["StatefulSet/db", "ReplicaSet/loose"], [])

    def test_a_readwritemany_claim_has_every_owner_once_and_named_ones_first(self):
        pods = [pod("web-7d9-b", owners=[owner("ReplicaSet", "web-7d9")]),
                pod("web-7d9-a", owners=[owner("ReplicaSet", "web-7d9")]),
                pod("reader-0", owners=[owner("StatefulSet", "reader")]),
                pod("other", claims=("elsewhere",), owners=[owner("StatefulSet", "other")])]
        assert cw.claim_users(pods, RS, "data", named=["StatefulSet/reader"]) == (
            ["StatefulSet/reader", "Deployment/web"], [])

    def test_finished_pods_do_not_use_the_claim_and_terminating_ones_still_do(self):
        pods = [pod("done", phase="Succeeded", owners=[owner("StatefulSet", "a")]),
                pod("failed", phase="Failed", owners=[owner("StatefulSet", "b")]),
                pod("leaving", terminating=True, owners=[owner("StatefulSet", "c")])]
        assert [p["metadata"]["name"] for p in cw.mounting_pods(pods, "data")] == ["leaving"]
        assert cw.claim_users(pods, RS, "data") == (["StatefulSet/c"], [])

    def test_a_helper_pod_left_by_a_killed_run_is_not_a_user(self):
        leftover = helper_pod.helper_manifest("statesafe-copy-data-ab12cd", "data", "img", False, 600)
        leftover["status"] = {"phase": "Running"}
        assert helper_pod.is_helper_pod(leftover)
        pods = [leftover, pod("db-0", owners=[owner("StatefulSet", "db")])]
        assert [p["metadata"]["name"] for p in cw.mounting_pods(pods, "data")] == ["db-0"]
        assert cw.claim_users(pods, RS, "data") == (["StatefulSet/db"], [])
        # The same bare pod without the helper's labels is the application's, and refused.
        del leftover["metadata"]["labels"]
        assert not helper_pod.is_helper_pod(leftover)
        assert [p["metadata"]["name"] for p, _why in cw.claim_users(pods, RS, "data")[1]] == [
            "statesafe-copy-data-ab12cd"]

    def test_an_unused_claim_has_no_users(self):
        assert cw.claim_users([pod("x", claims=("other",))], RS, "data") == ([], [])

    @pytest.mark.parametrize("owners, why", [
        ((), "no controller (a bare pod)"),
        ((owner("StatefulSet", "db", controller=False),), "no controller (a bare pod)"),
        ((owner("DaemonSet", "agent"),), "DaemonSet agent, which has no replica count"),
        ((owner("Job", "once"),), "Job once, which has no replica count"),
        ((owner("ReplicaSet", "odd"),), "ReplicaSet odd, controlled by Rollout canary"),
    ])
    def test_pods_nothing_can_scale_are_reported_with_why(self, owners, why):
        keys, unowned = cw.claim_users([pod("p", owners=owners)], RS, "data")
        assert keys == [] and [(p["metadata"]["name"], w) for p, w in unowned] == [("p", why)]

    def test_refusal_names_namespace_pod_container_and_mount_path(self):
        pods = [pod("agent-x", owners=[owner("DaemonSet", "agent")], container="agent", path="/srv/data"),
                pod("bare")]
        _keys, unowned = cw.claim_users(pods, RS, "data")
        with pytest.raises(ClaimBusy) as caught:
            cw.refuse_unowned(unowned, NS, "data")
        text = str(caught.value)
        assert "claim data is mounted by pod agent-x (DaemonSet agent, which has no replica count), and by bare" in text
        assert caught.value.location == {"namespace": NS, "pod": "agent-x", "container": "agent", "path": "/srv/data",
                                         "kind": "PersistentVolumeClaim", "name": "data"}
        cw.refuse_unowned([], NS, "data")


class TestPlan:
    @pytest.mark.parametrize("text, expected", [
        ("Deployment/web", ("Deployment", "web")), ("db", ("StatefulSet", "db")),
        ("ReplicaSet/r", ("ReplicaSet", "r")), ("StatefulSet/db", ("StatefulSet", "db"))])
    def test_parse_workload(self, text, expected):
        assert cw.parse_workload(text) == expected

    @pytest.mark.parametrize("text", ["DaemonSet/agent", "Deployment/", ""])
    def test_parse_workload_refuses_what_does_not_scale(self, text):
        with pytest.raises(InvalidInput):
            cw.parse_workload(text)

    def test_scale_plan_remembers_each_replica_count_with_the_api_default(self):
        live = {"Deployment/web": {"spec": {"replicas": 3}}, "StatefulSet/db": {"spec": {}},
                "ReplicaSet/r": {"spec": {"replicas": 0}}}
        assert cw.scale_plan(["Deployment/web", "StatefulSet/db", "ReplicaSet/r"], live) == [
            {"workload": "Deployment/web", "kind": "Deployment", "name": "web", "replicas": 3},
            {"workload": "StatefulSet/db", "kind": "StatefulSet", "name": "db", "replicas": 1},
            {"workload": "ReplicaSet/r", "kind": "ReplicaSet", "name": "r", "replicas": 0}]

    def test_scale_plan_of_a_missing_workload_names_it(self):
        with pytest.raises(ObjectNotFound, match="Deployment web not found"):
            cw.scale_plan(["Deployment/web"], {})


def workload(kind, name, replicas, ready=None, generation=1, observed=1):
    ready = replicas if ready is None else ready
    status = {"observedGeneration": observed, "replicas": ready, "readyReplicas": ready, "updatedReplicas": ready,
              "availableReplicas": ready, "currentRevision": "r1", "updateRevision": "r1"}
    return {"kind": kind, "metadata": {"name": name, "namespace": NS, "generation": generation},
            "spec": {"replicas": replicas}, "status": status}


@pytest.mark.parametrize("obj, ready", [
    (workload("Deployment", "w", 2), True),
    (workload("Deployment", "w", 2, ready=1), False),
    (workload("Deployment", "w", 0), True),
    (workload("StatefulSet", "s", 1), True),
    (workload("StatefulSet", "s", 1, ready=0), False),
    (workload("ReplicaSet", "r", 2), True),
    (workload("ReplicaSet", "r", 2, ready=1), False),
    (workload("ReplicaSet", "r", 1, generation=2), False),
])
def test_workload_ready(obj, ready):
    assert cw.workload_ready(obj)[0] is ready


def test_a_deployment_available_but_not_ready_is_not_ready():
    obj = workload("Deployment", "w", 1)
    obj["status"]["readyReplicas"] = 0
    assert cw.workload_ready(obj) == (False, "0 of 1 replicas ready")


class FakeApi(object):
    """A namespace with workloads and pods: scaling a workload takes its pods away (or brings them back ready) one
    poll later, as the controllers would."""

    def __init__(self, workloads, pods, replicasets=None, pods_stay=False):
        self.workloads = dict(("{0}/{1}".format(w["kind"], w["metadata"]["name"]), w) for w in workloads)
        self.pods = list(pods)
        self.replicasets = list((replicasets or RS).values())
        self.pods_stay = pods_stay
        self.patches = []
        self.pending = []

    def resource_type(self, api_version, kind):
        assert api_version == "apps/v1"
        return ResourceType(api_version, kind, kind.lower() + "s", True, "apis")

    def _key(self, path):
        parts = path.split("/")
        kind = {"deployments": "Deployment", "statefulsets": "StatefulSet", "replicasets": "ReplicaSet"}[parts[6]]
        return "{0}/{1}".format(kind, parts[7]), parts[8:]

    def request(self, method, path, body=None, location=None, content_type=None):
        if method == "GET":
            self.settle()
        key, rest = self._key(path)
        if key not in self.workloads:
            raise ObjectNotFound("not found", **location)
        item = self.workloads[key]
        if method == "PATCH":
            assert rest == ["scale"] and content_type == "application/merge-patch+json"
            self.patches.append((key, body["spec"]["replicas"]))
            item["spec"]["replicas"] = body["spec"]["replicas"]
            item["status"]["readyReplicas"] = 0
            self.pending.append(key)
        return item

    def list_items(self, rtype, namespace=None):
        assert rtype.kind == "ReplicaSet" and namespace == NS
        return self.replicasets

    def list_pods(self, namespace):
        assert namespace == NS
        self.settle()
        return self.pods

    def settle(self):
        """One poll after a scale, the controllers have done their work."""
        for key in self.pending:
            item = self.workloads[key]
            wanted = item["spec"]["replicas"]
            item["status"].update(readyReplicas=wanted, replicas=wanted, updatedReplicas=wanted,
                                  availableReplicas=wanted)
            if wanted == 0 and not self.pods_stay:
                self.pods = [p for p in self.pods if key not in self.owner_keys(p)]
        self.pending = []

    @staticmethod
    def owner_keys(p):
        refs = p["metadata"]["ownerReferences"]
        return ["{0}/{1}".format(r["kind"], r["name"]) for r in refs] + \
            ["Deployment/" + r["name"].split("-")[0] for r in refs if r["kind"] == "ReplicaSet"]


class Clock(object):
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def users(api, clock=None):
    clock = clock or Clock()
    return cw.ClaimWorkloads(api, NS, "data", clock=clock, sleep=clock.sleep)


def web_and_reader():
    return FakeApi([workload("Deployment", "web", 2), workload("StatefulSet", "reader", 1)],
                   [pod("web-7d9-a", owners=[owner("ReplicaSet", "web-7d9")]),
                    pod("web-7d9-b", owners=[owner("ReplicaSet", "web-7d9")]),
                    pod("reader-0", owners=[owner("StatefulSet", "reader")])])


def test_info_stop_start_round_trip_on_a_readwritemany_claim():
    api = web_and_reader()
    claim = users(api)
    found = cw.run(claim, {"operation": "find", "workloads": ["Deployment/web"], "timeout": 60, "poll_interval": 1})
    assert found["users"] == [{"kind": "Deployment", "name": "web", "replicas": 2},
                              {"kind": "StatefulSet", "name": "reader", "replicas": 1}]
    assert api.patches == [] and found["changed"] is False
    params = {"users": found["users"], "timeout": 60, "poll_interval": 1}
    stopped = cw.run(claim, dict(params, operation="stop"))
    assert stopped["changed"] is True and api.patches == [("Deployment/web", 0), ("StatefulSet/reader", 0)]
    assert cw.mounting_pods(api.list_pods(NS), "data") == []
    assert cw.run(claim, dict(params, operation="stop"))["changed"] is False
    started = cw.run(claim, dict(params, operation="start"))
    assert started["changed"] is True and api.patches[2:] == [("Deployment/web", 2), ("StatefulSet/reader", 1)]
    assert cw.run(claim, dict(params, operation="start"))["changed"] is False


def test_check_mode_reports_and_scales_nothing():
    api = web_and_reader()
    params = {"users": [{"kind": "Deployment", "name": "web", "replicas": 2}], "timeout": 60, "poll_interval": 1}
    assert cw.run(users(api), dict(params, operation="stop"), check_mode=True)["changed"] is True
    assert api.patches == []


def test_info_waits_for_a_named_workload_and_names_it_when_it_never_comes():
    api = FakeApi([], [])
    with pytest.raises(WorkloadsNotReady) as caught:
        users(api).plan(["Deployment/web"], timeout=10, poll_interval=2)
    assert "Deployment/web: absent" in str(caught.value) and caught.value.not_ready == ["Deployment/web"]
    assert caught.value.location["namespace"] == NS and caught.value.location["name"] == "data"


def test_info_keeps_a_named_workload_scaled_to_0_and_finds_nothing_for_an_unused_claim():
    api = FakeApi([workload("Deployment", "web", 0)], [pod("x", claims=("other",))])
    assert users(api).plan(["Deployment/web"], 10, 1) == [
        {"workload": "Deployment/web", "kind": "Deployment", "name": "web", "replicas": 0}]
    assert users(api).plan([], 10, 1) == []


def test_info_refuses_a_pod_it_cannot_stop():
    api = FakeApi([], [pod("agent-x", owners=[owner("DaemonSet", "agent")])])
    with pytest.raises(ClaimBusy, match="pod agent-x"):
        users(api).plan([], 10, 1)


def test_stop_fails_naming_the_pod_that_still_mounts_the_claim():
    api = web_and_reader()
    api.pods_stay = True
    with pytest.raises(ClaimBusy) as caught:
        users(api).stop([{"workload": "Deployment/web", "kind": "Deployment", "name": "web", "replicas": 2}], 6, 2)
    assert "still mounted by 3 pod(s) 6 s after its users were scaled to 0" in str(caught.value)
    assert caught.value.location["pod"] == "reader-0" and caught.value.location["container"] == "main"
    assert caught.value.location["path"] == "/var/lib"


def test_start_fails_naming_the_workload_that_is_not_ready():
    api = web_and_reader()
    claim = users(api)
    plan = [{"workload": "Deployment/web", "kind": "Deployment", "name": "web", "replicas": 2}]
    api.workloads["Deployment/web"]["spec"]["replicas"] = 0
    api.workloads["Deployment/web"]["metadata"]["generation"] = 5
    with pytest.raises(WorkloadsNotReady) as caught:
        claim.start(plan, 4, 1)
    assert caught.value.not_ready == ["Deployment/web"] and api.patches == [("Deployment/web", 2)]
