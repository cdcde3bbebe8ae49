"""Every shipped profile passes the schema, shared dumps stay the same, and the PostgreSQL dump's trailer tells a whole dump from a cut one."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from ansible_collections.statesafe.backup.plugins.module_utils.profile import parameters, schema

ROOT = Path(__file__).resolve().parents[3]
PROFILES = sorted((ROOT / "profiles").glob("*.yml"))


@pytest.mark.parametrize("path", PROFILES, ids=[p.stem for p in PROFILES])
def test_a_shipped_profile_passes_the_schema(path):
    assert schema.validate(yaml.safe_load(path.read_text())) == []


def test_profiles_are_shipped():
    assert {p.stem for p in PROFILES} >= {"softwarefactory", "softwarefactory-operator", "postgresql", "keycloak",
                                          "mlflow"}


def test_the_keycloak_database_dump_is_the_postgresql_profiles_own():
    """profiles/keycloak.yml copies the PostgreSQL dump: a fix to one must reach the other."""
    keycloak = with_defaults(yaml.safe_load((ROOT / "profiles" / "keycloak.yml").read_text()))
    dump = next(c for c in keycloak["components"] if c["name"] == "databases")
    names = {"statefulset", "pod"}
    assert {k: v for k, v in dump.items() if k not in names} == \
        {k: v for k, v in postgresql_dump().items() if k not in names}
    assert (dump["statefulset"], dump["pod"]) == ("keycloak-postgresql", "keycloak-postgresql-0")


def with_defaults(profile):
    """The profile as a run with no profile_parameters uses it."""
    return parameters.resolve(profile, parameters.effective(profile)[0])


def postgresql_dump():
    profile = with_defaults(yaml.safe_load((ROOT / "profiles" / "postgresql.yml").read_text()))
    return next(c for c in profile["components"] if c["name"] == "databases")


def trailer_bytes_default():
    text = (ROOT / "plugins" / "modules" / "pod_dump.py").read_text()
    return int(re.search(r'trailer_bytes=dict\(type="int", default=(\d+)\)', text).group(1))


def test_the_postgresql_trailer_matches_the_end_of_the_dumps_tar_and_not_a_cut_one(tmp_path):
    """The same tar invocation as the profile's command, over a dump-like tree."""
    tar_line = next(line for line in postgresql_dump()["command"].splitlines() if line.startswith("tar "))
    (tmp_path / "db-0001").mkdir()
    (tmp_path / "db-0001" / "3358.dat").write_bytes(bytes(range(256)) * 400)
    (tmp_path / "globals.sql").write_text("CREATE ROLE app;\n")
    (tmp_path / "databases").write_text("db-0001\tapp\n")
    (tmp_path / "COMPLETE").write_text("statesafe-postgresql complete 1 databases\n")
    dump = subprocess.run(["sh", "-c", tar_line], cwd=tmp_path, capture_output=True, check=True, timeout=60).stdout
    pattern = postgresql_dump()["trailer"].encode()
    tail = trailer_bytes_default()
    assert re.search(pattern, dump[-tail:])
    record = dump.rindex(b"statesafe-postgresql complete")
    # A cut anywhere up to the end of the completion record loses data, and is refused.
    for cut in (record + 41, record + 10, record - 1, len(dump) // 2, 1000):
        assert not re.search(pattern, dump[:cut][-tail:]), cut
    # A cut in the zero blocks after it loses nothing but tar's end marker: every member is whole.
    assert re.search(pattern, dump[:record + 43][-tail:])


def test_the_operator_profile_is_softwarefactory_with_the_operator_in_the_loop():
    """profiles/softwarefactory-operator.yml copies softwarefactory.yml's components: a fix to one must reach the
    other. It leaves out the workloads the operator creates, and applies the resource before the data."""
    plain = yaml.safe_load((ROOT / "profiles" / "softwarefactory.yml").read_text())
    managed = yaml.safe_load((ROOT / "profiles" / "softwarefactory-operator.yml").read_text())
    expected = [dict(c) for c in plain["components"] if c["name"] != "workloads"]
    for component in expected:
        if component["name"] == "softwarefactory":
            del component["restore_phase"]
    assert managed["components"] == expected
    assert {k: v for k, v in managed.items() if k not in ("name", "description", "components", "operator")} == \
        {k: v for k, v in plain.items() if k not in ("name", "description", "components")}
    assert managed["operator"]["resources"] == ["softwarefactory"]
    assert {w["name"] for w in managed["operator"]["workloads"]} == {
        s["metadata"]["name"] for s in sample_statefulsets()}


def sample_statefulsets():
    manifests = ROOT / "tests" / "cluster" / "sample" / "manifests"
    return [d for path in sorted(manifests.glob("*.yaml")) for d in yaml.safe_load_all(path.read_text())
            if d and d.get("kind") == "StatefulSet"]


def password_lines(profile):
    """The shell lines that read the database password from the variable a parameter names, as the run has them."""
    found = []

    def walk(value):
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str) and "PGPASSWORD" in value:
            start = value.index('[ -z "')
            found.append(value[start:value.index("export PGPASSWORD; }", start) + len("export PGPASSWORD; }")])
    walk(profile)
    return found


@pytest.mark.parametrize("name", ["postgresql", "keycloak"])
@pytest.mark.parametrize("environment, expected", [
    ({"DB_SECRET": "s3cret"}, "s3cret"),
    ({"DB_SECRET_FILE": "password-file"}, "from-file"),
    ({}, ""),
])
def test_the_password_comes_from_the_variable_the_parameter_names(tmp_path, name, environment, expected):
    """The lines run in sh with password_variable=DB_SECRET: its value, else the file its _FILE twin names."""
    profile = yaml.safe_load((ROOT / "profiles" / (name + ".yml")).read_text())
    resolved = parameters.resolve(profile, parameters.effective(profile, {"password_variable": "DB_SECRET"})[0])
    lines = password_lines(resolved)
    assert lines
    (tmp_path / "password-file").write_text("from-file")
    for line in lines:
        script = "set -eu\n" + line + '\nprintf %s "${PGPASSWORD:-}"'
        result = subprocess.run(["sh", "-c", script], cwd=tmp_path, env={"PATH": "/usr/bin:/bin", **environment},
                                capture_output=True, text=True, timeout=30, check=True)
        assert result.stdout == expected
