"""The local cluster is a real Kubernetes: real containers, volumes, exec and scaling."""

from __future__ import annotations

import hashlib
import os
import subprocess

import pytest
from kubernetes import client
from kubernetes.stream import stream

from cluster_helpers import REPO, exists, namespace_events, wait_until

SAMPLE = REPO / "tests" / "cluster" / "sample" / "sample.sh"


def run_exec(core, namespace: str, pod: str, argv: list[str],
             container: str | None = None) -> tuple[int, bytes, bytes]:
    """Exec through the API server's websocket, keeping stdout as raw bytes."""
    ws = stream(core.connect_get_namespaced_pod_exec, pod, namespace, command=argv, container=container,
                stdin=False, stdout=True, stderr=True, tty=False,
                _preload_content=False, binary=True)
    out, err = bytearray(), bytearray()
    while ws.is_open():
        ws.update(timeout=5)
        if ws.peek_stdout():
            out += ws.read_stdout()
        if ws.peek_stderr():
            err += ws.read_stderr()
    rc = ws.returncode
    ws.close()
    return rc, bytes(out), bytes(err)


def toolbox_statefulset(namespace: str, image: str, replicas: int = 1) -> client.V1StatefulSet:
    labels = {"app": "vol"}
    return client.V1StatefulSet(
        metadata=client.V1ObjectMeta(name="vol", namespace=namespace),
        spec=client.V1StatefulSetSpec(
            service_name="vol", replicas=replicas,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(
                    termination_grace_period_seconds=1,
                    containers=[client.V1Container(
                        name="toolbox", image=image, command=["sleep", "infinity"],
                        volume_mounts=[client.V1VolumeMount(name="data", mount_path="/data")])])),
            volume_claim_templates=[client.V1PersistentVolumeClaim(
                metadata=client.V1ObjectMeta(name="data"),
                spec=client.V1PersistentVolumeClaimSpec(
                    access_modes=["ReadWriteOnce"],
                    resources=client.V1VolumeResourceRequirements(requests={"storage": "64Mi"})))]))


def ready_replicas(apps, namespace: str, name: str) -> int:
    return apps.read_namespaced_stateful_set(name, namespace).status.ready_replicas or 0


@pytest.fixture
def volume_pod(apps, core, namespace, image_refs):
    """A StatefulSet with a PVC from the default StorageClass, Ready."""
    apps.create_namespaced_stateful_set(namespace, toolbox_statefulset(namespace, image_refs["toolbox"]))
    wait_until("StatefulSet vol Ready", lambda: ready_replicas(apps, namespace, "vol") == 1,
               explain=lambda: namespace_events(core, namespace))
    return "vol-0"


def test_node_is_ready_and_runs_our_versions(core):
    nodes = core.list_node().items
    assert len(nodes) == 1
    node = nodes[0]
    ready = {c.type: c.status for c in node.status.conditions}["Ready"]
    assert ready == "True"
    assert node.status.node_info.kubelet_version.startswith("v1.34.")
    assert node.status.node_info.container_runtime_version.startswith("containerd://1.6")


def test_statefulset_with_pvc_becomes_ready(core, namespace, volume_pod):
    claim = core.read_namespaced_persistent_volume_claim("data-vol-0", namespace)
    assert claim.status.phase == "Bound"
    assert claim.spec.storage_class_name == "hostpath"


def test_exec_returns_exit_code_and_binary_stdout(core, namespace, volume_pod):
    rc, out, err = run_exec(core, namespace, volume_pod, ["sh", "-c", "echo oops >&2; exit 7"])
    assert (rc, out, err) == (7, b"", b"oops\n")

    every_byte = bytes(range(256)) * 4096  # 1 MiB, every byte value, NULs and invalid UTF-8
    script = ("python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 4096)'")
    rc, out, err = run_exec(core, namespace, volume_pod, ["sh", "-c", script])
    assert rc == 0, err
    assert hashlib.sha256(out).hexdigest() == hashlib.sha256(every_byte).hexdigest()


def test_volume_data_survives_pod_deletion(core, namespace, volume_pod):
    rc, before, err = run_exec(core, namespace, volume_pod,
                               ["sh", "-c", "head -c 100000 /dev/urandom > /data/blob && sha256sum /data/blob"])
    assert rc == 0, err
    old_uid = core.read_namespaced_pod(volume_pod, namespace).metadata.uid
    core.delete_namespaced_pod(volume_pod, namespace, grace_period_seconds=0)

    def recreated_and_ready():
        try:
            pod = core.read_namespaced_pod(volume_pod, namespace)
        except client.ApiException:
            return False
        conditions = {c.type: c.status for c in pod.status.conditions or []}
        return pod.metadata.uid != old_uid and conditions.get("Ready") == "True"

    wait_until("pod recreated", recreated_and_ready)
    rc, after, err = run_exec(core, namespace, volume_pod, ["sha256sum", "/data/blob"])
    assert rc == 0, err
    assert after == before


def test_scale_to_zero_and_back(core, apps, namespace, volume_pod):
    run_exec(core, namespace, volume_pod, ["sh", "-c", "echo kept > /data/marker"])
    apps.patch_namespaced_stateful_set_scale("vol", namespace, {"spec": {"replicas": 0}})
    wait_until("pod gone", lambda: not core.list_namespaced_pod(namespace).items)
    apps.patch_namespaced_stateful_set_scale("vol", namespace, {"spec": {"replicas": 1}})
    wait_until("StatefulSet vol Ready again", lambda: ready_replicas(apps, namespace, "vol") == 1)
    assert run_exec(core, namespace, volume_pod, ["cat", "/data/marker"]) == (0, b"kept\n", b"")


def test_containers_are_real_containerd_containers(core, namespace, volume_pod, cluster_state):
    pod = core.read_namespaced_pod(volume_pod, namespace)
    container_id = pod.status.container_statuses[0].container_id.removeprefix("containerd://")
    listed = subprocess.run(
        ["ctr", "--address", str(cluster_state / "containerd" / "containerd.sock"),
         "-n", "k8s.io", "containers", "ls", "-q"], capture_output=True, text=True, check=True, timeout=120)
    assert container_id in listed.stdout.split()


def test_pods_cannot_reach_outside_the_machine(core, namespace, volume_pod):
    # The bridge has no default route: an address off the machine is unreachable at once.
    rc, out, err = run_exec(core, namespace, volume_pod,
                            ["python3", "-c", "import socket; s=socket.socket(); s.settimeout(3); "
                             "s.connect(('192.0.2.1', 9))"])
    assert rc != 0 and out == b""
    assert b"unreachable" in err.lower()


def test_the_local_class_applies_fsgroup_and_deletes_its_volume_with_the_claim(core, namespace, image_refs,
                                                                               cluster_state):
    """Claims of class `local` (tests/cluster/local_provisioner.py) behave as CSI storage does for a non-root pod:
    the volume is group-owned by the pod's fsGroup and writable by it; deleting the claim deletes the volume."""
    core.create_namespaced_persistent_volume_claim(namespace, client.V1PersistentVolumeClaim(
        metadata=client.V1ObjectMeta(name="data"),
        spec=client.V1PersistentVolumeClaimSpec(
            access_modes=["ReadWriteOnce"], storage_class_name="local",
            resources=client.V1VolumeResourceRequirements(requests={"storage": "64Mi"}))))
    core.create_namespaced_pod(namespace, client.V1Pod(
        metadata=client.V1ObjectMeta(name="writer"),
        spec=client.V1PodSpec(
            termination_grace_period_seconds=1,
            security_context=client.V1PodSecurityContext(run_as_user=1000, run_as_group=1000, fs_group=2000,
                                                         run_as_non_root=True),
            containers=[client.V1Container(
                name="toolbox", image=image_refs["toolbox"], command=["sleep", "infinity"],
                volume_mounts=[client.V1VolumeMount(name="data", mount_path="/data")])],
            volumes=[client.V1Volume(name="data", persistent_volume_claim=client.V1PersistentVolumeClaimVolumeSource(
                claim_name="data"))])))

    def running():
        return core.read_namespaced_pod("writer", namespace).status.phase == "Running"

    wait_until("pod writer Running on a local volume", running, explain=lambda: namespace_events(core, namespace))
    rc, out, err = run_exec(core, namespace, "writer", ["sh", "-c", "echo kept > /data/f && stat -c '%u %g' /data/f"])
    assert (rc, out) == (0, b"1000 2000\n"), err
    volume = core.read_persistent_volume(core.read_namespaced_persistent_volume_claim("data", namespace).spec.volume_name)
    assert volume.spec.local.path.startswith(str(cluster_state / "local-volumes"))

    core.delete_namespaced_pod("writer", namespace, grace_period_seconds=0)
    core.delete_namespaced_persistent_volume_claim("data", namespace)

    def volume_gone():
        return (not exists(lambda: core.read_persistent_volume(volume.metadata.name))
                and not os.path.exists(volume.spec.local.path))

    wait_until(f"volume {volume.metadata.name} and its directory deleted", volume_gone, timeout=120)


SAMPLE_NS = "sf-cluster"


@pytest.fixture(scope="module")
def sample(kubeconfig):
    """Run tests/cluster/sample/sample.sh with a command on a stack of this file's own; return its stdout."""
    def run(*args: str) -> str:
        return subprocess.run([str(SAMPLE), *args], capture_output=True, text=True, check=True, timeout=900,
                              env={**os.environ, "KUBECONFIG": kubeconfig, "SAMPLE_NAMESPACE": SAMPLE_NS}
                              ).stdout.strip()
    yield run
    run("destroy", "--no-wait")


def test_sample_stack_seeds_and_fingerprints_the_same_twice(sample):
    sample("deploy")
    sample("seed")
    first = sample("fingerprint")
    sample("seed")
    assert sample("fingerprint") == first and len(first) == 64


def test_fingerprint_sees_one_changed_row_and_one_changed_znode(sample, core):
    sample("deploy")
    sample("seed")
    seeded = sample("fingerprint")
    rc, out, err = run_exec(core, SAMPLE_NS, "mariadb-0", [
        "sh", "-c", 'MYSQL_PWD="$MARIADB_ROOT_PASSWORD" mariadb -uroot '
                    '-e "UPDATE zuul.zuul_build SET result=\'FAILURE\' WHERE id=12345"'])
    assert rc == 0, err + out
    after_row = sample("fingerprint")
    rc, out, err = run_exec(core, SAMPLE_NS, "zookeeper-0", [
        "zkCli", "set", "/zuul/system/conf-version", "43"], container="zookeeper")
    assert rc == 0, err + out
    after_znode = sample("fingerprint")
    sample("seed")
    assert len({seeded, after_row, after_znode}) == 3
    assert sample("fingerprint") == seeded
