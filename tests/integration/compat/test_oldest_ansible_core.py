"""The disaster-recovery round trip of the sample stack with the oldest ansible-core the collection supports.

meta/runtime.yml accepts ansible-core 2.16 and later; the rest of the integration tests run the
project virtualenv's 2.19. Here playbooks/backup.yml and playbooks/restore.yml run with
ansible-playbook (and module Python) of the first version of tests/compat/versions.txt, from its
virtualenv (tests/compat/venv.sh): the sample stack in its own namespace is seeded and backed up,
changed, lost with its namespace, restored, and its fingerprint compared with the one taken
before the backup. The namespace is deleted at the end.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from role_helpers import REPO, namespace_exists, playbook, sample

NS = "sfc-oldest-core"
COMPAT = REPO / "tests" / "compat"


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
        assert sample(kubeconfig, NS, "fingerprint") == before
    finally:
        sample(kubeconfig, NS, "destroy", "--no-wait")
