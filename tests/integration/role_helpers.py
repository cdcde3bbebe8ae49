"""Running the sample stack and the playbooks from role tests, each in a namespace of its own.

Role tests deploy their own copy of the sample Software Factory stack (tests/cluster/sample) in a
namespace they name, so that test files do not depend on each other's leftovers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from kubernetes import client

REPO = Path(__file__).resolve().parents[3]
SAMPLE = REPO / "tests" / "cluster" / "sample" / "sample.sh"
PLAYBOOKS = REPO / "playbooks"
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
PART_OF = "app.kubernetes.io/part-of=softwarefactory"


def sample(kubeconfig: str, namespace: str, *args: str) -> str:
    """tests/cluster/sample/sample.sh <args> for the stack in `namespace`; its stdout."""
    env = dict(os.environ, KUBECONFIG=kubeconfig, SAMPLE_NAMESPACE=namespace,
               KUBECTL=str(Path(kubeconfig).parent / "bin" / "kubectl"))
    run = subprocess.run([str(SAMPLE), *args], env=env, capture_output=True, text=True, check=False)
    assert run.returncode == 0, f"sample.sh {' '.join(args)} ({namespace}) failed:\n{run.stderr[-3000:]}"
    return run.stdout.strip()


class PlaybookRun:
    """A finished ansible-playbook run read through the ansible.posix.json callback."""

    def __init__(self, run: subprocess.CompletedProcess, duration: float):
        self.rc = run.returncode
        self.output = run.stdout + run.stderr
        self.duration = duration
        document = json.loads(run.stdout) if run.stdout.lstrip().startswith("{") else {}
        self.document = document
        self.stats = document.get("global_custom_stats", {})
        self.failures = [host_result.get("msg", "")
                         for play in document.get("plays", []) for task in play.get("tasks", [])
                         for host_result in task.get("hosts", {}).values() if host_result.get("failed")]

    def task_names(self) -> list[str]:
        return [task["task"]["name"] for play in self.document.get("plays", [])
                for task in play.get("tasks", [])]


def playbook_env() -> dict[str, str]:
    return dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.environ["STATESAFE_COLLECTIONS_ROOT"],
                ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_SHOW_CUSTOM_STATS="1",
                ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0", ANSIBLE_NOCOLOR="1")


def playbook(name: str, kubeconfig: str, tmp: Path, namespace: str, *options: str,
             **extra) -> PlaybookRun:
    """ansible-playbook playbooks/<name> against `namespace`, repository under tmp/repo unless given."""
    variables = {"kubeconfig": kubeconfig, "repository": str(tmp / "repo"), "app_namespace": namespace,
                 "ansible_python_interpreter": sys.executable, **extra}
    argv = [str(ANSIBLE_PLAYBOOK), str(PLAYBOOKS / name), "-e", json.dumps(variables), *options]
    started = time.monotonic()
    run = subprocess.run(argv, env=playbook_env(), capture_output=True, text=True, check=False)
    return PlaybookRun(run, time.monotonic() - started)


def namespace_exists(core: client.CoreV1Api, namespace: str) -> bool:
    return any(ns.metadata.name == namespace for ns in core.list_namespace().items)


def mariadb(kubectl, namespace: str, sql: str) -> str:
    """Run SQL as root in the sample's mariadb-0 (password from the container's environment)."""
    run = kubectl("exec", "-i", "-n", namespace, "mariadb-0", "-c", "mariadb", "--", "sh", "-c",
                  'MYSQL_PWD="$MARIADB_ROOT_PASSWORD" exec mariadb -uroot -N -B', input=sql.encode())
    return run.stdout.decode()
