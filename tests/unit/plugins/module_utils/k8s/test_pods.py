from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.statesafe.backup.plugins.module_utils.k8s import pods
from ansible_collections.statesafe.backup.plugins.module_utils.errors import ObjectNotFound, PodNotReady


def pod(name="p", containers=("app", "sidecar"), phase="Running", states=None, annotations=None,
        deleting=False, claims=()):
    states = states or dict((c, {"running": {}}) for c in containers)
    meta = {"name": name, "namespace": "ns", "annotations": annotations or {}}
    if deleting:
        meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    return {
        "metadata": meta,
        "spec": {"containers": [{"name": c} for c in containers],
                 "volumes": [{"name": "v%d" % i, "persistentVolumeClaim": {"claimName": c}}
                             for i, c in enumerate(claims)] + [{"name": "cfg", "configMap": {"name": "x"}}]},
        "status": {"phase": phase,
                   "containerStatuses": [{"name": c, "state": s} for c, s in states.items()]},
    }


class TestChooseContainer:
    def test_explicit(self):
        assert pods.choose_container(pod(), "sidecar") == "sidecar"

    def test_default_first(self):
        assert pods.choose_container(pod()) == "app"

    def test_annotation(self):
        assert pods.choose_container(pod(annotations={pods.DEFAULT_CONTAINER_ANNOTATION: "sidecar"})) == "sidecar"

    def test_missing_container_lists_available(self):
        with pytest.raises(ObjectNotFound) as caught:
            pods.choose_container(pod(), "db")
        assert "it has: app, sidecar" in str(caught.value)
        assert caught.value.location == {"namespace": "ns", "pod": "p", "container": "db"}

    def test_no_containers(self):
        with pytest.raises(ObjectNotFound):
            pods.choose_container(pod(containers=()))


class TestEnsureRunning:
    def test_running(self):
        pods.ensure_running(pod(), "app")

    @pytest.mark.parametrize("kwargs, container, message", [
        (dict(phase="Pending"), "app", "phase Pending"),
        (dict(deleting=True), "app", "being deleted"),
        (dict(states={"app": {"waiting": {"reason": "CrashLoopBackOff"}}}), "app", "CrashLoopBackOff"),
        (dict(states={"app": {"terminated": {"reason": "Completed"}}}), "app", "Completed"),
        (dict(states={"app": {"running": {}}}), "sidecar", "no status"),
    ])
    def test_not_ready(self, kwargs, container, message):
        with pytest.raises(PodNotReady, match=message):
            pods.ensure_running(pod(**kwargs), container)


def test_order_pods_sorted_and_skips_terminating():
    chosen, skipped = pods.order_pods([pod("b"), pod("a"), pod("c", deleting=True), pod("a-1")])
    assert [pods.pod_name(p) for p in chosen] == ["a", "a-1", "b"]
    assert skipped == ["c"]


def test_claim_users():
    found = pods.claim_users([pod("z", claims=["data"]), pod("a", claims=["other", "data"]),
                              pod("done", claims=["data"], phase="Succeeded"), pod("gone", claims=["data"], deleting=True),
                              pod("none")], "data")
    assert [pods.pod_name(p) for p in found] == ["a", "z"]


def mounting(name, mounts, phase="Running", claim="data"):
    """A pod whose volume `v` is the claim, and a container per (container name, mount of `v` or None)."""
    return {"metadata": {"name": name, "namespace": "ns"},
            "spec": {"volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": claim}}],
                     "containers": [{"name": c, "volumeMounts": [dict({"name": "v"}, **m)] if m is not None else []}
                                    for c, m in mounts]},
            "status": {"phase": phase}}


class TestClaimMount:
    def test_the_first_running_user_by_name_and_its_first_container_that_mounts_the_claim(self):
        users = [mounting("web-b", [("main", {"mountPath": "/data"})]),
                 mounting("web-a", [("sidecar", None), ("main", {"mountPath": "/srv", "readOnly": True})])]
        found_pod, container, path = pods.claim_mount(users + [mounting("other", [("x", {"mountPath": "/"})],
                                                                        claim="else")], "data")
        assert (pods.pod_name(found_pod), container, path) == ("web-a", "main", "/srv")

    def test_the_container_asked_for(self):
        both = mounting("web-a", [("main", {"mountPath": "/data"}), ("tools", {"mountPath": "/mnt/data"})])
        assert pods.claim_mount([both], "data", "tools")[1:] == ("tools", "/mnt/data")

    def test_a_subpath_mount_or_a_pod_not_running_is_passed_over_and_named(self):
        users = [mounting("web-a", [("main", {"mountPath": "/data", "subPath": "www"})]),
                 mounting("web-b", [("main", {"mountPath": "/data"})], phase="Pending")]
        with pytest.raises(ObjectNotFound) as caught:
            pods.claim_mount(users, "data")
        message = str(caught.value)
        assert ("no running pod mounts claim data whole: looked at web-a (container main mounts only a subPath of "
                "it), web-b (Pending); copy it through a helper pod instead") in message, message
        assert "namespace" not in caught.value.location and caught.value.location["name"] == "data"

    def test_a_container_that_does_not_mount_it(self):
        with pytest.raises(ObjectNotFound) as caught:
            pods.claim_mount([mounting("web-a", [("main", {"mountPath": "/data"}), ("tools", None)])], "data", "tools")
        assert "in container tools: looked at web-a (no container tools mounting it)" in str(caught.value)

    def test_no_pod_mounts_it(self):
        with pytest.raises(ObjectNotFound) as caught:
            pods.claim_mount([], "data")
        assert "no running pod mounts claim data whole (no pod mounts it)" in str(caught.value)


def replica(name, labels, ready=True, phase="Running", deleting=False):
    item = pod(name, phase=phase, deleting=deleting)
    item["metadata"]["labels"] = labels
    item["status"]["conditions"] = [{"type": "Ready", "status": "True" if ready else "False"}]
    return item


def deployment(selector):
    return {"kind": "Deployment", "metadata": {"name": "db", "namespace": "ns"}, "spec": {"selector": selector}}


def test_ready_pod_of_takes_the_first_ready_pod_its_selector_picks():
    pods_ = [replica("db-b", {"app": "db"}), replica("db-a", {"app": "db"}, ready=False),
             replica("db-0", {"app": "other"}), replica("db-c", {"app": "db"}, deleting=True)]
    assert pods.pod_name(pods.ready_pod_of(deployment({"matchLabels": {"app": "db"}}), pods_)) == "db-b"
    expression = {"matchExpressions": [{"key": "app", "operator": "In", "values": ["db"]}]}
    assert pods.pod_name(pods.ready_pod_of(deployment(expression), pods_)) == "db-b"


def test_ready_pod_of_names_every_pod_it_looked_at():
    pods_ = [replica("db-a", {"app": "db"}, ready=False, phase="Pending"), replica("db-c", {"app": "db"}, deleting=True)]
    with pytest.raises(ObjectNotFound) as caught:
        pods.ready_pod_of(deployment({"matchLabels": {"app": "db"}}), pods_)
    assert caught.value.message == "no ready pod of the workload to run in: looked at db-a (Pending), db-c (being deleted)"
    assert caught.value.location == {"namespace": "ns", "kind": "Deployment", "name": "db"}
    with pytest.raises(ObjectNotFound, match="it has no pods"):
        pods.ready_pod_of(deployment({"matchLabels": {"app": "db"}}), [])
