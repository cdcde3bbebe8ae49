"""The single-entry-point roles (backup, restore, verify, report, schedule): argument_specs and defaults agree,
variables are prefixed, every own variable the tasks read is declared, main's tasks are tagged."""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
# What each role sets for its caller (set_fact / register), so read without being declared.
OUTPUTS = {
    "backup": {"backup_summary", "backup_result"},
    "restore": {"restore_summary"},
    "verify": {"verify_summary", "verify_result"},
    "report": {"report_summary", "report_result"},
    "schedule": set(),
}
ROLES = sorted(OUTPUTS)


def load(role, *parts):
    path = ROOT / "roles" / role / Path(*parts)
    return (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}


@pytest.mark.parametrize("role", ROLES)
def test_spec_defaults_equal_role_defaults(role):
    options = load(role, "meta", "argument_specs.yml")["argument_specs"]["main"]["options"]
    defaults = load(role, "defaults", "main.yml")
    required = set(name for name, option in options.items() if option.get("required"))
    assert set(options) - required == set(defaults)
    for name, option in options.items():
        if name in required:
            # No default anywhere: a caller that forgets it is refused by name by the argument spec.
            assert "default" not in option and name not in defaults, name
        else:
            assert option.get("default") == defaults[name], name


@pytest.mark.parametrize("role", ROLES)
def test_variables_are_prefixed(role):
    assert all(name.startswith(role + "_") for name in load(role, "defaults", "main.yml"))
    assert all(name.startswith("__" + role + "_") for name in load(role, "vars", "main.yml"))


@pytest.mark.parametrize("role", ROLES)
def test_every_own_variable_the_tasks_read_is_declared(role):
    options = load(role, "meta", "argument_specs.yml")["argument_specs"]["main"]["options"]
    declared = set(load(role, "defaults", "main.yml")) | set(load(role, "vars", "main.yml")) | set(options)
    sources = sorted((ROOT / "roles" / role / "tasks").glob("*.yml")) + [ROOT / "roles" / role / "vars" / "main.yml"]
    text = "".join(path.read_text() for path in sources if path.exists())
    text = "\n".join(line for line in text.splitlines() if not line.strip().startswith("tags:"))
    # Attribute access (component.restore_command) is profile data, not a role variable.
    read = set(re.findall(r"(?<![.\w])({0}_[a-z0-9_]+)\b".format(role), text))
    unknown = read - declared - OUTPUTS[role]
    assert not unknown, sorted(unknown)


@pytest.mark.parametrize("role", ROLES)
def test_main_tasks_are_tagged_with_a_role_tag(role):
    for task in load(role, "tasks", "main.yml"):
        assert any(tag.startswith(role + "_") for tag in task.get("tags", [])), task["name"]
