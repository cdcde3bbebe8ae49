"""roles/backup and roles/restore: argument_specs and defaults agree, variables are prefixed, tasks are tagged.

Also: the profiles are data the roles can read (component types and the keys each type needs).
"""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
ROLES = ("backup", "restore")
PROFILES = sorted((ROOT / "profiles").glob("*.yml"))
REQUIRED_KEYS = {
    "resources": {"name", "resources"},
    "dump": {"name", "pod", "command", "restore_command", "extension"},
    "volume": {"name", "claim", "statefulset"},
}


def load(role, *parts):
    return yaml.safe_load((ROOT / "roles" / role / Path(*parts)).read_text())


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
    assert all(name.startswith("__" + role + "_") for name in load(role, "vars", "main.yml"))


@pytest.mark.parametrize("role", ROLES)
def test_every_own_variable_the_tasks_read_is_declared(role):
    declared = set(load(role, "defaults", "main.yml")) | set(load(role, "vars", "main.yml"))
    text = "".join(path.read_text() for path in (ROOT / "roles" / role / "tasks").glob("*.yml"))
    text += (ROOT / "roles" / role / "vars" / "main.yml").read_text()
    text = "\n".join(line for line in text.splitlines() if not line.strip().startswith("tags:"))
    # Attribute access (component.restore_command) is profile data, not a role variable.
    read = set(re.findall(r"(?<![.\w])({0}_[a-z0-9_]+)\b".format(role), text))
    unknown = read - declared - {role + "_summary"}
    assert not unknown, sorted(unknown)


@pytest.mark.parametrize("role", ROLES)
def test_main_tasks_are_tagged_with_a_role_tag(role):
    for task in load(role, "tasks", "main.yml"):
        assert any(tag.startswith(role + "_") for tag in task.get("tags", [])), task["name"]


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.stem)
def test_profile_is_valid_data(profile):
    data = yaml.safe_load(profile.read_text())
    assert data["name"] == profile.stem
    names = [component["name"] for component in data["components"]]
    assert len(names) == len(set(names))
    for component in data["components"]:
        assert component["type"] in REQUIRED_KEYS, component["name"]
        missing = REQUIRED_KEYS[component["type"]] - set(component)
        assert not missing, (component["name"], sorted(missing))
        if component["type"] == "resources":
            assert component.get("restore_phase", "early") in ("early", "last")
            assert all("kind" in selection for selection in component["resources"])


def test_softwarefactory_order_and_mariadb_dump():
    data = yaml.safe_load((ROOT / "profiles" / "softwarefactory.yml").read_text())
    components = {component["name"]: component for component in data["components"]}
    assert list(components) == ["config", "workloads", "mariadb", "zookeeper", "zuul-keys", "softwarefactory"]
    assert {selection["kind"] for selection in components["config"]["resources"]} == {"Secret", "ConfigMap"}
    dump = components["mariadb"]
    assert "--single-transaction" in dump["command"] and "--skip-dump-date" in dump["command"]
    assert "--databases zuul sfmanager" in dump["command"]
    assert dump["trailer"] == "-- Dump completed"
    assert components["zookeeper"]["claim"] == "zookeeper-data-zookeeper-0"
    assert components["softwarefactory"]["restore_phase"] == "last"
