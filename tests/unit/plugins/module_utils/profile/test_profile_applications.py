"""Several applications in one scheduled run: checked, as an inventory, with every application's verbs."""

from pathlib import Path

import pytest
import yaml

from ansible_collections.statesafe.backup.plugins.filter import profile as profile_filters
from ansible_collections.statesafe.backup.plugins.module_utils.profile import access, applications, parameters

ROOT = Path(__file__).resolve().parents[5]
PROFILES = ROOT / "profiles"
OBJECTS = {"name": "kdl-objects", "components": [{"name": "objects", "type": "resources", "resources": [
    {"kind": "Project", "api_version": "kdl.example.org/v1", "label_selectors": ["app=kdl"]},
    {"kind": "Secret", "label_selectors": ["app=kdl"]}]}]}


def shipped(name):
    return yaml.safe_load((PROFILES / (name + ".yml")).read_text())


def plan(entries, hooks=True):
    return profile_filters.schedule_applications(entries, str(PROFILES), hooks)


def test_each_application_is_a_host_of_the_inventory_with_its_own_variables(tmp_path):
    own = tmp_path / "own.yml"
    own.write_text(yaml.safe_dump({**OBJECTS, "name": "own-objects"}))
    result = plan([
        {"name": "kdl-db", "profile": "postgresql", "branch": "kdl-postgresql",
         "profile_parameters": {"statefulset": "gitea-postgresql"}},
        {"name": "kdl-mlflow", "profile": "mlflow"},
        {"name": "kdl-objects", "profile_data": OBJECTS},
        {"name": "kdl-own", "profile": str(own)},
    ])
    assert result["problems"] == []
    assert result["names"] == ["kdl-db", "kdl-mlflow", "kdl-objects", "kdl-own"]
    group = result["inventory"]["applications"]
    assert group["vars"] == {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}
    assert group["hosts"] == {
        "kdl-db": {"profile": "postgresql", "branch": "kdl-postgresql",
                   "profile_parameters": {"statefulset": "gitea-postgresql"}},
        "kdl-mlflow": {"profile": "mlflow"},
        "kdl-objects": {"profile": "kdl-objects", "profile_data": OBJECTS},
        # A file of the user's own is not in the runner's image: it goes as data.
        "kdl-own": {"profile": "own-objects", "profile_data": {**OBJECTS, "name": "own-objects"}},
    }


def test_the_checks_are_every_applications_verbs_each_once_with_parameters_applied():
    result = plan([{"name": "db", "profile": "postgresql"}, {"name": "files", "profile": "mlflow"},
                   {"name": "objects", "profile_data": OBJECTS}])
    expected = []
    for profile in (shipped("postgresql"), shipped("mlflow"), OBJECTS):
        resolved = parameters.resolve(profile, parameters.effective(profile)[0])
        for check in access.needed_access(resolved, True):
            if check not in expected:
                expected.append(check)
    assert result["checks"] == expected
    assert len(result["checks"]) == len({repr(check) for check in result["checks"]})
    assert {"verb": "list", "kind": "Project", "api_version": "kdl.example.org/v1"} in result["checks"]
    assert {"verb": "create", "resource": "pods"} in result["checks"]  # mlflow's volume helper
    without_hooks = plan([{"name": "objects", "profile_data": OBJECTS}], hooks=False)
    assert {"verb": "list", "resource": "pods"} not in without_hooks["checks"]


@pytest.mark.parametrize("entries, problem", [
    ([], "must be a non-empty list"),
    ("kdl-db", "must be a non-empty list"),
    (["postgresql"], "schedule_applications[0]: an application is a mapping"),
    ([{"name": "Kdl_DB", "profile": "postgresql"}], "schedule_applications[0] (Kdl_DB): name must be a DNS label"),
    ([{"name": "db", "profile": "postgresql", "schedule": "daily"}], "(db): unknown keys schedule"),
    ([{"name": "db"}], "(db): a profile (a shipped profile's name or a file's path) or profile_data is required"),
    ([{"name": "db", "profile": "postgresql", "profile_data": OBJECTS}], "(db): give profile or profile_data"),
    ([{"name": "db", "profile": "no-such-profile"}], "(db): cannot read profile 'no-such-profile'"),
    ([{"name": "all", "profile": "namespace"}], "(all): namespace mode (profile 'namespace' discovers its components) "
                                                "cannot be scheduled yet"),
    ([{"name": "db", "profile": "postgresql", "profile_parameters": {"statefulsets": "x"}}],
     "(db): the profile 'postgresql' is not valid: profile 'postgresql' has no parameter 'statefulsets'"),
    ([{"name": "db", "profile_data": {"name": "x"}}], "(db): the profile 'x' is not valid: components: required"),
    ([{"name": "db", "profile": "postgresql"}, {"name": "db", "profile": "mlflow"}],
     "schedule_applications[1] (db): the name 'db' is given twice"),
    ([{"name": "a", "profile": "postgresql"}, {"name": "b", "profile": "postgresql"}],
     "schedule_applications[1] (b): writes branch 'postgresql', as a does: each application needs a branch of its own"),
    ([{"name": "a", "profile": "postgresql", "branch": "x y"}], "(a): branch must be"),
])
def test_every_problem_names_the_application(entries, problem):
    result = plan(entries)
    assert any(problem in item for item in result["problems"]), result["problems"]
    assert result["inventory"] == {} and result["checks"] == []


def test_every_problem_is_reported_at_once():
    result = plan([{"name": "a"}, {"name": "B", "profile": "mlflow"}, {"name": "c", "profile": "mlflow"}])
    assert [item.split(":")[0] for item in result["problems"]] == [
        "schedule_applications[0] (a)", "schedule_applications[1] (B)"]


def test_a_profile_file_that_is_not_yaml_is_named(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("name: [unclosed\n")
    [problem] = plan([{"name": "a", "profile": str(bad)}])["problems"]
    assert problem.startswith("schedule_applications[0] (a): cannot read profile") and "is not YAML" in problem


def test_the_loader_is_given_the_name_or_path_as_written():
    seen = []

    def load(name):
        seen.append(name)
        return OBJECTS

    assert applications.plan([{"name": "a", "profile": "kdl/objects.yml"}], load)["problems"] == []
    assert seen == ["kdl/objects.yml"]
    assert applications.is_profile_file("objects.yaml") and not applications.is_profile_file("postgresql")
