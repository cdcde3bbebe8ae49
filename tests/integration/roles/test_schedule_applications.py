"""One CronJob backing up several applications of a namespace, pushed offsite: the KDL design's backup, end to end.

In `sfk-kdl` (enforcing PodSecurity `restricted`) run what the KDL design backs up from its CronJob: a real
PostgreSQL 15 (Gitea's database in the design), a real MLflow tracking server (its SQLite store and artifacts on a
claim), and the objects its API creates at run time: custom resources of a CRD the test installs (`Project`) and SSH
key Secrets. playbooks/schedule.yml creates one schedule with three applications (`schedule_applications`: the
shipped postgresql and mlflow profiles and a profile of the objects given as data), retention on (the schedule's
default) and the offsite push to a real MinIO; a run starts at once and the playbook waits for it. Then:

- the Job succeeded, its log holds each application's summary, complete, and its retention pass;
- the bucket holds the repository as age ciphertext only, none of the Secrets' values in it;
- the whole namespace is deleted, the schedule's volume with it: only the offsite copy is left;
- offsite_pull.yml rebuilds the repository on this machine, and playbooks/restore.yml over an inventory of the same
  three applications restores them side by side into the namespace: the database's rows, the MLflow run with its
  parameter, metric and artifact (read through MLflow's REST API, byte for byte), the Project and the SSH Secret.

Bad input: an application whose branch another already writes is refused before anything is created, naming both.
"""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path

import pytest
import yaml

from cluster_helpers import imported_app_image, wait_until
from minio_server import offsite_for_pods
from role_helpers import REPO, playbook
from runner_image import runner_image_ref

NS = "sfk-kdl"
NAME = "kdl-backup"
SECRET = "kdl-backup-offsite"
CRD = "projects.kdl.example.org"
PART_OF = "app.kubernetes.io/part-of=kdl"
OBJECTS = {"name": "kdl-objects", "components": [{"name": "objects", "type": "resources", "resources": [
    {"kind": "Project", "api_version": "kdl.example.org/v1", "label_selectors": [PART_OF]},
    {"kind": "Secret", "label_selectors": [PART_OF]}]}]}
APPLICATIONS = [
    {"name": "kdl-db", "profile": "postgresql", "branch": "kdl-postgresql"},
    {"name": "kdl-mlflow", "profile": "mlflow", "branch": "kdl-mlflow"},
    {"name": "kdl-objects", "profile_data": OBJECTS},
]
SSH_KEY = base64.b64encode(os.urandom(48)).decode()
ARTIFACT = os.urandom(50_000)

# Run in the MLflow container (python3 is the server's): MLflow's REST API on its own port, as a client would use it.
MLFLOW_CLIENT = r'''
import base64, json, sys, urllib.request
BASE = "http://127.0.0.1:5000"
def call(path, body=None, method=None, raw=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(BASE + path, data=data, method=method or ("POST" if data else "GET"),
                                     headers={} if raw is not None else {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.read()
if sys.argv[1] == "seed":
    artifact = base64.b64decode(sys.stdin.read())
    experiment = json.loads(call("/api/2.0/mlflow/experiments/create", {"name": "project-a"}))["experiment_id"]
    run = json.loads(call("/api/2.0/mlflow/runs/create", {"experiment_id": experiment}))["run"]["info"]["run_id"]
    call("/api/2.0/mlflow/runs/log-batch", {"run_id": run, "params": [{"key": "epochs", "value": "12"}],
         "metrics": [{"key": "loss", "value": 0.25, "timestamp": 1700000000000, "step": 3}]})
    call(f"/api/2.0/mlflow-artifacts/artifacts/{experiment}/{run}/artifacts/model.bin", method="PUT", raw=artifact)
    print(json.dumps({"experiment": experiment, "run": run}))
else:
    experiment, run = sys.argv[2], sys.argv[3]
    data = json.loads(call(f"/api/2.0/mlflow/runs/get?run_id={run}"))["run"]["data"]
    artifact = call(f"/api/2.0/mlflow-artifacts/artifacts/{experiment}/{run}/artifacts/model.bin")
    print(json.dumps({"params": data["params"], "metrics": [(m["key"], m["value"], m["step"]) for m in data["metrics"]],
                      "artifact": base64.b64encode(artifact).decode()}))
'''


def postgres_objects(cluster_state: Path) -> list[dict]:
    refs = (cluster_state / "images.txt").read_text().split()
    [image] = [ref for ref in refs if ref.startswith("localhost/postgres:")]
    text = ((REPO / "tests" / "cluster" / "apps" / "postgresql.yaml").read_text().replace("NAMESPACE", NS)
            .replace("IMAGE", image).replace("SUPERUSER_PASSWORD", "superuser-password"))
    objects = [o for o in yaml.safe_load_all(text) if o]
    for obj in objects:
        for template in obj.get("spec", {}).get("volumeClaimTemplates", []):
            template["spec"]["storageClassName"] = "local"  # the test cluster's class where fsGroup applies
    return objects


def mlflow_objects(image: str) -> list[dict]:
    text = (REPO / "tests" / "cluster" / "apps" / "mlflow.yaml").read_text()
    objects = [o for o in yaml.safe_load_all(text.replace("@NAMESPACE@", NS).replace("@MLFLOW_IMAGE@", image)) if o]
    for obj in objects:
        if obj["kind"] == "PersistentVolumeClaim":
            obj["spec"]["storageClassName"] = "local"
    return objects


def kdl_objects() -> list[dict]:
    """What KDL's API creates for a project at run time: its custom resource and an SSH key Secret."""
    labels = {"app.kubernetes.io/part-of": "kdl"}
    return [
        {"apiVersion": "kdl.example.org/v1", "kind": "Project",
         "metadata": {"name": "project-a", "namespace": NS, "labels": labels},
         "spec": {"repository": "project-a.git", "mlflow": {"experiment": "project-a"}}},
        {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/ssh-auth",
         "metadata": {"name": "project-a-ssh", "namespace": NS, "labels": labels},
         "data": {"ssh-privatekey": base64.b64encode(SSH_KEY.encode()).decode()}},
    ]


CRD_OBJECT = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": CRD},
    "spec": {"group": "kdl.example.org", "scope": "Namespaced",
             "names": {"plural": "projects", "singular": "project", "kind": "Project"},
             "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                 "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}}


def apply(kubectl, objects: list[dict]) -> None:
    kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}).encode())


def psql(kubectl, sql: str, database: str = "postgres") -> str:
    run = kubectl("-n", NS, "exec", "-i", "postgresql-0", "-c", "postgresql", "--", "sh", "-c",
                  'exec psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$1"', "sh", database, input=sql.encode())
    return run.stdout.decode().strip()


def mlflow(kubectl, *args: str, stdin: bytes = b"") -> dict:
    run = kubectl("-n", NS, "exec", "-i", "deploy/mlflow", "-c", "mlflow", "--", "python3", "-c", MLFLOW_CLIENT,
                  *args, input=stdin, timeout=300)
    return json.loads(run.stdout.decode().strip().splitlines()[-1])


def ready(kubectl) -> None:
    kubectl("-n", NS, "rollout", "status", "statefulset/postgresql", "--timeout=300s", timeout=320)
    kubectl("-n", NS, "rollout", "status", "deployment/mlflow", "--timeout=400s", timeout=420)
    wait_until("postgresql-0 to accept connections", lambda: kubectl(
        "-n", NS, "exec", "postgresql-0", "-c", "postgresql", "--", "pg_isready", "-q", check=False).returncode == 0,
        timeout=120)


def delete_namespace(kubectl, core) -> None:
    kubectl("delete", "namespace", NS, "--ignore-not-found", "--wait=false")
    wait_until(f"namespace {NS} to be gone",
               lambda: NS not in [n.metadata.name for n in core.list_namespace().items], timeout=300)


@pytest.fixture(scope="module")
def offsite(kubeconfig, tmp_path_factory):
    """MinIO on the node address for the Job's pods, its bucket, an age key pair (minio_server.offsite_for_pods)."""
    with offsite_for_pods(kubeconfig, tmp_path_factory) as target:
        yield target


@pytest.fixture(scope="module")
def kdl(kubeconfig, kubectl, core, cluster_state, offsite, tmp_path_factory):
    """The three applications running and seeded in NS, the CRD installed, and the offsite credentials' Secret."""
    tmp = tmp_path_factory.mktemp("kdl")
    mlflow_image = imported_app_image(kubeconfig, "mlflow")
    delete_namespace(kubectl, core)
    try:
        apply(kubectl, [CRD_OBJECT])
        kubectl("wait", "--for=condition=Established", f"crd/{CRD}", "--timeout=60s")
        kubectl("create", "namespace", NS)
        kubectl("label", "namespace", NS, "pod-security.kubernetes.io/enforce=restricted")
        apply(kubectl, postgres_objects(cluster_state) + mlflow_objects(mlflow_image) + kdl_objects())
        kubectl("-n", NS, "create", "secret", "generic", SECRET,
                f"--from-literal=AWS_ACCESS_KEY_ID={offsite['minio'].access_key}",
                f"--from-literal=AWS_SECRET_ACCESS_KEY={offsite['minio'].secret_key}")
        ready(kubectl)
        psql(kubectl, "CREATE DATABASE gitea")
        psql(kubectl, "CREATE TABLE repository (id int PRIMARY KEY, name text); "
                      "INSERT INTO repository SELECT i, 'repo-' || i FROM generate_series(1, 500) i", "gitea")
        run = mlflow(kubectl, "seed", stdin=base64.b64encode(ARTIFACT))
        yield {"tmp": tmp, **run}
    finally:
        kubectl("delete", "namespace", NS, "--ignore-not-found", "--wait=false")
        kubectl("delete", "crd", CRD, "--ignore-not-found", "--wait=false")


def schedule(kubeconfig, tmp, offsite, applications, **extra):
    return playbook("schedule.yml", kubeconfig, tmp, NS, timeout=1800, **{
        "schedule_name": NAME, "schedule_image": runner_image_ref(kubeconfig), "schedule_suspend": True,
        "schedule_applications": applications,
        "schedule_volume_storage_class": "local", "schedule_volume_size": "2Gi",
        "schedule_secret_name": SECRET, "schedule_secret_env": ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
        "schedule_offsite": True,
        "schedule_offsite_vars": {"bucket": offsite["bucket"], "endpoint_url": offsite["minio"].endpoint,
                                  "addressing_style": "path", "recipients": [offsite["recipient"]]},
        "schedule_resources": {"requests": {"cpu": "100m", "memory": "256Mi"}}, **extra})


def test_two_applications_writing_one_branch_are_refused_before_anything_is_created(
        kdl, kubeconfig, offsite, kubectl):
    twice = APPLICATIONS + [{"name": "kdl-db-copy", "profile": "postgresql", "branch": "kdl-postgresql"}]
    run = schedule(kubeconfig, kdl["tmp"], offsite, twice)
    assert run.rc != 0
    message = " ".join(run.failures)
    assert ("schedule_applications[3] (kdl-db-copy): writes branch 'kdl-postgresql', as kdl-db does" in message), \
        message
    assert kubectl("-n", NS, "get", "cronjob", NAME, check=False).returncode != 0, "the schedule was created"


@pytest.mark.timeout(2700)
def test_one_cronjob_backs_up_the_applications_offsite_and_they_restore_from_there(
        kdl, kubeconfig, offsite, kubectl, core, tmp_path):
    run = schedule(kubeconfig, kdl["tmp"], offsite, APPLICATIONS, schedule_run_now=True, schedule_run_force=True,
                   schedule_wait=True)
    assert run.rc == 0, run.failures or run.output[-4000:]
    [job] = [name for name in kubectl("-n", NS, "get", "jobs", "-o", "name").stdout.decode().split()
             if name.startswith(f"job.batch/{NAME}-now-")]
    log = kubectl("-n", NS, "logs", job, "-c", "backup").stdout.decode()
    for name in ("kdl-db", "kdl-mlflow", "kdl-objects"):
        assert re.search(rf"{name}\s*:\s*ok=\d+\s+changed=\d+\s+unreachable=0\s+failed=0", log), log[-4000:]
    assert log.count('"complete": true') >= 3 and '"bytes_freed"' in log, log[-4000:]

    minio, bucket = offsite["minio"], offsite["bucket"]
    stored = minio.objects(bucket)
    assert stored and all(key.startswith(f"statesafe/{NAME}/") for key in stored), sorted(stored)
    for key in stored:
        data = minio.read(bucket, key)
        assert data.startswith(b"age-encryption.org/v1\n"), key
        for needle in (SSH_KEY.encode(), b"superuser-password", b"PACK", b"MANIFEST"):
            assert needle not in data, key

    # Everything in the cluster is lost, the schedule's volume and its repository with it.
    delete_namespace(kubectl, core)
    pulled = tmp_path / "pulled"
    pull = playbook("offsite_pull.yml", kubeconfig, tmp_path, NS, repository=str(pulled), bucket=bucket,
                    prefix=f"statesafe/{NAME}", endpoint_url=minio.endpoint, addressing_style="path",
                    identity_file=str(offsite["identity"]), access_key=minio.access_key, secret_key=minio.secret_key,
                    offsite_age_command=str(offsite["age"]))
    assert pull.rc == 0, pull.failures or pull.output[-3000:]

    # The same applications as an inventory on this machine, restored side by side from the pulled repository.
    inventory = tmp_path / "applications.yml"
    hosts = {app["name"]: {key: value for key, value in app.items() if key != "name"} for app in APPLICATIONS}
    hosts["kdl-objects"]["profile"] = OBJECTS["name"]
    inventory.write_text(yaml.safe_dump({"applications": {"vars": {"ansible_connection": "local"}, "hosts": hosts}}))
    restore = playbook("restore.yml", kubeconfig, tmp_path, NS, "-i", str(inventory), timeout=1800,
                       target="applications", repository=str(pulled), staging=str(tmp_path / "restore"))
    assert restore.rc == 0, restore.failures or restore.output[-4000:]
    assert set(restore.host_stats) == {"kdl-db", "kdl-mlflow", "kdl-objects"}, restore.host_stats.keys()
    ready(kubectl)

    assert psql(kubectl, "SELECT count(*), sum(id) FROM repository", "gitea") == "500|125250"
    restored = mlflow(kubectl, "read", kdl["experiment"], kdl["run"])
    assert restored["params"] == [{"key": "epochs", "value": "12"}]
    assert restored["metrics"] == [["loss", 0.25, 3]]
    assert base64.b64decode(restored["artifact"]) == ARTIFACT
    project = json.loads(kubectl("-n", NS, "get", "project", "project-a", "-o", "json").stdout)
    assert project["spec"] == {"repository": "project-a.git", "mlflow": {"experiment": "project-a"}}
    secret = json.loads(kubectl("-n", NS, "get", "secret", "project-a-ssh", "-o", "json").stdout)
    assert secret["type"] == "kubernetes.io/ssh-auth"
    assert base64.b64decode(secret["data"]["ssh-privatekey"]).decode() == SSH_KEY
    assert core.read_namespace(NS).metadata.labels["pod-security.kubernetes.io/enforce"] == "restricted"
