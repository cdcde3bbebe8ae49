"""Fixtures shared by every integration test: the local cluster, never a mock.

The cluster is brought up by `make cluster` (tests/cluster/cluster.sh up); its
kubeconfig path comes from STATESAFE_KUBECONFIG. Without it these tests fail:
an integration test that silently skipped would prove nothing.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from cluster_helpers import CLUSTER_SH, exists, wait_until


@pytest.fixture(scope="session")
def kubeconfig() -> str:
    path = os.environ.get("STATESAFE_KUBECONFIG") or subprocess.run(
        [str(CLUSTER_SH), "kubeconfig"], capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    if not Path(path).is_file():
        pytest.fail(f"no kubeconfig at {path}: bring the local cluster up with `make cluster`")
    return path


@pytest.fixture(scope="session")
def api_client(kubeconfig) -> client.ApiClient:
    return config.new_client_from_config(config_file=kubeconfig)


@pytest.fixture(scope="session")
def core(api_client) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


@pytest.fixture(scope="session")
def apps(api_client) -> client.AppsV1Api:
    return client.AppsV1Api(api_client)


@pytest.fixture(scope="session")
def cluster_state(kubeconfig) -> Path:
    return Path(kubeconfig).parent


@pytest.fixture(scope="session")
def kubectl(cluster_state, kubeconfig):
    def run(*args: str, input: bytes | None = None, check: bool = True,
            timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run([str(cluster_state / "bin" / "kubectl"), "--kubeconfig", kubeconfig,
                               *args], input=input, capture_output=True, check=check, timeout=timeout)
    return run


@pytest.fixture(scope="session")
def image_refs(cluster_state) -> dict[str, str]:
    refs = {}
    for line in (cluster_state / "images.txt").read_text().splitlines():
        ref = line.split()[0]
        refs[ref.split("/", 1)[1].split(":", 1)[0]] = ref
    return refs


@pytest.fixture
def namespace(core):
    """A fresh namespace per test, always deleted afterwards."""
    name = f"it-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    wait_until(f"default ServiceAccount in {name}",
               lambda: exists(lambda: core.read_namespaced_service_account("default", name)))
    yield name
    try:
        core.delete_namespace(name, grace_period_seconds=0)
    except ApiException as exc:
        if exc.status != 404:
            raise


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs, unmounted afterwards: a local disk that fills up."""
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mount)], check=True, timeout=60)
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True, timeout=60)
