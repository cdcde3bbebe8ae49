"""playbooks/verify.yml on a namespace-mode archive (`-e profile=namespace`), against the local cluster.

One namespace `sfv-ns-<random>` enforcing PodSecurity `restricted`, holding a ConfigMap, a Secret and a Deployment on
a claim whose files are seeded, is backed up with `-e profile=namespace` (the backup discovers the components and
records them in the archive's MANIFEST.json). Then:

- verify (latest, `-e profile=namespace`): bup fsck, every manifest checksum (the claim's files included), and a
  trial restore through the restore role, which follows the manifest's components, into
  `<namespace>-verify-<commit[:8]>`: ok, the summary names the components restored and the claim's files and bytes
  copied back (the manifest's), the profile has no checks, and the scratch namespace and directories are gone;
- a copy of the repository with a new complete-marked archive one of whose claim files differs from the manifest:
  verify fails naming that file with both checksums, and makes no scratch namespace;
- verify asked for a trial restore of a component the archive does not have (only the trial restore reads the
  archive's components): it fails naming the component, the archive's components and the scratch namespace, and
  leaves no scratch namespace nor staging tree.

The namespace is deleted at the end, whatever happened.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from cluster_helpers import build_web_app, ready_pod, restricted_namespace, wait_until
from role_helpers import namespace_exists, playbook

BRANCH = "namespace"
CLAIM = "web-data"
SEED = "mkdir -p /data/db && head -c 100000 /dev/urandom > /data/db/blob && echo row-1 > /data/db/table"


def web_pod(core, namespace: str) -> str:
    return ready_pod(core, namespace, "app=web")


def scratch_namespaces(core, namespace: str) -> list[str]:
    return [ns.metadata.name for ns in core.list_namespace().items if ns.metadata.name.startswith(namespace + "-verify-")]


@pytest.fixture(scope="module")
def backed_up(api_client, core, kubectl, kubeconfig, image_refs, tmp_path_factory):
    namespace = f"sfv-ns-{uuid.uuid4().hex[:6]}"
    tmp = tmp_path_factory.mktemp("verify-namespace-mode")
    try:
        restricted_namespace(core, namespace)
        build_web_app(api_client, namespace, image_refs["toolbox"], CLAIM)
        wait_until(f"a ready web pod in {namespace}", lambda: web_pod(core, namespace), timeout=180)
        kubectl("exec", "-n", namespace, web_pod(core, namespace), "--", "sh", "-c", SEED)
        run = playbook("backup.yml", kubeconfig, tmp, namespace, profile="namespace", staging=str(tmp / "staging"))
        assert run.rc == 0, run.failures or run.output[-4000:]
        summary = run.stats["statesafe_backup"]
        manifest = json.loads((tmp / "staging" / BRANCH / "MANIFEST.json").read_text())
        yield {"namespace": namespace, "tmp": tmp, "commit": summary["commit"], "manifest": manifest}
    finally:
        for name in [namespace, *scratch_namespaces(core, namespace)]:
            core.delete_namespace(name)


def verify(kubeconfig, backed_up, repository: Path, staging: str, **extra):
    return playbook("verify.yml", kubeconfig, backed_up["tmp"], backed_up["namespace"], profile="namespace",
                    repository=str(repository), staging=str(backed_up["tmp"] / staging), **extra)


def test_namespace_mode_archive_is_verified_down_to_a_trial_restore(backed_up, kubeconfig, core):
    namespace, tmp, manifest = backed_up["namespace"], backed_up["tmp"], backed_up["manifest"]
    run = verify(kubeconfig, backed_up, tmp / "repo", "verify-ok")
    assert run.rc == 0, run.failures or run.output[-6000:]
    summary = run.stats["statesafe_verify"]
    assert summary["ok"] is True and summary["problems"] == []
    assert (summary["profile"], summary["branch"], summary["commit"]) == ("namespace", BRANCH, backed_up["commit"])
    stages = summary["stages"]
    assert stages["fsck"]["ok"] is True and stages["fsck"]["packs"] >= 1
    assert stages["checksums"]["ok"] is True
    assert stages["checksums"]["artifacts_checked"] == len(manifest["artifacts"])
    volume_files = [a for a in manifest["artifacts"] if a["path"].startswith(f"volumes/{CLAIM}/")]
    assert {a["path"] for a in volume_files} == {f"volumes/{CLAIM}/db/blob", f"volumes/{CLAIM}/db/table"}

    trial = stages["trial_restore"]
    assert trial["ok"] is True, trial
    assert trial["namespace"] == f"{namespace}-verify-{backed_up['commit'][:8]}"
    # The components the backup discovered, as the archive records them, all restored; no checks in namespace mode.
    assert trial["components"] == [component["name"] for component in manifest["components"]]
    assert f"volume-{CLAIM}" in trial["components"]
    assert trial["checks"] == []
    steps = {step["step"]: step for step in trial["steps"]}
    assert {"Secret/credentials", "ConfigMap/settings", f"PersistentVolumeClaim/{CLAIM}", "Deployment/web"} <= set(
        steps["apply early"]["objects"]), steps["apply early"]
    volume = steps[f"volume volume-{CLAIM}"]
    assert volume["files"] == len(volume_files) and volume["bytes"] == sum(a["size"] for a in volume_files), volume
    assert volume["stopped"] == ["Deployment/web"]

    assert not namespace_exists(core, trial["namespace"])
    assert list((tmp / "verify-ok").iterdir()) == []


def bup(repo: Path, *args: str) -> str:
    run = subprocess.run(["bup", "-d", str(repo), *args], capture_output=True, text=True, check=False, timeout=120)
    assert run.returncode == 0, f"bup {' '.join(args)}: {run.stderr[-2000:]}"
    return run.stdout


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", str(repo), *args], capture_output=True, text=True,
                          check=True, timeout=120).stdout.strip()


def test_tampered_claim_file_is_named_and_no_trial_restore_runs(backed_up, kubeconfig, core):
    namespace, tmp = backed_up["namespace"], backed_up["tmp"]
    repo, tree = tmp / "tampered-repo", tmp / "tampered-tree"
    shutil.copytree(tmp / "repo", repo, symlinks=True)
    tree.mkdir()
    bup(repo, "restore", "-C", str(tree), f"/{BRANCH}/latest/.")
    table = tree / "volumes" / CLAIM / "db" / "table"
    table.write_bytes(b"row-2\n")  # the same size: only the sha256 tells
    expected = next(a["sha256"] for a in backed_up["manifest"]["artifacts"] if a["path"] == f"volumes/{CLAIM}/db/table")
    actual = hashlib.sha256(b"row-2\n").hexdigest()
    bup(repo, "index", str(tree))
    bup(repo, "save", "-n", BRANCH, f"--strip-path={tree}", str(tree))
    commit = git(repo, "rev-parse", f"refs/heads/{BRANCH}")
    git(repo, "update-ref", f"refs/tags/complete/{BRANCH}/{commit}", commit)

    run = verify(kubeconfig, backed_up, repo, "verify-tampered")
    assert run.rc != 0
    message = " ".join(run.failures)
    assert f"volumes/{CLAIM}/db/table" in message and expected in message and actual in message, message
    summary = run.stats["statesafe_verify"]
    assert summary["ok"] is False and summary["commit"] == commit
    assert [p["path"] for p in summary["stages"]["checksums"]["problems"]] == [f"volumes/{CLAIM}/db/table"]
    assert "trial_restore" not in summary["stages"], "a trial restore ran from a tampered archive"
    assert scratch_namespaces(core, namespace) == []


def test_trial_restore_of_a_component_the_archive_lacks_fails_naming_it_and_cleans_up(backed_up, kubeconfig, core):
    """Only the trial restore reads the archive's components: a verify that skipped it would pass."""
    namespace, tmp, commit = backed_up["namespace"], backed_up["tmp"], backed_up["commit"]
    run = verify(kubeconfig, backed_up, tmp / "repo", "verify-unknown", components="config,volume-no-such-claim")
    assert run.rc != 0
    message = run.failures[-1]
    scratch = f"{namespace}-verify-{commit[:8]}"
    assert f"(commit {commit}) on branch {BRANCH}" in message, message
    assert f"trial_restore in namespace {scratch}: " in message, message
    assert f"names volume-no-such-claim, which archive {commit[:12]} does not have" in message, message
    assert f"its components are config, claims, workloads, volume-{CLAIM}" in message, message
    summary = run.stats["statesafe_verify"]
    assert summary["stages"]["fsck"]["ok"] is True and summary["stages"]["checksums"]["ok"] is True
    trial = summary["stages"]["trial_restore"]
    assert trial["ok"] is False and trial["namespace"] == scratch
    assert [(p["stage"], p["namespace"]) for p in summary["problems"]] == [("trial_restore", scratch)]
    # The trial's always section ran although the trial recorded a problem: no namespace, no staging tree left.
    assert not namespace_exists(core, scratch)
    assert list((tmp / "verify-unknown").iterdir()) == []


def test_a_volume_restored_without_its_workload_is_refused_at_once(backed_up, kubeconfig, core):
    """Namespace mode: the claim's data waits for its Deployment, which components= left out and the target lacks;
    refused in the plan, before anything changes, rather than waiting out restore_wait_timeout."""
    target = backed_up["namespace"] + "-partial"
    run = playbook("restore.yml", kubeconfig, backed_up["tmp"], target, profile="namespace",
                   staging=str(backed_up["tmp"] / "restore-partial"), components=f"config,volume-{CLAIM}",
                   timeout=300)
    assert run.rc != 0
    assert f"volume-{CLAIM} needs Deployment/web, which namespace {target} does not have and this restore does not " \
           "apply (components config, volume-" in run.failures[-1], run.failures
    assert run.duration < 120, run.duration
    assert not namespace_exists(core, target)
