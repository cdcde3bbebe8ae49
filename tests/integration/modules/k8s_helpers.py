"""Pod and claim helpers for the module integration tests (importable as `k8s_helpers`)."""

from __future__ import annotations

from kubernetes import client
from kubernetes.client.rest import ApiException

from cluster_helpers import wait_until


def wait_for(predicate, timeout: float, what: str, interval: float = 0.5):
    return wait_until(what, predicate, timeout=timeout, interval=interval)


def pod_running(core, namespace, name) -> bool:
    try:
        pod = core.read_namespaced_pod(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    statuses = pod.status.container_statuses or []
    return pod.status.phase == "Running" and statuses and all(s.state.running for s in statuses)


def make_pod(core, namespace, name, image, containers=("main",), labels=None, claim=None, mount="/data"):
    """A pod of sleeping toolbox containers, optionally mounting a claim; waits until it runs."""
    volumes, mounts = None, None
    if claim:
        volumes = [client.V1Volume(name="data", persistent_volume_claim=client.V1PersistentVolumeClaimVolumeSource(
            claim_name=claim))]
        mounts = [client.V1VolumeMount(name="data", mount_path=mount)]
    body = client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels=labels or {}),
        spec=client.V1PodSpec(
            termination_grace_period_seconds=0,
            volumes=volumes,
            containers=[client.V1Container(name=c, image=image, image_pull_policy="Never",
                                           command=["sleep", "infinity"], volume_mounts=mounts)
                        for c in containers]))
    core.create_namespaced_pod(namespace, body)
    wait_for(lambda: pod_running(core, namespace, name), 180, f"pod {namespace}/{name} running")
    return name


def make_claim(core, namespace, name, size="256Mi"):
    core.create_namespaced_persistent_volume_claim(namespace, client.V1PersistentVolumeClaim(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1PersistentVolumeClaimSpec(
            access_modes=["ReadWriteOnce"],
            resources=client.V1VolumeResourceRequirements(requests={"storage": size}))))
    return name


def pod_exec(kubectl, namespace, pod, script, container=None, check=True, stdin=None):
    """Set up or inspect data in a pod (the modules under test never use this path)."""
    args = ["exec", "-i" if stdin is not None else "", "-n", namespace, pod]
    args = [a for a in args if a]
    if container:
        args += ["-c", container]
    return kubectl(*args, "--", "sh", "-c", script, input=stdin, check=check)
