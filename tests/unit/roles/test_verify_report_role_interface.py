"""roles/verify and roles/report: argument_specs and defaults agree, variables are prefixed, tasks are tagged.

Also: the profiles' optional `check` list is data verify can read, and playbooks/backup.yml reports in `always`.
"""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
ROLES = ("verify", "report")
PROFILES = sorted((ROOT / "profiles").glob("*.yml"))


def load(role, *parts):
    path = ROOT / "roles" / role / Path(*parts)
    return yaml.safe_load(path.read_text()) if path.exists() else {}


@pytest.mark.parametrize("role", ROLES)
def test_spec_defaults_equal_role_defaults(role):
    options = load(role, "meta", "argument_specs.yml")["argument_specs"]["main"]["options"]
    defaults = load(role, "defaults", "main.yml")
    assert set(options) == set(defaults)
    for name, option in options.items():
        assert option.get("default") == defaults[name], name


@pytest.mark.parametrize("role", ROLES)
def test_variables_are_prefixed(role):
    assert all(name.startswith(role + "_") for name in load(role, "defaults", "main.yml"))
    assert all(name.startswith("__" + role + "_") for name in load(role, "vars", "main.yml") or {})


@pytest.mark.parametrize("role", ROLES)
def test_every_own_variable_the_tasks_read_is_declared(role):
    declared = set(load(role, "defaults", "main.yml")) | set(load(role, "vars", "main.yml") or {})
    text = "".join(path.read_text() for path in (ROOT / "roles" / role / "tasks").glob("*.yml"))
    text = "\n".join(line for line in text.splitlines() if not line.strip().startswith("tags:"))
    read = set(re.findall(r"(?<![.\w])({0}_[a-z0-9_]+)\b".format(role), text))
    unknown = read - declared - {role + "_summary", role + "_result"}
    assert not unknown, sorted(unknown)


@pytest.mark.parametrize("role", ROLES)
def test_main_tasks_are_tagged_with_a_role_tag(role):
    for task in load(role, "tasks", "main.yml"):
        assert any(tag.startswith(role + "_") for tag in task.get("tags", [])), task["name"]


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.stem)
def test_profile_checks_are_data_verify_can_run(profile):
    checks = yaml.safe_load(profile.read_text()).get("check", [])
    assert isinstance(checks, list)
    for check in checks:
        assert check.get("name"), check
        assert ("pod" in check) != ("local" in check), check["name"]
        if "pod" in check:
            assert ("command" in check) != ("argv" in check), check["name"]
        else:
            assert isinstance(check["local"], list) and check["local"], check["name"]
        assert check.get("compare", "source") == "source", check["name"]


def test_backup_playbook_reports_in_always_and_still_fails():
    play = yaml.safe_load((ROOT / "playbooks" / "backup.yml").read_text())[0]
    block = next(task for task in play["tasks"] if "block" in task)
    assert [t["ansible.builtin.include_role"]["name"] for t in block["block"]] == ["statesafe.backup.backup"]
    assert [t["ansible.builtin.include_role"]["name"] for t in block["always"]] == ["statesafe.backup.report"]
    assert play["tasks"][-1]["when"] == "__playbook_failure is defined"
    assert "ansible.builtin.fail" in play["tasks"][-1]
