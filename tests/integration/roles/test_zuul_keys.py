"""Zuul's project keys through the Software Factory profile, against the local cluster (namespace `sf-zuul`).

The sample stack is deployed and seeded there (Zuul's own KeyStorage creates the keys of several
projects and a tenant in ZooKeeper, encrypted with the zuul-keystore-password Secret), then backed up
with playbooks/backup.yml. The backup must hold the keys as `zuul-admin export-keys` gives them.

- Keys lost from ZooKeeper (the keystore znodes deleted): restoring only the zuul-keys component
  (policy update) brings them back with `zuul-admin import-keys`, proven by the fingerprint.

The whole namespace lost and restored, keys included, is test_restore_policy.py (and the compat test): the sample's
fingerprint it compares holds the exported keys (part `zuul/keys`).

The namespace is deleted at the end, whatever happened.
"""

from __future__ import annotations

import json

import pytest

from role_helpers import backed_up_sample, playbook, sample

NS = "sf-zuul"
PROJECTS = ("config", "sf-jobs", "zuul-jobs", "org/project-a", "org/project-b", "org/project-c")
# 6 projects x (secrets, ssh) + the tenant's SSH key, as sample.py seeds them.
KEY_COUNT = 2 * len(PROJECTS) + 1


def exported_keys(kubectl) -> dict:
    """The keys as zuul-admin export-keys writes them, into a fresh file in the zuul-scheduler container."""
    run = kubectl("exec", "-n", NS, "zuul-scheduler-0", "-c", "zuul-scheduler", "--", "sh", "-c",
                  'set -e; d=$(mktemp -d); zuul-admin export-keys "$d/k.json" 2>/dev/null; cat "$d/k.json"; '
                  'rm -rf "$d"')
    return json.loads(run.stdout)["keys"]


def drop_keystore(kubectl) -> None:
    """Delete Zuul's keys from ZooKeeper (what a ZooKeeper re-created empty would hold: none)."""
    code = ('from kazoo.client import KazooClient\n'
            'zk = KazooClient(hosts="127.0.0.1:2181"); zk.start(timeout=30)\n'
            'for path in ("/keystorage", "/keystorage2"):\n'
            '    zk.delete(path, recursive=True)\n'
            'zk.stop()\n')
    kubectl("exec", "-i", "-n", NS, "zookeeper-0", "-c", "zookeeper", "--", "python3", "-",
            input=code.encode())


@pytest.fixture(scope="module")
def stack(kubeconfig, core, tmp_path_factory):
    """The sample in sf-zuul, seeded, fingerprinted and backed up once; the namespace deleted after."""
    with backed_up_sample(kubeconfig, core, tmp_path_factory.mktemp("zuul-keys"), NS) as state:
        yield state


def test_seeded_keys_are_zuuls_and_fingerprinted_stably(stack, kubeconfig, kubectl):
    keys = exported_keys(kubectl)
    assert len(keys) == KEY_COUNT, sorted(keys)
    assert "/keystorage/gerrit/org/org%2Fproject-a/secrets" in keys
    assert "/keystorage/gerrit/config/config/ssh" in keys
    assert "/keystorage2/tenant/internal/ssh" in keys
    assert all("ENCRYPTED" in data["keys"][0]["private_key"] for data in keys.values())
    # Seeding again keeps the keys (KeyStorage only creates missing ones): same fingerprint, twice.
    sample(kubeconfig, NS, "seed")
    assert sample(kubeconfig, NS, "fingerprint") == stack["fingerprint"]
    assert exported_keys(kubectl) == keys


def test_backup_holds_the_export_and_the_password(stack, kubectl):
    summary = stack["backup"].stats["statesafe_backup"]
    assert summary["complete"] is True
    step = next(s for s in summary["steps"] if s["component"] == "zuul-keys")
    staging = stack["tmp"] / "staging" / "softwarefactory"
    dump = staging / "dumps" / "zuul-keys.json"
    assert step["bytes"] == dump.stat().st_size
    assert json.loads(dump.read_bytes())["keys"] == exported_keys(kubectl)
    manifest = json.loads((staging / "MANIFEST.json").read_text())
    paths = {artifact["path"] for artifact in manifest["artifacts"]}
    assert {"dumps/zuul-keys.json", "resources/Secret/zuul-keystore-password.yaml"} <= paths


def test_keys_lost_from_zookeeper_come_back_by_import(stack, kubeconfig, kubectl):
    drop_keystore(kubectl)
    assert sample(kubeconfig, NS, "fingerprint") != stack["fingerprint"]
    run = playbook("restore.yml", kubeconfig, stack["tmp"], NS, staging=str(stack["tmp"] / "keys-only"),
                   components="zuul-keys", policy="update")
    assert run.rc == 0, run.failures or run.output[-4000:]
    assert f"all {KEY_COUNT} keys of the backup are in ZooKeeper as backed up" in run.output
    assert sample(kubeconfig, NS, "fingerprint") == stack["fingerprint"]
