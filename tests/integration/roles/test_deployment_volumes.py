"""Volumes of Deployments, and a claim no workload uses, through the playbooks on the local cluster.

One namespace `sfd-deploy-<random>`, claims of the `local` StorageClass, the application running as uid 1000:

- claim `web-data` (ReadWriteOnce) mounted by every pod of two Deployments: `web` (2 replicas, named in the
  profile with workload_kind Deployment) and `reader` (1 replica, found from its pods' owners); on one node a
  ReadWriteOnce claim is shared by all of them, as a ReadWriteMany one would be on several. The backup reads it
  through the container of one of those pods (`through: user`), the restore through a helper pod;
- claim `spare`, which no pod mounts: captured through a helper pod, restored by writing it directly.

Backed up once; then the data is changed, deleted and added to; a restore (policy update) brings back every file
byte for byte and both Deployments at their replica counts, Ready, with new pods (they were stopped during the copy).
A restore whose copy fails (a helper image that cannot be pulled) still starts both Deployments again. (A pod on
the claim that nothing scales is refused before anything stops: tests/unit/.../k8s/test_claim_workloads.py, which
keeps this file short.)

The namespace is deleted at the end, whatever happened.
"""

from __future__ import annotations

import uuid

import pytest
from kubernetes.client.rest import ApiException

from cluster_helpers import exists, wait_until
from role_helpers import playbook

UID, GID, FS_GROUP = 1000, 1000, 2000
MISSING_IMAGE = "localhost/statesafe-no-such-image:sfd"
PROFILE = {"name": "sfd-web", "components": [
    # Read through the container of a pod that mounts it (no helper pod); restored through a helper as any volume.
    {"name": "web", "type": "volume", "claim": "web-data", "workload": "web", "workload_kind": "Deployment",
     "through": "user", "container": "main"},
    {"name": "spare", "type": "volume", "claim": "spare"},
]}
# Every file with its size and sha256, and every directory: what "byte for byte" compares.
STATE = r"cd /data && find . -mindepth 1 -type d | sort && find . -type f -exec sha256sum {} + | sort -k2"
SEED = (r"mkdir -p /data/db/nested && printf 'row 1\nrow 2\n' > /data/db/table && head -c 300000 /dev/urandom "
        r"> /data/db/nested/blob && printf 'v1' > /data/version && : > /data/empty")
CHANGE = r"rm -r /data/db/nested && printf 'row 9\n' > /data/db/table && printf 'later' > /data/added && rm /data/empty"
SPARE_SEED = r"mkdir -p /data/keep && head -c 50000 /dev/urandom > /data/keep/bin && printf 'spare' > /data/note"
SPARE_CHANGE = r"rm -r /data/keep && printf 'overwritten' > /data/note"
RESTRICTED_POD = {"runAsNonRoot": True, "runAsUser": UID, "runAsGroup": GID, "fsGroup": FS_GROUP,
                  "seccompProfile": {"type": "RuntimeDefault"}}
RESTRICTED_CONTAINER = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def claim(name: str) -> dict:
    return {"metadata": {"name": name}, "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "local",
                                                 "resources": {"requests": {"storage": "64Mi"}}}}


def pod_spec(image: str, claim_name: str, command: list[str]) -> dict:
    return {"terminationGracePeriodSeconds": 0, "securityContext": RESTRICTED_POD,
            "containers": [{"name": "main", "image": image, "imagePullPolicy": "IfNotPresent", "command": command,
                            "securityContext": RESTRICTED_CONTAINER,
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim_name}}]}


def deployment(name: str, replicas: int, image: str) -> dict:
    return {"metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "strategy": {"type": "Recreate"},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": pod_spec(image, "web-data", ["sleep", "infinity"])}}}


def ready(apps, namespace: str, name: str, replicas: int) -> bool:
    status = apps.read_namespaced_deployment(name, namespace).status
    return (status.ready_replicas or 0) == replicas and (status.replicas or 0) == replicas and \
        (status.updated_replicas or 0) == replicas


def wait_ready(apps, namespace: str, replicas: dict[str, int]) -> None:
    for name, count in replicas.items():
        wait_until(f"Deployment {name} ready at {count}", lambda: ready(apps, namespace, name, count), timeout=180)


def running_pods(core, namespace: str, app: str) -> list:
    return [p for p in core.list_namespaced_pod(namespace, label_selector=f"app={app}").items
            if p.status.phase == "Running" and p.metadata.deletion_timestamp is None]


def in_web(kubectl, core, namespace: str, script: str) -> str:
    pod = running_pods(core, namespace, "web")[0].metadata.name
    return kubectl("exec", "-n", namespace, pod, "--", "sh", "-c", script).stdout.decode()


def in_spare(kubectl, core, namespace: str, image: str, script: str) -> str:
    """Run script in a bare pod mounting `spare`, and delete that pod (and wait until it is gone) afterwards."""
    name = f"peek-{uuid.uuid4().hex[:6]}"
    core.create_namespaced_pod(namespace, {"metadata": {"name": name},
                                           "spec": pod_spec(image, "spare", ["sleep", "600"])})
    try:
        wait_until(f"pod {name} running",
                   lambda: core.read_namespaced_pod(name, namespace).status.phase == "Running", timeout=120)
        return kubectl("exec", "-n", namespace, name, "--", "sh", "-c", script).stdout.decode()
    finally:
        core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)
        wait_until(f"pod {name} gone", lambda: not exists(lambda: core.read_namespaced_pod(name, namespace)),
                   timeout=120)


@pytest.fixture(scope="module")
def app(core, apps, kubectl, kubeconfig, image_refs, tmp_path_factory):
    namespace = f"sfd-deploy-{uuid.uuid4().hex[:6]}"
    image = image_refs["toolbox"]
    tmp = tmp_path_factory.mktemp("deployment-volumes")
    # Not `restricted`: the helper of a claim no pod or template uses has no user to run as but root there
    # (docs/helper-pods.md), which test_helper_image_roles.py covers.
    core.create_namespace({"metadata": {"name": namespace}})
    try:
        wait_until(f"default ServiceAccount in {namespace}",
                   lambda: exists(lambda: core.read_namespaced_service_account("default", namespace)), timeout=60)
        for name in ("web-data", "spare"):
            core.create_namespaced_persistent_volume_claim(namespace, claim(name))
        apps.create_namespaced_deployment(namespace, deployment("web", 2, image))
        apps.create_namespaced_deployment(namespace, deployment("reader", 1, image))
        wait_ready(apps, namespace, {"web": 2, "reader": 1})
        before = {"web": in_web(kubectl, core, namespace, SEED + " && " + STATE),
                  "spare": in_spare(kubectl, core, namespace, image, SPARE_SEED + " && " + STATE)}
        assert "./db/nested/blob" in before["web"] and "./keep/bin" in before["spare"]
        backup = playbook("backup.yml", kubeconfig, tmp, namespace, profile_data=PROFILE,
                          staging=str(tmp / "staging"), timeout=300)
        assert backup.rc == 0, backup.failures or backup.output[-4000:]
        yield {"namespace": namespace, "tmp": tmp, "kubeconfig": kubeconfig, "image": image, "before": before,
               "backup": backup.stats["statesafe_backup"]}
    finally:
        try:
            core.delete_namespace(namespace, grace_period_seconds=0)
        except ApiException as exc:
            if exc.status != 404:
                raise


def restore(app, **extra):
    return playbook("restore.yml", app["kubeconfig"], app["tmp"], app["namespace"], profile_data=PROFILE,
                    policy="update", staging=str(app["tmp"] / "restore"), timeout=400, **extra)


def test_backup_captures_the_deployments_claim_and_the_unused_one(app):
    steps = {step["component"]: step for step in app["backup"]["steps"]}
    assert app["backup"]["complete"] is True
    assert steps["web"]["status"] == "ok" and steps["spare"]["status"] == "ok"
    # web-data was read through the first of its users by name (reader-..., then web-...), at its mount path.
    through = steps["web"]["read_through"]
    assert through["pod"].startswith("reader-") and through["container"] == "main" and through["path"] == "/data"
    assert steps["web"]["helper_pod"] is None
    assert steps["spare"]["read_through"] is None and steps["spare"]["helper_pod"].startswith("statesafe-")


def test_restore_brings_every_file_back_and_the_deployments_at_their_replica_counts(app, core, apps, kubectl):
    namespace, image = app["namespace"], app["image"]
    assert in_web(kubectl, core, namespace, CHANGE + " && " + STATE) != app["before"]["web"]
    assert in_spare(kubectl, core, namespace, image, SPARE_CHANGE + " && " + STATE) != app["before"]["spare"]
    old_pods = {p.metadata.uid for app_name in ("web", "reader") for p in running_pods(core, namespace, app_name)}
    run = restore(app)
    assert run.rc == 0, run.failures or run.output[-4000:]
    # The role waited: both are Ready at their counts the moment the playbook ends.
    assert ready(apps, namespace, "web", 2) and ready(apps, namespace, "reader", 1)
    new_pods = {p.metadata.uid for app_name in ("web", "reader") for p in running_pods(core, namespace, app_name)}
    assert len(new_pods) == 3 and not new_pods & old_pods, "the claim's users were not stopped during the copy"
    assert in_web(kubectl, core, namespace, STATE) == app["before"]["web"]
    assert in_spare(kubectl, core, namespace, image, STATE) == app["before"]["spare"]
    summary = run.stats["statesafe_restore"]
    assert summary["data_actions"] == {"web": "overwrite", "spare": "overwrite"}
    steps = {step["step"]: step for step in summary["steps"]}
    assert steps["volume web"]["stopped"] == ["Deployment/web", "Deployment/reader"]
    assert steps["volume spare"]["stopped"] == []


def test_a_failed_copy_still_starts_the_deployments_again(app, core, apps):
    namespace = app["namespace"]
    run = restore(app, components="web", restore_helper_image=MISSING_IMAGE)
    assert run.rc != 0
    failure = " ".join(run.failures)
    assert MISSING_IMAGE in failure and namespace in failure, failure
    assert ready(apps, namespace, "web", 2) and ready(apps, namespace, "reader", 1)
    assert len(running_pods(core, namespace, "web")) == 2
