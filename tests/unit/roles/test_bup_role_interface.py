"""roles/bup: argument_specs and defaults agree, every entry point exists, variables are prefixed."""

import re
from pathlib import Path

import pytest
import yaml

ROLE = Path(__file__).resolve().parents[3] / "roles" / "bup"
SPECS = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]
DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
REQUIRED = set(name for spec in SPECS.values() for name, option in spec["options"].items() if option.get("required"))


@pytest.mark.parametrize("entry_point", sorted(SPECS))
def test_entry_point_has_tasks(entry_point):
    assert (ROLE / "tasks" / f"{entry_point}.yml").is_file()


@pytest.mark.parametrize("entry_point", sorted(SPECS))
def test_spec_defaults_equal_role_defaults(entry_point):
    for name, option in SPECS[entry_point]["options"].items():
        if option.get("required"):
            # A required option has no default anywhere, so a caller that forgets it is refused by name.
            assert "default" not in option and name not in DEFAULTS, f"{entry_point}: {name}"
            continue
        assert name in DEFAULTS, f"{entry_point}: {name} has no default in defaults/main.yml"
        assert option.get("default") == DEFAULTS[name], f"{entry_point}: {name}"


def test_every_default_is_documented_by_some_entry_point():
    documented = set(name for spec in SPECS.values() for name, option in spec["options"].items()
                     if not option.get("required"))
    assert set(DEFAULTS) == documented


def test_every_variable_the_tasks_read_is_in_their_entry_points_spec():
    own = set(DEFAULTS) | REQUIRED
    for entry_point, spec in SPECS.items():
        text = (ROLE / "tasks" / f"{entry_point}.yml").read_text()
        text += (ROLE / "tasks" / "preflight.yml").read_text()
        if entry_point == "main":
            text += (ROLE / "tasks" / "init.yml").read_text()
        used = set(re.findall(r"\b(bup_[a-z0-9_]+)\b", text)) & own
        used -= {"bup_repo_result"}
        missing = used - set(spec["options"])
        assert not missing, f"{entry_point} reads {sorted(missing)} without declaring them"


def test_variables_are_prefixed():
    assert all(name.startswith("bup_") for name in DEFAULTS)
    internal = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    assert all(name.startswith("__bup_") for name in internal)


def test_every_task_is_tagged_with_a_role_tag():
    for path in (ROLE / "tasks").glob("*.yml"):
        if path.name in ("main.yml", "preflight.yml"):
            continue
        for task in yaml.safe_load(path.read_text()):
            assert any(tag.startswith("bup_") for tag in task.get("tags", [])), (path.name, task["name"])
