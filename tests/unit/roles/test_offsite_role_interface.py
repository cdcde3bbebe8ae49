"""roles/offsite: argument_specs and defaults agree, every entry point exists, variables are prefixed."""

import re
from pathlib import Path

import pytest
import yaml

ROLE = Path(__file__).resolve().parents[3] / "roles" / "offsite"
SPECS = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]
DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
REQUIRED = set(name for spec in SPECS.values() for name, option in spec["options"].items() if option.get("required"))
MODULE_ARGS = {"offsite_" + name for name in (
    "repository", "bucket", "prefix", "endpoint_url", "region", "access_key", "secret_key", "session_token",
    "addressing_style", "validate_certs", "connect_timeout", "retries", "age_command", "bup_command")}


def tasks_of(entry_point):
    name = "push" if entry_point == "main" else entry_point
    return (ROLE / "tasks" / f"{name}.yml").read_text() + (ROLE / "tasks" / "preflight.yml").read_text()


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
    assert set(DEFAULTS) | REQUIRED == set(name for spec in SPECS.values() for name in spec["options"])


@pytest.mark.parametrize("entry_point", sorted(SPECS))
def test_every_variable_the_tasks_read_is_declared_and_every_declared_one_read(entry_point):
    used = set(re.findall(r"\b(offsite_[a-z0-9_]+)\b", tasks_of(entry_point))) & (set(DEFAULTS) | REQUIRED)
    assert used == set(SPECS[entry_point]["options"]), entry_point


def test_push_refuses_to_run_without_a_key_and_credentials_are_never_defaults():
    assert DEFAULTS["offsite_recipients"] == [] and DEFAULTS["offsite_recipients_file"] == ""
    assert "Refusing to push without encryption" in (ROLE / "tasks" / "push.yml").read_text()
    assert all(DEFAULTS[name] == "" for name in ("offsite_access_key", "offsite_secret_key", "offsite_session_token"))


def test_variables_are_prefixed_and_tasks_tagged():
    assert all(name.startswith("offsite_") for name in DEFAULTS)
    for path in (ROLE / "tasks").glob("*.yml"):
        if path.name in ("main.yml", "preflight.yml"):
            continue
        for task in yaml.safe_load(path.read_text()):
            assert any(tag.startswith("offsite_") for tag in task.get("tags", [])), (path.name, task["name"])
