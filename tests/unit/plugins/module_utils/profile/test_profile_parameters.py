"""Profile parameters: declarations, placeholders, the values a run uses, and their substitution."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import subprocess
from pathlib import Path

import pytest
import yaml

from ansible_collections.statesafe.backup.plugins.module_utils.profile import parameters, schema

ROOT = Path(__file__).resolve().parents[5]
SHIPPED = sorted((ROOT / "profiles").glob("*.yml"))


def profile(**extra):
    data = {
        "name": "pg",
        "parameters": {
            "statefulset": {"default": "postgresql", "description": "The StatefulSet."},
            "selector": {"type": "selector", "default": "app=pg", "description": "Selector."},
            "user": {"type": "identifier", "default": "", "description": "The user, empty for the default."},
        },
        "label_selector": "%{selector}",
        "components": [
            {"name": "config", "type": "resources",
             "resources": [{"kind": "Secret", "label_selectors": ["%{selector}"]}]},
            {"name": "db", "type": "dump", "pod": "%{statefulset}-0", "statefulset": "%{statefulset}",
             "command": "[ -z '%{user}' ] || export PGUSER=%{user}; pg_dumpall", "restore_command": "psql"},
        ],
    }
    data.update(extra)
    return data


def test_a_profile_with_parameters_is_valid():
    assert parameters.declaration_errors(profile()) == []
    assert schema.validate(profile()) == []


def test_defaults_are_substituted_everywhere_and_the_section_is_dropped():
    values, errors = parameters.effective(profile())
    assert errors == []
    assert values == {"statefulset": "postgresql", "selector": "app=pg", "user": ""}
    resolved = parameters.resolve(profile(), values)
    assert "parameters" not in resolved
    assert resolved["label_selector"] == "app=pg"
    assert resolved["components"][0]["resources"][0]["label_selectors"] == ["app=pg"]
    assert resolved["components"][1]["pod"] == "postgresql-0"
    assert resolved["components"][1]["command"] == "[ -z '' ] || export PGUSER=; pg_dumpall"


def test_given_values_win_over_recorded_ones_which_win_over_defaults():
    values, errors = parameters.effective(profile(), {"statefulset": "mine"},
                                          {"statefulset": "recorded", "selector": "app=recorded"})
    assert errors == []
    assert values == {"statefulset": "mine", "selector": "app=recorded", "user": ""}


def test_recorded_names_the_profile_no_longer_declares_are_left_out():
    values, errors = parameters.effective(profile(), None, {"gone": "x", "statefulset": "recorded"})
    assert errors == [] and "gone" not in values and values["statefulset"] == "recorded"


def test_an_unknown_parameter_is_refused_naming_the_profile_and_the_parameter():
    errors = parameters.effective(profile(), {"statefulsett": "x"})[1]
    assert errors == ["profile 'pg' has no parameter 'statefulsett' (its parameters: selector, statefulset, user)"]
    assert schema.validate(profile(), {"statefulsett": "x"}) == errors
    errors = parameters.effective({"name": "plain", "components": []}, {"x": "y"})[1]
    assert errors == ["profile 'plain' has no parameter 'x' (it takes none)"]


def test_parameters_must_be_a_mapping():
    errors = parameters.effective(profile(), ["statefulset"])[1]
    assert errors == ["the parameters of profile 'pg' must be a mapping of names to values, got a list"]


@pytest.mark.parametrize("name, value", [
    ("statefulset", "x; rm -rf /"),
    ("statefulset", "$(id)"),
    ("statefulset", "`id`"),
    ("statefulset", "a b"),
    ("statefulset", "-rf"),
    ("statefulset", "UPPER"),
    ("statefulset", "a|b"),
    ("statefulset", "a'b"),
    ("statefulset", 'a"b'),
    ("statefulset", "a*"),
    ("statefulset", "a\nb"),
    ("statefulset", "x" * 254),
    ("statefulset", ""),
    ("statefulset", 5),
    ("user", "-U"),
    ("user", "a;b"),
    ("user", "a$b"),
    ("user", ".hidden"),
    ("selector", "app in (a,b)"),
    ("selector", "!app"),
    ("selector", "app=a;id"),
    ("selector", "app=$(id)"),
    ("selector", "=x"),
    ("selector", "app=a b"),
])
def test_a_value_that_could_carry_shell_is_refused(name, value):
    errors = parameters.effective(profile(), {name: value})[1]
    assert len(errors) == 1
    assert errors[0].startswith("parameter {0!r} of profile 'pg': ".format(name)), errors


@pytest.mark.parametrize("name, value", [
    ("statefulset", "db-postgresql"),
    ("statefulset", "a.b-c"),
    ("statefulset", "x" * 253),
    ("user", "postgres"),
    ("user", "bitnami_keycloak"),
    ("user", "POSTGRES_PASSWORD"),
    ("user", "postgres-password"),
    ("user", ""),
    ("selector", "app.kubernetes.io/instance=db,app.kubernetes.io/name=postgresql"),
    ("selector", "tier!=cache"),
    ("selector", "app==pg"),
    ("selector", "app"),
])
def test_values_of_each_type(name, value):
    values, errors = parameters.effective(profile(), {name: value})
    assert errors == [] and values[name] == value


@pytest.mark.parametrize("value", ["db-postgresql", "a.b", "app.kubernetes.io/instance=db,tier!=x", "bitnami_keycloak"])
def test_every_accepted_value_is_one_shell_word_taken_literally(value):
    """What the types admit is safe unquoted: sh sees one word, equal to the value."""
    out = subprocess.run(["sh", "-c", "printf '%s\\n' " + value], capture_output=True, text=True, check=True,
                         timeout=10).stdout
    assert out == value + "\n"


def test_an_undeclared_placeholder_is_refused_at_validation():
    data = profile()
    data["components"][1]["container"] = "%{container}"
    data["components"][1]["restore_command"] = "psql %{ statefulset }"
    assert schema.validate(data) == [
        "components[1].restore_command: uses parameter %{ statefulset }, which the profile does not declare "
        "(declared: selector, statefulset, user)",
        "components[1].container: uses parameter %{container}, which the profile does not declare "
        "(declared: selector, statefulset, user)",
    ]
    assert parameters.declaration_errors({"name": "x", "components": [], "label_selector": "%{a}"}) == [
        "label_selector: uses parameter %{a}, which the profile does not declare (it declares none)"]


def test_a_declared_parameter_never_used_is_refused():
    data = profile()
    data["parameters"]["unused"] = {"default": "x", "description": "Nothing uses it."}
    assert schema.validate(data) == ["parameters.unused: declared but not used anywhere in the profile"]


def test_the_profiles_and_components_names_take_no_parameter():
    data = profile(name="pg-%{statefulset}")
    data["components"][0]["name"] = "config-%{statefulset}"
    errors = parameters.declaration_errors(data)
    assert errors == [
        "name: names the archive's parts and may not use a parameter (%{statefulset})",
        "components[0].name: names the archive's parts and may not use a parameter (%{statefulset})",
    ]


@pytest.mark.parametrize("declaration, message", [
    ({"description": "x"}, "parameters.p.default: required"),
    ({"default": "x"}, "parameters.p.description: required"),
    ({"default": "x", "description": ""}, "parameters.p.description: must be a non-empty string"),
    ({"default": "x", "description": "x", "typ": "name"},
     "parameters.p.typ: unknown key (expected one of default, description, type)"),
    ({"default": "x", "description": "x", "type": "path"},
     "parameters.p.type: 'path' is not one of identifier, name, selector"),
    ({"default": "A B", "description": "x"}, "parameters.p.default: parameter 'p' of profile 'x': 'A B' is not a "
     "Kubernetes name (lower-case letters, digits, '-' and '.', starting and ending with a letter or digit)"),
    ("x", "parameters.p: must be a mapping with default and description, got a string"),
])
def test_declarations_are_checked(declaration, message):
    data = {"name": "x", "parameters": {"p": declaration}, "label_selector": "%{p}",
            "components": [{"name": "c", "type": "resources", "resources": [{"kind": "Secret"}]}]}
    assert message in parameters.declaration_errors(data)
    assert message in schema.validate(data)


def test_parameter_names_and_the_section_shape():
    data = {"name": "x", "parameters": {"Bad-Name": {"default": "x", "description": "x"}}, "label_selector": "%{Bad-Name}",
            "components": [{"name": "c", "type": "resources", "resources": [{"kind": "Secret"}]}]}
    assert parameters.declaration_errors(data) == [
        "parameters.Bad-Name: 'Bad-Name' is not a parameter name (lower-case letters, digits and '_', starting with a "
        "letter)"]
    assert parameters.declaration_errors({"name": "x", "parameters": ["a"], "components": []}) == [
        "parameters: must be a mapping of parameter names to declarations, got a list"]


def test_an_empty_value_only_where_the_default_is_empty():
    assert parameters.effective(profile(), {"user": ""})[1] == []
    assert parameters.effective(profile(), {"statefulset": ""})[1] == [
        "parameter 'statefulset' of profile 'pg': must not be empty (only a parameter whose default is '' may be)"]


def test_the_rest_of_the_schema_is_checked_on_the_resolved_profile():
    data = profile()
    data["parameters"]["image"] = {"default": "debian", "description": "Image."}
    data["components"].append({"name": "v", "type": "volume", "claim": "c", "helper_image": "%{image}"})
    assert schema.validate(data) == []
    data["components"][2]["helper_image"] = "%{image}@sha256:short"
    assert schema.validate(data) == ["components[2].helper_image: 'debian@sha256:short' is not an image reference"]


def test_resolve_leaves_the_input_alone_and_a_profile_without_parameters_equal():
    data = profile()
    before = copy.deepcopy(data)
    parameters.resolve(data, parameters.effective(data)[0])
    assert data == before
    plain = {"name": "x", "components": [{"name": "c", "type": "dump", "pod": "p", "command": "echo %s",
                                          "restore_command": "cat", "timeout": 5}]}
    assert parameters.resolve(plain, {}) == plain


def test_describe():
    described = parameters.describe(profile(description="  A server.\n"))
    assert described["name"] == "pg" and described["description"] == "A server."
    assert [p["name"] for p in described["parameters"]] == ["selector", "statefulset", "user"]
    assert described["parameters"][1] == {"name": "statefulset", "default": "postgresql", "type": "name",
                                          "description": "The StatefulSet."}


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_profiles_declare_what_they_use_and_describe_themselves(path):
    data = yaml.safe_load(path.read_text())
    assert parameters.declaration_errors(data) == []
    assert data.get("description"), path.stem
    resolved = parameters.resolve(data, parameters.effective(data)[0])
    assert parameters.PLACEHOLDER.search(yaml.safe_dump(resolved)) is None


@pytest.mark.parametrize("name", ["postgresql", "keycloak", "mlflow"])
def test_the_application_profiles_take_their_names_as_parameters(name):
    data = yaml.safe_load((ROOT / "profiles" / (name + ".yml")).read_text())
    assert len(parameters.declared(data)) >= 4


def test_the_postgresql_profile_with_bitnami_values():
    data = yaml.safe_load((ROOT / "profiles" / "postgresql.yml").read_text())
    given = {"selector": "app.kubernetes.io/instance=db,app.kubernetes.io/name=postgresql",
             "statefulset": "db-postgresql", "container": "postgresql", "superuser": "postgres",
             "password_variable": "POSTGRES_PASSWORD"}
    assert schema.validate(data, given) == []
    resolved = parameters.resolve(data, parameters.effective(data, given)[0])
    dump = next(c for c in resolved["components"] if c["type"] == "dump")
    assert (dump["pod"], dump["statefulset"], dump["container"]) == ("db-postgresql-0", "db-postgresql", "postgresql")
    assert resolved["check"][0]["pod"] == "db-postgresql-0"
    for command in (dump["command"], dump["restore_command"], dump["revision"]["command"],
                    resolved["check"][0]["command"]):
        assert "export PGUSER=postgres" in command
        assert "v=POSTGRES_PASSWORD; eval " in command
        subprocess.run(["sh", "-n", "-c", command], check=True, timeout=10)


@pytest.mark.parametrize("env, expected", [
    ({}, "user=unset password=unset"),
    ({"POSTGRES_PASSWORD": "pw"}, "user=unset password=unset"),
])
def test_the_postgresql_credential_lines_do_nothing_with_the_defaults(env, expected):
    assert credentials({}, env) == expected


@pytest.mark.parametrize("env, expected", [
    ({"POSTGRES_PASSWORD": "pw"}, "user=postgres password=pw"),
    ({"POSTGRES_PASSWORD_FILE": "FILE"}, "user=postgres password=from-file"),
])
def test_the_postgresql_credential_lines_read_the_variable_or_its_file(env, expected, tmp_path):
    secret = tmp_path / "postgres-password"
    secret.write_text("from-file")
    env = {k: (str(secret) if v == "FILE" else v) for k, v in env.items()}
    assert credentials({"superuser": "postgres", "password_variable": "POSTGRES_PASSWORD"}, env) == expected


def credentials(given, env):
    data = yaml.safe_load((ROOT / "profiles" / "postgresql.yml").read_text())
    resolved = parameters.resolve(data, parameters.effective(data, given)[0])
    dump = next(c for c in resolved["components"] if c["type"] == "dump")
    lines = dump["command"].split("jobs=", 1)[0]
    script = lines + 'echo "user=${PGUSER:-unset} password=${PGPASSWORD:-unset}"'
    return subprocess.run(["sh", "-c", script], env=dict(env, PATH="/usr/bin:/bin"), capture_output=True, text=True,
                          check=True, timeout=10).stdout.strip()
