from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

import pytest

from ansible_collections.statesafe.backup.plugins.module_utils.k8s import helper_pod
from ansible_collections.statesafe.backup.plugins.module_utils.errors import HelperPodError

DNS_1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@pytest.mark.parametrize("claim", ["data", "mysql-persistent-storage-mariadb-0", "Weird_Name.v1", "x" * 253, "---"])
def test_helper_name_is_a_valid_pod_name(claim):
    name = helper_pod.helper_name(claim, "a1b2c3")
    assert DNS_1123.match(name) and len(name) <= 63
    assert name.endswith("-a1b2c3")


def test_manifest():
    body = helper_pod.helper_manifest("h", "data.claim", "img:1", read_only=True, lifetime=600, node="n1")
    spec = body["spec"]
    assert spec["nodeName"] == "n1"
    assert spec["restartPolicy"] == "Never" and spec["activeDeadlineSeconds"] == 600
    assert spec["automountServiceAccountToken"] is False
    container = spec["containers"][0]
    assert container["image"] == "img:1" and container["command"] == ["sleep", "600"]
    assert container["volumeMounts"] == [{"name": "data", "mountPath": "/mnt/claim", "readOnly": True}]
    assert spec["volumes"][0]["persistentVolumeClaim"] == {"claimName": "data.claim", "readOnly": True}
    assert body["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "statesafe.backup"
    unplaced = helper_pod.helper_manifest("h", "c", "img:1", read_only=False, lifetime=5)
    assert "nodeName" not in unplaced["spec"]
    assert unplaced["spec"]["containers"][0]["volumeMounts"][0]["readOnly"] is False


def claim(modes=("ReadWriteOnce",), phase="Bound"):
    return {"metadata": {"name": "data", "namespace": "ns"}, "spec": {"accessModes": list(modes)},
            "status": {"phase": phase}}


def user(name, node):
    return {"metadata": {"name": name}, "spec": {"nodeName": node}}


@pytest.mark.parametrize("modes, users, node", [
    (("ReadWriteOnce",), [user("a", "n1"), user("b", "n2")], "n1"),
    (("ReadWriteOnce",), [], None),
    (("ReadWriteMany",), [user("a", None), user("b", "n2")], "n2"),
    (("ReadWriteOncePod",), [], None),
])
def test_placement(modes, users, node):
    assert helper_pod.placement(claim(modes), users) == node


def test_placement_refuses_rwop_in_use_and_lost():
    with pytest.raises(HelperPodError, match="ReadWriteOncePod and mounted by pod a"):
        helper_pod.placement(claim(("ReadWriteOncePod",)), [user("a", "n1")])
    with pytest.raises(HelperPodError, match="lost"):
        helper_pod.placement(claim(phase="Lost"), [])


@pytest.mark.parametrize("status, problem", [
    ({"phase": "Pending"}, None),
    ({"phase": "Pending", "containerStatuses": [{"state": {"waiting": {"reason": "ContainerCreating"}}}]}, None),
    ({"phase": "Pending", "containerStatuses": [{"state": {"waiting": {"reason": "ErrImagePull", "message": "nope"}}}]},
     "ErrImagePull"),
    ({"phase": "Failed", "reason": "DeadlineExceeded"}, "DeadlineExceeded"),
])
def test_waiting_problem(status, problem):
    found = helper_pod.waiting_problem({"status": status})
    if problem is None:
        assert found is None
    else:
        assert problem in found


def test_pending_summary():
    pod = {"status": {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "True"},
        {"type": "Ready", "status": "False", "message": "containers not ready"}]}}
    assert helper_pod.pending_summary(pod) == "phase Pending; Ready=False (containers not ready)"
