"""The helper image through the roles, in a namespace that enforces PodSecurity `restricted`, on the local cluster.

One StatefulSet (uid 1000, gid 1000, fsGroup 2000) with a claim of the `local` StorageClass, and a
profile of that one volume. The backup and the restore run with the default helper image
(docker.io/library/debian:bookworm-slim, which the cluster serves from tests/cluster/images/debian-slim),
and an image that cannot be pulled, set through backup_helper_image, restore_helper_image or the
component's helper_image, fails the run naming it, with no helper pod left behind.
"""

from __future__ import annotations

import uuid

import pytest
from kubernetes.client.rest import ApiException

from cluster_helpers import exists, wait_until
from role_helpers import playbook

UID, GID, FS_GROUP = 1000, 1000, 2000
MISSING = "localhost/statesafe-no-such-image:{0}"
STATE = r"""cd /data && find . -mindepth 1 -printf '%y %U %P\n' | sort"""


def pod_running(core, namespace, name) -> bool:
    try:
        pod = core.read_namespaced_pod(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    statuses = pod.status.container_statuses or []
    return pod.status.phase == "Running" and bool(statuses) and all(s.state.running for s in statuses)


def wait_for(predicate, timeout, what):
    return wait_until(what, predicate, timeout=timeout, interval=0.5)


def pod_exec(kubectl, namespace, pod, script):
    return kubectl("exec", "-n", namespace, pod, "--", "sh", "-c", script)


def helper_pods(core, namespace):
    return core.list_namespaced_pod(namespace, label_selector="app.kubernetes.io/component=pv-copy-helper").items


def profile(**component):
    return {"name": "helperimage", "components": [dict(
        {"name": "data", "type": "volume", "claim": "data-app-0", "statefulset": "app"}, **component)]}


@pytest.fixture(scope="module")
def rns(core, apps, kubectl, image_refs):
    name = f"sfh-roles-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": name, "labels": {
        "pod-security.kubernetes.io/enforce": "restricted"}}})
    wait_until(f"default ServiceAccount in {name}",
               lambda: exists(lambda: core.read_namespaced_service_account("default", name)), timeout=60)
    apps.create_namespaced_stateful_set(name, {
        "metadata": {"name": "app"},
        "spec": {"replicas": 1, "serviceName": "app", "selector": {"matchLabels": {"app": "app"}},
                 "template": {"metadata": {"labels": {"app": "app"}}, "spec": {
                     "terminationGracePeriodSeconds": 0,
                     "securityContext": {"runAsNonRoot": True, "runAsUser": UID, "runAsGroup": GID,
                                         "fsGroup": FS_GROUP, "seccompProfile": {"type": "RuntimeDefault"}},
                     "containers": [{"name": "main", "image": image_refs["toolbox"], "imagePullPolicy": "IfNotPresent",
                                     "command": ["sleep", "infinity"],
                                     "securityContext": {"allowPrivilegeEscalation": False,
                                                         "capabilities": {"drop": ["ALL"]}},
                                     "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}},
                 "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                     "accessModes": ["ReadWriteOnce"], "storageClassName": "local",
                     "resources": {"requests": {"storage": "64Mi"}}}}]}})
    wait_for(lambda: pod_running(core, name, "app-0"), 180, "app-0 running")
    pod_exec(kubectl, name, "app-0", "mkdir -p /data/d && echo one > /data/d/f && echo two > /data/g")
    yield name
    try:
        core.delete_namespace(name, grace_period_seconds=0)
    except ApiException as exc:
        if exc.status != 404:
            raise


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("helper-image-roles")


def test_backup_with_the_default_image_in_a_restricted_namespace(rns, kubeconfig, work):
    run = playbook("backup.yml", kubeconfig, work, rns, profile_data=profile(), staging=str(work / "staging"))
    assert run.rc == 0, run.failures or run.output[-4000:]


@pytest.mark.parametrize("how", ["role variable", "profile field"])
def test_backup_with_an_image_that_cannot_be_pulled_names_it(rns, core, kubeconfig, work, how):
    image = MISSING.format("backup-" + how.split()[0])
    extra = ({"backup_helper_image": image, "profile_data": profile()} if how == "role variable"
             else {"profile_data": profile(helper_image=image)})
    run = playbook("backup.yml", kubeconfig, work, rns, staging=str(work / "staging"), timeout=300, **extra)
    assert run.rc != 0
    failure = " ".join(run.failures)
    assert image in failure and "statesafe-copy-data-app-0-" in failure, failure
    assert helper_pods(core, rns) == []


def test_restore_with_an_image_that_cannot_be_pulled_names_it(rns, core, kubeconfig, work):
    image = MISSING.format("restore")
    run = playbook("restore.yml", kubeconfig, work, rns, profile_data=profile(), staging=str(work / "restore"),
                   policy="update", restore_helper_image=image, timeout=600)
    assert run.rc != 0
    failure = " ".join(run.failures)
    assert image in failure and "statesafe-copy-data-app-0-" in failure, failure
    assert helper_pods(core, rns) == []


def test_restore_with_the_default_image_gives_the_files_to_the_app(rns, core, apps, kubectl, kubeconfig, work):
    # A failed volume step starts the StatefulSet again; scaling it to 1 here keeps this test independent of that.
    apps.patch_namespaced_stateful_set_scale("app", rns, {"spec": {"replicas": 1}})
    wait_for(lambda: pod_running(core, rns, "app-0"), 180, "app-0 running")
    pod_exec(kubectl, rns, "app-0", "rm -r /data/d && echo changed > /data/g")
    run = playbook("restore.yml", kubeconfig, work, rns, profile_data=profile(), staging=str(work / "restore"),
                   policy="update", timeout=600)
    assert run.rc == 0, run.failures or run.output[-4000:]
    wait_for(lambda: pod_running(core, rns, "app-0"), 180, "app-0 running")
    state = pod_exec(kubectl, rns, "app-0", STATE).stdout.decode().splitlines()
    assert state == [f"d {UID} d", f"f {UID} d/f", f"f {UID} g"], state
    assert pod_exec(kubectl, rns, "app-0", "cat /data/g /data/d/f").stdout == b"two\none\n"


def test_schedule_passes_its_helper_image_to_every_run(core, kubeconfig, tmp_path):
    """The CronJob's playbook variables carry schedule_helper_image as backup_helper_image (none by default)."""
    namespace = f"sfh-schedule-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": namespace}})
    mirror = "mirror.example:5000/library/debian:bookworm-slim"
    try:
        options = {"schedule_image": "localhost/runner:unused", "schedule_suspend": True,
                   "schedule_volume_size": "64Mi", "schedule_name": "hp"}
        plain = playbook("schedule.yml", kubeconfig, tmp_path, namespace, timeout=300, **options)
        assert plain.rc == 0, plain.failures or plain.output[-3000:]
        assert "helper_image" not in core.read_namespaced_config_map("hp", namespace).data["vars.yml"]
        mirrored = playbook("schedule.yml", kubeconfig, tmp_path, namespace, timeout=300,
                            schedule_helper_image=mirror, **options)
        assert mirrored.rc == 0, mirrored.failures or mirrored.output[-3000:]
        vars_file = core.read_namespaced_config_map("hp", namespace).data["vars.yml"]
        assert f"backup_helper_image: {mirror}" in vars_file, vars_file
    finally:
        core.delete_namespace(namespace, grace_period_seconds=0)
