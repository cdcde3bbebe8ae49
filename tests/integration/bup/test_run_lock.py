"""Two runs against one repository: the second waits, then fails naming the first."""

import json
import os
import signal
import socket
import time
from pathlib import Path

from bup_helpers import finish_module, start_module, write_tree

HOST = socket.gethostname()


def lock_record(repo: Path) -> dict:
    path = repo / "statesafe.lock"
    text = path.read_text() if path.exists() else ""
    return json.loads(text) if text.strip() else {}


def test_a_running_save_keeps_a_second_run_out_and_is_named(run_module, repo_path, tmp_path):
    big = write_tree(tmp_path / "big", dict(("part{0}".format(n), os.urandom(40 << 20)) for n in range(6)))
    first = start_module("bup_save", {"repository": str(repo_path), "branch": "sf", "staging": str(big),
                                      "manifest": "MANIFEST.json"})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "pid" not in lock_record(repo_path):
        time.sleep(0.05)
    holder = lock_record(repo_path)
    assert holder.get("operation") == "save branch=sf", holder
    assert b"python" in Path("/proc", str(holder["pid"]), "cmdline").read_bytes(), "the module process holds it"

    # The holder stopped where it is, holding the lock, for as long as the others try: a save of 240 MB can end
    # before they are through on a busy machine, and the test would then prove nothing.
    os.kill(holder["pid"], signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        small = write_tree(tmp_path / "small", {"a": b"a"})
        started = time.monotonic()
        second = run_module("bup_save", repository=str(repo_path), branch="other", staging=str(small),
                            manifest="MANIFEST.json", lock_timeout=3)
        waited = time.monotonic() - started
        retention = run_module("bup_retention", repository=str(repo_path), keep_all_for="1d", lock_timeout=1)
    finally:
        os.kill(holder["pid"], signal.SIGCONT)
        stopped = time.monotonic() - stopped
    assert second.failed and waited >= 3
    assert "timed out after 3s waiting for the run lock of repository {0}".format(repo_path) in second["msg"]
    assert "pid {0} on host {1} (operation: save branch=sf) since".format(holder["pid"], HOST) in second["msg"]
    assert second["lock_holder"]["pid"] == holder["pid"]
    assert retention.failed and "pid {0}".format(holder["pid"]) in retention["msg"]

    done = finish_module(first)
    # It waited for no one: at most the time it was held stopped, if that came before it measured.
    assert done["complete"] and done["lock_waited"] < 1 + stopped
    assert lock_record(repo_path) == {}, "released"
    assert run_module("bup_save", repository=str(repo_path), branch="other", staging=str(small),
                      manifest="MANIFEST.json", lock_timeout=0)["complete"]


def test_a_run_lease_spans_tasks_and_names_its_owner(run_module, repo_path, tmp_path):
    staging = write_tree(tmp_path / "staging", {"a": b"a"})
    taken = run_module("bup_lock", repository=str(repo_path), owner="backup.yml run A", ttl=600)
    assert taken["changed"] and len(taken["token"]) == 32
    token = taken["token"]

    blocked = run_module("bup_save", repository=str(repo_path), branch="sf", staging=str(staging),
                         manifest="MANIFEST.json", lock_timeout=2)
    assert blocked.failed
    assert "the run lease of 'backup.yml run A' (token {0}...) taken on host {1}".format(token[:8], HOST) in \
        blocked["msg"]
    other = run_module("bup_lock", repository=str(repo_path), owner="run B", lock_timeout=1)
    assert other.failed and "backup.yml run A" in other["msg"]

    inside = run_module("bup_save", repository=str(repo_path), branch="sf", staging=str(staging),
                        manifest="MANIFEST.json", lock_timeout=2, lock_token=token)
    assert inside["complete"], inside.get("msg")
    renewed = run_module("bup_lock", repository=str(repo_path), owner="backup.yml run A", lock_token=token)
    assert not renewed["changed"] and renewed["token"] == token

    wrong = run_module("bup_lock", repository=str(repo_path), state="released", lock_token="f" * 32, lock_timeout=1)
    assert wrong.failed
    released = run_module("bup_lock", repository=str(repo_path), state="released", lock_token=token)
    assert released["changed"] and released["lease"]["owner"] == "backup.yml run A"
    assert not run_module("bup_lock", repository=str(repo_path), state="released", lock_token=token)["changed"]
    assert run_module("bup_save", repository=str(repo_path), branch="sf", staging=str(staging),
                      manifest="MANIFEST.json", lock_timeout=0)["complete"]


def test_a_crashed_runs_lease_can_be_forced_away(run_module, repo_path):
    run_module("bup_lock", repository=str(repo_path), owner="crashed run", ttl=3600)
    forced = run_module("bup_lock", repository=str(repo_path), state="released", force=True)
    assert forced["changed"] and forced["lease"]["owner"] == "crashed run"
    assert run_module("bup_lock", repository=str(repo_path), owner="next run", lock_timeout=0)["changed"]


def test_check_mode_skips_the_lease(run_module, repo_path):
    checked = run_module("bup_lock", check=True, repository=str(repo_path))
    assert checked.get("skipped") and not (repo_path / "statesafe.lock").exists()
