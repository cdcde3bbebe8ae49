"""Faults during a backup, against the local cluster: each leaves no archive marked complete and says what broke.

The sample Software Factory stack is deployed and seeded in namespace `sf-faults` and backed up once
(a complete archive and a staging tree to compare against). Then, one fault per test:

- a pre-hook declared in a pod annotation fails: the run fails naming the pod, the post-hooks (from
  annotations and from the profile) still ran and left their mark in the pods, nothing was captured;
- the MariaDB dump is cut mid-stream (the dump command prints part of the dump and is killed): the run
  fails naming the pod and container, the previous dump in staging is kept byte for byte;
- the staging tree is on a 2 MiB tmpfs: preflight refuses it naming the path; with the free-space check
  turned off the dump fails with ENOSPC naming the path, and nothing is marked complete;
- a ServiceAccount whose Role lacks create on pods/exec: preflight fails naming the verb, the resource,
  the namespace and the user, before the staging tree or the repository is touched (and a kind with an
  irregular plural, Endpoints, is checked under its discovered name);
- two components export the same kind with different selectors: each keeps the other's objects, and the files
  of objects deleted since the last run are removed.

Every run shares one repository, so "nothing marked complete" is checked against its complete markers
(refs/tags/complete/*) and its branch. The namespace is deleted at the end.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from cluster_helpers import service_account_kubeconfig
from role_helpers import REPO, namespace_exists, playbook, sample

NS = "sf-faults"
BRANCH = "softwarefactory"
ANNOTATION = "statesafe.backup/"


def git(repo: Path, *args: str) -> str:
    run = subprocess.run(["git", "--git-dir", str(repo), *args], capture_output=True, text=True, check=False,
                         timeout=120)
    return run.stdout.strip() if run.returncode == 0 else ""


def repository_state(repo: Path) -> tuple[list[str], list[str]]:
    """(complete markers, commits on the branch) of a bup repository."""
    markers = sorted(git(repo, "for-each-ref", "--format=%(refname)", "refs/tags/complete").split())
    commits = git(repo, "rev-list", f"refs/heads/{BRANCH}").split() if git(
        repo, "rev-parse", "--verify", "-q", f"refs/heads/{BRANCH}") else []
    return markers, commits


def lease(repo: Path) -> dict | None:
    path = repo / "statesafe.lock"
    text = path.read_text() if path.exists() else ""
    return (json.loads(text) if text.strip() else {}).get("lease")


def base_profile() -> dict:
    return yaml.safe_load((REPO / "profiles" / "softwarefactory.yml").read_text())


def exec_in(kubectl, pod: str, container: str, script: str, check: bool = True) -> subprocess.CompletedProcess:
    return kubectl("exec", "-n", NS, pod, "-c", container, "--", "sh", "-c", script, check=check)


def message(run) -> str:
    """Every failure message of the run, those of failed loop items included."""
    texts = []
    for play in run.document.get("plays", []):
        for task in play.get("tasks", []):
            for result in task.get("hosts", {}).values():
                if result.get("failed"):
                    texts.append(str(result.get("msg", "")))
                    texts.extend(str(item.get("msg", "")) for item in result.get("results", []) if item.get("failed"))
    return " ".join(texts) or run.output[-4000:]


CAPTURE_STEPS = ("Dump |", "Resources |", "Volume |", "Manifest |", "Save |")


def captured(run, steps: tuple[str, ...] = CAPTURE_STEPS) -> list[str]:
    """The tasks of `steps` that ran (not skipped) in a run."""
    return [name for name in run.executed() if name.startswith(steps)]


def failed_tasks(run) -> list[str]:
    return [task["task"]["name"] for play in run.document.get("plays", []) for task in play.get("tasks", [])
            if any(result.get("failed") for result in task.get("hosts", {}).values())]


@pytest.fixture(scope="module")
def stack(kubeconfig, core, tmp_path_factory):
    """The sample in sf-faults, seeded and backed up once; the namespace is deleted afterwards."""
    tmp = tmp_path_factory.mktemp("faults")
    try:
        sample(kubeconfig, NS, "deploy")
        sample(kubeconfig, NS, "seed")
        good = playbook("backup.yml", kubeconfig, tmp, NS, staging=str(tmp / "staging"))
        assert good.rc == 0, message(good)
        assert good.stats["statesafe_backup"]["complete"] is True
        yield {"tmp": tmp, "repo": tmp / "repo", "staging": tmp / "staging", "good": good}
    finally:
        if namespace_exists(core, NS):
            sample(kubeconfig, NS, "destroy", "--no-wait")


def test_first_backup_released_its_lease(stack):
    markers, commits = repository_state(stack["repo"])
    assert len(markers) == 1 and len(commits) == 1
    assert lease(stack["repo"]) is None
    assert stack["good"].stats["statesafe_backup"]["recovered_lease"] == {}


def test_a_pod_is_frozen_only_around_the_capture_of_its_own_data(stack, kubeconfig, kubectl):
    """mariadb-0's hooks (ours) wrap its dump alone; zookeeper-0's (Velero's spelling) its volume alone: the
    zuul-keys dump runs in the zuul-scheduler pod, after the thaw. Each pod's freeze is reported, and nothing else
    runs while it is frozen."""
    velero = "hook.backup.velero.io/command"
    kubectl("annotate", "--overwrite", "-n", NS, "pod", "mariadb-0",
            f"{ANNOTATION}pre-hook-command=true", f"{ANNOTATION}post-hook-command=true")
    kubectl("annotate", "--overwrite", "-n", NS, "pod", "zookeeper-0",
            f'pre.{velero}=["true"]', f'post.{velero}=["true"]')
    try:
        run = playbook("backup.yml", kubeconfig, stack["tmp"], NS, staging=str(stack["staging"]))
    finally:
        kubectl("annotate", "-n", NS, "pod", "mariadb-0", f"{ANNOTATION}pre-hook-command-",
                f"{ANNOTATION}post-hook-command-", check=False)
        kubectl("annotate", "-n", NS, "pod", "zookeeper-0", f"pre.{velero}-", f"post.{velero}-", check=False)
    assert run.rc == 0, message(run)
    hooks = run.stats["statesafe_backup"]["hooks"]
    spans = {(entry["pod"], entry["first"], entry["last"]) for entry in hooks["bound"]}
    assert spans == {("mariadb-0", "mariadb", "mariadb"), ("zookeeper-0", "zookeeper", "zookeeper")}, hooks
    assert set(hooks["freeze_seconds"]) == {"mariadb-0", "zookeeper-0"}, hooks
    assert all(seconds > 0 for seconds in hooks["freeze_seconds"].values()), hooks
    order = [name for name in run.executed()
             if name in ("Hooks | run", "Dump | mariadb", "Volume | zookeeper", "Dump | zuul-keys")]
    assert order == ["Hooks | run", "Dump | mariadb", "Hooks | run",
                     "Hooks | run", "Volume | zookeeper", "Hooks | run", "Dump | zuul-keys"], run.executed()


@pytest.fixture
def annotated(stack, kubectl):
    """Hook annotations on mariadb-0 (ours: failing pre-hook, post-hook) and zookeeper-0 (Velero's spelling:
    post-hook); removed after."""
    marks = {"mariadb-0": "/tmp/statesafe-post-hook-mariadb", "zookeeper-0": "/tmp/statesafe-post-hook-zookeeper"}
    for pod, container in (("mariadb-0", "mariadb"), ("zookeeper-0", "zookeeper")):
        exec_in(kubectl, pod, container, f"rm -f {marks[pod]} /tmp/statesafe-profile-post-hook")
    kubectl("annotate", "--overwrite", "-n", NS, "pod", "mariadb-0",
            f"{ANNOTATION}pre-hook-command=echo cannot freeze >&2; exit 3",
            f"{ANNOTATION}pre-hook-timeout=30s",
            f"{ANNOTATION}post-hook-command=date > {marks['mariadb-0']}",
            f"{ANNOTATION}post-hook-container=mariadb")
    kubectl("annotate", "--overwrite", "-n", NS, "pod", "zookeeper-0",
            f'post.hook.backup.velero.io/command=["sh", "-c", "date > {marks["zookeeper-0"]}"]',
            "post.hook.backup.velero.io/container=zookeeper")
    yield marks
    keys = [f"{ANNOTATION}{phase}-hook-{field}-" for phase in ("pre", "post")
            for field in ("command", "container", "timeout")]
    keys += ["post.hook.backup.velero.io/command-", "post.hook.backup.velero.io/container-"]
    for pod in marks:
        kubectl("annotate", "-n", NS, "pod", pod, *keys, check=False)


def test_failing_pre_hook_fails_the_run_and_post_hooks_still_run(stack, annotated, kubeconfig, kubectl):
    before = repository_state(stack["repo"])
    dump = stack["staging"] / "softwarefactory" / "dumps" / "mariadb.sql"
    dump_before = dump.read_bytes()
    profile = base_profile()
    profile["hooks"] = {"pre": [], "post": [{"name": "profile post-hook", "pod": "zookeeper-0",
                                             "container": "zookeeper",
                                             "command": "date > /tmp/statesafe-profile-post-hook"}]}
    run = playbook("backup.yml", kubeconfig, stack["tmp"], NS, staging=str(stack["staging"]), profile_data=profile)

    assert run.rc != 0
    text = message(run)
    assert "sf-faults/mariadb-0 container mariadb: rc 3" in text, text
    # The post-hooks ran: the pods' own (annotations, ours and Velero's) and the profile's, each left its file.
    for pod, mark in annotated.items():
        exec_in(kubectl, pod, pod.split("-")[0], f"test -s {mark}")
    exec_in(kubectl, "zookeeper-0", "zookeeper", "test -s /tmp/statesafe-profile-post-hook")
    # The failed pre-hook is mariadb-0's, bound to its dump: the objects before it were exported, but no data was
    # captured, no manifest written, nothing saved (the same filter finds those steps in the good run).
    data_steps = ("Dump |", "Volume |", "Manifest |", "Save |")
    assert captured(stack["good"], data_steps), stack["good"].executed()
    assert not captured(run, data_steps), run.executed()
    assert repository_state(stack["repo"]) == before
    assert dump.read_bytes() == dump_before
    assert lease(stack["repo"]) is None, "the lease is released when a pre-hook fails"


def test_invalid_hook_annotation_names_namespace_pod_and_annotation(stack, kubeconfig, kubectl):
    before = repository_state(stack["repo"])
    kubectl("annotate", "--overwrite", "-n", NS, "pod", "zookeeper-0",
            f"{ANNOTATION}pre-hook-command=true", f"{ANNOTATION}pre-hook-timeout=soon")
    try:
        run = playbook("backup.yml", kubeconfig, stack["tmp"], NS, staging=str(stack["staging"]))
    finally:
        kubectl("annotate", "-n", NS, "pod", "zookeeper-0", f"{ANNOTATION}pre-hook-command-",
                f"{ANNOTATION}pre-hook-timeout-")
    assert run.rc != 0
    text = message(run)
    assert "statesafe.backup/pre-hook-timeout" in text and "namespace=sf-faults pod=zookeeper-0" in text, text
    assert repository_state(stack["repo"]) == before
    assert lease(stack["repo"]) is None


def test_dump_cut_mid_stream_keeps_the_previous_dump(stack, kubeconfig):
    before = repository_state(stack["repo"])
    dumps = stack["staging"] / "softwarefactory" / "dumps"
    dump_before = (dumps / "mariadb.sql").read_bytes()
    assert dump_before.rstrip().endswith(b"-- Dump completed")
    profile = base_profile()
    mariadb = next(c for c in profile["components"] if c["name"] == "mariadb")
    # 64 KiB of the real dump, then the shell is killed: no trailer, a non-zero end.
    mariadb["command"] = f"( {mariadb['command']} ) | head -c 65536; kill -KILL $$"
    run = playbook("backup.yml", kubeconfig, stack["tmp"], NS, staging=str(stack["staging"]), profile_data=profile)

    assert run.rc != 0
    text = message(run)
    assert "namespace=sf-faults pod=mariadb-0 container=mariadb" in text, text
    assert str(dumps / "mariadb.sql") in text, text
    assert (dumps / "mariadb.sql").read_bytes() == dump_before, "the previous dump was replaced"
    assert not list(dumps.glob(".*")), "a partial dump was left behind"
    assert repository_state(stack["repo"]) == before
    assert lease(stack["repo"]) is None


def test_full_staging_disk_fails_naming_the_path(stack, small_disk, kubeconfig):
    before = repository_state(stack["repo"])
    staging = small_disk / "softwarefactory"

    refused = playbook("backup.yml", kubeconfig, stack["tmp"], NS, staging=str(small_disk))
    assert refused.rc != 0
    text = message(refused)
    assert f"bytes free at {staging}" in text and "backup_min_free_bytes" in text, text

    full = playbook("backup.yml", kubeconfig, stack["tmp"], NS, staging=str(small_disk), backup_min_free_bytes=0)
    assert full.rc != 0
    text = message(full)
    assert str(staging / "dumps" / "mariadb.sql") in text and "No space left on device" in text, text
    assert not (staging / "dumps" / "mariadb.sql").exists()
    assert not list((staging / "dumps").glob(".*statesafe-tmp*")), "a partial dump was left behind"
    assert repository_state(stack["repo"]) == before
    assert lease(stack["repo"]) is None


@pytest.fixture
def narrow_kubeconfig(stack, api_client, kubeconfig, tmp_path):
    """A kubeconfig for a ServiceAccount that may read everything the profile exports but not exec in pods."""
    name = "narrow-backup"
    rules = [
        client.V1PolicyRule(api_groups=[""], resources=["secrets", "configmaps", "services", "endpoints"],
                            verbs=["get", "list"]),
        client.V1PolicyRule(api_groups=["apps"], resources=["statefulsets"], verbs=["get", "list"]),
        client.V1PolicyRule(api_groups=["sf.softwarefactory-project.io"], resources=["softwarefactories"],
                            verbs=["get", "list"]),
        client.V1PolicyRule(api_groups=[""], resources=["pods"], verbs=["get", "list", "create", "delete"]),
        client.V1PolicyRule(api_groups=[""], resources=["persistentvolumeclaims"], verbs=["get"]),
    ]
    with service_account_kubeconfig(api_client, kubeconfig, NS, name, rules, tmp_path / "narrow.kubeconfig") as found:
        yield found


def test_missing_rbac_verb_fails_in_preflight_naming_it(stack, narrow_kubeconfig, tmp_path):
    path, user, token = narrow_kubeconfig
    profile = base_profile()
    # Endpoints' plural is "endpoints": a plural guessed from the kind ("endpointses") would be denied.
    profile["components"][0]["resources"].append({"kind": "Endpoints"})
    run = playbook("backup.yml", path, tmp_path, NS, staging=str(tmp_path / "staging"), profile_data=profile)

    assert run.rc != 0
    text = message(run)
    assert "create pods/exec" in text and "namespace sf-faults" in text and user in text, text
    assert "endpoints" not in text and "softwarefactories" not in text, text
    assert failed_tasks(run)[0].endswith("every verb the plan needs is allowed"), failed_tasks(run)
    assert captured(stack["good"], ("Lock |", "Capture |")), stack["good"].executed()
    assert not captured(run, ("Lock |", "Capture |")), run.executed()
    assert not (tmp_path / "staging").exists() and not (tmp_path / "repo").exists(), "something was captured"
    assert token not in run.output


def test_two_components_exporting_one_kind_keep_each_others_objects(stack, kubeconfig, tmp_path):
    """Each component's export into the shared tree must not prune the other's files; objects deleted since the
    last run are still removed, also of a kind no object of which is left."""
    profile = {"name": "shared-kinds", "components": [
        {"name": "database", "type": "resources", "resources": [
            {"kind": "Service", "label_selectors": ["app.kubernetes.io/name=mariadb"]}]},
        {"name": "coordination", "type": "resources", "resources": [
            {"kind": "Service", "label_selectors": ["app.kubernetes.io/name=zookeeper"]},
            {"kind": "Secret", "label_selectors": ["statesafe.test/none=none"]}]}]}
    resources = tmp_path / "staging" / "shared-kinds" / "resources"
    for stale in ("Service/deleted-since.yaml", "Secret/gone.yaml"):
        (resources / stale).parent.mkdir(parents=True, exist_ok=True)
        (resources / stale).write_text("kind: Stale\n")
    run = playbook("backup.yml", kubeconfig, tmp_path, NS, staging=str(tmp_path / "staging"), profile_data=profile)
    assert run.rc == 0, message(run)
    assert sorted(p.relative_to(resources).as_posix() for p in resources.rglob("*.yaml")) == [
        "Service/mariadb.yaml", "Service/zookeeper.yaml"]
    manifest = json.loads((resources.parent / "MANIFEST.json").read_text())
    assert {"resources/Service/mariadb.yaml", "resources/Service/zookeeper.yaml"} <= {
        artifact["path"] for artifact in manifest["artifacts"]}
