"""playbooks/verify.yml against the local cluster: a sound archive is verified down to a trial restore, a tampered
or damaged one is refused naming what is wrong.

The run's reference stack and backup (tests/integration/conftest.py `reference`: the sample stack in
`sf-reference`, backed up once with playbooks/backup.yml) is verified from a copy of its repository (verify
takes the repository's lock). Then:

- verify (latest): bup fsck, every manifest checksum, a trial restore into `sf-reference-verify-<commit[:8]>` and the
  profile's checks (the profile's own mariadb check, plus the sample's fingerprint run on the controller and
  compared with the application's namespace): ok, and the scratch namespace and directories are gone;
- a copy of the repository with a new archive whose dump was modified (saved by bup and marked complete by hand,
  as an attacker or a bug could): verify fails naming dumps/mariadb.sql with the manifest's and the actual sha256,
  and no scratch namespace is made;
- a copy of the repository with one byte of its largest pack flipped: verify fails naming that pack;
- restore.yml given that tampered, complete-marked archive refuses it naming the dump and both checksums
  before it touches the target namespace (which is never created).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from role_helpers import REFERENCE_NS, REPO, SAMPLE, namespace_exists, playbook

NS = REFERENCE_NS
BRANCH = "softwarefactory"


def scratch_namespaces(core) -> list[str]:
    return [ns.metadata.name for ns in core.list_namespace().items if ns.metadata.name.startswith(NS + "-verify-")]


def profile_with_fingerprint() -> dict:
    """The softwarefactory profile plus a check on the controller: the sample's fingerprint, compared with the source."""
    data = yaml.safe_load((REPO / "profiles" / "softwarefactory.yml").read_text())
    data["check"] = [*data.get("check", []), {
        "name": "fingerprint",
        "local": ["sh", "-c", 'SAMPLE_NAMESPACE="$STATESAFE_CHECK_NAMESPACE" exec "$0" fingerprint', str(SAMPLE)],
        "compare": "source"}]
    return data


def bup(repo: Path, *args: str, cwd: Path | None = None) -> str:
    run = subprocess.run(["bup", "-d", str(repo), *args], capture_output=True, text=True, check=False, cwd=cwd,
                         timeout=120)
    assert run.returncode == 0, f"bup {' '.join(args)}: {run.stderr[-2000:]}"
    return run.stdout


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", str(repo), *args], capture_output=True, text=True,
                          check=True, timeout=120).stdout.strip()


@pytest.fixture(scope="module")
def backed_up(reference, core, tmp_path_factory):
    """The reference backup, its repository copied into this module's directory."""
    tmp = tmp_path_factory.mktemp("verify")
    shutil.copytree(reference["repo"], tmp / "repo", symlinks=True)
    try:
        yield {"tmp": tmp, "commit": reference["commit"], "fingerprint": reference["fingerprint"],
               "staging": Path(reference["staging"])}
    finally:
        for name in scratch_namespaces(core):
            core.delete_namespace(name)


def verify(kubeconfig, tmp: Path, repository: Path, staging: Path, **extra):
    return playbook("verify.yml", kubeconfig, tmp, NS, repository=str(repository), staging=str(staging),
                    profile_data=profile_with_fingerprint(), **extra)


def test_sound_archive_is_verified_down_to_a_trial_restore(backed_up, kubeconfig, core):
    tmp = backed_up["tmp"]
    run = verify(kubeconfig, tmp, tmp / "repo", tmp / "verify-ok")
    assert run.rc == 0, run.failures or run.output[-6000:]
    summary = run.stats["statesafe_verify"]
    assert summary["ok"] is True and summary["problems"] == []
    assert summary["commit"] == backed_up["commit"]
    stages = summary["stages"]
    assert stages["fsck"]["ok"] is True and stages["fsck"]["packs"] >= 1 and stages["fsck"]["damaged"] == []
    manifest = json.loads((backed_up["staging"] / "softwarefactory" / "MANIFEST.json").read_text())
    assert stages["checksums"]["ok"] is True
    assert stages["checksums"]["artifacts_checked"] == len(manifest["artifacts"])
    assert stages["checksums"]["bytes_checked"] == sum(a["size"] for a in manifest["artifacts"])
    trial = stages["trial_restore"]
    assert trial["ok"] is True
    assert trial["namespace"] == f"{NS}-verify-{backed_up['commit'][:8]}"
    checks = {check["name"]: check for check in trial["checks"]}
    assert checks["mariadb databases"]["ok"] is True
    assert checks["fingerprint"]["ok"] is True
    assert checks["fingerprint"]["output"] == backed_up["fingerprint"]
    # The scratch namespace and every scratch directory are gone.
    assert not namespace_exists(core, trial["namespace"])
    assert list((tmp / "verify-ok").iterdir()) == []


def tampered_copy(tmp: Path) -> tuple[Path, str, str]:
    """A copy of the repository with a new complete-marked archive whose dump differs from its manifest."""
    repo = tmp / "tampered-repo"
    shutil.copytree(tmp / "repo", repo, symlinks=True)
    tree = tmp / "tampered-tree"
    tree.mkdir()
    bup(repo, "restore", "-C", str(tree), f"/{BRANCH}/latest/.")
    dump = tree / "dumps" / "mariadb.sql"
    data = dump.read_bytes()
    assert b"INSERT INTO" in data
    changed = data.replace(b"INSERT INTO", b"INSERT  INTO", 1)
    dump.write_bytes(changed)
    expected = next(a["sha256"] for a in json.loads((tree / "MANIFEST.json").read_text())["artifacts"]
                    if a["path"] == "dumps/mariadb.sql")
    bup(repo, "index", str(tree))
    bup(repo, "save", "-n", BRANCH, f"--strip-path={tree}", str(tree))
    commit = git(repo, "rev-parse", f"refs/heads/{BRANCH}")
    git(repo, "update-ref", f"refs/tags/complete/{BRANCH}/{commit}", commit)
    return repo, expected, hashlib.sha256(changed).hexdigest()


def test_tampered_dump_is_named_with_both_checksums(backed_up, kubeconfig, core):
    tmp = backed_up["tmp"]
    repo, expected, actual = tampered_copy(tmp)
    run = verify(kubeconfig, tmp, repo, tmp / "verify-tampered")
    assert run.rc != 0
    message = " ".join(run.failures)
    assert "dumps/mariadb.sql" in message, message
    assert expected in message and actual in message, message
    summary = run.stats["statesafe_verify"]
    assert summary["ok"] is False
    assert summary["stages"]["fsck"]["ok"] is True
    problems = summary["stages"]["checksums"]["problems"]
    assert [p["path"] for p in problems] == ["dumps/mariadb.sql"]
    assert (problems[0]["expected_sha256"], problems[0]["actual_sha256"]) == (expected, actual)
    assert "trial_restore" not in summary["stages"], "a trial restore ran from a tampered archive"
    assert scratch_namespaces(core) == []
    assert list((tmp / "verify-tampered").iterdir()) == []


def test_damaged_pack_is_named(backed_up, kubeconfig, core):
    tmp = backed_up["tmp"]
    repo = tmp / "damaged-repo"
    shutil.copytree(tmp / "repo", repo, symlinks=True)
    pack = max((repo / "objects" / "pack").glob("pack-*.pack"), key=lambda p: p.stat().st_size)
    data = bytearray(pack.read_bytes())
    data[len(data) // 2] ^= 0xFF
    pack.chmod(0o644)
    pack.write_bytes(bytes(data))
    run = verify(kubeconfig, tmp, repo, tmp / "verify-damaged")
    assert run.rc != 0
    message = " ".join(run.failures)
    assert pack.stem in message, message
    summary = run.stats["statesafe_verify"]
    assert summary["stages"]["fsck"]["ok"] is False
    assert pack.stem in " ".join(summary["stages"]["fsck"]["damaged"])
    assert "trial_restore" not in summary["stages"]
    assert scratch_namespaces(core) == []


def test_restore_refuses_a_tampered_archive_before_touching_the_namespace(backed_up, kubeconfig, core):
    tmp = backed_up["tmp"]
    repo = tmp / "tampered-repo"
    if not repo.exists():
        tampered_copy(tmp)
    target = "sf-tampered-restore"
    run = playbook("restore.yml", kubeconfig, tmp, target, repository=str(repo),
                   staging=str(tmp / "restore-tampered"))
    assert run.rc != 0
    message = " ".join(run.failures)
    # The tampered dump is one byte longer than the manifest says: the size check names it first.
    assert "does not match its manifest" in message and "dumps/mariadb.sql" in message, message
    assert not namespace_exists(core, target), "the restore created the namespace of a tampered archive"
