"""roles/bup end to end through ansible-playbook: every entry point, the lease passed along, preflight messages."""

import json
import os
import subprocess
from pathlib import Path

from bup_helpers import ANSIBLE, ansible_env, markers, tree_digest, write_tree

PLAYBOOK = """
- name: A backup run and a restore with the bup role
  hosts: localhost
  gather_facts: false
  vars:
    bup_repository: {repo}
    bup_branch: sf
    bup_staging: {staging}
    bup_validate: sha256
    bup_lock_owner: role test
  tasks:
    - name: Run the entry points in a backup's order
      ansible.builtin.include_role:
        name: statesafe.backup.bup
        tasks_from: "{{{{ item }}}}"
      loop: [init, lock, save, list, retention, fsck]

    - name: Restore what was saved
      ansible.builtin.include_role:
        name: statesafe.backup.bup
        tasks_from: restore
      vars:
        bup_restore_target: {target}

    - name: Release the lease
      ansible.builtin.include_role:
        name: statesafe.backup.bup
        tasks_from: unlock

    - name: Hand the results to the test
      ansible.builtin.copy:
        dest: {out}
        content: "{{{{ {{'lock': bup_lock_result, 'save': bup_save_result, 'list': bup_list_result,
                     'retention': bup_retention_result, 'fsck': bup_fsck_result, 'restore': bup_restore_result,
                     'unlock': bup_unlock_result}} | to_json }}}}"
        mode: "0600"
"""


def playbook(tmp_path: Path, text: str, *args: str) -> subprocess.CompletedProcess:
    path = tmp_path / "play.yml"
    path.write_text(text)
    env = ansible_env({"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default"})
    return subprocess.run([str(Path(ANSIBLE).with_name("ansible-playbook")), str(path), *args,
                           "-e", "ansible_python_interpreter=" + str(Path(ANSIBLE).with_name("python"))],
                          capture_output=True, text=True, env=env, check=False, timeout=900)


def test_backup_run_through_the_role(tmp_path):
    repo, target, out = tmp_path / "repo", tmp_path / "restored", tmp_path / "results.json"
    staging = write_tree(tmp_path / "staging", {"dumps/db.sql": os.urandom(1 << 20), "resources/a.yaml": b"a: 1\n"})
    run = playbook(tmp_path, PLAYBOOK.format(repo=repo, staging=staging, target=target, out=out))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    results = json.loads(out.read_text())
    token = results["lock"]["token"]
    assert results["save"]["complete"] and results["save"]["lock_waited"] < 1
    assert results["save"]["validation"]["level"] == "sha256"
    assert markers(repo) == [results["save"]["marker"]]
    assert results["list"]["selected"]["commit"] == results["save"]["commit"]
    assert results["retention"]["removed"] == [] and results["fsck"]["ok"]
    assert results["unlock"]["changed"] and results["unlock"]["lease"]["token"] == token
    assert (repo / "statesafe.lock").read_text() == "", "lease released"
    assert tree_digest(target) == tree_digest(staging)


def test_tags_select_operations(tmp_path):
    text = "\n".join(["- hosts: localhost", "  gather_facts: false", "  tasks:"] + [
        "    - ansible.builtin.import_role: {{name: statesafe.backup.bup, tasks_from: {0}}}".format(entry)
        for entry in ("init", "lock", "save", "list", "restore", "retention", "fsck", "unlock")]) + "\n"
    run = playbook(tmp_path, text, "--tags", "bup_save", "--list-tasks")
    assert run.returncode == 0, run.stderr
    listed = [line.strip().split("\t") for line in run.stdout.splitlines() if "TAGS:" in line]
    selected = [name for name, tags in listed if tags != "TAGS: [always]" and "play #" not in name]
    assert selected == [
        "statesafe.backup.bup : Preflight | the repository is named once",
        "statesafe.backup.bup : Save | inputs make sense",
        "statesafe.backup.bup : Save | save, validate against the manifest, mark complete"], run.stdout


def test_preflight_names_what_is_wrong(tmp_path):
    text = """
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.include_role:
        name: statesafe.backup.bup
        tasks_from: save
      vars:
        bup_repository: /srv/a
        bup_remote: "backup:/srv/b"
"""
    run = playbook(tmp_path, text)
    assert run.returncode != 0
    assert "Set exactly one of bup_repository" in run.stdout and "backup:/srv/b" in run.stdout


def test_argument_specs_reject_bad_types(tmp_path):
    text = """
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.include_role:
        name: statesafe.backup.bup
        tasks_from: fsck
      vars:
        bup_repository: /srv/a
        bup_lock_timeout: soon
"""
    run = playbook(tmp_path, text)
    assert run.returncode != 0 and "bup_lock_timeout" in run.stdout, run.stdout[-2000:]


def test_retention_policy_assert(tmp_path):
    text = """
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.include_role:
        name: statesafe.backup.bup
        tasks_from: retention
      vars:
        bup_repository: /srv/a
        bup_keep_dailies_for: 30 days
"""
    run = playbook(tmp_path, text)
    assert run.returncode != 0 and "Retention needs at least one of" in run.stdout and "30 days" in run.stdout
