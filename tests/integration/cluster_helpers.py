"""Helpers shared by the integration tests (importable as `cluster_helpers`).

They live here, not in a conftest.py: several conftest modules share that
name, so `from conftest import ...` would depend on collection order.
"""

from __future__ import annotations

import copy
import fcntl
import subprocess
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

REPO = Path(__file__).resolve().parents[2]
CLUSTER_SH = REPO / "tests" / "cluster" / "cluster.sh"
IMPORT_SH = REPO / "tests" / "cluster" / "images" / "import.sh"


def wait_until(what: str, predicate, timeout: float = 180, interval: float = 1.0,
               explain=None):
    """Poll predicate until truthy; on timeout fail with `explain()` (e.g. the events)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            detail = f"\n{explain()}" if explain else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{detail}")
        time.sleep(interval)


def namespace_events(core, namespace: str) -> str:
    events = sorted(core.list_namespaced_event(namespace).items,
                    key=lambda e: e.last_timestamp or e.event_time or e.metadata.creation_timestamp)
    return "\n".join(f"{e.type} {e.reason} {e.involved_object.kind}/{e.involved_object.name}: "
                     f"{e.message}" for e in events[-10:])


def exists(read) -> bool:
    try:
        read()
        return True
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise


def token_kubeconfig(core, admin_kubeconfig: str, namespace: str, account: str, path: Path) -> str:
    """Write a kubeconfig at `path` that acts as ServiceAccount `account` of `namespace` with a one-hour token (the
    admin kubeconfig's cluster); returns the token."""
    token = core.create_namespaced_service_account_token(account, namespace, client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600))).status.token
    cluster = copy.deepcopy(yaml.safe_load(Path(admin_kubeconfig).read_text())["clusters"][0])
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "clusters": [cluster],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [{"name": account,
                      "context": {"cluster": cluster["name"], "user": account, "namespace": namespace}}],
        "current-context": account}))
    path.chmod(0o600)
    return token


def restricted_namespace(core, name: str) -> None:
    """Create a namespace enforcing PodSecurity `restricted` and wait for its default ServiceAccount."""
    core.create_namespace({"metadata": {"name": name, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}})
    wait_until(f"default ServiceAccount in {name}",
               lambda: exists(lambda: core.read_namespaced_service_account("default", name)), timeout=60)


RESTRICTED_POD = {"runAsNonRoot": True, "runAsUser": 1000, "runAsGroup": 1000, "fsGroup": 2000,
                  "seccompProfile": {"type": "RuntimeDefault"}}
RESTRICTED_CONTAINER = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def build_web_app(api_client, namespace: str, image: str, claim: str = "web-data") -> None:
    """A small application that PodSecurity `restricted` admits: ConfigMap `settings`, Secret `credentials`, and
    Deployment `web` (pods labelled app=web, container `main`, uid 1000) with `claim` mounted at /data."""
    core, apps = client.CoreV1Api(api_client), client.AppsV1Api(api_client)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "settings"}, "data": {"mode": "production"}})
    core.create_namespaced_secret(namespace, {"metadata": {"name": "credentials"},
                                              "stringData": {"password": "sft-" + uuid.uuid4().hex}})
    core.create_namespaced_persistent_volume_claim(namespace, {"metadata": {"name": claim}, "spec": {
        "accessModes": ["ReadWriteOnce"], "storageClassName": "local", "resources": {"requests": {"storage": "64Mi"}}}})
    apps.create_namespaced_deployment(namespace, {"metadata": {"name": "web"}, "spec": {
        "replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "strategy": {"type": "Recreate"},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
            "terminationGracePeriodSeconds": 0, "securityContext": RESTRICTED_POD,
            "containers": [{"name": "main", "image": image, "imagePullPolicy": "IfNotPresent",
                            "command": ["sleep", "infinity"], "securityContext": RESTRICTED_CONTAINER,
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]}}}})


def ready_pod(core, namespace: str, selector: str) -> str:
    """The name of a running, ready, not deleted pod the label selector picks, or ''."""
    pods = [p for p in core.list_namespaced_pod(namespace, label_selector=selector).items
            if p.status.phase == "Running" and p.metadata.deletion_timestamp is None
            and all(c.ready for c in p.status.container_statuses or [])]
    return pods[0].metadata.name if pods else ""


@contextmanager
def service_account_kubeconfig(api_client, admin_kubeconfig: str, namespace: str, name: str,
                               rules: list[client.V1PolicyRule], path: Path):
    """A ServiceAccount `name` in `namespace` bound to a Role of `rules`, and a kubeconfig at `path` that acts as it:
    (path, user name, token). The ServiceAccount, Role and RoleBinding are deleted afterwards."""
    core, rbac = client.CoreV1Api(api_client), client.RbacAuthorizationV1Api(api_client)
    core.create_namespaced_service_account(namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=name)))
    rbac.create_namespaced_role(namespace, client.V1Role(metadata=client.V1ObjectMeta(name=name), rules=rules))
    rbac.create_namespaced_role_binding(namespace, client.V1RoleBinding(
        metadata=client.V1ObjectMeta(name=name),
        role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name=name),
        subjects=[client.RbacV1Subject(kind="ServiceAccount", name=name, namespace=namespace)]))
    try:
        token = token_kubeconfig(core, admin_kubeconfig, namespace, name, path)
        yield str(path), f"system:serviceaccount:{namespace}:{name}", token
    finally:
        rbac.delete_namespaced_role_binding(name, namespace)
        rbac.delete_namespaced_role(name, namespace)
        core.delete_namespaced_service_account(name, namespace)


def imported_app_image(kubeconfig: str, name: str) -> str:
    """The reference of an application image that `make cluster` does not import (tests/cluster/images/import.sh
    <name>): built when not cached, imported when containerd lacks it; one test at a time per cluster."""
    state = Path(kubeconfig).parent
    with open(state / "app-images.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        run = subprocess.run([str(IMPORT_SH), str(state / "containerd" / "containerd.sock"), name],
                             capture_output=True, text=True, check=False, timeout=3600)
    assert run.returncode == 0, f"{IMPORT_SH} {name} failed (exit {run.returncode}):\n{run.stderr[-4000:]}"
    status, ref, _digest = run.stdout.split()
    assert status in ("present", "imported") and ref.startswith(f"localhost/{name}:"), run.stdout
    return ref
