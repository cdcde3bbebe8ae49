"""Killing a playbook run as a crash of the controller's machine would: its whole process tree, at once.

Shared by the tests that kill a backup or a restore mid-phase (tests/integration/roles/test_backup_kills.py,
test_restore_rerun.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path


def descendants(root: int) -> set[int]:
    """Every live process below `root`. Ansible's workers start sessions of their own, so the controller's
    process group holds only ansible-playbook itself: its tree is found by parent pid instead."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def argv_of(pid: int) -> list[str]:
    try:
        return [part.decode(errors="replace") for part in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                if part]
    except OSError:
        return []


def kill_tree(root: int) -> set[int]:
    """SIGKILL a process and everything below it, as a crash of the controller's machine would: each is
    stopped first (a stopped process neither forks nor is reaped), then all are killed at once."""
    stopped: set[int] = set()
    while True:
        new = ({root} | descendants(root)) - stopped
        if not new:
            break
        for pid in new:
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                pass
        stopped |= new
    for pid in stopped:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return stopped


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class KilledPlaybook:
    """A playbook run started in a session of its own, its output in `log`, and killed with every process below
    it once `reached()` is true (kill_when): what a subclass adds is the playbook and its variables."""

    what = "run"
    timeout = 300.0
    interval = 0.05

    def __init__(self, argv: list[str], env: dict[str, str], log: Path):
        self.log = log
        with log.open("w") as out:
            self.process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True)

    def kill_when(self, what: str, reached, timeout: float | None = None) -> None:
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        try:
            while not reached():
                if self.process.poll() is not None:
                    raise AssertionError(f"the {self.what} ended (rc {self.process.returncode}) before {what}:\n"
                                         f"{self.log.read_text()[-3000:]}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"{what} not reached in {timeout}s:\n{self.log.read_text()[-3000:]}")
                time.sleep(self.interval)
        finally:
            killed = kill_tree(self.process.pid)
            self.process.wait(timeout=60)
        assert self.process.returncode == -signal.SIGKILL
        deadline = time.monotonic() + 30
        while any(alive(pid) for pid in killed - {self.process.pid}) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [pid for pid in killed if alive(pid)], f"a process of the killed {self.what} survived"
