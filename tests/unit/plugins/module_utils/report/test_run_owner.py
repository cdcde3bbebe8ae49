from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

from ansible_collections.statesafe.backup.plugins.module_utils.report import run_owner


def fake_proc(tmp_path, pid, ticks, comm="ansible-playbook"):
    (tmp_path / str(pid)).mkdir(parents=True, exist_ok=True)
    fields = ["S"] + ["0"] * 18 + [str(ticks)] + ["0"] * 10
    (tmp_path / str(pid) / "stat").write_text("{0} ({1}) {2}\n".format(pid, comm, " ".join(fields)))


def test_start_ticks_of_this_process_is_stable():
    assert run_owner.start_ticks(os.getpid()) == run_owner.start_ticks(os.getpid()) > 0


def test_start_ticks_handles_odd_command_names(tmp_path):
    fake_proc(tmp_path, 42, 777, comm="a) b (c")
    assert run_owner.start_ticks(42, str(tmp_path)) == 777
    assert run_owner.start_ticks(43, str(tmp_path)) is None


def test_owner_round_trip():
    owner = "statesafe.backup " + run_owner.owner_tag(42, 777, "vm")
    assert run_owner.parse_owner(owner) == {"pid": 42, "start": 777, "host": "vm"}
    assert run_owner.parse_owner("ansible") is None


def lease(owner, expires=2000.0):
    return {"token": "t" * 32, "owner": owner, "since": "2026-11-21T00:00:00Z", "expires_epoch": expires}


@pytest.mark.parametrize("pid_ticks, expected", [
    (None, "is gone"),
    (778, "is now another process"),
    (777, None),
])
def test_stale_lease(tmp_path, pid_ticks, expected):
    if pid_ticks is not None:
        fake_proc(tmp_path, 42, pid_ticks)
    found = run_owner.stale_lease(lease("backup " + run_owner.owner_tag(42, 777, "vm")), "vm", 1000.0,
                                  str(tmp_path))
    if expected is None:
        assert found is None
    else:
        assert expected in found["reason"] and "pid 42 on vm" in found["reason"]
        assert found["token"] == "t" * 32


@pytest.mark.parametrize("the_lease, host", [
    (lease("backup " + run_owner.owner_tag(42, 777, "other")), "vm"),       # another host: not ours to judge
    (lease("backup " + run_owner.owner_tag(42, 777, "vm"), expires=10.0), "vm"),  # expired already
    (lease("someone by hand"), "vm"),                                        # no run tag
    (None, "vm"),
    ({"owner": "x"}, "vm"),
])
def test_leases_never_judged_stale(tmp_path, the_lease, host):
    assert run_owner.stale_lease(the_lease, host, 1000.0, str(tmp_path)) is None


def test_read_lease(tmp_path):
    assert run_owner.read_lease(str(tmp_path)) is None
    (tmp_path / "statesafe.lock").write_text("")
    assert run_owner.read_lease(str(tmp_path)) is None
    (tmp_path / "statesafe.lock").write_text("{not json")
    assert run_owner.read_lease(str(tmp_path)) is None
    (tmp_path / "statesafe.lock").write_text(json.dumps({"pid": 1, "lease": {"token": "abc"}}))
    assert run_owner.read_lease(str(tmp_path)) == {"token": "abc"}
