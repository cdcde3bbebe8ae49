"""Helpers shared by the integration tests (importable as `cluster_helpers`).

They live here, not in a conftest.py: several conftest modules share that
name, so `from conftest import ...` would depend on collection order.
"""

from __future__ import annotations

import copy
import fcntl
import subprocess
import time
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
        token = core.create_namespaced_service_account_token(name, namespace, client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600))).status.token
        admin = yaml.safe_load(Path(admin_kubeconfig).read_text())
        cluster = copy.deepcopy(admin["clusters"][0])
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "clusters": [cluster],
            "users": [{"name": name, "user": {"token": token}}],
            "contexts": [{"name": name, "context": {"cluster": cluster["name"], "user": name, "namespace": namespace}}],
            "current-context": name}))
        path.chmod(0o600)
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
