from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import socket

import pytest

from ansible_collections.statesafe.backup.plugins.module_utils.bup import lock as bup_lock
from ansible_collections.statesafe.backup.plugins.module_utils.bup.errors import LockNotHeld, LockTimeout


class FakeClock(object):
    def __init__(self, now=1700000000.0):
        self.now = now
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def make_lock(tmp_path, clock, timeout=3, token=None, operation="save branch=sf", honour_lease=True):
    return bup_lock.RunLock(str(tmp_path), "/srv/bup", operation, timeout=timeout, token=token, clock=clock,
                            sleep=clock.sleep, honour_lease=honour_lease)


def test_holder_message_names_pid_host_operation_and_since():
    record = {"pid": 4242, "host": "backup1", "operation": "save branch=sf", "since": "2023-11-14T22:13:20Z",
              "since_epoch": 1700000000}
    text = bup_lock.describe_holder(record, 1700000042)
    assert text == "pid 4242 on host backup1 (operation: save branch=sf) since 2023-11-14T22:13:20Z (42s ago)"
    message = bup_lock.timeout_message("/srv/bup", record, 30, 1700000042)
    assert message.startswith("timed out after 30s waiting for the run lock of repository /srv/bup: it is held by "
                              "pid 4242 on host backup1")


def test_holder_message_for_a_lease_and_for_unknown_holders():
    lease = {"token": "0123456789abcdef", "owner": "backup.yml", "host": "awx", "pid": 7, "since": "S",
             "expires_epoch": 1700003600}
    text = bup_lock.describe_holder({"lease": lease}, 1700000000)
    assert text == ("the run lease of 'backup.yml' (token 01234567...) taken on host awx by pid 7 since S, "
                    "until 2023-11-14T23:13:20Z")
    assert "names no holder" in bup_lock.describe_holder({}, 0)
    assert "being rewritten" in bup_lock.describe_holder(bup_lock.parse_record(b"{half"), 0)


@pytest.mark.parametrize("record, token, now, blocks", [
    ({}, None, 10, False),
    ({"lease": {"token": "t1", "expires_epoch": 20}}, None, 10, True),
    ({"lease": {"token": "t1", "expires_epoch": 20}}, "t1", 10, False),
    ({"lease": {"token": "t1", "expires_epoch": 20}}, "t2", 10, True),
    ({"lease": {"token": "t1", "expires_epoch": 20}}, None, 20, False),
    ({"lease": "garbage"}, None, 10, False),
])
def test_lease_blocks(record, token, now, blocks):
    assert bup_lock.lease_blocks(record, token, now) is blocks


def test_lock_records_the_holder_and_clears_on_release(tmp_path):
    clock = FakeClock()
    with make_lock(tmp_path, clock) as lock:
        record = json.loads((tmp_path / bup_lock.LOCK_FILE).read_text())
        assert record["pid"] == os.getpid() and record["host"] == socket.gethostname()
        assert record["operation"] == "save branch=sf" and lock.waited == 0
    assert (tmp_path / bup_lock.LOCK_FILE).read_text() == ""


def test_second_holder_waits_then_fails_naming_the_first(tmp_path):
    clock = FakeClock()
    first = make_lock(tmp_path, clock).acquire()
    try:
        with pytest.raises(LockTimeout) as info:
            make_lock(tmp_path, clock, timeout=2, operation="retention").acquire()
    finally:
        first.release()
    assert sum(clock.sleeps) >= 2
    message = str(info.value)
    assert "pid {0} on host {1} (operation: save branch=sf)".format(os.getpid(), socket.gethostname()) in message
    assert info.value.holder["pid"] == os.getpid()
    # and once released, the next one gets it at once
    with make_lock(tmp_path, clock, timeout=0) as lock:
        assert lock.waited == 0


def test_a_lease_keeps_others_out_but_lets_its_token_in(tmp_path):
    clock = FakeClock()
    with make_lock(tmp_path, clock, operation="lease") as lock:
        lease = lock.take_lease("backup.yml", ttl=100)
    token = lease["token"]
    with pytest.raises(LockTimeout, match="the run lease of 'backup.yml'"):
        make_lock(tmp_path, clock, timeout=1).acquire()
    with make_lock(tmp_path, clock, token=token) as lock:
        assert lock.lease()["token"] == token
    # the lease survives the operation that used it
    assert json.loads((tmp_path / bup_lock.LOCK_FILE).read_text())["lease"]["token"] == token
    clock.now += 200  # expired
    with make_lock(tmp_path, clock, timeout=0) as lock:
        assert lock.lease() is None


def test_dropping_someone_elses_lease_needs_force(tmp_path):
    clock = FakeClock()
    with make_lock(tmp_path, clock) as lock:
        lock.take_lease("run A", ttl=100, token="tokenA")
    with make_lock(tmp_path, clock, token="tokenB", honour_lease=False) as lock:
        with pytest.raises(LockNotHeld, match="belongs to the run lease of 'run A'"):
            lock.drop_lease("tokenB")
        assert lock.drop_lease("tokenB", force=True)["token"] == "tokenA"
    with make_lock(tmp_path, clock, timeout=0) as lock:
        assert lock.lease() is None


def test_renewing_keeps_the_token_and_extends(tmp_path):
    clock = FakeClock()
    with make_lock(tmp_path, clock) as lock:
        first = lock.take_lease("run", ttl=10, token="tok")
    clock.now += 5
    with make_lock(tmp_path, clock, token="tok") as lock:
        renewed = lock.take_lease("run", ttl=10, token="tok")
    assert renewed["token"] == "tok" and renewed["since"] == first["since"]
    assert renewed["expires_epoch"] == first["expires_epoch"] + 5
