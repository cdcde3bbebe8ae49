"""The controller killed during each phase of a backup, against the local cluster.

A backup is complete only when every step succeeded and was verified. Here the whole ansible-playbook
process tree (the controller, its workers, the module they run and that module's children) is SIGKILLed
while the run is inside one phase, as a crash of the controller's machine would kill it:

- dump: the MariaDB dump has streamed part of its output into the staging tree;
- copy: the helper pod of the ZooKeeper volume copy is running;
- save: `bup save` is writing a large new pack into the repository;
- validation: the new commit is saved, its manifest check has started, no marker is written yet.

After each kill no archive is marked complete, the lease still names the dead run, and the next backup
recovers that lease, uses the repository normally and ends with one more complete archive that
`bup_archive_info` lists as the latest. Each phase is detected from what the run does (a file in the
staging tree, a pod, a process, a git subprocess), never from a fixed delay.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from mariadb_freeze import FREEZE, SQL
from mariadb_freeze import THAW as THAW_ONLY
from process_tree import argv_of, descendants
from role_helpers import REPO, KilledPlaybookRun, listed_archives, namespace_exists, playbook, sample

NS = "sf-kills"
BRANCH = "softwarefactory"
# The bulk component below writes this many random bytes: enough that `bup save` runs for seconds.
BULK_BYTES = 150 * 1024 * 1024


def git(repo: Path, *args: str) -> str:
    run = subprocess.run(["git", "--git-dir", str(repo), *args], capture_output=True, text=True, check=False,
                         timeout=120)
    return run.stdout.strip() if run.returncode == 0 else ""


def markers(repo: Path) -> list[str]:
    return sorted(git(repo, "for-each-ref", "--format=%(refname)", "refs/tags/complete").split())


def commits(repo: Path) -> list[str]:
    return git(repo, "rev-list", f"refs/heads/{BRANCH}").split()


def lease(repo: Path) -> dict | None:
    path = repo / "statesafe.lock"
    text = path.read_text() if path.exists() else ""
    return (json.loads(text) if text.strip() else {}).get("lease")


def profile(**changes) -> dict:
    data = yaml.safe_load((REPO / "profiles" / "softwarefactory.yml").read_text())
    components = {c["name"]: c for c in data["components"]}
    for name, fields in changes.items():
        if name in components:
            components[name].update(fields)
        else:
            data["components"].append(dict(fields, name=name))
    return data


class KilledRun(KilledPlaybookRun):
    """ansible-playbook backup.yml, killed with every process below it once `reached()` is true."""

    def __init__(self, stack, profile_data: dict, env: dict | None = None):
        super().__init__("backup.yml", stack["kubeconfig"], stack["tmp"], NS, stack["tmp"] / "killed-run.log", env=env,
                         repository=str(stack["repo"]), staging=str(stack["staging"]), profile_data=profile_data)


@pytest.fixture(scope="module")
def stack(kubeconfig, core, tmp_path_factory):
    """The sample in sf-kills, seeded and backed up once; the namespace is deleted afterwards."""
    tmp = tmp_path_factory.mktemp("kills")
    try:
        sample(kubeconfig, NS, "deploy")
        sample(kubeconfig, NS, "seed")
        state = {"kubeconfig": kubeconfig, "tmp": tmp, "repo": tmp / "repo", "staging": tmp / "staging"}
        first = playbook("backup.yml", kubeconfig, tmp, NS, staging=str(state["staging"]))
        assert first.rc == 0, first.failures or first.output[-4000:]
        yield state
    finally:
        if namespace_exists(core, NS):
            sample(kubeconfig, NS, "destroy", "--no-wait")


def assert_killed_run_left_nothing_complete(stack, before_markers: list[str], killed: KilledRun) -> dict:
    assert markers(stack["repo"]) == before_markers, "the killed run marked an archive complete"
    held = lease(stack["repo"])
    assert held and f"[run pid={killed.process.pid} " in held["owner"], held
    return held


def assert_next_backup_recovers(stack, kubeconfig, held: dict, before_markers: list[str], dead_pid: int,
                                **options) -> dict:
    """The next backup recovers the dead run's lease, says so, and adds one complete archive, listed as newest."""
    after = playbook("backup.yml", kubeconfig, stack["tmp"], NS, staging=str(stack["staging"]), **options)
    assert after.rc == 0, after.failures or after.output[-4000:]
    summary = after.stats["statesafe_backup"]
    assert summary["complete"] is True
    assert summary["recovered_lease"]["token"] == held["token"]
    assert f"ansible-playbook pid {dead_pid} " in summary["recovered_lease"]["reason"]
    assert "is gone" in summary["recovered_lease"]["reason"]
    assert any("Recovering the run lease" in line and f"pid={dead_pid}" in line
               for line in after.output.splitlines()), "the recovery is not reported"
    assert len(markers(stack["repo"])) == len(before_markers) + 1
    assert lease(stack["repo"]) is None
    newest = listed_archives(kubeconfig, stack["tmp"], NS)[0]
    assert newest["complete"] and summary["commit"].startswith(newest["commit"]), newest
    return summary


def test_killed_during_the_dump(stack, kubeconfig):
    before = markers(stack["repo"])
    dumps = stack["staging"] / "softwarefactory" / "dumps"
    previous_dump = (dumps / "mariadb.sql").read_bytes()
    mariadb = next(c for c in profile()["components"] if c["name"] == "mariadb")
    # 64 KiB of the real dump, a pause, then the rest: the kill lands while the dump is half written.
    slow = profile(mariadb={"command": f"( {mariadb['command']} ) | {{ head -c 65536; sleep 120; cat; }}"})
    run = KilledRun(stack, slow)

    def dump_half_written() -> bool:
        return any(p.name.startswith(".") and p.stat().st_size >= 65536 for p in dumps.iterdir())

    run.kill_when("the dump streaming into the staging tree", dump_half_written)
    held = assert_killed_run_left_nothing_complete(stack, before, run)
    assert (dumps / "mariadb.sql").read_bytes() == previous_dump, "the killed dump replaced the last good one"
    assert_next_backup_recovers(stack, kubeconfig, held, before, run.process.pid)


def test_killed_during_the_volume_copy(stack, kubeconfig, core):
    before = markers(stack["repo"])
    run = KilledRun(stack, profile())

    def helper_running() -> bool:
        pods = core.list_namespaced_pod(NS, label_selector="app.kubernetes.io/component=pv-copy-helper").items
        return any(p.status.phase == "Running" for p in pods)

    run.kill_when("the volume copy's helper pod running", helper_running)
    held = assert_killed_run_left_nothing_complete(stack, before, run)
    assert_next_backup_recovers(stack, kubeconfig, held, before, run.process.pid)


def test_killed_while_bup_save_writes(stack, kubeconfig):
    before_markers, before_commits = markers(stack["repo"]), commits(stack["repo"])
    # Random bytes do not deduplicate: bup save has a large new pack to write.
    bulky = profile(bulk={"type": "dump", "statefulset": "mariadb", "pod": "mariadb-0", "container": "mariadb",
                          "extension": "bin", "command": f"head -c {BULK_BYTES} /dev/urandom",
                          "restore_command": "cat > /dev/null", "timeout": 600})
    run = KilledRun(stack, bulky)
    started: list[float] = []

    def saving_for_a_while() -> bool:
        saving = any("save" in argv and any(part.endswith("bup") for part in argv)
                     for argv in map(argv_of, descendants(run.process.pid)))
        if saving and not started:
            started.append(time.monotonic())
        return bool(started) and saving and time.monotonic() - started[0] > 1.0

    run.kill_when("bup save writing for a second", saving_for_a_while)
    held = assert_killed_run_left_nothing_complete(stack, before_markers, run)
    assert commits(stack["repo"]) == before_commits, "bup save was killed before it could commit"
    assert_next_backup_recovers(stack, kubeconfig, held, before_markers, run.process.pid)


def test_killed_during_validation(stack, kubeconfig, tmp_path):
    before_markers, before_commits = markers(stack["repo"]), commits(stack["repo"])
    # A git on PATH that holds the validation's `git ls-tree` of the new commit: the kill lands after bup save
    # committed and before the completeness marker can be written.
    real_git = subprocess.run(["sh", "-c", "command -v git"], capture_output=True, text=True, check=True,
                              timeout=30).stdout.strip()
    reached = tmp_path / "validation-started"
    shim = tmp_path / "bin" / "git"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\ncase " $* " in *" ls-tree "*) touch {reached}; sleep 300;; esac\n'
                    f'exec {real_git} "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    run = KilledRun(stack, profile(), env={"PATH": f"{shim.parent}:{os.environ['PATH']}"})

    run.kill_when("the validation of the saved commit", reached.exists)
    held = assert_killed_run_left_nothing_complete(stack, before_markers, run)
    saved = commits(stack["repo"])
    assert len(saved) == len(before_commits) + 1, "the kill was meant to land after bup save committed"
    unmarked = saved[0]
    entry = next(a for a in listed_archives(kubeconfig, stack["tmp"], NS) if unmarked.startswith(a["commit"]))
    assert entry["complete"] is False, "the commit saved by the killed run is listed as complete"
    summary = assert_next_backup_recovers(stack, kubeconfig, held, before_markers, run.process.pid,
                                          backup_retention=True)
    # Retention ran under the recovering run's lease: it removed the killed run's incomplete archive and kept
    # every complete one (all are younger than its 7 days).
    assert [archive["commit"] for archive in summary["retention"]["removed"]] == [unmarked]
    assert summary["retention"]["kept"] == len(markers(stack["repo"])) == len(before_markers) + 1


# A real freeze: mariadb-0's pre-hook holds FLUSH TABLES WITH READ LOCK in a background client, so every write
# waits; its post-hook kills that client's query and counts the thaws. statesafe.backup/max-freeze arms the
# dead-man release (plugins/module_utils/capture/release.py).
THAW = THAW_ONLY + "; echo thawed >> /tmp/statesafe-thaws"
PROBE = "CREATE DATABASE IF NOT EXISTS freezeprobe; CREATE TABLE IF NOT EXISTS freezeprobe.t (n INT)"


def mariadb(kubectl, script: str, check: bool = True) -> subprocess.CompletedProcess:
    return kubectl("-n", NS, "exec", "mariadb-0", "-c", "mariadb", "--", "sh", "-c", script, check=check, timeout=60)


def writable(kubectl) -> bool:
    """One INSERT that gives up after 1 s waiting for the global read lock."""
    run = mariadb(kubectl, f'{SQL} -e "SET SESSION lock_wait_timeout = 1; INSERT INTO freezeprobe.t VALUES (1)"',
                  check=False)
    if run.returncode != 0 and b"Lock wait timeout" not in run.stderr:
        raise AssertionError(f"the probe write failed otherwise: {run.stderr.decode()}")
    return run.returncode == 0


def thaws(kubectl) -> int:
    return int(mariadb(kubectl, "cat /tmp/statesafe-thaws 2>/dev/null | wc -l").stdout.decode().strip())


@pytest.fixture
def freezable(stack, kubectl):
    """mariadb-0 annotated with the real freeze and a maximum of `max_freeze` seconds (set by the test)."""
    mariadb(kubectl, f'{SQL} -e "{PROBE}"; rm -f /tmp/statesafe-thaws')

    def annotate(max_freeze: int) -> None:
        kubectl("annotate", "--overwrite", "-n", NS, "pod", "mariadb-0", f"statesafe.backup/pre-hook-command={FREEZE}",
                f"statesafe.backup/post-hook-command={THAW}", "statesafe.backup/post-hook-container=mariadb",
                "statesafe.backup/pre-hook-container=mariadb", f"statesafe.backup/max-freeze={max_freeze}s")
    yield annotate
    kubectl("annotate", "-n", NS, "pod", "mariadb-0", *[f"statesafe.backup/{key}-" for key in (
        "pre-hook-command", "post-hook-command", "pre-hook-container", "post-hook-container", "max-freeze")],
        check=False)
    mariadb(kubectl, THAW, check=False)


def test_a_freeze_ends_within_its_maximum_when_the_controller_dies(stack, kubeconfig, kubectl, freezable):
    """Killed while mariadb-0 is frozen for its dump, the run never thaws it; its armed release does, within the
    max-freeze; the next backup freezes, thaws once, disarms, and recovers the lease."""
    freezable(25)
    before = markers(stack["repo"])
    mariadb_dump = next(c for c in profile()["components"] if c["name"] == "mariadb")
    run = KilledRun(stack, profile(mariadb={"command": "sleep 300; " + mariadb_dump["command"]}))

    def frozen_and_armed() -> bool:
        return b"statesafe-release-" in mariadb(kubectl, "ls /dev/shm", check=False).stdout

    run.kill_when("mariadb-0 frozen with its release armed", frozen_and_armed)
    killed_at = time.monotonic()
    assert not writable(kubectl), "mariadb-0 took a write while its freeze was held"
    while not writable(kubectl):
        assert time.monotonic() - killed_at < 25 + 15, "mariadb-0 stayed frozen past its max-freeze of 25 s"
        time.sleep(1)
    assert thaws(kubectl) == 1, "the release ran the post-hook other than once"
    assert b"statesafe-release-" not in mariadb(kubectl, "ls /dev/shm").stdout

    held = assert_killed_run_left_nothing_complete(stack, before, run)
    summary = assert_next_backup_recovers(stack, kubeconfig, held, before, run.process.pid)
    assert summary["hooks"]["freeze_seconds"].get("mariadb-0", 0) > 0, summary["hooks"]
    time.sleep(25 + 3)
    assert thaws(kubectl) == 2, "the disarmed release thawed mariadb-0 a second time (or the post-hook never ran)"
    assert writable(kubectl)


def test_a_capture_that_outlives_its_freeze_is_not_complete(stack, kubeconfig, kubectl, freezable):
    """A dump longer than the max-freeze: the release thaws mariadb-0 during it, and the backup fails saying
    so instead of recording a capture that was not frozen throughout."""
    freezable(5)
    before = markers(stack["repo"])
    mariadb_dump = next(c for c in profile()["components"] if c["name"] == "mariadb")
    run = playbook("backup.yml", kubeconfig, stack["tmp"], NS, staging=str(stack["staging"]),
                   profile_data=profile(mariadb={"command": "sleep 15; " + mariadb_dump["command"]}))
    assert run.rc != 0
    assert "no armed release statesafe-release-" in run.output and "reached its maximum of 5 s" in run.output, \
        run.failures or run.output[-4000:]
    # The run's last message names the pod, the container and the reason, not only "One or more items failed".
    assert any("sf-kills/mariadb-0 container mariadb: rc 3: no armed release" in failure
               for failure in run.failures), run.failures
    assert markers(stack["repo"]) == before
    assert thaws(kubectl) == 2, "expected the release's thaw and the run's own post-hook"
    assert writable(kubectl)
