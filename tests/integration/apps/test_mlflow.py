"""profiles/mlflow.yml against a real MLflow 3.17 tracking server, in a namespace that enforces `restricted`.

The stack (tests/cluster/apps/mlflow.yaml) is MLflow on a Deployment whose claim holds the SQLite backend store and
the artifacts it serves (--serve-artifacts), as users run it. The proof uses MLflow itself, through its REST API from
this process over `kubectl port-forward`: an experiment, a run with parameters, a metric history, tags and two
artifact files (one of random bytes) uploaded through the server; then a backup (with the shipped profile, by name,
its hooks holding SQLite's write lock around the copy), a run logged after it, the namespace deleted, a restore. After
it the run reads back with the same parameters, metric history and tags, each artifact downloads through MLflow byte
for byte, and the later run is gone.

Under writes: a client keeps logging batches to another run all through the backup, one step after the other, each
batch two metrics that sum to zero (one transaction in MLflow's store). The restored run holds every batch
acknowledged before the backup started and a gap-free series of steps after them, each with both metrics summing to
zero: the copy is the database as of one commit, never half a batch. Writes that came during the lock waited (or
were answered 503 and sent again, as MLflow's clients do) and went on after it.

The image is built and imported here when the cluster lacks it (a cluster started before the recipe existed); on a
cluster that `make cluster` brought up it is present already. The namespace is deleted at the end, whatever happened.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from background_writer import BackgroundWriter
from cluster_helpers import imported_app_image, wait_until
from role_helpers import REPO, playbook

NS = "sfm-mlflow"
MANIFEST = REPO / "tests" / "cluster" / "apps" / "mlflow.yaml"
API = "/api/2.0/mlflow"


def manifests(image: str) -> list[dict]:
    text = MANIFEST.read_text().replace("@NAMESPACE@", NS).replace("@MLFLOW_IMAGE@", image)
    assert "@" not in re.sub(r"#.*", "", text), "a placeholder of mlflow.yaml was left unreplaced"
    objects = [o for o in yaml.safe_load_all(text) if o]
    for obj in objects:
        if obj["kind"] == "PersistentVolumeClaim":
            obj["spec"]["storageClassName"] = "local"  # the test cluster's class where fsGroup applies
    return objects


def delete_namespace(kubectl, core) -> None:
    kubectl("delete", "namespace", NS, "--ignore-not-found", "--wait=false")
    wait_until(f"namespace {NS} to be gone",
               lambda: NS not in [n.metadata.name for n in core.list_namespace().items], timeout=300)


def mlflow_ready(kubectl) -> None:
    kubectl("-n", NS, "rollout", "status", "deployment/mlflow", "--timeout=400s", timeout=420)


@contextmanager
def mlflow_url(cluster_state: Path, kubeconfig: str):
    """A local port forwarded to the MLflow Service, as a user's client would reach it."""
    forward = subprocess.Popen([str(cluster_state / "bin" / "kubectl"), "--kubeconfig", kubeconfig, "-n", NS,
                                "port-forward", "service/mlflow", ":5000"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = forward.stdout.readline()
        port = re.search(r"127\.0\.0\.1:(\d+)", line)
        assert port, f"kubectl port-forward printed {line!r}, stderr {forward.stderr.read() if not line else ''}"
        yield f"http://127.0.0.1:{port.group(1)}"
    finally:
        forward.terminate()
        forward.wait(timeout=30)


def call(url: str, method: str = "GET", body: object = None, raw: bytes | None = None) -> tuple[int, bytes]:
    headers, data = {}, raw
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def api(base: str, endpoint: str, method: str = "GET", body: object = None, **query) -> dict:
    url = f"{base}{API}/{endpoint}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
    status, data = call(url, method, body)
    assert status == 200, f"{method} {endpoint}: {status} {data[:2000]!r}"
    return json.loads(data) if data.strip() else {}


def artifact_url(base: str, experiment_id: str, run_id: str, path: str) -> str:
    """Where the server stores and serves a run's artifact (the run's artifact_uri is mlflow-artifacts:/<exp>/<run>/artifacts)."""
    return f"{base}/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{run_id}/artifacts/{path}"


def run_state(base: str, run_id: str) -> dict:
    """What a user reads back of a run: its info, parameters, full metric histories and tags, and its artifact list."""
    run = api(base, "runs/get", run_id=run_id)["run"]
    metrics = {m["key"]: api(base, "metrics/get-history", run_id=run_id, metric_key=m["key"])["metrics"]
               for m in run["data"].get("metrics", [])}
    files = api(base, "artifacts/list", run_id=run_id, path="outputs").get("files", [])
    return {"info": run["info"], "params": run["data"].get("params", []), "tags": run["data"].get("tags", []),
            "metrics": metrics, "artifacts": files}


def hook_output(backup, task: str) -> str:
    return "".join(result["stdout"] + result["stderr"]
                   for play in backup.document.get("plays", []) for entry in play.get("tasks", [])
                   if entry["task"]["name"].endswith(task)
                   for host in entry["hosts"].values() for item in host.get("results", [])
                   for result in item.get("results", []))


class BatchWriter(BackgroundWriter):
    """Logs step after step to one run, each a batch of metrics `a` = step and `b` = -step, from a thread through its
    own port-forward; a batch answered 503 (the store locked for too long) is sent again, as MLflow's clients do.
    `acknowledged`: steps 0 .. acknowledged-1 are committed."""

    def __init__(self, forward, run_id: str):
        super().__init__()
        self.forward, self.run_id = forward, run_id
        self.slowest = 0.0
        self.retried = 0

    def run(self):
        with mlflow_url(*self.forward) as base:
            while not self.done.is_set():
                step = self.acknowledged
                batch = {"run_id": self.run_id, "metrics": [
                    {"key": key, "value": sign * step, "timestamp": 1_700_000_000_000 + step, "step": step}
                    for key, sign in (("a", 1), ("b", -1))]}
                started = time.monotonic()
                status, body = call(f"{base}{API}/runs/log-batch", "POST", batch)
                self.slowest = max(self.slowest, time.monotonic() - started)
                if status == 503:
                    self.retried += 1
                    continue
                if status != 200:
                    self.error = f"log-batch of step {step}: {status} {body[:500]!r}"
                    return
                self.acknowledged = step + 1
                time.sleep(0.05)


def steps_of(base: str, run_id: str) -> dict[str, dict[int, float]]:
    """The writer's run as it reads back: per metric, value by step."""
    return {key: {int(m["step"]): m["value"] for m in api(base, "metrics/get-history", run_id=run_id,
                                                          metric_key=key, max_results=100_000)["metrics"]}
            for key in ("a", "b")}


@pytest.fixture(scope="module")
def stack(kubeconfig, kubectl, core, cluster_state, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mlflow")
    image = imported_app_image(kubeconfig, "mlflow")
    delete_namespace(kubectl, core)
    try:
        kubectl("create", "namespace", NS)
        kubectl("label", "namespace", NS, "pod-security.kubernetes.io/enforce=restricted")
        kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                      "items": manifests(image)}).encode())
        mlflow_ready(kubectl)
        yield {"tmp": tmp, "kubeconfig": kubeconfig, "cluster_state": cluster_state}
    finally:
        kubectl("delete", "namespace", NS, "--ignore-not-found", "--wait=false")


def test_a_run_its_metrics_and_artifacts_come_back_after_the_namespace_was_deleted(stack, kubectl, core):
    forward = (stack["cluster_state"], stack["kubeconfig"])
    weights = os.urandom(300_000)
    notes = "loss went down\n".encode() * 100
    with mlflow_url(*forward) as base:
        experiment_id = api(base, "experiments/create", "POST", {"name": "statesafe-proof"})["experiment_id"]
        run_id = api(base, "runs/create", "POST", {"experiment_id": experiment_id, "run_name": "baseline",
                                                   "start_time": 1_700_000_000_000})["run"]["info"]["run_id"]
        api(base, "runs/log-batch", "POST", {
            "run_id": run_id,
            "params": [{"key": "learning_rate", "value": "0.01"}, {"key": "optimizer", "value": "adam"}],
            "metrics": [{"key": "loss", "value": 1.0 / step, "timestamp": 1_700_000_000_000 + step, "step": step}
                        for step in range(1, 21)] + [{"key": "accuracy", "value": 0.93,
                                                      "timestamp": 1_700_000_000_100, "step": 20}],
            "tags": [{"key": "team", "value": "storage"}]})
        for path, content in (("outputs/model/weights.bin", weights), ("outputs/notes.txt", notes)):
            status, body = call(artifact_url(base, experiment_id, run_id, path), "PUT", raw=content)
            assert status == 200, body
        api(base, "runs/update", "POST", {"run_id": run_id, "status": "FINISHED", "end_time": 1_700_000_100_000})
        before = run_state(base, run_id)
        assert [p["key"] for p in before["params"]] and len(before["metrics"]["loss"]) == 20
        assert {f["path"] for f in before["artifacts"]} == {"outputs/model", "outputs/notes.txt"}

    with mlflow_url(*forward) as base:
        writes_id = api(base, "runs/create", "POST", {"experiment_id": experiment_id,
                                                      "run_name": "writes"})["run"]["info"]["run_id"]
    with BatchWriter(forward, writes_id) as writer:
        wait_until("the writer to commit batches", lambda: writer.acknowledged >= 20 or writer.error, timeout=120)
        before_backup = writer.acknowledged
        backup = playbook("backup.yml", stack["kubeconfig"], stack["tmp"], NS, profile="mlflow",
                          staging=str(stack["tmp"] / "staging"), timeout=600)
        after_backup = writer.acknowledged
        wait_until("the writer to commit after the backup", lambda: writer.acknowledged > after_backup + 5
                   or writer.error, timeout=120)
    assert writer.error is None, writer.error
    assert backup.rc == 0, backup.failures or backup.output[-4000:]
    assert after_backup > before_backup, "no batch was committed while the backup ran"
    assert backup.stats["statesafe_backup"]["hooks"]["pre"] == ["mlflow-write-lock"]
    assert "write lock of /mlflow/mlflow.db held" in hook_output(backup, "Hooks | run")
    held = re.search(r"held the write lock of /mlflow/mlflow.db for ([0-9.]+) s", hook_output(backup, "Hooks | run"))
    assert held, hook_output(backup, "Hooks | run")
    # A batch sent while the lock was held waited for it (or was refused with 503 and sent again).
    assert writer.slowest >= min(1.0, float(held.group(1)) / 2) or writer.retried, \
        (held.group(1), writer.slowest, writer.retried)

    with mlflow_url(*forward) as base:
        # Written after the backup: the restore must not have it.
        later = api(base, "runs/create", "POST", {"experiment_id": experiment_id, "run_name": "later"})
        later_id = later["run"]["info"]["run_id"]
        api(base, "runs/log-metric", "POST", {"run_id": later_id, "key": "loss", "value": 0.01,
                                              "timestamp": 1_700_000_200_000, "step": 1})

    delete_namespace(kubectl, core)
    restore = playbook("restore.yml", stack["kubeconfig"], stack["tmp"], NS, profile="mlflow",
                       staging=str(stack["tmp"] / "restore"), timeout=900)
    assert restore.rc == 0, restore.failures or restore.output[-4000:]
    mlflow_ready(kubectl)

    with mlflow_url(*forward) as base:
        assert run_state(base, run_id) == before
        for path, content in (("outputs/model/weights.bin", weights), ("outputs/notes.txt", notes)):
            status, body = call(artifact_url(base, experiment_id, run_id, path))
            assert status == 200 and body == content, (path, status, len(body))
            # The same bytes through the other download route MLflow's UI uses.
            status, body = call(f"{base}/get-artifact?" + urllib.parse.urlencode({"path": path, "run_uuid": run_id}))
            assert status == 200 and body == content, (path, status, len(body))
        status, body = call(f"{base}{API}/runs/get?run_id={later_id}")
        assert status == 404 and b"RESOURCE_DOES_NOT_EXIST" in body, (status, body[:500])
        # The writer's run: every batch acknowledged before the backup, then whole batches without a gap, none
        # acknowledged after the backup ended (one more may have committed while its answer was on the way).
        restored = steps_of(base, writes_id)
        steps = sorted(restored["a"])
        assert steps == sorted(restored["b"]), "a batch is in the backup with only one of its metrics"
        assert steps == list(range(len(steps))), f"steps missing from the restored series: {steps}"
        assert before_backup <= len(steps) <= after_backup + 1, (before_backup, len(steps), after_backup)
        assert all(restored["a"][step] + restored["b"][step] == 0 for step in steps)
        experiments = api(base, "experiments/search", "POST", {"max_results": 100})["experiments"]
        assert "statesafe-proof" in [e["name"] for e in experiments]
