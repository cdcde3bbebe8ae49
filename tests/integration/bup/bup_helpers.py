"""Helpers of the bup layer's integration tests: trees, manifests, ansible runs, git and bup calls.

Nothing here needs the local Kubernetes cluster. Modules run through
`ansible localhost -m statesafe.backup.<module>` with the collection found
through ANSIBLE_COLLECTIONS_PATH (tests/conftest.py links this checkout into a
temporary ansible_collections tree).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
ANSIBLE = str(VENV_BIN / "ansible")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_tree(root: Path, files: dict[str, bytes], manifest: str | None = "MANIFEST.json") -> Path:
    """Files under root, then a manifest of them (size + sha256), written last like the backup role does."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    if manifest:
        artifacts = [{"path": rel, "size": len(data), "sha256": sha256(data)} for rel, data in sorted(files.items())]
        (root / manifest).write_text(json.dumps({"version": 1, "artifacts": artifacts}, indent=1))
    return root


def tree_digest(root: Path) -> dict[str, str]:
    """{relative path: sha256} of every regular file under root."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            found[str(path.relative_to(root))] = sha256(path.read_bytes())
    return found


class AnsibleRun:
    def __init__(self, returncode: int, result: dict, stdout: str, stderr: str):
        self.rc = returncode
        self.result = result
        self.stdout = stdout
        self.stderr = stderr

    @property
    def failed(self) -> bool:
        return bool(self.result.get("failed"))

    def __getitem__(self, key):
        return self.result[key]

    def get(self, key, default=None):
        return self.result.get(key, default)


def ansible_env(extra: dict | None = None) -> dict:
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": os.environ["STATESAFE_COLLECTIONS_ROOT"],
        "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_LOCALHOST_WARNING": "0",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
        "ANSIBLE_NOCOLOR": "1",
    })
    env.update(extra or {})
    return env


def start_module(name: str, args: dict, check: bool = False, env: dict | None = None,
                 become_user: str | None = None) -> subprocess.Popen:
    argv = [ANSIBLE, "localhost", "-m", f"statesafe.backup.{name}", "-a", json.dumps(args)]
    if become_user:
        # The module runs with the system python as that user (it needs only the standard library);
        # service users have no login shell, so su is given one.
        argv += ["--become", "--become-method", "su", "--become-user", become_user,
                 "-e", json.dumps({"ansible_become_flags": "-s /bin/sh",
                                   "ansible_python_interpreter": "/usr/bin/python3"})]
    else:
        argv += ["-e", f"ansible_python_interpreter={sys.executable}"]
    if check:
        argv.append("--check")
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ansible_env(env))


def finish_module(process: subprocess.Popen, timeout: float = 600) -> AnsibleRun:
    stdout, stderr = process.communicate(timeout=timeout)
    try:
        document = json.loads(stdout)
        result = document["plays"][0]["tasks"][0]["hosts"]["localhost"]
    except (ValueError, KeyError, IndexError):
        raise AssertionError(f"ansible printed no task result (rc {process.returncode}):\n{stdout}\n{stderr}")
    return AnsibleRun(process.returncode, result, stdout, stderr)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", f"--git-dir={repo}", *args], capture_output=True, text=True, check=True,
                          timeout=120).stdout


def bup(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["bup", *args], capture_output=True, text=True, check=check,
                          env=dict(os.environ, BUP_DIR=str(repo)), timeout=120)


def markers(repo: Path) -> list[str]:
    return git(repo, "for-each-ref", "--format=%(refname)", "refs/tags/complete").split()
