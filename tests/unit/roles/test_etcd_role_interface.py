"""roles/etcd: each entry point's argument spec agrees with defaults/, variables are prefixed, every own variable
the tasks read is declared, the tasks are tagged, and the playbooks pass only declared variables."""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
ROLE = ROOT / "roles" / "etcd"
OUTPUTS = {"etcd_backup_summary", "etcd_restore_summary"}


def load(*parts):
    return yaml.safe_load((ROLE / Path(*parts)).read_text()) or {}


SPECS = load("meta", "argument_specs.yml")["argument_specs"]
DEFAULTS = load("defaults", "main.yml")


@pytest.mark.parametrize("entry", ["main", "restore"])
def test_each_entry_points_options_are_defaults(entry):
    options = SPECS[entry]["options"]
    assert set(options) <= set(DEFAULTS)
    for name, option in options.items():
        assert option.get("default") == DEFAULTS[name], name
        assert option["description"], name


def test_every_default_is_an_option_of_some_entry_point():
    assert set(DEFAULTS) == set(SPECS["main"]["options"]) | set(SPECS["restore"]["options"])


def test_variables_are_prefixed():
    assert all(name.startswith("etcd_") for name in DEFAULTS)
    assert all(name.startswith("__etcd_") for name in load("vars", "main.yml"))


def test_every_own_variable_the_tasks_read_is_declared():
    text = "".join(path.read_text() for path in sorted((ROLE / "tasks").glob("*.yml")))
    text += (ROLE / "vars" / "main.yml").read_text()
    text = "\n".join(line for line in text.splitlines() if not line.strip().startswith("tags:"))
    read = set(re.findall(r"(?<![.\w])(etcd_[a-z0-9_]+)\b", text))
    assert not read - set(DEFAULTS) - OUTPUTS


@pytest.mark.parametrize("tasks", ["main.yml", "backup.yml", "restore.yml", "control_plane.yml"])
def test_tasks_are_tagged(tasks):
    for task in load("tasks", tasks):
        assert any(tag.startswith("etcd_") for tag in task.get("tags", [])), task["name"]


@pytest.mark.parametrize("playbook", ["etcd_backup.yml", "etcd_restore.yml"])
def test_playbooks_pass_only_declared_role_variables(playbook):
    text = (ROOT / "playbooks" / playbook).read_text()
    passed = set(re.findall(r"^\s+(etcd_[a-z0-9_]+):", text, re.M))
    assert passed and passed <= set(DEFAULTS)
