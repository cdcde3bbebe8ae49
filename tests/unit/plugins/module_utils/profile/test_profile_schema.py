from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
from pathlib import Path

import pytest
import yaml

from ansible_collections.statesafe.backup.plugins.module_utils.profile.schema import validate

ROOT = Path(__file__).resolve().parents[5]
SHIPPED = sorted((ROOT / "profiles").glob("*.yml"))


def minimal():
    return {"name": "app", "components": [
        {"name": "config", "type": "resources", "resources": [{"kind": "Secret"}]},
        {"name": "db", "type": "dump", "pod": "db-0", "command": "dump", "restore_command": "load"},
        {"name": "data", "type": "volume", "claim": "data-0", "statefulset": "data"}]}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_profiles_are_valid(path):
    assert validate(yaml.safe_load(path.read_text())) == []


def test_a_minimal_profile_is_valid():
    assert validate(minimal()) == []


def test_the_issue_example_names_the_key_path():
    profile = minimal()
    del profile["components"][2]["claim"]
    assert validate(profile) == ["components[2].claim: required for type volume"]


def test_every_problem_is_reported_at_once_in_document_order():
    profile = minimal()
    profile["name"] = "App"
    profile["colour"] = "red"
    profile["components"][0]["resources"][0] = {"kind": "Secret", "label_selector": "a=b"}
    profile["components"][1]["tiemout"] = 3
    profile["components"][2]["type"] = "disk"
    assert validate(profile) == [
        "colour: unknown key (expected one of name, description, parameters, label_selector, hooks, components, check, "
        "operator)",
        "name: 'App' is not a profile name (lower-case letters, digits, '.', '_', '-'; it names the bup branch)",
        "components[0].resources[0].label_selector: unknown key (expected one of kind, api_version, names, "
        "label_selectors, optional, references)",
        "components[1].tiemout: unknown key for type dump (expected one of name, type, command, pod, workload, "
        "workload_kind, restore_command, container, extension, trailer, timeout, statefulset, revision)",
        "components[2].type: 'disk' is not one of resources, dump, volume",
    ]


@pytest.mark.parametrize("profile, problem", [
    ([], "profile: must be a mapping with name and components, got a list"),
    ({"name": "a"}, "components: required (a non-empty list)"),
    ({"name": "a", "components": []}, "components: must not be empty"),
    ({"name": "a", "components": {}}, "components: must be a list, got a mapping"),
    ({"components": [{"name": "x", "type": "resources", "resources": [{"kind": "A"}]}]}, "name: required"),
])
def test_top_level_problems(profile, problem):
    assert problem in validate(profile)


@pytest.mark.parametrize("change, problem", [
    (lambda p: p["components"][1].pop("command"), "components[1].command: required for type dump"),
    (lambda p: p["components"][1].pop("pod"),
     "components[1].pod: a dump runs in the pod named by pod, or in a ready pod of the workload named by workload: "
     "exactly one of them"),
    (lambda p: p["components"][1].update(workload="db"),
     "components[1].pod: a dump runs in the pod named by pod, or in a ready pod of the workload named by workload: "
     "exactly one of them"),
    (lambda p: p["components"][1].update(workload_kind="Deployment"),
     "components[1].workload_kind: only with workload (the workload's name)"),
    (lambda p: (p["components"][1].pop("pod"), p["components"][1].update(workload="db", workload_kind="DaemonSet")),
     "components[1].workload_kind: 'DaemonSet' is not one of StatefulSet, Deployment, ReplicaSet"),
    (lambda p: (p["components"][1].pop("pod"), p["components"][1].update(workload="db", statefulset="db")),
     "components[1]: names its workload twice: statefulset (a StatefulSet) or workload (with workload_kind), not both"),
    (lambda p: (p["components"][1].pop("pod"), p["components"][1].update(workload="db", revision={"command": "x"})),
     "components[1].revision.pod: required for type dump (the component names no pod)"),
    (lambda p: p["components"][1].update(timeout=0), "components[1].timeout: must be a positive number of seconds, got 0"),
    (lambda p: p["components"][1].update(timeout="1h"), "components[1].timeout: must be a positive number of seconds, got '1h'"),
    (lambda p: p["components"][0].update(resources=[]), "components[0].resources: must name at least one kind"),
    (lambda p: p["components"][0]["resources"][0].pop("kind"), "components[0].resources[0].kind: required"),
    (lambda p: p["components"][0].update(restore_phase="late"),
     "components[0].restore_phase: 'late' is not one of early, last"),
    (lambda p: p["components"][0].update(ready={"timeout": 5}),
     "components[0].ready: needs exactly one of path (with value) and condition"),
    (lambda p: p["components"][0].update(ready={"condition": "Ready", "value": True}),
     "components[0].ready.value: only with path (a condition is waited for until its status is True)"),
    (lambda p: p["components"][0]["resources"][0].update(references=[{"kind": "Secret"}]),
     "components[0].resources[0].references[0]: needs paths or field_names"),
    (lambda p: p["components"][2].update(path="/data/../.."),
     "components[2].path: must stay inside the claim (no '..'), got '/data/../..'"),
    (lambda p: p["components"][2].update(exclude="tmp"), "components[2].exclude: must be a list of strings, got a string"),
    (lambda p: p["components"][2].update(helper_image="debian bookworm"),
     "components[2].helper_image: 'debian bookworm' is not an image reference"),
    (lambda p: p["components"][2].update(helper_image=""), "components[2].helper_image: must be a non-empty string, got ''"),
    (lambda p: p["components"][2].update(through="pod"), "components[2].through: 'pod' is not one of helper, user"),
    (lambda p: p["components"][2].update(container="main"),
     "components[2].container: only with through: user (the container of the claim's user to read through; a helper "
     "pod has its own)"),
    (lambda p: p["components"][2].update(through="user", container=""),
     "components[2].container: must be a non-empty string, got ''"),
    (lambda p: p["components"][1].update(helper_image="x"),
     "components[1].helper_image: unknown key for type dump (expected one of name, type, command, pod, workload, "
     "workload_kind, restore_command, container, extension, trailer, timeout, statefulset, revision)"),
    (lambda p: p["components"][2].update(revision={"command": "x"}),
     "components[2].revision.pod: required for type volume (the component names no pod)"),
    (lambda p: p["components"][1].update(revision={"command": "x", "every": 1}),
     "components[1].revision.every: unknown key (expected one of command, pod, container, timeout)"),
    (lambda p: p["components"][2].update(name="db"), "components[2].name: 'db' is also the name of components[1]"),
    (lambda p: p["components"][2].update(name="a/b"),
     "components[2].name: 'a/b' is not a component name (letters, digits, '.', '_', '-')"),
    (lambda p: p["components"][0].update(claim="x"),
     "components[0].claim: unknown key for type resources (expected one of name, type, resources, restore_phase, "
     "ready)"),
])
def test_component_problems(change, problem):
    profile = minimal()
    change(profile)
    assert problem in validate(profile)


@pytest.mark.parametrize("hook, problem", [
    ({"command": "sync"}, "hooks.pre[0]: needs pod or label_selector"),
    ({"pod": "p"}, "hooks.pre[0]: needs exactly one of command and argv"),
    ({"pod": "p", "command": "a", "argv": ["a"]}, "hooks.pre[0]: needs exactly one of command and argv"),
    ({"pod": "p", "command": "a", "on_error": "ignore"}, "hooks.pre[0].on_error: 'ignore' is not one of fail, continue"),
    ({"pod": "p", "command": "a", "shell": "/bin/bash"},
     "hooks.pre[0].shell: unknown key (expected one of name, pod, label_selector, container, command, argv, timeout, "
     "on_error)"),
])
def test_hook_problems(hook, problem):
    profile = minimal()
    profile["hooks"] = {"pre": [hook], "post": []}
    assert validate(profile) == [problem]


def test_hooks_may_be_upper_case_on_error_and_empty():
    profile = minimal()
    profile["hooks"] = {"pre": [{"label_selector": "a=b", "argv": ["sync"], "on_error": "Continue"}], "post": None}
    assert validate(profile) == []


@pytest.mark.parametrize("check, problem", [
    ({"pod": "p", "command": "x"}, "check[0].name: required"),
    ({"name": "c", "command": "x"}, "check[0]: needs exactly one of pod (run in a pod) and local (an argv run on the "
                                    "controller)"),
    ({"name": "c", "pod": "p"}, "check[0]: needs exactly one of command and argv with pod"),
    ({"name": "c", "local": "ls"}, "check[0].local: must be a non-empty list of strings, got a string"),
    ({"name": "c", "local": ["ls"], "container": "x"}, "check[0].container: only with pod (local is the whole argv)"),
    ({"name": "c", "local": ["ls"], "compare": "target"}, "check[0].compare: 'target' is not one of source"),
    ({"name": "c", "local": ["ls"], "expect": ["a"]}, "check[0].expect: must be a string or a number, got a list"),
])
def test_check_problems(check, problem):
    profile = minimal()
    profile["check"] = [check]
    assert validate(profile) == [problem]


def test_check_names_are_unique():
    profile = minimal()
    profile["check"] = [{"name": "c", "local": ["true"]}, {"name": "c", "pod": "p", "argv": ["true"], "expect": 1}]
    assert validate(profile) == ["check[1].name: 'c' is also the name of check[0]"]


def test_validate_does_not_change_the_profile():
    profile = minimal()
    before = copy.deepcopy(profile)
    validate(profile)
    assert profile == before


@pytest.mark.parametrize("image", ["docker.io/library/debian:bookworm-slim", "debian:bookworm-slim",
                                   "mirror.example:5000/debian/debian:bookworm-slim",
                                   "localhost/toolbox:bookworm-1", "registry.example/debian@sha256:" + "a" * 64])
def test_a_volume_may_name_its_helper_image(image):
    profile = minimal()
    profile["components"][2]["helper_image"] = image
    assert validate(profile) == []


@pytest.mark.parametrize("names", [
    {"statefulset": "data"},
    {"workload": "data"},
    {"workload": "web", "workload_kind": "Deployment"},
    {"workload": "rs", "workload_kind": "ReplicaSet"},
    {"workload": "db", "workload_kind": "StatefulSet"},
    {},
], ids=["statefulset", "workload", "deployment", "replicaset", "explicit-statefulset", "unused-claim"])
def test_a_volume_names_its_workload_and_kind_or_none(names):
    profile = minimal()
    volume = profile["components"][2]
    del volume["statefulset"]
    volume.update(names)
    assert validate(profile) == []


@pytest.mark.parametrize("names, problem", [
    ({"workload": "web"}, "components[2]: names its workload twice: statefulset (a StatefulSet) or workload (with "
                          "workload_kind), not both"),
    ({"workload": "web", "workload_kind": "DaemonSet"},
     "components[2].workload_kind: 'DaemonSet' is not one of StatefulSet, Deployment, ReplicaSet"),
    ({"workload_kind": "Deployment"}, "components[2].workload_kind: only with workload (the workload's name)"),
    ({"workload": ""}, "components[2].workload: must be a non-empty string, got ''"),
])
def test_volume_workload_problems(names, problem):
    profile = minimal()
    profile["components"][2].update(names)
    assert problem in validate(profile)


def test_a_dump_may_name_its_workload_instead_of_a_pod_and_have_no_restore_command():
    """Namespace mode's dumps: a Deployment's pods change names, and K8up's annotations have no restore command."""
    profile = minimal()
    profile["components"][1] = {"name": "db", "type": "dump", "workload": "db", "workload_kind": "Deployment",
                                "command": "dump", "extension": "sql"}
    assert validate(profile) == []


@pytest.mark.parametrize("text, found", [
    ("printf '{%s}' \"$name\"", "'{%'"),
    ('n=${#name}', "'{#'"),
    ('echo {{ secret }}', "'{{'"),
])
def test_a_string_ansible_would_read_as_a_template_is_named_by_its_key_path(text, found):
    profile = minimal()
    profile["components"][1]["command"] = text
    errors = validate(profile)
    assert len(errors) == 1
    assert errors[0].startswith("components[1].command: holds " + found)


def test_a_shell_line_without_template_delimiters_passes():
    profile = minimal()
    profile["components"][1]["command"] = 'v=PGPASS; eval "PGPASSWORD=\\${$v:-} f=\\${${v}_FILE:-}"; echo ${HOME:-/}'
    assert validate(profile) == []
