"""The playbooks run through ansible-runner, the way AWX runs a job template, against the local cluster.

AWX hands ansible-runner a private data directory: the project (a checkout holding
playbooks/ and profiles/) under project/, extra variables from the job template and its
survey, environment variables from credentials (here the collection's path in
ANSIBLE_COLLECTIONS_PATH, as an execution environment provides it). What AWX then shows
comes from runner's job events and artifacts: the status, rc, the host stats and the
set_stats data of the playbook_on_stats event (the job's "artifacts"). This test runs
playbooks/backup.yml exactly so, against the run's reference stack (namespace `sf-reference`,
tests/integration/conftest.py; a backup only reads it) into a repository of its own, and checks:

- a backup: status successful, rc 0, `statesafe_backup` in the stats event and its
  summary complete; no Secret value in any file runner wrote (stdout, job_events, ...);
- a backup of a namespace that does not exist: status failed, rc != 0, the reason
  naming the namespace in the failed task's event and in stdout.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import sys
from pathlib import Path

import ansible_runner
import pytest
import yaml

from role_helpers import PART_OF, REFERENCE_NS, REPO

NS = REFERENCE_NS


def private_data_dir(tmp: Path) -> Path:
    """An AWX-like private data directory: the project checkout, an inventory, the environment."""
    root = tmp / "private"
    project = root / "project"
    for part in ("playbooks", "profiles"):
        shutil.copytree(REPO / part, project / part)
    (root / "inventory").mkdir(parents=True)
    (root / "inventory" / "hosts").write_text("localhost ansible_connection=local\n")
    return root


def runner_env() -> dict[str, str]:
    bindir = str(Path(sys.executable).parent)
    return {"ANSIBLE_COLLECTIONS_PATH": os.environ["STATESAFE_COLLECTIONS_ROOT"],
            "PATH": bindir + os.pathsep + os.environ.get("PATH", ""),
            "ANSIBLE_LOCALHOST_WARNING": "0", "ANSIBLE_NOCOLOR": "1"}


def run_backup(root: Path, ident: str, kubeconfig: str, tmp: Path, namespace: str):
    return ansible_runner.run(
        private_data_dir=str(root), ident=ident, playbook="playbooks/backup.yml", quiet=True,
        envvars=runner_env(),
        extravars={"kubeconfig": kubeconfig, "app_namespace": namespace, "repository": str(tmp / "repo"),
                   "staging": str(tmp / "staging"), "ansible_python_interpreter": sys.executable})


def artifact_files(runner) -> dict[str, str]:
    """Every file ansible-runner wrote for this run (stdout, job_events/*.json, status, rc, ...), as text."""
    base = Path(runner.config.artifact_dir)
    files = {str(path.relative_to(base)): path.read_text(errors="replace")
             for path in base.rglob("*") if path.is_file()}
    assert "stdout" in files and any(name.startswith("job_events/") for name in files), sorted(files)
    return files


def stats_event(runner) -> dict:
    events = [event for event in runner.events if event.get("event") == "playbook_on_stats"]
    assert len(events) == 1, [event.get("event") for event in runner.events][-10:]
    return events[0]["event_data"]


def secret_values(core, namespace: str) -> list[str]:
    """Each Secret value of the stack as it could leak: base64 (as stored) and, if text, decoded (each long line)."""
    values = []
    for secret in core.list_namespaced_secret(namespace, label_selector=PART_OF).items:
        for encoded in (secret.data or {}).values():
            values.append(encoded)
            try:
                text = base64.b64decode(encoded).decode()
            except UnicodeDecodeError:
                continue
            values += [line for line in [text, *text.splitlines()] if len(line) >= 16 and "sample" not in line]
    return values


@pytest.fixture(scope="module")
def stack(reference, core):
    return secret_values(core, NS)


@pytest.fixture(scope="module")
def backup(stack, kubeconfig, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("runner")
    root = private_data_dir(tmp)
    return run_backup(root, "backup", kubeconfig, tmp, NS), tmp


def test_backup_job_is_successful_with_its_summary_in_the_artifacts(backup):
    runner, tmp = backup
    assert runner.status == "successful", runner.stdout.read()[-4000:]
    assert runner.rc == 0
    assert runner.stats["failures"] == {} and runner.stats["ok"].get("localhost", 0) > 0, runner.stats
    # The job's artifacts in AWX: set_stats data of the playbook_on_stats event.
    summary = stats_event(runner)["artifact_data"]["statesafe_backup"]
    assert summary["complete"] is True and summary["namespace"] == NS
    profile = yaml.safe_load((REPO / "profiles" / "softwarefactory.yml").read_text())
    assert [step["component"] for step in summary["steps"]] == [c["name"] for c in profile["components"]]
    assert int(summary["bytes"]) > 1_000_000 and len(summary["commit"]) == 40
    # runner's own files: status and rc as AWX reads them, the summary line in stdout.
    files = artifact_files(runner)
    assert files["status"].strip() == "successful" and files["rc"].strip() == "0"
    assert "Backup of softwarefactory (namespace {0}) complete".format(NS) in files["stdout"]
    assert (tmp / "repo").is_dir()


def test_no_secret_value_in_any_artifact(backup, stack):
    runner, tmp = backup
    assert len(stack) >= 6, "the sample's Secrets were not found"
    # The search would see a leak: the short values are in the exported Secrets, in the form searched for.
    exported = "".join(path.read_text() for path in
                       (tmp / "staging" / "softwarefactory" / "resources" / "Secret").glob("*.yaml"))
    assert sum(value in exported for value in stack) >= 3, "the Secret values were not found in the backup itself"
    files = artifact_files(runner)
    leaks = sorted({name for name, text in files.items() for value in stack if value in text})
    assert not leaks, "a Secret value appears in ansible-runner artifacts: {0}".format(leaks)


def test_missing_namespace_fails_with_the_reason_in_the_events(stack, kubeconfig, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("runner-fail")
    missing = "sf-runner-absent"
    runner = run_backup(private_data_dir(tmp), "missing", kubeconfig, tmp, missing)
    assert runner.status == "failed"
    assert runner.rc != 0
    assert runner.stats["failures"].get("localhost", 0) >= 1, runner.stats
    # The reason, naming the namespace, is in the event of the task that failed (AWX shows it on that task).
    reason = "{0} does not exist".format(missing)
    failed = [event["event_data"] for event in runner.events if event.get("event") == "runner_on_failed"]
    assert failed, [event.get("event") for event in runner.events]
    assert any(data["task"].startswith("Preflight | ") and reason in json.dumps(data["res"]).lower()
               for data in failed), [(data["task"], data["res"].get("msg")) for data in failed]
    assert reason in artifact_files(runner)["stdout"].lower()
    assert "statesafe_backup" not in stats_event(runner).get("artifact_data", {})
    assert not (tmp / "staging" / "softwarefactory" / "MANIFEST.json").exists(), "a failed preflight captured data"
