"""k8s_pv_copy's helper pods in a namespace that enforces PodSecurity `restricted`, against the local cluster.

The application runs as a non-root uid with an fsGroup on a claim of the `local` StorageClass (whose
volumes get the fsGroup, as CSI storage does). The helper must pass `restricted`, run as the app's
user, read everything the app can, and restore files that belong to the app; what it cannot do fails
with a message that says why. docs/helper-pods.md has the rules.
"""

from __future__ import annotations

import time
import uuid

import pytest
from kubernetes.client.rest import ApiException

from cluster_helpers import exists, wait_until
from k8s_helpers import pod_exec, pod_running, wait_for

UID, GID, FS_GROUP, OTHER_UID = 1000, 1000, 2000, 3000

POPULATE = r"""
set -e
mkdir -p /data/db/sub
head -c 200000 /dev/urandom > /data/db/blob
echo config > /data/app.conf
chmod 600 /data/app.conf
i=0; while [ $i -lt 20 ]; do echo "row $i" > /data/db/sub/t$i; i=$((i+1)); done
"""

# type, owner, group, sha256 of every entry under /data, as the application sees them.
STATE = r"""cd /data && find . -mindepth 1 -printf '%y %U %G %P\n' | sort | while read -r t u g p; do
  if [ "$t" = f ]; then s=$(sha256sum < "$p" | cut -c1-64); else s=-; fi
  echo "$t $u $g $s $p"
done"""


def restricted_security(uid, gid=None, fs_group=None):
    pod_sc = {"runAsNonRoot": True, "runAsUser": uid, "seccompProfile": {"type": "RuntimeDefault"}}
    if gid is not None:
        pod_sc["runAsGroup"] = gid
    if fs_group is not None:
        pod_sc["fsGroup"] = fs_group
    container_sc = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    return pod_sc, container_sc


def pod_spec(image, claim, pod_sc, container_sc):
    return {
        "terminationGracePeriodSeconds": 0,
        "securityContext": pod_sc,
        "containers": [{"name": "main", "image": image, "imagePullPolicy": "IfNotPresent",
                        "command": ["sleep", "infinity"], "securityContext": container_sc,
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}],
    }


def make_claim(core, namespace, name, storage_class):
    body = {"metadata": {"name": name},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "64Mi"}}}}
    if storage_class:
        body["spec"]["storageClassName"] = storage_class
    core.create_namespaced_persistent_volume_claim(namespace, body)


def start_pod(core, namespace, name, spec):
    core.create_namespaced_pod(namespace, {"metadata": {"name": name}, "spec": spec})
    wait_for(lambda: pod_running(core, namespace, name), 180, f"pod {namespace}/{name} running")


def delete_pod(core, namespace, name):
    core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)
    wait_for(lambda: not exists(lambda: core.read_namespaced_pod(name, namespace)), 120, f"{name} deleted")


def helper_pods(core, namespace):
    return core.list_namespaced_pod(namespace, label_selector="app.kubernetes.io/component=pv-copy-helper").items


def state(kubectl, namespace, pod):
    return pod_exec(kubectl, namespace, pod, STATE).stdout.decode().splitlines()


@pytest.fixture(scope="module")
def rns(core):
    """A namespace enforcing PodSecurity restricted, deleted afterwards."""
    name = f"sfh-restricted-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": name, "labels": {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest"}}})
    wait_until(f"default ServiceAccount in {name}",
               lambda: exists(lambda: core.read_namespaced_service_account("default", name)), timeout=60)
    yield name
    try:
        core.delete_namespace(name, grace_period_seconds=0)
    except ApiException as exc:
        if exc.status != 404:
            raise


@pytest.fixture(scope="module")
def app(core, apps, kubectl, rns, toolbox_image):
    """StatefulSet `app` (uid 1000, gid 1000, fsGroup 2000) with claim data-app-0 on StorageClass local."""
    pod_sc, container_sc = restricted_security(UID, GID, FS_GROUP)
    spec = pod_spec(toolbox_image, "unused", pod_sc, container_sc)
    spec.pop("volumes")
    apps.create_namespaced_stateful_set(rns, {
        "metadata": {"name": "app"},
        "spec": {"replicas": 1, "serviceName": "app", "selector": {"matchLabels": {"app": "app"}},
                 "template": {"metadata": {"labels": {"app": "app"}}, "spec": spec},
                 "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                     "accessModes": ["ReadWriteOnce"], "storageClassName": "local",
                     "resources": {"requests": {"storage": "64Mi"}}}}]}})
    wait_for(lambda: pod_running(core, rns, "app-0"), 180, "app-0 running")
    pod_exec(kubectl, rns, "app-0", POPULATE)
    return rns


def scale(apps, core, namespace, replicas):
    apps.patch_namespaced_stateful_set_scale("app", namespace, {"spec": {"replicas": replicas}})
    if replicas:
        wait_for(lambda: pod_running(core, namespace, "app-0"), 180, "app-0 running")
    else:
        wait_for(lambda: not exists(lambda: core.read_namespaced_pod("app-0", namespace)), 120, "app-0 gone")


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    return tmp_path_factory.mktemp("restricted") / "mirror"


class TestRoundTrip:
    def test_copy_out_runs_as_the_app(self, run_module, kubectl, app, mirror):
        local = mirror
        # The default helper image: docker.io/library/debian:bookworm-slim, which the local cluster serves.
        run = run_module("k8s_pv_copy", {"namespace": app, "pvc": "data-app-0", "local_path": str(local)})
        assert run.rc == 0, run
        assert run["helper_identity"]["uid"] == UID and run["helper_identity"]["fs_group"] == FS_GROUP
        assert run["helper_identity"]["source"] == "pod app-0, container main"
        assert run["files_transferred"] == 22
        assert (local / "app.conf").read_bytes() == b"config\n"

    def test_restore_back_with_the_app_stopped_belongs_to_the_app(self, run_module, kubectl, core, apps, app,
                                                                  mirror):
        assert mirror.is_dir(), "runs after test_copy_out_runs_as_the_app"
        local = str(mirror)
        before = state(kubectl, app, "app-0")
        pod_exec(kubectl, app, "app-0", "echo changed > /data/app.conf; rm -r /data/db/sub; echo x > /data/new")
        scale(apps, core, app, 0)
        run = run_module("k8s_pv_copy", {"namespace": app, "state": "to_pod", "pvc": "data-app-0",
                                         "local_path": local})
        assert run.rc == 0, run
        # No pod runs: the identity comes from the StatefulSet's template.
        assert run["helper_identity"]["source"] == "StatefulSet app (pod template), container main"
        assert run["helper_identity"]["uid"] == UID
        assert helper_pods(core, app) == []
        scale(apps, core, app, 1)
        after = state(kubectl, app, "app-0")
        assert [line.split(" ", 3)[3] for line in after] == [line.split(" ", 3)[3] for line in before]
        owners = {tuple(line.split(" ")[1:3]) for line in after}
        assert {owner[0] for owner in owners} == {str(UID)}, after
        assert {owner[1] for owner in owners} <= {str(GID), str(FS_GROUP)}, after


def test_unreadable_file_of_another_uid_fails_naming_it(run_module, core, kubectl, rns, toolbox_image,
                                                        tmp_path_factory):
    # The writer's fsGroup makes the volume writable for it; the reader (and so the helper) has none, so the
    # kubelet changes nothing when they mount it and the writer's 0600 file stays unreadable to them. (With
    # an fsGroup of its own, the kubelet would make every file group-readable for the reader.)
    make_claim(core, rns, "mixed", "local")
    pod_sc, container_sc = restricted_security(OTHER_UID, OTHER_UID, FS_GROUP)
    start_pod(core, rns, "writer", pod_spec(toolbox_image, "mixed", pod_sc, container_sc))
    pod_exec(kubectl, rns, "writer", "echo s > /data/secret && chmod 600 /data/secret && echo ok > /data/ok"
                                     " && chmod 644 /data/ok && mkdir -m 700 /data/private")
    delete_pod(core, rns, "writer")
    pod_sc, container_sc = restricted_security(UID, GID)
    start_pod(core, rns, "reader", pod_spec(toolbox_image, "mixed", pod_sc, container_sc))
    local = tmp_path_factory.mktemp("unreadable") / "mirror"
    run = run_module("k8s_pv_copy", {"namespace": rns, "pvc": "mixed", "local_path": str(local),
                                     "helper_image": toolbox_image})
    assert run.failed, run
    assert f"secret (uid {OTHER_UID}, mode 600)" in run.msg and f"private (uid {OTHER_UID}, mode 2700)" in run.msg
    assert f"running as uid {UID}, gid {GID} read from pod reader, container main" in run.msg
    assert "ok (" not in run.msg
    assert not local.exists()
    assert helper_pods(core, rns) == []
    excluded = run_module("k8s_pv_copy", {"namespace": rns, "pvc": "mixed", "local_path": str(local),
                                          "exclude": ["secret", "private"], "helper_image": toolbox_image})
    assert excluded.rc == 0 and excluded["files_transferred"] == 1, excluded


def test_directory_of_another_uid_the_restore_cannot_empty_fails_before_writing(
        run_module, core, kubectl, rns, toolbox_image, tmp_path):
    # Both pods share the fsGroup, so the claim's root is writable for both; the other uid's directory (mode
    # 755, setgid from the root) is not writable for the application's uid, and a restore replaces the whole
    # tree: the file inside it could not be removed.
    make_claim(core, rns, "closed", "local")
    pod_sc, container_sc = restricted_security(OTHER_UID, OTHER_UID, FS_GROUP)
    start_pod(core, rns, "owner", pod_spec(toolbox_image, "closed", pod_sc, container_sc))
    pod_exec(kubectl, rns, "owner", "mkdir -m 755 /data/private && echo p > /data/private/f && echo ok > /data/ok")
    delete_pod(core, rns, "owner")
    pod_sc, container_sc = restricted_security(UID, GID, FS_GROUP)
    start_pod(core, rns, "restorer", pod_spec(toolbox_image, "closed", pod_sc, container_sc))
    before = state(kubectl, rns, "restorer")
    local = tmp_path / "mirror"
    local.mkdir()
    (local / "new").write_text("new\n")
    run = run_module("k8s_pv_copy", {"namespace": rns, "state": "to_pod", "pvc": "closed", "local_path": str(local),
                                     "helper_image": toolbox_image})
    assert run.failed, run
    assert f"private (uid {OTHER_UID}, mode 2755)" in run.msg and "nothing was written" in run.msg, run.msg
    assert f"running as uid {UID}, gid {GID}, fsGroup {FS_GROUP} read from pod restorer, container main" in run.msg
    assert "ok (" not in run.msg
    assert state(kubectl, rns, "restorer") == before
    names = pod_exec(kubectl, rns, "restorer", "ls -A /data").stdout.decode().split()
    assert "new" not in names and not [n for n in names if n.startswith(".statesafe")], names
    assert helper_pods(core, rns) == []


@pytest.mark.parametrize("template_uid, reason", [
    (0, "Deployment rootapp (pod template), container main runs as root (runAsUser 0)"),
    (None, "Deployment rootapp (pod template), container main declares no runAsUser"),
])
def test_root_app_in_restricted_namespace_is_explained(run_module, core, apps, rns, toolbox_image, tmp_path,
                                                       template_uid, reason):
    claim = f"rootdata-{template_uid if template_uid is not None else 'none'}"
    make_claim(core, rns, claim, "local")
    spec = pod_spec(toolbox_image, claim, {"runAsUser": template_uid} if template_uid is not None else {}, {})
    apps.create_namespaced_deployment(rns, {
        "metadata": {"name": "rootapp"},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "rootapp"}},
                 "template": {"metadata": {"labels": {"app": "rootapp"}}, "spec": spec}}})
    try:
        run = run_module("k8s_pv_copy", {"namespace": rns, "pvc": claim, "local_path": str(tmp_path / "m"),
                                         "helper_image": toolbox_image})
    finally:
        apps.delete_namespaced_deployment("rootapp", rns)
    assert run.failed, run
    assert f"namespace {rns} enforces PodSecurity restricted" in run.msg
    assert f"claim {claim}" in run.msg and reason in run.msg
    assert "Set runAsUser (non-zero), runAsGroup and fsGroup" in run.msg
    assert helper_pods(core, rns) == []


def test_running_root_pod_of_a_namespace_labelled_restricted_afterwards_is_explained(
        run_module, core, namespace, toolbox_image, tmp_path):
    """Labelling a namespace does not evict its pods (the API only warns), so a root pod can run under `restricted`:
    the identity read from it is refused before any helper pod is created, naming that pod."""
    make_claim(core, namespace, "rootdata", "local")
    start_pod(core, namespace, "rootpod", pod_spec(toolbox_image, "rootdata", {"runAsUser": 0}, {}))
    core.patch_namespace(namespace, {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}})
    run = run_module("k8s_pv_copy", {"namespace": namespace, "pvc": "rootdata", "local_path": str(tmp_path / "m"),
                                     "helper_image": toolbox_image})
    assert run.failed, run
    assert f"namespace {namespace} enforces PodSecurity restricted" in run.msg, run.msg
    assert "claim rootdata" in run.msg and "pod rootpod, container main runs as root (runAsUser 0)" in run.msg
    assert "Set runAsUser (non-zero), runAsGroup and fsGroup in that pod's securityContext" in run.msg
    assert helper_pods(core, namespace) == []


def test_image_that_cannot_be_pulled_fails_fast_and_leaves_no_pod(run_module, core, app, tmp_path):
    image = "localhost/statesafe-no-such-image:0"
    started = time.monotonic()
    run = run_module("k8s_pv_copy", {"namespace": app, "pvc": "data-app-0", "local_path": str(tmp_path / "m"),
                                     "helper_image": image, "helper_start_timeout": 90})
    elapsed = time.monotonic() - started
    assert run.failed, run
    assert image in run.msg and "statesafe-copy-data-app-0-" in run.msg, run.msg
    assert "ErrImagePull" in run.msg or "ImagePullBackOff" in run.msg, run.msg
    assert elapsed < 90, elapsed
    assert helper_pods(core, app) == []


def test_openshift_uid_range_gives_the_uid_when_none_is_declared(run_module, core, kubectl, tmp_path):
    """As on OpenShift: nothing declares a uid, the namespace's uid range does; restricted is enforced too."""
    name = f"sfh-ocp-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {
        "name": name,
        "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
        "annotations": {"openshift.io/sa.scc.uid-range": "1000700000/10000",
                        "openshift.io/sa.scc.supplemental-groups": "1000700000/10000"}}})
    try:
        wait_until(f"default ServiceAccount in {name}",
                   lambda: exists(lambda: core.read_namespaced_service_account("default", name)), timeout=60)
        make_claim(core, name, "data", "local")
        run = run_module("k8s_pv_copy", {"namespace": name, "pvc": "data", "local_path": str(tmp_path / "m")})
        assert run.rc == 0, run
        assert run["helper_identity"]["uid"] == 1000700000 and run["helper_identity"]["fs_group"] == 1000700000
        assert run["helper_identity"]["uid_origin"] == "namespace annotation openshift.io/sa.scc.uid-range"
        assert helper_pods(core, name) == []
    finally:
        core.delete_namespace(name, grace_period_seconds=0)
