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
from contextlib import contextmanager
from pathlib import Path

from kubernetes import client

from process_tree import KilledPlaybook

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "tests" / "cluster" / "sample" / "sample.sh"
PLAYBOOKS = REPO / "playbooks"
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
PART_OF = "app.kubernetes.io/part-of=softwarefactory"
# The namespace of the run's reference stack (the `reference` fixture, tests/integration/conftest.py).
REFERENCE_NS = "sf-reference"


def sample(kubeconfig: str, namespace: str, *args: str, timeout: float = 600) -> str:
    """tests/cluster/sample/sample.sh <args> for the stack in `namespace`; its stdout."""
    env = dict(os.environ, KUBECONFIG=kubeconfig, SAMPLE_NAMESPACE=namespace,
               KUBECTL=str(Path(kubeconfig).parent / "bin" / "kubectl"))
    run = subprocess.run([str(SAMPLE), *args], env=env, capture_output=True, text=True, check=False, timeout=timeout)
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
        # A run over several inventory hosts keeps each host's statistics apart: {host: {...}}.
        self.host_stats = document.get("custom_stats", {})
        self.recap = document.get("stats", {})
        self.failures = [host_result.get("msg", "")
                         for play in document.get("plays", []) for task in play.get("tasks", [])
                         for host_result in task.get("hosts", {}).values() if host_result.get("failed")]

    def task_names(self) -> list[str]:
        """Every task that started, as the JSON callback names it (`statesafe.backup.backup : Dump | x`)."""
        return [task["task"]["name"] for play in self.document.get("plays", [])
                for task in play.get("tasks", [])]

    def results(self, task: str) -> list[dict]:
        """The host results of every task whose own name (bare_task_name) starts with `task`."""
        return [result for play in self.document.get("plays", []) for entry in play.get("tasks", [])
                if bare_task_name(entry["task"]["name"]).startswith(task)
                for result in entry.get("hosts", {}).values()]

    def executed(self) -> list[str]:
        """The tasks that ran on a host (not skipped), by the name their role gives them (`Dump | x`)."""
        return [bare_task_name(task["task"]["name"]) for play in self.document.get("plays", [])
                for task in play.get("tasks", [])
                if any(not result.get("skipped") for result in task.get("hosts", {}).values())]


def bare_task_name(name: str) -> str:
    """A task's own name: the JSON callback prefixes role tasks with `<role FQCN> : `."""
    role, separator, task = name.partition(" : ")
    return task if separator and role.startswith("statesafe.backup.") else name


def playbook_env() -> dict[str, str]:
    return dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.environ["STATESAFE_COLLECTIONS_ROOT"],
                ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_SHOW_CUSTOM_STATS="1",
                ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0", ANSIBLE_NOCOLOR="1",
                ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))


# The schedule role polls a Job it waits for every 10 s: the tests ask sooner, so a wait ends closer to the
# moment it could. (The restore role's readiness waits poll every second by default.)
POLLS = {"schedule_poll_interval": 3}


def playbook_argv(name: str, kubeconfig: str, tmp: Path, namespace: str, *options: str, venv: Path | None = None,
                  **extra) -> list[str]:
    """The ansible-playbook command line of playbooks/<name> against `namespace`, repository under tmp/repo unless
    given; `venv`: another virtualenv (tests/compat/venv.sh) whose ansible-playbook and Python run it."""
    command = Path(venv) / "bin" / "ansible-playbook" if venv else ANSIBLE_PLAYBOOK
    python = str(Path(venv) / "bin" / "python") if venv else sys.executable
    variables = {"kubeconfig": kubeconfig, "repository": str(tmp / "repo"), "app_namespace": namespace,
                 "ansible_python_interpreter": python, **POLLS, **extra}
    return [str(command), str(PLAYBOOKS / name), "-e", json.dumps(variables), *options]


def playbook(name: str, kubeconfig: str, tmp: Path, namespace: str, *options: str, timeout: float = 900,
             venv: Path | None = None, **extra) -> PlaybookRun:
    """ansible-playbook playbooks/<name> against `namespace` (playbook_argv), read through the JSON callback.

    `timeout` bounds the run: a hung run fails its test naming the playbook, never the whole suite."""
    argv = playbook_argv(name, kubeconfig, tmp, namespace, *options, venv=venv, **extra)
    started = time.monotonic()
    run = subprocess.run(argv, env=playbook_env(), capture_output=True, text=True, check=False, timeout=timeout)
    return PlaybookRun(run, time.monotonic() - started)


# A killed run's log says how far it got: the default callback's results, and `STARTED: <task name>` the moment a
# task starts (tests/integration/callback_plugins/task_starts.py; the default callback writes a banner only with the
# task's first result under the free strategy). Unbuffered: Ansible never flushes its stdout, a file here.
TASK_LOG = {"ANSIBLE_STDOUT_CALLBACK": "default", "PYTHONUNBUFFERED": "1",
            "ANSIBLE_CALLBACK_PLUGINS": str(Path(__file__).resolve().parent / "callback_plugins"),
            "ANSIBLE_CALLBACKS_ENABLED": "task_starts"}


def tasks_started(log: Path, task: str) -> int:
    """How many times the killed run whose output is `log` has started a task named `task` (as its role names it,
    templated: `phase last`; the line prefixes it with the role's name: `restore : Apply | ...`)."""
    started = [line[len("STARTED: "):] for line in log.read_text().splitlines() if line.startswith("STARTED: ")]
    return sum(1 for name in started if name == task or name.endswith(f" : {task}"))


class KilledPlaybookRun(KilledPlaybook):
    """playbooks/<name> as playbook() runs it, started in a session of its own with its output in `log`, and killed
    with every process below it once `reached()` is true (process_tree.KilledPlaybook.kill_when)."""

    def __init__(self, name: str, kubeconfig: str, tmp: Path, namespace: str, log: Path,
                 env: dict[str, str] | None = None, **extra):
        super().__init__(playbook_argv(name, kubeconfig, tmp, namespace, **extra), {**playbook_env(), **(env or {})},
                         log)


def namespace_exists(core: client.CoreV1Api, namespace: str) -> bool:
    return any(ns.metadata.name == namespace for ns in core.list_namespace().items)


def mariadb(kubectl, namespace: str, sql: str) -> str:
    """Run SQL as root in the sample's mariadb-0 (password from the container's environment)."""
    run = kubectl("exec", "-i", "-n", namespace, "mariadb-0", "-c", "mariadb", "--", "sh", "-c",
                  'MYSQL_PWD="$MARIADB_ROOT_PASSWORD" exec mariadb -uroot -N -B', input=sql.encode())
    return run.stdout.decode()


def listed_archives(kubeconfig: str, tmp: Path, namespace: str, **extra) -> list[dict]:
    """playbooks/list.yml as a user reads it: each archive line's name, commit prefix, size and completeness."""
    run = playbook("list.yml", kubeconfig, tmp, namespace, **extra)
    assert run.rc == 0, run.failures or run.output[-4000:]
    lines = [line for play in run.document.get("plays", []) for task in play.get("tasks", [])
             if task["task"]["name"] == "Show them, newest first"
             for result in task["hosts"].values() for line in result.get("msg", [])]
    archives = []
    for line in lines:
        name, commit, size, state = line.split("  ")
        archives.append({"name": name, "commit": commit, "size": int(size), "complete": state == "complete"})
    return archives


@contextmanager
def backed_up_sample(kubeconfig: str, core: client.CoreV1Api, tmp: Path, namespace: str,
                     deploy_options: tuple[str, ...] = (), **backup_extra):
    """The sample deployed (`sample.sh deploy <deploy_options>`) and seeded in `namespace`, its fingerprint and one
    backup of it (repository tmp/repo, staging tmp/staging; `backup_extra`: more variables of backup.yml, e.g. its
    profile): {"tmp", "fingerprint", "backup"}. The namespace is destroyed afterwards, whatever happened."""
    try:
        sample(kubeconfig, namespace, "deploy", *deploy_options)
        sample(kubeconfig, namespace, "seed")
        before = sample(kubeconfig, namespace, "fingerprint")
        backup = playbook("backup.yml", kubeconfig, tmp, namespace, staging=str(tmp / "staging"), **backup_extra)
        assert backup.rc == 0, backup.failures or backup.output[-4000:]
        yield {"tmp": tmp, "fingerprint": before, "backup": backup}
    finally:
        if namespace_exists(core, namespace):
            sample(kubeconfig, namespace, "destroy", "--no-wait")
