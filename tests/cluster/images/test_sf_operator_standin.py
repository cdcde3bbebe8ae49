"""The TEST STAND-IN for sf-operator: what it decides (desired state), without a cluster.

Its behaviour in a cluster (children re-created, replicas put back, a missing Secret generated) is covered by
tests/integration/roles/test_operator_restore.py.
"""

import base64
import importlib.util
from pathlib import Path

spec = importlib.util.spec_from_file_location(
    "sf_operator_standin", Path(__file__).parent / "sf-operator-standin" / "sf_operator_standin.py")
standin = importlib.util.module_from_spec(spec)
spec.loader.exec_module(standin)

RESOURCE = {"apiVersion": "sf.softwarefactory-project.io/v1", "kind": "SoftwareFactory",
            "metadata": {"name": "my-sf", "namespace": "sf", "uid": "u-1", "generation": 3},
            "spec": {"zookeeper": {"replicas": 3}}}
TEMPLATES = [
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "mariadb", "namespace": "elsewhere"}, "spec": {}},
    {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "mariadb"}, "spec": {"replicas": 1}},
    {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "zookeeper"}, "spec": {"replicas": 1}},
]


def test_children_are_owned_by_the_resource_in_its_namespace_with_its_replicas():
    children = standin.desired_children(RESOURCE, TEMPLATES)
    assert [(c["kind"], c["metadata"]["name"]) for c in children] == [
        ("Service", "mariadb"), ("StatefulSet", "mariadb"), ("StatefulSet", "zookeeper")]
    for child in children:
        assert child["metadata"]["namespace"] == "sf"
        assert child["metadata"]["ownerReferences"] == [{
            "apiVersion": "sf.softwarefactory-project.io/v1", "kind": "SoftwareFactory", "name": "my-sf", "uid": "u-1",
            "controller": True, "blockOwnerDeletion": True}]
    assert [c["spec"]["replicas"] for c in children[1:]] == [1, 3]
    assert TEMPLATES[0]["metadata"]["namespace"] == "elsewhere"  # the templates are not changed


def test_replicas_are_put_back_to_what_the_resource_says():
    desired = standin.desired_children(RESOURCE, TEMPLATES)[2]
    assert standin.replicas_drift({"spec": {"replicas": 0}}, desired) == 3
    assert standin.replicas_drift({"spec": {"replicas": 3}}, desired) is None


def test_a_generated_secret_has_a_new_random_value_and_the_samples_layout():
    first = standin.generated_secret("zuul-db", RESOURCE)
    second = standin.generated_secret("zuul-db", RESOURCE)
    assert first["type"] == "kubernetes.io/basic-auth"
    assert base64.b64decode(first["data"]["username"]) == b"zuul"
    assert first["data"]["password"] != second["data"]["password"]
    assert first["metadata"]["labels"]["app.kubernetes.io/part-of"] == "softwarefactory"
    assert first["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    fixed = standin.generated_secret("mariadb-root-password", RESOURCE, token=lambda n: "x" * n)
    assert fixed["data"] == {"mariadb-root-password": base64.b64encode(b"x" * 24).decode()}


def test_status_is_ready_once_every_statefulset_is():
    ready = {"metadata": {"generation": 1}, "spec": {"replicas": 1},
             "status": {"observedGeneration": 1, "readyReplicas": 1}}
    starting = {"metadata": {"generation": 1}, "spec": {"replicas": 1}, "status": {"observedGeneration": 1}}
    assert standin.status_of(RESOURCE, [ready, ready]) == {"ready": True, "observedGeneration": 3}
    assert standin.status_of(RESOURCE, [ready, starting])["ready"] is False
    assert standin.status_of(RESOURCE, [])["ready"] is False
