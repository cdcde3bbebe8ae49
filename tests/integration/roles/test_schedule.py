"""playbooks/schedule.yml against the local cluster: the in-cluster CronJob backs up, its archive restores.

The sample stack runs in namespace `sf-schedule` (deleted at the end, whatever happened). The schedule is
created there by playbooks/schedule.yml with the runner image (tests/cluster/images/runner.sh) and the restore
identity; its pods reach the API server through the `kubernetes` Service, as on any cluster. Then:

- the backup's ServiceAccount has rights in its namespace only, and none it does not need: no Secret of
  another namespace, no namespace list, no delete of a Secret here; the ConfigMap holds no secret value,
  the run reads it from the Secret through its environment;
- a Job created from the CronJob (`kubectl create job --from=cronjob/...`) completes; the archive is in the
  repository on the volume, complete (the list playbook run in-cluster from the same volume); the pod log
  holds the run's set_stats summary (with the retention pass a schedule runs by default) and no Secret value;
- the same Job pushed the repository offsite (schedule_offsite) to a real MinIO served on the node address,
  credentials from the Secret, encrypted with age in the pod: every object in the bucket is age ciphertext
  holding none of the application's secret values, and offsite_pull.yml on this machine, with the identity,
  rebuilds a repository holding that archive, complete;
- the application is destroyed (its objects and volumes; the schedule's volume, ServiceAccounts and Roles
  stay) and a restore Job (the restore ServiceAccount, `statesafe.backup.restore` from the same volume)
  brings it back: the sample's fingerprint equals the one taken before the backup;
- two forced runs started together: one completes, the other waits for the run lock
  (schedule_lock_timeout) and fails naming the holder, the other run's pod;
- schedule_run_now with schedule_wait: the playbook waits for its Job, which (not forced, the last archive
  younger than schedule_min_interval) is skipped and succeeds;
- schedule_state absent removes the CronJob, ConfigMap, Roles, bindings and ServiceAccounts, keeps the volume.
"""

from __future__ import annotations

import base64
import re
import time
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from role_helpers import PART_OF, namespace_exists, playbook, sample
from cluster_helpers import wait_until
from minio_server import offsite_for_pods
from runner_image import runner_image_ref

NS = "sf-schedule"
NAME = "statesafe-backup"
RESTORE_SA = NAME + "-restore"
SECRET = "statesafe-schedule-test"
SECRET_VALUE = "s3cr3t-value-never-in-logs-7f1c"
# Short: the second of two runs fails on the lock long before the first, which holds it, is done.
LOCK_TIMEOUT = 5
# The machine is slow and shared (2 cores): a backup or restore Job may take many minutes.
JOB_TIMEOUT = 1800


@pytest.fixture(scope="module")
def runner_image(kubeconfig) -> str:
    return runner_image_ref(kubeconfig)


@pytest.fixture(scope="module")
def batch(api_client) -> client.BatchV1Api:
    return client.BatchV1Api(api_client)


@pytest.fixture(scope="module")
def offsite(kubeconfig, tmp_path_factory):
    """MinIO on the node address for the Job's pods, its bucket, an age key pair (minio_server.offsite_for_pods)."""
    with offsite_for_pods(kubeconfig, tmp_path_factory) as target:
        yield target


@pytest.fixture(scope="module")
def scheduled(kubeconfig, core, runner_image, offsite, tmp_path_factory):
    """The seeded sample stack in NS with the schedule, pushing offsite; NS is deleted at the end."""
    tmp = tmp_path_factory.mktemp("schedule")
    if namespace_exists(core, NS):  # left by an interrupted run: start from nothing
        sample(kubeconfig, NS, "destroy")
    try:
        sample(kubeconfig, NS, "deploy")
        sample(kubeconfig, NS, "seed")
        core.create_namespaced_secret(NS, client.V1Secret(
            metadata=client.V1ObjectMeta(name=SECRET), string_data={
                "token": SECRET_VALUE, "AWS_ACCESS_KEY_ID": offsite["minio"].access_key,
                "AWS_SECRET_ACCESS_KEY": offsite["minio"].secret_key}))
        run = schedule_playbook(kubeconfig, tmp, runner_image, schedule_offsite=True,
                                schedule_secret_env=["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
                                schedule_offsite_vars={"bucket": offsite["bucket"],
                                                       "endpoint_url": offsite["minio"].endpoint,
                                                       "addressing_style": "path",
                                                       "recipients": [offsite["recipient"]]})
        assert run.rc == 0, run.failures or run.output[-3000:]
        yield tmp
    finally:
        sample(kubeconfig, NS, "destroy", "--no-wait")


def schedule_playbook(kubeconfig: str, tmp: Path, image: str, **extra):
    return playbook("schedule.yml", kubeconfig, tmp, NS, **{
        "schedule_image": image, "schedule_suspend": True,
        # The `local` StorageClass gives the volume the pod's fsGroup; the root init container of
        # schedule_volume_init (for storage that ignores fsGroup) would be refused under PodSecurity restricted.
        "schedule_volume_storage_class": "local", "schedule_volume_size": "2Gi",
        "schedule_restore_rbac": True, "schedule_lock_timeout": LOCK_TIMEOUT,
        "schedule_secret_name": SECRET, "schedule_secret_vars": {"statesafe_test_token": "token"},
        "schedule_resources": {"requests": {"cpu": "100m", "memory": "256Mi"}}, **extra})


def can_i(kubectl, verb: str, resource: str, namespace: str | None, account: str = NAME) -> bool:
    args = ["auth", "can-i", f"--as=system:serviceaccount:{NS}:{account}", verb, resource]
    run = kubectl(*args, *(["-n", namespace] if namespace else []), check=False)
    answer = run.stdout.decode().strip()
    assert answer in ("yes", "no"), (args, answer, run.stderr.decode())
    return answer == "yes"


def job_from_cronjob(api_client, batch, name: str, *, command: list[str] | None = None,
                     service_account: str | None = None, env: dict[str, str] | None = None) -> None:
    """A Job from the CronJob's template, as `kubectl create job --from=cronjob/...` makes, with changes."""
    cronjob = batch.read_namespaced_cron_job(NAME, NS)
    spec = api_client.sanitize_for_serialization(cronjob.spec.job_template.spec)
    pod = spec["template"]["spec"]
    container = pod["containers"][0]
    if command:
        container["command"] = command
    container["env"] = container.get("env", []) + [{"name": k, "value": v} for k, v in (env or {}).items()]
    if service_account:
        pod["serviceAccountName"] = service_account
    batch.create_namespaced_job(NS, {"apiVersion": "batch/v1", "kind": "Job",
                                     "metadata": {"name": name, "namespace": NS}, "spec": spec})


def wait_jobs(batch, names: list[str], timeout: int = JOB_TIMEOUT) -> dict[str, bool]:
    """{job: succeeded} once every Job has finished."""
    deadline = time.monotonic() + timeout
    done: dict[str, bool] = {}
    while time.monotonic() < deadline:
        for name in names:
            if name not in done:
                status = batch.read_namespaced_job(name, NS).status
                if status.succeeded or status.failed:
                    done[name] = bool(status.succeeded)
        if len(done) == len(names):
            return done
        time.sleep(5)
    pytest.fail(f"Jobs {sorted(set(names) - set(done))} in {NS} did not finish within {timeout}s")


def job_pod(core, name: str) -> str:
    pods = core.list_namespaced_pod(NS, label_selector=f"job-name={name}").items
    assert len(pods) == 1, [p.metadata.name for p in pods]
    return pods[0].metadata.name


def job_log(core, name: str) -> str:
    return core.read_namespaced_pod_log(job_pod(core, name), NS, container="backup")


def lease_held(core, name: str) -> bool:
    """Whether the Job's backup has reached the tasks it runs under the repository's run lease."""
    try:
        return "Changes | revisions of the components" in job_log(core, name)
    except (ApiException, AssertionError):  # no pod yet, or its container not started
        return False


def job_seconds(batch, name: str) -> float:
    status = batch.read_namespaced_job(name, NS).status
    end = status.completion_time or status.conditions[-1].last_transition_time
    return (end - status.start_time).total_seconds()


def destroy_application(kubectl) -> None:
    """Everything of the application, its volumes included; the schedule's objects and volume stay."""
    kubectl("-n", NS, "delete", "softwarefactories,statefulsets,services,secrets,configmaps",
            "-l", PART_OF, "--wait=true", "--timeout=600s")
    kubectl("-n", NS, "wait", "--for=delete", "pod", "-l", "app.kubernetes.io/name in (mariadb,zookeeper)",
            "--timeout=600s", check=False)
    kubectl("-n", NS, "delete", "pvc", "-l", "app.kubernetes.io/name in (mariadb,zookeeper)",
            "--wait=true", "--timeout=600s")


def assert_pushed_offsite(core, offsite, kubeconfig, tmp_path):
    """The bucket holds the repository as age ciphertext only, and it pulls back into a complete archive."""
    minio, bucket = offsite["minio"], offsite["bucket"]
    stored = minio.objects(bucket)
    assert any(key.startswith("statesafe/softwarefactory/packs/") for key in stored), sorted(stored)
    secret_values = [base64.b64decode(value) for secret in core.list_namespaced_secret(NS, label_selector=PART_OF).items
                     for value in (secret.data or {}).values() if len(base64.b64decode(value)) >= 8]
    assert secret_values
    for key in stored:
        data = minio.read(bucket, key)
        assert data.startswith(b"age-encryption.org/v1\n"), key
        for needle in (b"PACK", b"kind: Secret", b"MANIFEST", *secret_values):
            assert needle not in data, key
    pulled = tmp_path / "pulled"
    run = playbook("offsite_pull.yml", kubeconfig, tmp_path, NS, repository=str(pulled), bucket=bucket,
                   endpoint_url=minio.endpoint, addressing_style="path", identity_file=str(offsite["identity"]),
                   access_key=minio.access_key, secret_key=minio.secret_key, offsite_age_command=str(offsite["age"]))
    assert run.rc == 0, run.failures or run.output[-3000:]
    assert minio.secret_key not in run.output
    [shown] = [result["msg"] for result in run.results("What to run next")]
    assert "1 complete archives of softwarefactory" in shown, shown


def test_rights_are_the_backups_in_its_namespace_only(scheduled, kubectl, core, batch):
    assert can_i(kubectl, "list", "secrets", NS)
    assert can_i(kubectl, "create", "pods/exec", NS)
    assert not can_i(kubectl, "list", "secrets", "default")
    assert not can_i(kubectl, "list", "namespaces", None)
    # Its own Namespace object only, so the archive records the namespace's labels (a real request: `auth can-i`
    # asks about a cluster-scoped object without the namespace the Role's binding is in, and answers no).
    account = f"--as=system:serviceaccount:{NS}:{NAME}"
    assert kubectl("get", "namespace", NS, account, check=False).returncode == 0
    assert kubectl("get", "namespace", "default", account, check=False).returncode != 0
    assert not can_i(kubectl, "delete", "secrets", NS)
    assert not can_i(kubectl, "patch", "statefulsets", NS)
    assert not can_i(kubectl, "create", "rolebindings", NS)
    # The restore identity may write what a restore writes, still in this namespace only.
    assert can_i(kubectl, "create", "statefulsets", NS, RESTORE_SA)
    assert not can_i(kubectl, "create", "statefulsets", "default", RESTORE_SA)

    cronjob = batch.read_namespaced_cron_job(NAME, NS)
    assert cronjob.spec.concurrency_policy == "Forbid"
    assert cronjob.spec.job_template.spec.backoff_limit == 0
    pod = cronjob.spec.job_template.spec.template.spec
    assert pod.security_context.run_as_non_root and pod.security_context.run_as_user == 1000
    env = {e.name: e for e in pod.containers[0].env}
    assert env["STATESAFE_SECRET_STATESAFE_TEST_TOKEN"].value_from.secret_key_ref.name == SECRET
    config_map = core.read_namespaced_config_map(NAME, NS).data["vars.yml"]
    assert "statesafe_test_token" in config_map and SECRET_VALUE not in config_map


def test_job_from_cronjob_backs_up_and_its_archive_restores(scheduled, offsite, kubeconfig, kubectl, core, batch,
                                                            api_client, tmp_path):
    before = sample(kubeconfig, NS, "fingerprint")

    kubectl("-n", NS, "create", "job", f"--from=cronjob/{NAME}", "backup-1")
    assert wait_jobs(batch, ["backup-1"]) == {"backup-1": True}, job_log(core, "backup-1")[-4000:]
    log = job_log(core, "backup-1")
    print(f"backup Job: {job_seconds(batch, 'backup-1'):.0f}s")
    assert "statesafe_backup" in log, log[-3000:]
    assert SECRET_VALUE not in log
    # Retention is on in a schedule by default (schedule_retention): the summary reports its pass.
    assert '"bytes_freed"' in log and '"kept": ' in log, log[-3000:]
    assert_pushed_offsite(core, offsite, kubeconfig, tmp_path)

    # The archive is on the volume, complete: the list playbook, in-cluster, from the same volume.
    job_from_cronjob(api_client, batch, "list-1", command=[
        "ansible-playbook", "statesafe.backup.list", "-e", "@/etc/statesafe/vars.yml"])
    assert wait_jobs(batch, ["list-1"]) == {"list-1": True}, job_log(core, "list-1")[-3000:]
    listing = job_log(core, "list-1")
    archives = re.findall(r'"(\d{4}-\d\d-\d\d-\d{6})  [0-9a-f]{12}  \d+  (complete|INCOMPLETE)"', listing)
    assert len(archives) == 1 and archives[0][1] == "complete", listing[-3000:]

    destroy_application(kubectl)
    job_from_cronjob(api_client, batch, "restore-1", service_account=RESTORE_SA, command=[
        "ansible-playbook", "statesafe.backup.restore", "-e", "@/etc/statesafe/vars.yml",
        "-e", "staging=/var/lib/statesafe/restore", "-e", "archive=latest"])
    assert wait_jobs(batch, ["restore-1"]) == {"restore-1": True}, job_log(core, "restore-1")[-4000:]
    print(f"restore Job: {job_seconds(batch, 'restore-1'):.0f}s")
    for statefulset in ("mariadb", "zookeeper", "zuul-scheduler"):
        kubectl("-n", NS, "rollout", "status", f"statefulset/{statefulset}", "--timeout=600s")
    assert sample(kubeconfig, NS, "fingerprint") == before


def test_a_second_run_waits_for_the_lock_then_fails_naming_the_holder(scheduled, core, batch, api_client):
    names = ["locked-a", "locked-b"]
    # Forced: past skip_unchanged and min_interval, both really back up. The second starts once the first holds
    # the run lease (its log has reached the tasks run under the lease), so it must wait: started together, the
    # first could finish inside the second's lock timeout on a quiet machine and both would succeed.
    job_from_cronjob(api_client, batch, names[0], env={"STATESAFE_FORCE": "true"})
    wait_until(f"Job {names[0]} holds the run lease", lambda: lease_held(core, names[0]), timeout=JOB_TIMEOUT,
               interval=2)
    job_from_cronjob(api_client, batch, names[1], env={"STATESAFE_FORCE": "true"})
    result = wait_jobs(batch, names)
    assert sorted(result.values()) == [False, True], {n: job_log(core, n)[-2000:] for n in names}
    winner = next(n for n, ok in result.items() if ok)
    loser = next(n for n, ok in result.items() if not ok)
    log = job_log(core, loser)
    assert "waiting for the run lock" in log, log[-3000:]
    assert f"host={job_pod(core, winner)}" in log, log[-3000:]
    print(f"lock: {winner} {job_seconds(batch, winner):.0f}s, {loser} failed after {job_seconds(batch, loser):.0f}s")


def test_run_now_waits_and_a_run_within_min_interval_is_skipped(scheduled, kubeconfig, core, batch,
                                                                runner_image):
    """schedule_run_now + schedule_wait: the Job runs, is waited for, and (not forced) skips as too recent."""
    run = schedule_playbook(kubeconfig, scheduled, runner_image, schedule_run_now=True, schedule_wait=True,
                            schedule_wait_timeout=JOB_TIMEOUT)
    assert run.rc == 0, run.failures or run.output[-3000:]
    jobs = [job.metadata.name for job in batch.list_namespaced_job(NS).items
            if job.metadata.name.startswith(NAME + "-now-")]
    assert len(jobs) == 1, jobs
    log = job_log(core, jobs[0])
    assert '"skipped": true' in log and '"skipped_by": "min_interval"' in log, log[-3000:]
    print(f"run now (skipped): {job_seconds(batch, jobs[0]):.0f}s")


def test_state_absent_removes_the_schedule_and_keeps_the_volume(scheduled, kubeconfig, core, batch,
                                                                api_client):
    run = playbook("schedule.yml", kubeconfig, scheduled, NS, schedule_state="absent")
    assert run.rc == 0, run.failures or run.output[-3000:]
    with pytest.raises(ApiException) as gone:
        batch.read_namespaced_cron_job(NAME, NS)
    assert gone.value.status == 404
    for read in (lambda: core.read_namespaced_config_map(NAME, NS),
                 lambda: core.read_namespaced_service_account(NAME, NS),
                 lambda: client.RbacAuthorizationV1Api(api_client).read_namespaced_role(NAME, NS),
                 lambda: client.RbacAuthorizationV1Api(api_client).read_namespaced_role(RESTORE_SA, NS)):
        with pytest.raises(ApiException) as gone:
            read()
        assert gone.value.status == 404
    assert core.read_namespaced_persistent_volume_claim(NAME + "-data", NS).status.phase == "Bound"
