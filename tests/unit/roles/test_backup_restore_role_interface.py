"""The profiles are data the roles can read (component types and the keys each type needs).
"""

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
PROFILES = sorted((ROOT / "profiles").glob("*.yml"))
REQUIRED_KEYS = {
    "resources": {"name", "resources"},
    "dump": {"name", "pod", "command", "restore_command", "extension"},
    # A volume's workload is optional (a claim no workload uses), and named by `workload` or `statefulset`.
    "volume": {"name", "claim"},
}


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.stem)
def test_profile_is_valid_data(profile):
    data = yaml.safe_load(profile.read_text())
    assert data["name"] == profile.stem
    if "discover" in data:  # namespace mode: the backup makes the components (test_profile_namespace.py)
        assert "components" not in data
        return
    names = [component["name"] for component in data["components"]]
    assert len(names) == len(set(names))
    for component in data["components"]:
        assert component["type"] in REQUIRED_KEYS, component["name"]
        missing = REQUIRED_KEYS[component["type"]] - set(component)
        assert not missing, (component["name"], sorted(missing))
        if component["type"] == "resources":
            assert component.get("restore_phase", "early") in ("early", "last")
            assert all("kind" in selection for selection in component["resources"])
        if component["type"] == "volume":
            assert not {"workload", "statefulset"} <= set(component), component["name"]


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
