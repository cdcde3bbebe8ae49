"""playbooks/schedule.yml in namespace mode (`-e profile=namespace`) against the local cluster, applied by a namespace
admin: the CronJob's Role grants what a run of what the namespace holds needs, and a run now backs it up.

A namespace `sfs-ns-<random>` enforcing PodSecurity `restricted` holds a ConfigMap, a Secret and a Deployment on a
claim with files in it. The identity applying the schedule is a ServiceAccount bound to Kubernetes' `admin` role in the
namespace and to a Role reading every kind there (for the CRDs `admin` leaves out, as a namespace-mode backup needs).

- schedule.yml runs namespace_discover as that identity, grants the CronJob's ServiceAccount list on every kind it
  listed (get too, which the identity holds), the verbs of the volume copy, and nothing beyond: no write on the
  application's objects, no wildcard. Its run now (a Job from the CronJob, waited for) succeeds.
- The archive on the schedule's volume, read in the cluster by a Job from the CronJob's template, holds the
  ConfigMap, Secret, Deployment and claim, and the claim's files byte for byte; the schedule's own objects and its
  volume (the repository itself) are not in it.
- A schedule asking for a rule the identity does not hold (schedule_extra_rules) fails creating the Role, naming
  Kubernetes' escalation check.

The namespace is deleted at the end, whatever happened.
"""

from __future__ import annotations

import time
import uuid

import pytest
from kubernetes import client

from cluster_helpers import build_web_app, ready_pod, restricted_namespace, token_kubeconfig, wait_until
from role_helpers import namespace_exists, playbook
from runner_image import runner_image_ref

NAME = "statesafe-backup"
SEED = 'mkdir -p /data/a/b && head -c 200000 /dev/urandom > /data/a/b/blob && printf %s web > /data/who'
FILES = r"find . -mindepth 1 -type d | sort && find . -type f -exec sha256sum {} + | sort -k2"
ARCHIVE = "/tmp/archive"
# Run in a Job from the CronJob's template: the latest archive restored from the volume's repository, its file list,
# then the claim's files as FILES prints them.
READ_ARCHIVE = (f"bup -d /var/lib/statesafe/bup restore -q -C {ARCHIVE} /namespace/latest/. && cd {ARCHIVE} && "
                f"find . -type f | sort && echo '--- files' && cd volumes/web-data && {FILES}")
JOB_TIMEOUT = 600


def running_pod(core, namespace: str) -> str:
    return ready_pod(core, namespace, "app=web")


def namespace_admin(api_client, kubeconfig: str, namespace: str, path) -> str:
    """A kubeconfig acting as ServiceAccount `operator`: Kubernetes' `admin` ClusterRole in the namespace, and a Role
    reading every kind there (other tests' CRDs are served on the same cluster, which `admin` may not list)."""
    core, rbac = client.CoreV1Api(api_client), client.RbacAuthorizationV1Api(api_client)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "operator"}})
    rbac.create_namespaced_role(namespace, {"metadata": {"name": "read-all"}, "rules": [
        {"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list"]}]})
    for role_kind, role in (("ClusterRole", "admin"), ("Role", "read-all")):
        rbac.create_namespaced_role_binding(namespace, {
            "metadata": {"name": f"operator-{role}"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": "operator", "namespace": namespace}]})
    token_kubeconfig(core, kubeconfig, namespace, "operator", path)
    return str(path)


@pytest.fixture(scope="module")
def built(api_client, core, kubectl, kubeconfig, image_refs, tmp_path_factory):
    namespace = f"sfs-ns-{uuid.uuid4().hex[:6]}"
    tmp = tmp_path_factory.mktemp("schedule-namespace-mode")
    try:
        restricted_namespace(core, namespace)
        build_web_app(api_client, namespace, image_refs["toolbox"])
        wait_until(f"a ready web pod in {namespace}", lambda: running_pod(core, namespace), timeout=240)
        pod = running_pod(core, namespace)
        kubectl("exec", "-n", namespace, pod, "--", "sh", "-c", SEED)
        files = kubectl("exec", "-n", namespace, pod, "--", "sh", "-c", f"cd /data && {FILES}").stdout.decode()
        yield {"namespace": namespace, "tmp": tmp, "files": files,
               "identity": namespace_admin(api_client, kubeconfig, namespace, tmp / "operator.kubeconfig")}
    finally:
        core.delete_namespace(namespace)
        wait_until(f"namespace {namespace} gone", lambda: not namespace_exists(core, namespace), timeout=300)


def schedule(built, image: str, **extra):
    return playbook("schedule.yml", built["identity"], built["tmp"], built["namespace"], profile="namespace",
                    schedule_image=image, schedule_suspend=True, schedule_volume_storage_class="local",
                    schedule_volume_size="1Gi", schedule_resources={"requests": {"cpu": "100m", "memory": "256Mi"}},
                    **extra)


def can_i(kubectl, namespace: str, verb: str, resource: str) -> bool:
    run = kubectl("auth", "can-i", f"--as=system:serviceaccount:{namespace}:{NAME}", "-n", namespace, verb, resource,
                  check=False)
    answer = run.stdout.decode().strip()
    assert answer in ("yes", "no"), (verb, resource, answer, run.stderr.decode())
    return answer == "yes"


def read_archive(api_client, namespace: str) -> str:
    """The log of a Job from the CronJob's template that restores the latest archive in the pod and lists it."""
    batch, core = client.BatchV1Api(api_client), client.CoreV1Api(api_client)
    spec = api_client.sanitize_for_serialization(batch.read_namespaced_cron_job(NAME, namespace).spec.job_template.spec)
    spec["template"]["spec"]["containers"][0]["command"] = ["sh", "-c", READ_ARCHIVE]
    batch.create_namespaced_job(namespace, {"apiVersion": "batch/v1", "kind": "Job",
                                            "metadata": {"name": "read-archive"}, "spec": spec})
    deadline = time.monotonic() + JOB_TIMEOUT
    while True:
        status = batch.read_namespaced_job("read-archive", namespace).status
        if status.succeeded or status.failed or time.monotonic() > deadline:
            break
        time.sleep(2)
    [pod] = core.list_namespaced_pod(namespace, label_selector="job-name=read-archive").items
    log = core.read_namespaced_pod_log(pod.metadata.name, namespace, container="backup")
    assert status.succeeded, log[-3000:]
    return log


@pytest.mark.timeout(900)
def test_a_namespace_admin_schedules_namespace_mode_and_its_run_backs_the_namespace_up(
        built, api_client, kubectl, kubeconfig):
    namespace = built["namespace"]
    image = runner_image_ref(kubeconfig)
    run = schedule(built, image, schedule_run_now=True, schedule_wait=True, schedule_wait_timeout=JOB_TIMEOUT)
    assert run.rc == 0, run.failures or run.output[-4000:]
    [discovered] = run.results("Present | namespace mode, every kind this identity can list")
    assert {"v1/ConfigMap", "v1/Secret", "apps/v1/Deployment", "v1/PersistentVolumeClaim"} <= set(discovered["kinds"])

    # The Role: what a namespace-mode run lists and copies, no write on the application, no wildcard.
    rules = client.RbacAuthorizationV1Api(api_client).read_namespaced_role(NAME, namespace).rules
    assert all("*" not in rule.api_groups + rule.resources + rule.verbs for rule in rules), rules
    for verb, resource in (("list", "secrets"), ("get", "secrets"), ("list", "deployments.apps"),
                           ("list", "replicasets.apps"), ("list", "pods"), ("create", "pods"),
                           ("create", "pods/exec"), ("get", "persistentvolumeclaims")):
        assert can_i(kubectl, namespace, verb, resource), (verb, resource)
    for verb, resource in (("delete", "secrets"), ("patch", "deployments.apps"), ("create", "rolebindings"),
                           ("create", "configmaps")):
        assert not can_i(kubectl, namespace, verb, resource), (verb, resource)

    listing, files = read_archive(api_client, namespace).split("--- files\n")
    archived = set(listing.split())
    assert {"./MANIFEST.json", "./resources/ConfigMap/settings.yaml", "./resources/Secret/credentials.yaml",
            "./resources/Deployment/web.yaml", "./resources/PersistentVolumeClaim/web-data.yaml"} <= archived, listing
    assert files == built["files"]
    # The schedule's own objects and its volume (the repository) are left out, the identity's account is not.
    assert not [path for path in archived if NAME in path], listing
    assert "./resources/ServiceAccount/operator.yaml" in archived, listing

    # A rule the identity does not hold: Kubernetes refuses the Role, and the run says why.
    refused = schedule(built, image, schedule_extra_rules=[
        {"apiGroups": ["example.org"], "resources": ["gadgets"], "verbs": ["delete"]}])
    assert refused.rc != 0
    message = " ".join(refused.failures)
    assert f"Role and RoleBinding {NAME} could not be created or updated in namespace {namespace}" in message, message
    assert "attempting to grant RBAC permissions not currently held" in message, message
    assert "escalate" in message, message
