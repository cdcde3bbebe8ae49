"""Metrics and notifications of playbooks/backup.yml, against a real Pushgateway and a local webhook receiver.

The sample stack runs in namespace `sf-report`. The Pushgateway is Debian's prometheus-pushgateway, started by the
test on a free localhost port; the webhook receiver is an http.server thread recording every POST. Nothing is
mocked: the playbook writes the textfile, pushes over HTTP and POSTs the notification itself.

- A successful backup writes and pushes success=1 with the summary's bytes, the last success time, every step ok,
  and calls no webhook (notify_on: failure).
- The database down (mariadb scaled to 0): the backup fails at step mariadb; the textfile and the Pushgateway say
  success=0 and keep the previous success's time and bytes; the webhook gets the failed step and the reason, and no
  Secret value of the stack.
- A missing namespace: fails at preflight, reported the same way for that namespace.
"""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cluster_helpers import wait_until
from role_helpers import PART_OF, namespace_exists, playbook, sample

NS = "sf-report"
MISSING = "sf-report-missing"
PROFILE = "softwarefactory"
COMPONENTS = ["config", "workloads", "mariadb", "zookeeper", "softwarefactory"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def parse_metrics(text: str) -> dict[tuple[str, frozenset], float]:
    """{(name, labels): value} of a text exposition (labels without '=' or ',' in values: ours have none)."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_labels, value = line.rsplit(" ", 1)
        if "{" in name_labels:
            name, labels = name_labels[:-1].split("{", 1)
            pairs = frozenset(tuple(item.split("=", 1)) for item in labels.split(",") if item)
            pairs = frozenset((k, v.strip('"')) for k, v in pairs)
        else:
            name, pairs = name_labels, frozenset()
        out[(name, pairs)] = float(value)
    return out


def metric(metrics, name, **labels) -> float | None:
    for (found, found_labels), value in metrics.items():
        if found == "statesafe_backup_" + name and set(labels.items()) <= set(found_labels):
            return value
    return None


@pytest.fixture(scope="module")
def pushgateway(tmp_path_factory):
    binary = shutil.which("prometheus-pushgateway")
    if binary is None:
        pytest.fail("prometheus-pushgateway not found: install Debian's package (tests/cluster/install-deps.sh)")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(tmp_path_factory.mktemp("pushgateway") / "log", "w") as log:
        yield from _run_pushgateway(binary, port, url, log)


def _run_pushgateway(binary: str, port: int, url: str, log):
    process = subprocess.Popen([binary, f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=log)

    def ready():
        try:
            with urllib.request.urlopen(url + "/-/ready", timeout=2) as response:
                return response.status == 200
        except OSError:
            return process.poll() is not None
    try:
        wait_until("the Pushgateway to be ready", ready, timeout=30, interval=0.3)
        assert process.poll() is None, "prometheus-pushgateway exited"
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def pushed(url: str) -> dict:
    with urllib.request.urlopen(url + "/metrics", timeout=5) as response:
        return parse_metrics(response.read().decode())


@pytest.fixture(scope="module")
def webhook():
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # pylint: disable=invalid-name
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append({"path": self.path, "content_type": self.headers.get("Content-Type"),
                             "body": body.decode()})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/statesafe-token-123", received
    finally:
        server.shutdown()
        server.server_close()


def secret_values(core) -> list[str]:
    values = []
    for secret in core.list_namespaced_secret(NS, label_selector=PART_OF).items:
        for encoded in (secret.data or {}).values():
            values.append(encoded)
            try:
                text = base64.b64decode(encoded).decode()
            except UnicodeDecodeError:
                continue
            values += [line for line in [text, *text.splitlines()] if len(line) >= 8]
    return values


@pytest.fixture(scope="module")
def stack(kubeconfig, core, kubectl):
    try:
        sample(kubeconfig, NS, "deploy")
        sample(kubeconfig, NS, "seed")
        yield secret_values(core)
    finally:
        sample(kubeconfig, NS, "destroy", "--no-wait")
        assert not namespace_exists(core, MISSING), "a backup of a missing namespace created it"


@pytest.fixture(scope="module")
def runs(stack, kubeconfig, kubectl, tmp_path_factory, pushgateway, webhook):
    """A successful backup, then one with the database down, then one of a missing namespace."""
    tmp = tmp_path_factory.mktemp("report")
    metrics_dir = tmp / "metrics"
    metrics_dir.mkdir()
    url, received = webhook
    options = {"staging": str(tmp / "staging"), "metrics_dir": str(metrics_dir), "pushgateway_url": pushgateway,
               "webhook_url": url}
    textfile = metrics_dir / f"statesafe_backup_{PROFILE}_{NS}.prom"
    state: dict = {"tmp": tmp, "textfile": textfile, "received": received}

    before = time.time()
    state["ok"] = playbook("backup.yml", kubeconfig, tmp, NS, **options)
    state["ok_window"] = (before, time.time())
    state["ok_text"] = textfile.read_text() if textfile.exists() else ""
    state["ok_pushed"] = pushed(pushgateway)
    state["ok_received"] = list(received)

    kubectl("scale", "-n", NS, "statefulset/mariadb", "--replicas=0")
    kubectl("wait", "-n", NS, "--for=delete", "pod/mariadb-0", "--timeout=120s", check=False)
    try:
        before = time.time()
        state["down"] = playbook("backup.yml", kubeconfig, tmp, NS, **options)
        state["down_window"] = (before, time.time())
    finally:
        kubectl("scale", "-n", NS, "statefulset/mariadb", "--replicas=1")
        kubectl("rollout", "status", "-n", NS, "statefulset/mariadb", "--timeout=300s")
    state["down_text"] = textfile.read_text()
    state["down_pushed"] = pushed(pushgateway)

    state["missing"] = playbook("backup.yml", kubeconfig, tmp, MISSING, **options)
    state["missing_text"] = (metrics_dir / f"statesafe_backup_{PROFILE}_{MISSING}.prom").read_text()
    state["missing_pushed"] = pushed(pushgateway)
    return state


def test_success_writes_and_pushes_the_summary(runs, pushgateway):
    run = runs["ok"]
    assert run.rc == 0, run.failures or run.output[-4000:]
    summary = run.stats["statesafe_backup"]
    assert run.stats["statesafe_report"]["status"] == "success"
    assert run.stats["statesafe_report"]["pushed"] is True
    local = parse_metrics(runs["ok_text"])
    labels = {"profile": PROFILE, "namespace": NS}
    start, end = runs["ok_window"]
    for metrics in (local, runs["ok_pushed"]):
        assert metric(metrics, "success", **labels) == 1
        assert start <= metric(metrics, "last_success_timestamp_seconds", **labels) <= end
        assert metric(metrics, "bytes_staged", **labels) == int(summary["bytes"])
        assert metric(metrics, "bytes_added", **labels) == int(summary["bytes_added"])
        assert metric(metrics, "artifacts", **labels) == int(summary["artifacts"])
        assert metric(metrics, "dedup_ratio", **labels) == pytest.approx(
            max(0.0, 1 - int(summary["bytes_added"]) / int(summary["bytes"])), abs=1e-5)
        assert 0 < metric(metrics, "duration_seconds", **labels) <= end - start
        for step in ["preflight", *COMPONENTS, "manifest", "save"]:
            assert metric(metrics, "step_status", step=step, **labels) == 1, step
    assert metric(runs["ok_pushed"], "success", job="statesafe_backup", **labels) == 1
    assert runs["ok_received"] == [], "a successful run notified the webhook (notify_on is failure)"


def test_textfile_is_written_atomically(runs):
    leftovers = [p.name for p in runs["textfile"].parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
    assert oct(runs["textfile"].stat().st_mode & 0o777) == "0o644"


def test_database_down_fails_at_its_step_and_keeps_the_last_success(runs, stack):
    run = runs["down"]
    assert run.rc != 0
    assert "mariadb" in " ".join(run.failures)
    labels = {"profile": PROFILE, "namespace": NS}
    ok = parse_metrics(runs["ok_text"])
    start, end = runs["down_window"]
    for metrics in (parse_metrics(runs["down_text"]), runs["down_pushed"]):
        assert metric(metrics, "success", **labels) == 0
        assert start <= metric(metrics, "last_failure_timestamp_seconds", **labels) <= end
        assert start <= metric(metrics, "last_run_timestamp_seconds", **labels) <= end
        assert metric(metrics, "last_success_timestamp_seconds", **labels) == \
            metric(ok, "last_success_timestamp_seconds", **labels)
        assert metric(metrics, "bytes_added", **labels) == metric(ok, "bytes_added", **labels)
        assert metric(metrics, "step_status", step="mariadb", **labels) == 0
        assert metric(metrics, "step_status", step="workloads", **labels) == 1
        assert metric(metrics, "step_status", step="save", **labels) == -1

    notes = [json.loads(item["body"]) for item in runs["received"] if NS + '"' in item["body"]]
    notes = [note for note in notes if note["namespace"] == NS]
    assert len(notes) == 1, runs["received"]
    note = notes[0]
    assert runs["received"][0]["path"] == "/hooks/statesafe-token-123"
    assert runs["received"][0]["content_type"] == "application/json"
    assert note["status"] == "failure" and note["profile"] == PROFILE
    assert note["failed_step"] == "mariadb"
    assert "mariadb-0" in note["reason"], note["reason"]
    assert note["text"].startswith(f"statesafe backup of {PROFILE} in namespace {NS} FAILED at step mariadb")
    body = " ".join(item["body"] for item in runs["received"])
    for value in stack:
        assert value not in body, "a Secret value of the stack reached the webhook"
    assert "statesafe-token-123" not in run.output, "the webhook URL (a token) appeared in the playbook output"


def test_missing_namespace_fails_at_preflight_and_notifies(runs):
    run = runs["missing"]
    assert run.rc != 0
    labels = {"profile": PROFILE, "namespace": MISSING}
    for metrics in (parse_metrics(runs["missing_text"]), runs["missing_pushed"]):
        assert metric(metrics, "success", **labels) == 0
        assert metric(metrics, "last_success_timestamp_seconds", **labels) is None
        assert metric(metrics, "step_status", step="preflight", **labels) == 0
        assert metric(metrics, "step_status", step="config", **labels) == -1
    notes = [json.loads(item["body"]) for item in runs["received"]]
    missing = [note for note in notes if note["namespace"] == MISSING]
    assert len(missing) == 1
    assert missing[0]["failed_step"] == "preflight"
    assert MISSING in missing[0]["reason"], missing[0]["reason"]
    # The failure of one application leaves the other's metrics on the Pushgateway alone.
    assert metric(runs["missing_pushed"], "success", profile=PROFILE, namespace=NS) == 0
