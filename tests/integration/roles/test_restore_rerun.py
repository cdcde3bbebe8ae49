"""A restore killed half-way, then run again with the same options, against the local cluster.

The sample stack in `sfr-rerun` is seeded, fingerprinted and backed up; the namespace is deleted. Then
playbooks/restore.yml (no policy: the default `fail`) is started and its whole process tree SIGKILLed, as a crash
of the controller would, three times in a row, each run taking over what the one before left:

- after the objects were applied (every StatefulSet exists, carrying the restore's mark), before any data;
- during the ZooKeeper volume copy (its helper pod running, the StatefulSet scaled to 0);
- during the MariaDB dump load (the load's connection open in the database).

Each phase is detected from the cluster's state, never from a fixed delay. Between the first and second kill, an
object marked by another archive's restore is refused, naming it: what this restore did not make follows the policy.
The fourth run, with the same options, finishes: the fingerprint equals the backed-up one, no object keeps the
mark, and running the same restore once more is refused as over any running application (the restore is complete).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
from kubernetes.client.rest import ApiException

from process_tree import alive, kill_tree
from role_helpers import (ANSIBLE_PLAYBOOK, PLAYBOOKS, POLLS, mariadb, namespace_exists, playbook, playbook_env,
                          sample)

NS = "sfr-rerun"
MARK = "statesafe.backup/restoring"
OTHER_COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def archive(kubeconfig, core, tmp_path_factory):
    """The sample deployed and seeded in sfr-rerun, its fingerprint, and one backup of it."""
    tmp = tmp_path_factory.mktemp("rerun")
    try:
        sample(kubeconfig, NS, "deploy")
        sample(kubeconfig, NS, "seed")
        before = sample(kubeconfig, NS, "fingerprint")
        backup = playbook("backup.yml", kubeconfig, tmp, NS, staging=str(tmp / "staging"))
        assert backup.rc == 0, backup.failures or backup.output[-4000:]
        yield {"tmp": tmp, "fingerprint": before, "commit": backup.stats["statesafe_backup"]["commit"]}
    finally:
        if namespace_exists(core, NS):
            sample(kubeconfig, NS, "destroy", "--no-wait")


class KilledRestore:
    """ansible-playbook restore.yml with the options every run of this test uses, killed once `reached()` is true."""

    def __init__(self, kubeconfig: str, tmp, label: str):
        variables = {"kubeconfig": kubeconfig, "repository": str(tmp / "repo"), "app_namespace": NS,
                     "staging": str(tmp / "restore"), "ansible_python_interpreter": sys.executable, **POLLS}
        self.log = tmp / f"killed-{label}.log"
        with self.log.open("w") as log:
            # The default callback writes each task as it starts: the log says how far the run got.
            self.process = subprocess.Popen(
                [str(ANSIBLE_PLAYBOOK), str(PLAYBOOKS / "restore.yml"), "-e", json.dumps(variables)],
                env={**playbook_env(), "ANSIBLE_STDOUT_CALLBACK": "default"}, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)

    def kill_when(self, what: str, reached, timeout: float = 420) -> None:
        deadline = time.monotonic() + timeout
        try:
            while not reached():
                if self.process.poll() is not None:
                    raise AssertionError(f"the restore ended (rc {self.process.returncode}) before {what}:\n"
                                         f"{self.log.read_text()[-3000:]}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"{what} not reached in {timeout}s:\n{self.log.read_text()[-3000:]}")
                time.sleep(0.1)
        finally:
            killed = kill_tree(self.process.pid)
            self.process.wait(timeout=60)
        assert self.process.returncode == -signal.SIGKILL
        deadline = time.monotonic() + 30
        while any(alive(pid) for pid in killed - {self.process.pid}) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [pid for pid in killed if alive(pid)], "a process of the killed restore survived"


def mark_of(read) -> str | None:
    try:
        obj = read()
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return (obj.metadata.annotations or {}).get(MARK)


def restore(kubeconfig, tmp):
    return playbook("restore.yml", kubeconfig, tmp, NS, staging=str(tmp / "restore"))


@pytest.mark.timeout(1200)
def test_a_killed_restore_is_finished_by_running_it_again(archive, kubeconfig, core, apps, kubectl):
    tmp, commit = archive["tmp"], archive["commit"]
    sample(kubeconfig, NS, "destroy")
    statefulsets = ("mariadb", "zookeeper")

    # 1. Killed once every object of the early phase is applied: the StatefulSets are the last of them.
    first = KilledRestore(kubeconfig, tmp, "applied")
    first.kill_when("the objects applied", lambda: all(
        mark_of(lambda name=name: apps.read_namespaced_stateful_set(name, NS)) == commit for name in statefulsets))
    secrets = [s for s in core.list_namespaced_secret(NS).items if s.type != "kubernetes.io/service-account-token"]
    assert secrets and all((s.metadata.annotations or {}).get(MARK) == commit for s in secrets), \
        "every object the killed restore applied carries its mark"

    # What this restore did not make follows the policy: an object marked by another archive's restore is refused.
    kubectl("annotate", "--overwrite", "-n", NS, "configmap", "zuul-config", f"{MARK}={OTHER_COMMIT}")
    refused = restore(kubeconfig, tmp)
    assert refused.rc != 0
    message = " ".join(refused.failures)
    assert "already has 1 objects this restore would overwrite" in message, message
    assert (f"ConfigMap/zuul-config (left by an unfinished restore of another archive, commit {OTHER_COMMIT[:12]})"
            in message), message
    assert mark_of(lambda: apps.read_namespaced_stateful_set("mariadb", NS)) == commit
    kubectl("annotate", "--overwrite", "-n", NS, "configmap", "zuul-config", f"{MARK}={commit}")

    # 2. Run again, killed during the volume copy: ZooKeeper is stopped and its helper pod runs.
    second = KilledRestore(kubeconfig, tmp, "volume")

    def copying() -> bool:
        pods = core.list_namespaced_pod(NS, label_selector="app.kubernetes.io/component=pv-copy-helper").items
        return any(p.status.phase == "Running" for p in pods)

    second.kill_when("the volume copy's helper pod running", copying)
    assert apps.read_namespaced_stateful_set("zookeeper", NS).spec.replicas == 0, "killed while ZooKeeper was stopped"

    # 3. Run again, killed while the MariaDB dump is being loaded: its connection is in one of the dumped databases.
    third = KilledRestore(kubeconfig, tmp, "dump")

    def loading() -> bool:
        if "Dump | load it" not in third.log.read_text():
            return False
        run = kubectl("exec", "-n", NS, "mariadb-0", "-c", "mariadb", "--", "sh", "-c",
                      'MYSQL_PWD="$MARIADB_ROOT_PASSWORD" exec mariadb -uroot -N -B -e "SELECT COUNT(*) FROM '
                      'information_schema.processlist WHERE id <> CONNECTION_ID() AND db IN (\'zuul\', \'sfmanager\')"',
                      check=False, timeout=30)
        return run.returncode == 0 and run.stdout.decode().strip() not in ("", "0")

    third.kill_when("the MariaDB dump loading", loading)
    assert "Volume | record the step" in third.log.read_text(), "the volume was restored before the dump"

    # 4. The same restore, the same options: it takes over what the killed runs left and finishes.
    final = restore(kubeconfig, tmp)
    assert final.rc == 0, final.failures or final.output[-4000:]
    summary = final.stats["statesafe_restore"]
    assert summary["commit"] == commit
    assert {"StatefulSet/mariadb", "StatefulSet/zookeeper", "Secret/mariadb-root-password", "ConfigMap/zuul-config",
            "data of mariadb", "data of zookeeper", "data of zuul-keys"} <= set(summary["resumed"]), summary["resumed"]
    assert summary["data_actions"] == {"mariadb": "restore", "zookeeper": "restore", "zuul-keys": "restore"}
    assert sample(kubeconfig, NS, "fingerprint") == archive["fingerprint"]
    assert int(mariadb(kubectl, NS, "SELECT COUNT(*) FROM zuul.zuul_buildset").strip()) > 0
    left = [f"{kind}/{item.metadata.name}" for kind, items in (
        ("Secret", core.list_namespaced_secret(NS).items), ("ConfigMap", core.list_namespaced_config_map(NS).items),
        ("Service", core.list_namespaced_service(NS).items),
        ("StatefulSet", apps.list_namespaced_stateful_set(NS).items))
        for item in items if MARK in (item.metadata.annotations or {})]
    assert left == [], f"the complete restore left its mark on {left}"

    # Complete: the same restore again finds a running application it did not leave unfinished, and refuses.
    again = restore(kubeconfig, tmp)
    assert again.rc != 0
    message = " ".join(again.failures)
    assert "already has" in message and "StatefulSet/mariadb (data of mariadb)" in message, message
    assert "unfinished restore" not in message.partition("Nothing was changed")[0], message
    assert sample(kubeconfig, NS, "fingerprint") == archive["fingerprint"]
