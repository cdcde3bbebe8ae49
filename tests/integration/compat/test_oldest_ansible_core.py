"""The disaster-recovery round trip of the sample stack under PodSecurity `restricted`, with the oldest ansible-core
the collection supports.

meta/runtime.yml accepts ansible-core 2.16 and later; the rest of the integration tests run the
project virtualenv's 2.19. Here playbooks/backup.yml and playbooks/restore.yml run with
ansible-playbook (and module Python) of the first version of tests/compat/versions.txt, from its
virtualenv (tests/compat/venv.sh).

`sample.sh deploy` runs the stack as sf-operator's pods run on OpenShift under restricted-v2: an arbitrary non-root
uid with group 0 and an fsGroup, no privilege escalation, no capabilities, seccomp RuntimeDefault, claims of the
`local` StorageClass (which applies the fsGroup), in a namespace labelled pod-security.kubernetes.io/enforce=
restricted. It is seeded and backed up (the helper pod that copies the ZooKeeper volume runs as the application's
uid), changed, lost with its namespace, and restored: the restore recreates the namespace with the labels the backup
recorded (no `namespace_labels` given), every pod comes back under `restricted`, the helper that writes the volume
back takes its identity from the restored StatefulSet's template, and the fingerprint is the one taken before the
backup. The namespace is deleted at the end.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from kubernetes.client.rest import ApiException

from role_helpers import PART_OF, REPO, namespace_exists, playbook, sample

NS = "sfc-oldest-core"
COMPAT = REPO / "tests" / "compat"
ENFORCE = "pod-security.kubernetes.io/enforce"
# sample.py's RESTRICTED_UID: the uid (and fsGroup) of every pod of the restricted sample.
UID = 1000680000


def root_pod_is_refused(core, namespace):
    """True when the API server's PodSecurity admission refuses a root pod in the namespace (a server-side dry run:
    admission runs, nothing is created)."""
    body = {"metadata": {"name": "root-probe"},
            "spec": {"containers": [{"name": "main", "image": "localhost/pause:0", "securityContext": {"runAsUser": 0}}]}}
    try:
        core.create_namespaced_pod(namespace, body, dry_run="All")
    except ApiException as exc:
        if exc.status == 403 and "violates PodSecurity" in (exc.body or ""):
            return True
        raise
    return False


def assert_runs_restricted(core, namespace):
    """The namespace enforces `restricted`, and every pod of the sample runs as the restricted uid, with what
    `restricted` asks of each container."""
    assert core.read_namespace(namespace).metadata.labels[ENFORCE] == "restricted"
    assert root_pod_is_refused(core, namespace)
    pods = core.list_namespaced_pod(namespace, label_selector=PART_OF).items
    assert sorted(pod.metadata.name for pod in pods) == ["mariadb-0", "zookeeper-0", "zuul-scheduler-0"]
    for pod in pods:
        context = pod.spec.security_context
        assert (context.run_as_user, context.fs_group, context.run_as_non_root) == (UID, UID, True), pod.metadata.name
        assert context.seccomp_profile.type == "RuntimeDefault"
        for container in pod.spec.containers:
            assert container.security_context.allow_privilege_escalation is False, container.name
            assert container.security_context.capabilities.drop == ["ALL"], container.name


def helper_identity(run):
    [identity] = [result["helper_identity"] for result in run.results("Volume |") if "helper_identity" in result]
    return identity


def oldest_version() -> str:
    lines = (COMPAT / "versions.txt").read_text().splitlines()
    return [line.split()[0] for line in lines if line.strip() and not line.startswith("#")][0]


@pytest.fixture(scope="module")
def oldest_venv() -> Path:
    run = subprocess.run([str(COMPAT / "venv.sh"), oldest_version()], capture_output=True, text=True,
                         check=False, timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]
    return Path(run.stdout.strip())


@pytest.mark.timeout(1800)
def test_disaster_recovery_with_the_oldest_ansible_core(oldest_venv, kubeconfig, core, kubectl, tmp_path):
    version = subprocess.run([str(oldest_venv / "bin" / "ansible-playbook"), "--version"], capture_output=True,
                             text=True, check=True, timeout=120).stdout
    assert f"core {oldest_version()}]" in version.splitlines()[0], version
    try:
        sample(kubeconfig, NS, "deploy")
        sample(kubeconfig, NS, "seed")
        before = sample(kubeconfig, NS, "fingerprint")
        backup = playbook("backup.yml", kubeconfig, tmp_path, NS, staging=str(tmp_path / "staging"),
                          venv=oldest_venv)
        assert backup.rc == 0, backup.failures or backup.output[-4000:]
        assert backup.stats["statesafe_backup"]["complete"] is True
        assert_runs_restricted(core, NS)
        identity = helper_identity(backup)
        assert (identity["uid"], identity["gid"], identity["fs_group"]) == (UID, None, UID)
        assert identity["source"] == "pod zookeeper-0, container zookeeper"

        # A change after the backup: it must be absent once the backup is restored.
        kubectl("exec", "-n", NS, "mariadb-0", "-c", "mariadb", "--", "sh", "-c",
                'MYSQL_PWD="$MARIADB_ROOT_PASSWORD" mariadb -uroot -e '
                '"INSERT INTO zuul.zuul_buildset VALUES (999999, REPEAT(\'x\', 32), \'late\', \'p\', \'check\', '
                'NULL, NOW())"')
        assert sample(kubeconfig, NS, "fingerprint") != before

        sample(kubeconfig, NS, "destroy")
        assert not namespace_exists(core, NS)
        restore = playbook("restore.yml", kubeconfig, tmp_path, NS, staging=str(tmp_path / "restore"),
                           venv=oldest_venv)
        assert restore.rc == 0, restore.failures or restore.output[-4000:]
        assert restore.stats["statesafe_restore"]["commit"] == backup.stats["statesafe_backup"]["commit"]
        # The labels come from the archive: the backup recorded them, the restore gave them to the namespace it made.
        [created] = [result["msg"] for result in restore.results("Plan | show the labels of the namespace it creates")]
        assert created[ENFORCE] == "restricted" and "kubernetes.io/metadata.name" not in created
        # No pod ran while the volume went back: the identity is the restored StatefulSet's template.
        identity = helper_identity(restore)
        assert (identity["uid"], identity["fs_group"]) == (UID, UID)
        assert identity["source"] == "StatefulSet zookeeper (pod template), container zookeeper"
        assert_runs_restricted(core, NS)
        assert sample(kubeconfig, NS, "fingerprint") == before
    finally:
        sample(kubeconfig, NS, "destroy", "--no-wait")
