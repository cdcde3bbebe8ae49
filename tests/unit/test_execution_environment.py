"""execution-environment.yml (ansible-builder 3) and the collection's meta/execution-environment.yml.

ansible-builder is not installed here, so this checks what a build would trip over: the schema (the one
ansible-lint ships), every file the definitions reference, the collection tarball's name against
galaxy.yml, and that the execution environment asks for what the local cluster's runner image
(tests/cluster/images/runner) holds: the same Python packages and the same system packages.
"""

import fnmatch
import importlib.resources
import json
import re
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[2]
EE_FILE = ROOT / "execution-environment.yml"
RUNNER = ROOT / "tests" / "cluster" / "images" / "runner"


def load(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


@pytest.fixture(scope="module", name="ee")
def fixture_ee():
    return load(EE_FILE)


@pytest.fixture(scope="module", name="galaxy")
def fixture_galaxy():
    return load(ROOT / "galaxy.yml")


def schema():
    text = importlib.resources.files("ansiblelint.schemas").joinpath("execution-environment.json").read_text()
    return json.loads(text)


def requirement_lines(path):
    """Requirement strings of a pip requirements file, without comments and options (--hash ...)."""
    lines = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].split(" --", 1)[0].strip()
        if line:
            lines.append(line)
    return lines


def pinned(path):
    """{normalised name: version} of a file of 'name==version' pins (the runner's, hash-pinned)."""
    pins = {}
    for line in requirement_lines(path):
        req = Requirement(line)
        (spec,) = req.specifier
        assert spec.operator == "==", f"{path}: {line} is not pinned"
        pins[normalise(req.name)] = spec.version
    return pins


def normalise(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def bindep_names(path, platform):
    """Package names bindep picks on 'dpkg' or 'rpm' (only platform: selectors are used here)."""
    names = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"(\S+)(?:\s+\[([^\]]*)\])?", line)
        assert match, f"{path}: cannot read bindep line {line!r}"
        selectors = (match.group(2) or "").split()
        assert all(s.startswith("platform:") for s in selectors), line
        if not selectors or f"platform:{platform}" in selectors:
            names.append(match.group(1))
    return names


def runner_packages():
    out = subprocess.run(["bash", "-c", 'set -eu; . "$1"; printf "%s\\n" "${PACKAGES[@]}"', "bash",
                          str(RUNNER / "recipe")], capture_output=True, text=True, check=True, timeout=120).stdout
    return out.split()


def collection_tarball(galaxy):
    """The file name `ansible-galaxy collection build` writes."""
    return f"{galaxy['namespace']}-{galaxy['name']}-{galaxy['version']}.tar.gz"


def test_root_definition_matches_the_ansible_builder_v3_schema(ee):
    assert ee["version"] == 3
    jsonschema.validate(ee, schema())


def test_collection_definition_matches_the_v1_schema():
    meta = load(ROOT / "meta" / "execution-environment.yml")
    assert meta["version"] == 1
    jsonschema.validate(meta, schema())


def test_base_image_is_pinned(ee):
    name = ee["images"]["base_image"]["name"]
    repository, tag = name.rsplit(":", 1) if ":" in name.rsplit("/", 1)[-1] else (name, "")
    assert "/" in repository and "." in repository.split("/")[0], f"{name}: name the registry"
    assert tag and tag != "latest", f"{name}: pin a tag"


def test_referenced_files_exist(ee):
    deps = ee["dependencies"]
    for kind in ("python", "system", "galaxy"):
        assert isinstance(deps[kind], str), f"dependencies.{kind} should name a file"
        assert (EE_FILE.parent / deps[kind]).is_file(), f"dependencies.{kind}: {deps[kind]} does not exist"
    meta = load(ROOT / "meta" / "execution-environment.yml")
    for kind, path in meta["dependencies"].items():
        # Relative to the collection root (ansible-builder's introspection refuses absolute paths).
        assert not Path(path).is_absolute()
        assert (ROOT / path).is_file(), f"meta/execution-environment.yml: {path} does not exist"
        # One list of run-time dependencies, whichever way ansible-builder finds it.
        assert path == deps[kind], kind


def test_collection_does_not_ship_its_test_requirements_as_run_time_ones():
    """Without meta/execution-environment.yml, ansible-builder would install the collection root's
    requirements.txt (pytest, ansible-lint, molecule) into every execution environment."""
    meta = load(ROOT / "meta" / "execution-environment.yml")
    assert meta["dependencies"]["python"] != "requirements.txt"
    names = {normalise(Requirement(line).name) for line in requirement_lines(ROOT / meta["dependencies"]["python"])}
    assert not names & {"pytest", "ansible-lint", "molecule"}


def test_build_files_are_the_collection_tarball(ee, galaxy):
    """additional_build_files copies the tarball built at the repository root; the galaxy requirements
    install it under the name that ansible-galaxy collection build gives it for galaxy.yml's version."""
    (entry,) = ee["additional_build_files"]
    tarball = collection_tarball(galaxy)
    assert fnmatch.fnmatch(tarball, entry["src"]), (tarball, entry["src"])
    assert "/" not in entry["src"], "ansible-galaxy collection build writes to the repository root"
    reqs = load(EE_FILE.parent / ee["dependencies"]["galaxy"])
    local = [c for c in reqs["collections"] if c.get("type") == "file"]
    assert local == [{"name": f"/build/{entry['dest']}/{tarball}", "type": "file"}], (
        "meta/ee/requirements.yml must name the tarball as the galaxy stage sees it "
        "(ansible-builder copies the build context's _build/ to /build)")
    assert any(tag.endswith(":" + galaxy["version"]) for tag in ee["options"]["tags"])


def test_kubernetes_core_is_the_one_the_tests_use(ee, galaxy):
    reqs = load(EE_FILE.parent / ee["dependencies"]["galaxy"])
    (core,) = [c for c in reqs["collections"] if c["name"] == "kubernetes.core"]
    import ansible_collections.kubernetes.core as installed  # pylint: disable=import-outside-toplevel
    with open(Path(list(installed.__path__)[0]) / "MANIFEST.json", encoding="utf-8") as f:
        assert core["version"] == json.load(f)["collection_info"]["version"]
    # galaxy.yml's range for it, in pip's syntax (the same here: ">=5.0.0,<7.0.0").
    assert SpecifierSet(galaxy["dependencies"]["kubernetes.core"]).contains(core["version"])


def test_python_requirements_agree_with_the_runner_image(ee):
    """The runner image pins (with hashes) a version that satisfies each of the EE's requirements."""
    runner = pinned(RUNNER / "requirements.txt")
    ee_reqs = [Requirement(line) for line in requirement_lines(EE_FILE.parent / ee["dependencies"]["python"])]
    ee_reqs.append(Requirement(ee["dependencies"]["ansible_core"]["package_pip"]))
    for req in ee_reqs:
        name = normalise(req.name)
        assert name in runner, f"{req.name} is in the execution environment but not in the runner image"
        assert req.specifier.contains(runner[name]), f"runner pins {req.name}=={runner[name]}, EE asks {req}"


def test_ansible_runner_matches_the_project_requirements(ee):
    project = {normalise(Requirement(line).name): Requirement(line)
               for line in requirement_lines(ROOT / "requirements.txt")}
    wanted = Requirement(ee["dependencies"]["ansible_runner"]["package_pip"])
    assert wanted.specifier == project["ansible-runner"].specifier
    core = Requirement(ee["dependencies"]["ansible_core"]["package_pip"])
    assert core.specifier == project["ansible-core"].specifier


def test_system_packages_agree_with_the_runner_image(ee):
    """bindep's dpkg names are the runner recipe's PACKAGES, bar the venv's python3 and python3-venv."""
    bindep = EE_FILE.parent / ee["dependencies"]["system"]
    dpkg = bindep_names(bindep, "dpkg")
    assert sorted(dpkg) == sorted(set(runner_packages()) - {"python3", "python3-venv"})
    rpm = bindep_names(bindep, "rpm")
    assert {"bup", "par2cmdline"} <= set(rpm)
    assert len(rpm) == len(dpkg), "every package needs a name on both platforms"


def test_ansible_runs_modules_with_the_python_that_has_the_requirements(ee):
    path = ee["dependencies"]["python_interpreter"]["python_path"]
    env_lines = [line for line in ee["additional_build_steps"]["append_final"] if line.startswith("ENV ")]
    assert f"ANSIBLE_PYTHON_INTERPRETER={path}" in " ".join(env_lines).split()
    assert ee["options"]["user"] == "1000"
    assert f"HOME={ee['options']['workdir']}" in " ".join(env_lines).split()
