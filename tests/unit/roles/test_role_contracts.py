"""Roles talk through documented inputs and results only.

A role's private names (``__<role>_...``: its vars/main.yml, task vars and facts) belong to that role. Another role or
a playbook that read them would break whenever the owner renames an internal; what a caller needs is exported as a
registered result or a ``<role>_result`` / ``<role>_summary`` fact and documented in the owner's argument_specs.
"""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
ROLES = sorted(path.name for path in (ROOT / "roles").iterdir() if (path / "tasks").is_dir())
PRIVATE = re.compile(r"\b__({0})_[a-z0-9_]+".format("|".join(sorted(ROLES, key=len, reverse=True))))


def sources(directory):
    return sorted(path for path in directory.rglob("*") if path.is_file() and path.suffix in (".yml", ".yaml", ".j2"))


def foreign_names(owner, paths):
    found = set()
    for path in paths:
        for match in PRIVATE.finditer(path.read_text()):
            if match.group(1) != owner:
                found.add("{0}: {1}".format(path.relative_to(ROOT), match.group(0)))
    return sorted(found)


def test_the_pattern_tells_roles_apart():
    assert PRIVATE.search("x: '{{ __bup_lease_token }}'").group(1) == "bup"
    assert PRIVATE.search("x: '{{ __backup_steps }}'").group(1) == "backup"
    assert foreign_names("backup", []) == []


@pytest.mark.parametrize("role", ROLES)
def test_a_role_reads_no_other_roles_private_names(role):
    assert foreign_names(role, sources(ROOT / "roles" / role)) == []


def test_playbooks_read_no_roles_private_names():
    assert foreign_names(None, sources(ROOT / "playbooks")) == []


def test_the_bup_repository_options_are_given_once_through_module_defaults():
    """Every bup module task takes repository, remote, remote_cache_dir and bup_command from the bup action group."""
    tasks_dir = ROOT / "roles" / "bup" / "tasks"
    modules = 0
    for path in sorted(tasks_dir.glob("*.yml")):
        for task in yaml.safe_load(path.read_text()) or []:
            module = next((key for key in task if key.startswith("statesafe.backup.bup_")), None)
            if module is None:
                continue
            modules += 1
            assert task["module_defaults"] == {"group/statesafe.backup.bup": "{{ __bup_repository_options }}"}, path
            assert not set(task[module] or {}) & {"repository", "remote", "remote_cache_dir", "bup_command"}, path
    assert modules == 8
    options = yaml.safe_load((ROOT / "roles" / "bup" / "vars" / "main.yml").read_text())["__bup_repository_options"]
    assert sorted(options) == ["bup_command", "remote", "remote_cache_dir", "repository"]
    runtime = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())
    assert {"bup_repo", "bup_save", "bup_archive_info", "bup_restore", "bup_retention", "bup_fsck",
            "bup_lock"} <= set(runtime["action_groups"]["bup"])


def test_the_schedule_ships_the_restore_rules_of_the_documented_role():
    shipped = yaml.safe_load((ROOT / "roles" / "schedule" / "vars" / "main.yml").read_text())["__schedule_restore_rules"]
    documented = yaml.safe_load((ROOT / "docs" / "rbac-role.yml").read_text())["rules"]
    assert shipped == documented


# A path from role_path into a sibling role (role_path ~ '/../backup/vars/main.yml'); the collection's own
# install path (.../ansible_collections/statesafe/backup/ansible.cfg) is not one.
SIBLING_ROLE_PATH = re.compile(r"/\.\./({0})/".format("|".join(ROLES)))


def test_the_schedule_reads_nothing_of_another_role_through_role_path():
    assert SIBLING_ROLE_PATH.search("{{ role_path }}/../backup/vars/main.yml")
    for path in sources(ROOT / "roles" / "schedule"):
        text = path.read_text()
        assert not SIBLING_ROLE_PATH.search(text) and "docs/rbac-role.yml')" not in text, path
