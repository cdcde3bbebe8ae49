"""No Secret value in the log of a backup and a restore run at -vvvv, against the local cluster.

The run's reference stack (namespace `sf-reference`, tests/integration/conftest.py) is backed up with
playbooks/backup.yml at -vvvv into a repository of this module's own, then restored at -vvvv into a
fresh namespace and once more over it with its Secrets recreated, all with the default output callback,
as a user who debugs a run would see them. Every value of every Secret of the application is looked
for in each log: as base64 (how the API
returns it), as text and as JSON-escaped text. The search is shown to find the values where they are
(the Secrets' own JSON, a line that quotes one), so a clean log means they were looked for and absent.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import pytest
from kubernetes.client.rest import ApiException

from role_helpers import ANSIBLE_PLAYBOOK, PLAYBOOKS, playbook_env

RESTORE_NS = "sf-secret-logs"
# Shorter values (a user name such as "root") appear in logs for other reasons; none of the sample's
# generated secrets is that short, and the test says how many values it looked for.
MIN_LENGTH = 8


def secret_forms(core, namespace: str) -> dict[str, set[str]]:
    """{"Secret/name key": every form in which its value could appear in a log}."""
    forms = {}
    for secret in core.list_namespaced_secret(namespace).items:
        if secret.type == "kubernetes.io/service-account-token":
            continue
        for key, encoded in (secret.data or {}).items():
            plain = base64.b64decode(encoded)
            found = {encoded}
            try:
                text = plain.decode("utf-8")
            except UnicodeDecodeError:
                text = None
            if text is not None:
                found |= {text, json.dumps(text)[1:-1]}
            found = {form for form in found if len(form) >= MIN_LENGTH}
            if found:
                forms[f"Secret/{secret.metadata.name} {key}"] = found
    return forms


def leaks(log: str, forms: dict[str, set[str]]) -> list[str]:
    return sorted(name for name, values in forms.items() if any(value in log for value in values))


def run_verbose(name: str, kubeconfig: str, namespace: str, repository, staging, **extra) -> str:
    variables = {"kubeconfig": kubeconfig, "repository": str(repository), "staging": str(staging),
                 "app_namespace": namespace, "ansible_python_interpreter": sys.executable, **extra}
    env = dict(playbook_env(), ANSIBLE_STDOUT_CALLBACK="default")
    run = subprocess.run([str(ANSIBLE_PLAYBOOK), str(PLAYBOOKS / name), "-vvvv", "-e", json.dumps(variables)],
                         env=env, capture_output=True, text=True, check=False, timeout=900)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-5000:]
    return log


@pytest.fixture(scope="module")
def logs(reference, kubeconfig, core, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("secret-logs")
    try:
        backup = run_verbose("backup.yml", kubeconfig, reference["namespace"], tmp / "repo", tmp / "staging")
        restore = run_verbose("restore.yml", kubeconfig, RESTORE_NS, tmp / "repo", tmp / "restore")
        # Again over what the first restore made, the Secrets recreated: their deletion and the removal of
        # the restore's mark answer with whole objects, which must stay out of the log too.
        recreate = run_verbose("restore.yml", kubeconfig, RESTORE_NS, tmp / "repo", tmp / "recreate",
                               policy="skip", policy_by_kind={"Secret": "recreate"})
        yield {"backup": backup, "restore": restore, "recreate": recreate,
               "forms": secret_forms(core, reference["namespace"]), "restored": secret_forms(core, RESTORE_NS)}
    finally:
        try:
            core.delete_namespace(RESTORE_NS)
        except ApiException as exc:
            if exc.status != 404:  # absent when the restore failed before creating it
                raise


def test_the_search_finds_values_where_they_are(logs, core, reference):
    forms = logs["forms"]
    assert len(forms) >= 5, f"too few secret values to look for: {sorted(forms)}"
    assert any(name.startswith("Secret/mariadb-root-password ") for name in forms), sorted(forms)
    raw = json.dumps([s.to_dict() for s in core.list_namespaced_secret(reference["namespace"]).items], default=str)
    assert leaks(raw, forms) == sorted(forms), "the search missed values in the Secrets' own JSON"
    one = sorted(forms)[0]
    quoted = f'ok: [localhost] => {{"msg": "{sorted(forms[one])[0]}"}}'
    assert leaks(quoted, forms) == [one]


def test_the_runs_were_verbose_and_handled_the_secrets(logs):
    for name in ("backup", "restore", "recreate"):
        assert "ESTABLISH LOCAL CONNECTION" in logs[name], f"the {name} log is not at -vvv or more"
    # The restore brought the application's Secrets back: its log is the log of a run that held these values.
    restored = logs["restored"]
    assert len(restored) >= 5 and restored == {name: logs["forms"][name] for name in restored}, sorted(restored)
    # The second restore did delete and recreate them (it did not skip them).
    for task in ("Apply | delete what is recreated", "Complete | remove the restore's mark"):
        assert "changed" in task_statuses(logs["recreate"], task), f"{task!r} changed nothing"


def task_statuses(log: str, task: str) -> list[str]:
    """The status word (ok, changed, skipping...) of each run of the tasks whose names start with task."""
    statuses = []
    for block in log.split("TASK [")[1:]:
        if f": {task}" not in block.split("]", 1)[0]:
            continue
        words = [line.split(":", 1)[0] for line in block.splitlines()]
        statuses += [word for word in words if word in ("ok", "changed", "skipping", "failed", "fatal")][:1]
    assert statuses, f"no task {task!r} in the log"
    return statuses


@pytest.mark.parametrize("name", ["backup", "restore", "recreate"])
def test_no_secret_value_in_the_log(logs, name):
    assert leaks(logs[name], logs["forms"]) == [], f"Secret values in the -vvvv {name} log"
