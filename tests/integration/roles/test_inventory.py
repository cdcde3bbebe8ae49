"""playbooks/backup.yml and restore.yml over an inventory: each host one application (docs/applications.md).

Four applications in one run, the way docs/applications.md writes the inventory: inv-a and inv-b share a repository
(each on a branch of its own), inv-c has its own, and a fourth names a kubeconfig context that does not exist (a
cluster out of reach). Each application is a Secret and a ConfigMap in its namespace, backed up by one profile given
as data. Then:

- the three reachable applications are backed up, each with its own summary (per-host statistics), inv-a and inv-c
  at the same time (they share nothing); the shared repository holds one branch per application;
- the unreachable one fails, naming its namespace and the context, and neither stops nor hides the others: the run
  exits non-zero, the recap counts one failed host;
- a target that matches no host fails the run instead of backing up nothing;
- inv-b is lost (its namespace deleted) and restore.yml over the same inventory, limited to app-b, brings its
  objects back with their data; inv-a is untouched.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from cluster_helpers import wait_until
from role_helpers import ANSIBLE_PLAYBOOK, PLAYBOOKS, PlaybookRun, namespace_exists, playbook_env

LABEL = {"app.kubernetes.io/part-of": "inventory-test"}
PROFILE = {"name": "inv-config", "components": [{"name": "config", "type": "resources", "resources": [
    {"kind": "Secret", "label_selectors": ["app.kubernetes.io/part-of=inventory-test"]},
    {"kind": "ConfigMap", "label_selectors": ["app.kubernetes.io/part-of=inventory-test"]}]}]}
NAMESPACES = {"app-a": "inv-a", "app-b": "inv-b", "app-c": "inv-c"}
BROKEN = ("app-broken", "inv-unreachable", "no-such-cluster")


def inventory(tmp: Path, kubeconfig: str) -> Path:
    """The inventory as docs/applications.md writes it."""
    # As docs/applications.md says: applications sharing a repository wait for each other's whole backup.
    shared = {"vars": {"repository": str(tmp / "shared"), "backup_lock_timeout": 1800}, "hosts": {
        "app-a": {"app_namespace": "inv-a", "branch": "inv-a"},
        "app-b": {"app_namespace": "inv-b", "branch": "inv-b"}}}
    data = {"applications": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                 "kubeconfig": kubeconfig, "profile_data": PROFILE},
        "children": {
            "shared_repository": shared,
            "own_repository": {"hosts": {
                "app-c": {"app_namespace": "inv-c", "repository": str(tmp / "own-c")},
                BROKEN[0]: {"app_namespace": BROKEN[1], "repository": str(tmp / "own-broken"),
                            "context": BROKEN[2]}}}}}}
    path = tmp / "applications.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def run(name: str, hosts: Path, *options: str, timeout: float = 1200) -> PlaybookRun:
    argv = [str(ANSIBLE_PLAYBOOK), str(PLAYBOOKS / name), "-i", str(hosts), "-e", "target=applications", *options]
    started = time.monotonic()
    done = subprocess.run(argv, env=playbook_env(), capture_output=True, text=True, check=False, timeout=timeout)
    return PlaybookRun(done, time.monotonic() - started)


def objects(core: client.CoreV1Api, namespace: str) -> dict:
    selector = "app.kubernetes.io/part-of=inventory-test"
    secrets = core.list_namespaced_secret(namespace, label_selector=selector).items
    configmaps = core.list_namespaced_config_map(namespace, label_selector=selector).items
    return {"secrets": {s.metadata.name: s.data for s in secrets},
            "configmaps": {c.metadata.name: c.data for c in configmaps}}


def delete_namespace(core: client.CoreV1Api, namespace: str) -> None:
    try:
        core.delete_namespace(namespace)
    except ApiException as exc:
        if exc.status != 404:
            raise
    wait_until(f"namespace {namespace} is gone", lambda: not namespace_exists(core, namespace), timeout=300)


@pytest.fixture(scope="module")
def applications(core, kubeconfig, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("inventory")
    for namespace in NAMESPACES.values():
        if namespace_exists(core, namespace):
            delete_namespace(core, namespace)
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
        meta = client.V1ObjectMeta(name="settings", labels=LABEL)
        core.create_namespaced_secret(namespace, client.V1Secret(
            metadata=meta, string_data={"token": f"token-of-{namespace}-{time.time_ns()}"}))
        core.create_namespaced_config_map(namespace, client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="settings", labels=LABEL), data={"owner": namespace}))
    try:
        yield {"tmp": tmp, "hosts": inventory(tmp, kubeconfig),
               "before": {host: objects(core, namespace) for host, namespace in NAMESPACES.items()}}
    finally:
        for namespace in NAMESPACES.values():
            try:
                core.delete_namespace(namespace)
            except ApiException:
                pass


@pytest.fixture(scope="module")
def backed_up(applications):
    backup = run("backup.yml", applications["hosts"], "-e", f"staging={applications['tmp'] / 'staging'}")
    return backup


def interval(summary: dict) -> tuple[float, float]:
    started = datetime.strptime(summary["started"], "%Y-%m-%dT%H:%M:%SZ").timestamp()
    return started, started + float(summary["seconds"])


def test_each_application_is_backed_up_on_its_own(backed_up, applications):
    summaries = {host: backed_up.host_stats.get(host, {}).get("statesafe_backup") for host in NAMESPACES}
    # A string: pytest shortens the repr of any other message to a few hundred characters.
    assert all(summaries.values()), "\n".join([*map(str, backed_up.failures), str(summaries), backed_up.output[-4000:]])
    for host, namespace in NAMESPACES.items():
        summary = summaries[host]
        assert summary["namespace"] == namespace and summary["complete"] in (True, "True"), summary
        assert backed_up.recap[host]["failures"] == 0, backed_up.recap
    assert (summaries["app-a"]["branch"], summaries["app-b"]["branch"], summaries["app-c"]["branch"]) == \
        ("inv-a", "inv-b", "inv-config")
    refs = subprocess.run(["git", f"--git-dir={applications['tmp'] / 'shared'}", "for-each-ref",
                           "--format=%(refname:short)", "refs/heads/"], capture_output=True, text=True, check=True,
                          timeout=60).stdout.split()
    assert refs == ["inv-a", "inv-b"], refs
    # inv-a and inv-c share no repository: their runs overlap in time (inv-b waits for inv-a's repository lease).
    (a_start, a_end), (c_start, c_end) = interval(summaries["app-a"]), interval(summaries["app-c"])
    assert max(a_start, c_start) < min(a_end, c_end), (summaries["app-a"], summaries["app-c"])
    # Each in a staging directory of its own.
    for host in NAMESPACES:
        assert (applications["tmp"] / "staging" / "hosts" / host).is_dir(), host


def test_an_unreachable_application_fails_alone_and_says_which(backed_up):
    host, namespace, context = BROKEN
    assert backed_up.rc != 0
    assert backed_up.recap[host]["failures"] == 1, backed_up.recap
    messages = [result.get("msg", "") for play in backed_up.document.get("plays", [])
                for task in play.get("tasks", []) for name, result in task.get("hosts", {}).items()
                if name == host and result.get("failed")]
    final = [m for m in messages if m.startswith("The backup of namespace")]
    assert final and namespace in final[-1] and context in final[-1], messages
    assert "statesafe_backup" not in backed_up.host_stats.get(host, {})


def test_one_application_restores_from_the_same_inventory(backed_up, applications, core):
    assert backed_up.host_stats.get("app-b", {}).get("statesafe_backup"), backed_up.output[-3000:]
    delete_namespace(core, "inv-b")
    restore = run("restore.yml", applications["hosts"], "--limit", "app-b",
                  "-e", f"staging={applications['tmp'] / 'restore'}")
    assert restore.rc == 0, restore.failures or restore.output[-4000:]
    assert set(restore.recap) == {"app-b"}, restore.recap
    # One host ran: its statistics are the run's own.
    assert restore.stats["statesafe_restore"]["namespace"] == "inv-b", json.dumps(restore.stats)[:2000]
    assert objects(core, "inv-b") == applications["before"]["app-b"]
    assert objects(core, "inv-a") == applications["before"]["app-a"]


def test_a_target_that_matches_no_application_fails_the_run(applications):
    """A misspelt group would otherwise be a run that backs up nothing and succeeds."""
    argv = [str(ANSIBLE_PLAYBOOK), str(PLAYBOOKS / "backup.yml"), "-i", str(applications["hosts"]),
            "-e", "target=aplications"]
    done = PlaybookRun(subprocess.run(argv, env=playbook_env(), capture_output=True, text=True, check=False,
                                      timeout=300), 0)
    assert done.rc != 0
    assert any("target=aplications matches no host of the inventory" in m and "app-a" in m for m in done.failures), \
        done.failures or done.output[-2000:]
    assert not done.host_stats and "statesafe_backup" not in done.stats
