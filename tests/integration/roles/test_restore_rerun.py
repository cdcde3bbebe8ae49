"""A restore killed half-way, then run again with the same options, against the local cluster.

The sample stack in `sfr-rerun` is seeded, fingerprinted and backed up; the namespace is deleted. Then
playbooks/restore.yml (no policy: the default `fail`) is started and its whole process tree SIGKILLed, as a crash
of the controller would, six times in a row, each run taking over what the one before left:

- after the objects were applied (every StatefulSet exists, carrying the restore's mark), before any data;
- during the ZooKeeper volume copy (its helper pod running, the StatefulSet scaled to 0);
- during the MariaDB dump load (the load's connection open in the database);
- while it applies the objects of the last phase (the SoftwareFactory resource), inside that task;
- while it waits for the StatefulSets it restored to be ready, inside that task;
- while it removes its marks (the restore's last step; its sentinel ConfigMap, which names the objects whose marks
  go next, is there): whichever marks were gone by then, at least one is (the test removes one itself when the kill
  came before the first request, as the next request would have), so only the sentinel makes the re-run take the
  unmarked objects over instead of refusing them as existing ones.

Each phase is detected from the cluster's state or from the task the run has started (the test aid
tests/integration/callback_plugins/task_starts.py), never from a fixed delay. Between the first and second kill, an
object marked by another archive's restore is refused, naming it: what this restore did not make follows the policy.
The seventh run, with the same options, finishes: the fingerprint equals the backed-up one, no object keeps the
mark, and running the same restore once more is refused as over any running application (the restore is complete).
"""

from __future__ import annotations

import subprocess

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from role_helpers import (TASK_LOG, KilledPlaybookRun, backed_up_sample, mariadb, playbook, sample,
                          tasks_started)

NS = "sfr-rerun"
MARK = "statesafe.backup/restoring"
SENTINEL = "statesafe-restore-completing"
OTHER_COMMIT = "0123456789abcdef0123456789abcdef01234567"
# Tasks the killed runs are killed in (roles/restore/tasks/apply.yml for the last phase, ready.yml).
LAST_APPLY = "Apply | objects, server-side (no last-applied annotation), marked as this restore's, phase last"
READY_WAIT = "Ready | every StatefulSet restored or holding restored data is Ready"
SOFTWARE_FACTORY = ("sf.softwarefactory-project.io", "v1")


@pytest.fixture(scope="module")
def archive(kubeconfig, core, tmp_path_factory):
    """The sample deployed and seeded in sfr-rerun, its fingerprint, and one backup of it."""
    with backed_up_sample(kubeconfig, core, tmp_path_factory.mktemp("rerun"), NS) as state:
        state["commit"] = state["backup"].stats["statesafe_backup"]["commit"]
        yield state


class KilledRestore(KilledPlaybookRun):
    """ansible-playbook restore.yml with the options every run of this test uses, killed once `reached()` is true."""

    what = "restore"
    timeout = 420.0
    interval = 0.1

    def __init__(self, kubeconfig: str, tmp, label: str):
        super().__init__("restore.yml", kubeconfig, tmp, NS, tmp / f"killed-{label}.log", env=TASK_LOG,
                         staging=str(tmp / "restore"))


def mark_of(read) -> str | None:
    try:
        obj = read()
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return (obj.metadata.annotations or {}).get(MARK)


def sentinel_exists(core) -> bool:
    try:
        core.read_namespaced_config_map(SENTINEL, NS)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def restore(kubeconfig, tmp):
    return playbook("restore.yml", kubeconfig, tmp, NS, staging=str(tmp / "restore"))


@pytest.mark.timeout(1500)
def test_a_killed_restore_is_finished_by_running_it_again(archive, kubeconfig, core, apps, api_client, kubectl,
                                                          cluster_state):
    tmp, commit = archive["tmp"], archive["commit"]
    sample(kubeconfig, NS, "destroy")
    statefulsets = ("mariadb", "zookeeper", "zuul-scheduler")

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

    # One exec that polls the process list inside the pod every 0.1 s and exits 0 once the load's connection (root's;
    # Zuul's own connections are there all along) is in a dumped database: a kubectl exec per poll takes seconds on a
    # loaded machine and can miss a load of 3 s. Started with the dumps' step, so it polls when the load begins.
    watch = [str(cluster_state / "bin" / "kubectl"), "--kubeconfig", kubeconfig, "exec", "-n", NS, "mariadb-0",
             "-c", "mariadb", "--", "sh", "-c",
             'while :; do n=$(MYSQL_PWD="$MARIADB_ROOT_PASSWORD" mariadb -uroot -N -B -e "SELECT COUNT(*) FROM '
             'information_schema.processlist WHERE id <> CONNECTION_ID() AND user = \'root\' '
             'AND db IN (\'zuul\', \'sfmanager\')") '
             '|| exit 1; [ "$n" = 0 ] || exit 0; sleep 0.1; done']
    watcher: list[subprocess.Popen] = []

    def loading() -> bool:
        if "Dumps, loaded only" not in third.log.read_text():
            return False
        if not watcher or watcher[-1].poll() not in (None, 0):  # not started, or mariadb-0 not ready yet
            watcher.append(subprocess.Popen(watch, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        return watcher[-1].poll() == 0

    try:
        third.kill_when("the MariaDB dump loading", loading)
    finally:
        for process in watcher:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)
    assert "Volume | record the step" in third.log.read_text(), "the volume was restored before the dump"

    # 4. Run again, killed while it applies the last phase's objects, whether or not its request reached the API
    # server before the kill.
    fourth = KilledRestore(kubeconfig, tmp, "last")
    fourth.kill_when("the last phase being applied", lambda: tasks_started(fourth.log, LAST_APPLY) == 1)
    assert "Dumps, loaded only" in fourth.log.read_text(), "the data was written before the last phase"

    # 5. Run again, killed while it waits for the StatefulSets it restored to be ready; the resource applied last is
    # there, with this restore's mark.
    fifth = KilledRestore(kubeconfig, tmp, "ready")
    fifth.kill_when("the readiness wait", lambda: tasks_started(fifth.log, READY_WAIT) == 1)
    custom = client.CustomObjectsApi(api_client)
    resource = custom.get_namespaced_custom_object(*SOFTWARE_FACTORY, NS, "softwarefactories", "my-sf")
    assert resource["metadata"]["annotations"][MARK] == commit

    # 6. Run again, killed while it removes its marks: its sentinel ConfigMap exists from just before the first
    # removal until just after the last.
    sixth = KilledRestore(kubeconfig, tmp, "complete")
    sixth.kill_when("the marks being removed", lambda: sentinel_exists(core))
    assert sentinel_exists(core), "killed before the sentinel was removed"
    marked = [s for s in core.list_namespaced_secret(NS).items if MARK in (s.metadata.annotations or {})]
    if len(marked) == len([s for s in core.list_namespaced_secret(NS).items
                           if s.type != "kubernetes.io/service-account-token"]):
        kubectl("annotate", "-n", NS, "secret", marked[0].metadata.name, f"{MARK}-")  # the next removal

    # 7. The same restore, the same options: it takes over what the killed runs left and finishes.
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
    assert not sentinel_exists(core)

    # Complete: the same restore again finds a running application it did not leave unfinished, and refuses.
    again = restore(kubeconfig, tmp)
    assert again.rc != 0
    message = " ".join(again.failures)
    assert "already has" in message and "StatefulSet/mariadb (data of mariadb)" in message, message
    assert "unfinished restore" not in message.partition("Nothing was changed")[0], message
    assert sample(kubeconfig, NS, "fingerprint") == archive["fingerprint"]
