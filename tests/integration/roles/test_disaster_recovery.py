"""Backup and restore of the sample Software Factory stack through the playbooks, against the local cluster.

The sample stack (namespace `sf`) is deployed in its unhardened shape (`sample.sh deploy --root`: root pods, a
namespace without Pod Security labels, as on a cluster without that admission; every other test of the stack runs
it under PodSecurity `restricted`) and seeded, backed up with
playbooks/backup.yml into a bup repository under tmp_path, then:

- restoring onto the running stack without a policy refuses and changes nothing;
- after a change made later than the backup and the loss of the whole namespace,
  playbooks/restore.yml brings back exactly what was backed up (the fingerprint of
  databases, znodes, Zuul's project keys, Secrets, ConfigMaps and the SoftwareFactory resource equals the
  one taken before the backup).

The namespace is deleted at the end.
"""

from __future__ import annotations

import base64
import json

import pytest

from role_helpers import backed_up_sample, namespace_exists, playbook, sample

NS = "sf"


@pytest.fixture(scope="module")
def archive(kubeconfig, core, tmp_path_factory):
    """The sample deployed and seeded, its fingerprint, and one backup of it."""
    with backed_up_sample(kubeconfig, core, tmp_path_factory.mktemp("dr"), NS, deploy_options=("--root",)) as state:
        yield state


def test_backup_is_complete_and_summarised(archive):
    summary = archive["backup"].stats["statesafe_backup"]
    assert summary["complete"] is True
    assert [step["component"] for step in summary["steps"]] == [
        "config", "workloads", "mariadb", "zookeeper", "zuul-keys", "softwarefactory"]
    staging = archive["tmp"] / "staging" / "softwarefactory"
    manifest = json.loads((staging / "MANIFEST.json").read_text())
    paths = {artifact["path"] for artifact in manifest["artifacts"]}
    assert {"dumps/mariadb.sql", "resources/Secret/mariadb-root-password.yaml",
            "resources/ConfigMap/zuul-config.yaml", "resources/SoftwareFactory/my-sf.yaml"} <= paths
    assert any(path.startswith("volumes/zookeeper-data-zookeeper-0/") for path in paths)
    assert (staging / "dumps" / "mariadb.sql").read_bytes().rstrip().endswith(b"-- Dump completed")


def test_restore_onto_running_stack_refuses_and_changes_nothing(archive, kubeconfig, core):
    before = {s.metadata.name: s.metadata.resource_version for s in core.list_namespaced_secret(NS).items}
    run = playbook("restore.yml", kubeconfig, archive["tmp"], NS, staging=str(archive["tmp"] / "refused"))
    assert run.rc != 0
    message = " ".join(run.failures)
    assert "already has" in message and "Nothing was changed" in message, message
    assert "Secret/mariadb-root-password" in message and "StatefulSet/mariadb (data of mariadb)" in message
    assert {s.metadata.name: s.metadata.resource_version for s in core.list_namespaced_secret(NS).items} == before
    assert sample(kubeconfig, NS, "fingerprint") == archive["fingerprint"]


def test_disaster_recovery(archive, kubeconfig, core, kubectl):
    # A change after the backup: it must be absent once the backup is restored.
    kubectl("exec", "-n", NS, "mariadb-0", "-c", "mariadb", "--", "sh", "-c",
            'MYSQL_PWD="$MARIADB_ROOT_PASSWORD" mariadb -uroot -e '
            '"INSERT INTO zuul.zuul_buildset VALUES (999999, REPEAT(\'x\', 32), \'late\', \'p\', \'check\', '
            'NULL, NOW())"')
    assert sample(kubeconfig, NS, "fingerprint") != archive["fingerprint"]
    password = base64.b64decode(core.read_namespaced_secret("mariadb-root-password", NS)
                                .data["mariadb-root-password"]).decode()

    sample(kubeconfig, NS, "destroy")
    assert not namespace_exists(core, NS)
    run = playbook("restore.yml", kubeconfig, archive["tmp"], NS, staging=str(archive["tmp"] / "restore"))
    assert run.rc == 0, run.failures or run.output[-4000:]
    summary = run.stats["statesafe_restore"]
    assert summary["commit"] == archive["backup"].stats["statesafe_backup"]["commit"]
    # Into an empty namespace every pod starts on the restored Secrets and ConfigMaps: nothing to restart.
    assert summary["restarted"] == [], summary["steps"]
    assert password not in run.output, "a Secret value appeared in the playbook output"
    assert sample(kubeconfig, NS, "fingerprint") == archive["fingerprint"]
