"""tree_checksums through ansible-playbook: what ansible.builtin.find with sha256 gave the manifest, on every core.

find's checksum_algorithm exists only from ansible-core 2.19 on; the module must give the backup
role's manifest step the entries find with sha256 gives there, on 2.19 and on the oldest core
meta/runtime.yml accepts. The tree is local: no namespace is needed.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
COMPAT = REPO / "tests" / "compat"
FIND_AS_THE_MANIFEST_DID = {"paths": None, "recurse": True, "hidden": True, "file_type": "file",
                            "get_checksum": True, "checksum_algorithm": "sha256", "excludes": ["MANIFEST.json"]}


def oldest_version() -> str:
    lines = (COMPAT / "versions.txt").read_text().splitlines()
    return [line.split()[0] for line in lines if line.strip() and not line.startswith("#")][0]


@pytest.fixture(scope="module")
def oldest_venv() -> Path:
    run = subprocess.run([str(COMPAT / "venv.sh"), oldest_version()], capture_output=True, text=True,
                         check=False, timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]
    return Path(run.stdout.strip())


@pytest.fixture
def staging(tmp_path) -> Path:
    """A staging tree like a backup's: dumps, resources, a copied volume with hidden files, a link, a big file."""
    root = tmp_path / "staging"
    files = {
        "MANIFEST.json": b"{}\n",
        "dumps/mariadb.sql": b"CREATE TABLE t (id INT);\n" * 100,
        "resources/Secret/db.yaml": b"kind: Secret\n",
        "resources/ConfigMap/empty.yaml": b"",
        "volumes/zk/data/.hidden/.lock": b"1",
        "volumes/zk/data/version-2/snapshot.0": os.urandom(3 * 1024 * 1024 + 5),
    }
    for relpath, data in files.items():
        (root / relpath).parent.mkdir(parents=True, exist_ok=True)
        (root / relpath).write_bytes(data)
    os.symlink("version-2/snapshot.0", str(root / "volumes/zk/data/latest"))
    return root


def entries(files: list[dict]) -> list[tuple[str, int, str]]:
    return sorted((f["path"], f["size"], f["checksum"]) for f in files)


@pytest.mark.parametrize("core", ["project", "oldest"])
def test_gives_the_manifest_what_find_gave_it(run_module, staging, request, core):
    venv = request.getfixturevalue("oldest_venv") if core == "oldest" else None
    run = run_module("tree_checksums", {"root": str(staging)}, venv=venv)
    assert run.rc == 0 and not run.failed and not run.changed, run
    # find's sha256 exists on the project's 2.19 only: the reference always comes from there.
    find = run_module("tree_checksums", {"root": str(staging)}, extra_tasks=[
        {"ansible.builtin.find": dict(FIND_AS_THE_MANIFEST_DID, paths=str(staging)), "register": "found"}])
    reference = find["extra"][0]
    assert reference["matched"] == 5, reference
    assert entries(run["files"]) == entries(reference["files"])
    assert run["file_count"] == 5 and run["bytes"] == sum(f["size"] for f in reference["files"])
    assert run["not_regular"] == [{"path": "volumes/zk/data/latest", "type": "link"}] and run["not_regular_count"] == 1


def test_check_mode_reads_the_same(run_module, staging):
    run = run_module("tree_checksums", {"root": str(staging)})
    checked = run_module("tree_checksums", {"root": str(staging)}, check=True)
    assert checked.rc == 0 and not checked.changed
    assert checked["files"] == run["files"]


def test_a_manifest_deeper_in_the_tree_is_an_artifact(run_module, staging):
    (staging / "volumes/zk/data/MANIFEST.json").write_bytes(b"the application's own")
    run = run_module("tree_checksums", {"root": str(staging)})
    listed = [os.path.relpath(f["path"], str(staging)) for f in run["files"]]
    assert "volumes/zk/data/MANIFEST.json" in listed and "MANIFEST.json" not in listed


def test_a_relative_root_fails_naming_it(run_module):
    run = run_module("tree_checksums", {"root": "staging"})
    assert run.rc != 0 and run.failed
    assert run.msg == "the tree must be given as an absolute path (path=staging)"
    assert run["error_location"] == {"path": "staging"}
