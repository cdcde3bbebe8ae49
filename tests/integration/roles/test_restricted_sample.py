"""Disaster recovery of the sample stack in a namespace enforcing PodSecurity `restricted`, through the playbooks.

`sample.sh deploy` runs the stack as sf-operator's pods run on OpenShift under restricted-v2: an
arbitrary non-root uid with group 0 and an fsGroup, no privilege escalation, no capabilities, seccomp
RuntimeDefault, claims of the `local` StorageClass (which applies the fsGroup), in a namespace labelled
pod-security.kubernetes.io/enforce=restricted. It is seeded, fingerprinted and backed up with playbooks/backup.yml;
the namespace is deleted; playbooks/restore.yml recreates it with the labels the backup recorded (no
`namespace_labels` given) and everything comes back under `restricted`: the StatefulSets' pods, and the helper pods
that copy the ZooKeeper volume out and back, which run as the application's uid.
"""

from __future__ import annotations

import pytest
from kubernetes.client.rest import ApiException

from role_helpers import PART_OF, backed_up_sample, namespace_exists, playbook, sample

NS = "sfr-restricted"
ENFORCE = "pod-security.kubernetes.io/enforce"
# sample.py's RESTRICTED_UID: the uid (and fsGroup) of every pod of the restricted sample.
UID = 1000680000
ZOOKEEPER_CLAIM = "zookeeper-data-zookeeper-0"


@pytest.fixture(scope="module")
def archive(kubeconfig, core, tmp_path_factory):
    """The restricted sample deployed and seeded in sfr-restricted, its fingerprint, and one backup of it."""
    with backed_up_sample(kubeconfig, core, tmp_path_factory.mktemp("restricted"), NS) as state:
        yield state


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
    """Every pod of the sample runs as the restricted uid, with what `restricted` asks of each container."""
    pods = core.list_namespaced_pod(namespace, label_selector=PART_OF).items
    assert sorted(pod.metadata.name for pod in pods) == ["mariadb-0", "zookeeper-0", "zuul-scheduler-0"]
    for pod in pods:
        context = pod.spec.security_context
        assert (context.run_as_user, context.fs_group, context.run_as_non_root) == (UID, UID, True), pod.metadata.name
        assert context.seccomp_profile.type == "RuntimeDefault"
        for container in pod.spec.containers:
            assert container.security_context.allow_privilege_escalation is False, container.name
            assert container.security_context.capabilities.drop == ["ALL"], container.name


def helper_identities(run):
    return [result["helper_identity"] for result in run.results("Volume |") if "helper_identity" in result]


def test_the_restricted_sample_is_backed_up_by_a_helper_running_as_the_application(archive, core):
    assert core.read_namespace(NS).metadata.labels[ENFORCE] == "restricted"
    assert root_pod_is_refused(core, NS)
    assert_runs_restricted(core, NS)
    assert archive["backup"].stats["statesafe_backup"]["complete"] is True
    [identity] = helper_identities(archive["backup"])
    assert (identity["uid"], identity["gid"], identity["fs_group"]) == (UID, None, UID)
    assert identity["source"] == "pod zookeeper-0, container zookeeper"


@pytest.mark.timeout(900)
def test_disaster_recovery_into_a_new_restricted_namespace(archive, kubeconfig, core):
    sample(kubeconfig, NS, "destroy")
    assert not namespace_exists(core, NS)
    run = playbook("restore.yml", kubeconfig, archive["tmp"], NS, staging=str(archive["tmp"] / "restore"))
    assert run.rc == 0, run.failures or run.output[-4000:]
    # The labels come from the archive: the backup recorded them, the restore gave them to the namespace it created.
    [created] = [result["msg"] for result in run.results("Plan | show the labels of the namespace it creates")]
    assert created[ENFORCE] == "restricted" and "kubernetes.io/metadata.name" not in created
    assert core.read_namespace(NS).metadata.labels[ENFORCE] == "restricted"
    assert root_pod_is_refused(core, NS)
    # No pod ran while the volume went back: the identity is the restored StatefulSet's template.
    [identity] = helper_identities(run)
    assert (identity["uid"], identity["fs_group"]) == (UID, UID)
    assert identity["source"] == "StatefulSet zookeeper (pod template), container zookeeper"
    assert_runs_restricted(core, NS)
    assert sample(kubeconfig, NS, "fingerprint") == archive["fingerprint"]
