"""pod_dump against the local cluster: real MariaDB dumps out of the sample stack and loads back.

Dumps read a sample stack of this file's own (namespace `sf-dump`, deployed and
seeded once, deleted afterwards); loads go to a scratch database in its MariaDB
that is dropped afterwards. Faults (a failing command, a
process killed mid-stream, a timeout) run in a toolbox pod of our own namespace.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
import time
import uuid

import pytest

from k8s_helpers import make_pod, pod_exec, wait_for
from role_helpers import sample

SAMPLE_NS = "sf-dump"
MARIADB = {"namespace": SAMPLE_NS, "pod": "mariadb-0", "container": "mariadb"}
DUMP = "mariadb-dump -uroot --single-transaction --skip-dump-date --databases zuul sfmanager"
TRAILER = "-- Dump completed"


def sha256_of(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(directory) -> list[str]:
    return sorted(n for n in os.listdir(directory) if "statesafe-tmp" in n)


def mysql(kubectl, sql: str) -> str:
    script = 'MYSQL_PWD="$MARIADB_ROOT_PASSWORD" mariadb -uroot -N -B -e "$0"'
    result = kubectl("exec", "-n", SAMPLE_NS, "mariadb-0", "-c", "mariadb", "--", "sh", "-c", script, sql)
    return result.stdout.decode().strip()


@pytest.fixture(scope="module", autouse=True)
def sample_stack(kubeconfig):
    try:
        sample(kubeconfig, SAMPLE_NS, "deploy")
        sample(kubeconfig, SAMPLE_NS, "seed")
        yield SAMPLE_NS
    finally:
        sample(kubeconfig, SAMPLE_NS, "destroy", "--no-wait")


@pytest.fixture(scope="module")
def root_password(core) -> str:
    secret = core.read_namespaced_secret("mariadb-root-password", SAMPLE_NS)
    return base64.b64decode(secret.data["mariadb-root-password"]).decode()


@pytest.fixture(scope="module")
def box(core, ns, toolbox_image):
    make_pod(core, ns, "box", toolbox_image)
    return {"namespace": ns, "pod": "box"}


@pytest.fixture
def scratch_db(kubectl):
    name = f"statesafe_it_{uuid.uuid4().hex[:8]}"
    mysql(kubectl, f"CREATE DATABASE {name}")
    yield name
    mysql(kubectl, f"DROP DATABASE IF EXISTS {name}")


def processes(kubectl, ns, pod) -> str:
    script = 'for p in /proc/[0-9]*; do tr "\\0" " " < "$p/cmdline" 2>/dev/null; echo; done'
    return pod_exec(kubectl, ns, pod, script).stdout.decode()


def test_check_mode_runs_nothing(run_module, kubectl, box, tmp_path):
    run = run_module("pod_dump", dict(box, command="touch /tmp/ran; echo x", dest=str(tmp_path / "x")), check=True)
    assert run.rc == 0 and run.result.get("skipped"), run
    assert pod_exec(kubectl, box["namespace"], "box", "test -e /tmp/ran", check=False).returncode == 1
    assert not (tmp_path / "x").exists()


def test_mariadb_dump_verified_then_idempotent(run_module, root_password, tmp_path):
    dest = tmp_path / "dumps" / "mariadb.sql"
    args = dict(MARIADB, command=DUMP, env={"MYSQL_PWD": root_password}, dest=str(dest), expect_trailer=TRAILER)
    first = run_module("pod_dump", args)
    assert first.rc == 0 and first.changed, first
    data = dest.read_bytes()
    assert first["size"] == len(data) and first["sha256"] == hashlib.sha256(data).hexdigest()
    assert data.rstrip().endswith(TRAILER.encode())
    assert b"INSERT INTO `zuul_build`" in data and b"CREATE DATABASE /*!32312 IF NOT EXISTS*/ `sfmanager`" in data
    assert first["rc"] == 0 and first["path"] == str(dest)
    assert (dest.stat().st_mode & 0o777) == 0o600
    assert root_password not in first.output
    print(f"\nmariadb dump: {first['size']} bytes in {first['duration']} s, {first['throughput']} B/s"
          f" (task {first.duration:.2f} s)")
    before = dest.stat()
    second = run_module("pod_dump", args)
    assert second.rc == 0 and not second.changed, second
    assert second["sha256"] == first["sha256"]
    after = dest.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns), "an identical dump was rewritten"
    assert leftovers(dest.parent) == []


def test_changed_dump_replaces_dest(run_module, box, tmp_path):
    dest = tmp_path / "d.out"
    dest.write_bytes(b"old content\n")
    run = run_module("pod_dump", dict(box, argv=["printf", "new\\n"], dest=str(dest)))
    assert run.rc == 0 and run.changed, run
    assert dest.read_bytes() == b"new\n" and run["size"] == 4


def test_failing_dump_command_keeps_the_old_file(run_module, root_password, tmp_path):
    dest = tmp_path / "mariadb.sql"
    dest.write_bytes(b"the previous good dump\n")
    run = run_module("pod_dump", dict(MARIADB, command=f"{DUMP}; echo giving up >&2; exit 3",
                                      env={"MYSQL_PWD": root_password}, dest=str(dest)))
    assert run.failed, run
    assert "failed with rc 3" in run.msg and "giving up" in run.msg
    assert f"namespace={SAMPLE_NS} pod=mariadb-0 container=mariadb" in run.msg and str(dest) in run.msg
    assert run["rc"] == 3
    assert dest.read_bytes() == b"the previous good dump\n"
    assert leftovers(tmp_path) == []
    fresh = tmp_path / "fresh.sql"
    run = run_module("pod_dump", dict(MARIADB, command=f"{DUMP} no_such_database", env={"MYSQL_PWD": root_password},
                                      dest=str(fresh)))
    assert run.failed and "no_such_database" in run.msg, run
    assert not fresh.exists() and leftovers(tmp_path) == []


def test_dump_without_trailer_is_incomplete(run_module, root_password, tmp_path):
    dest = tmp_path / "short.sql"
    run = run_module("pod_dump", dict(MARIADB, command=f"{DUMP} | head -c 100000", env={"MYSQL_PWD": root_password},
                                      dest=str(dest), expect_trailer=TRAILER))
    assert run.failed, run
    assert "expected trailer" in run.msg and "ended early" in run.msg
    assert not dest.exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("victim", ["command", "everything"])
def test_process_killed_mid_stream(run_module, kubectl, box, tmp_path, victim):
    """Kill the dump command, or every process of the exec (the wrapper, tee), while the stream runs."""
    tag = uuid.uuid4().hex[:6]
    dest = tmp_path / "cut.out"
    dest.write_bytes(b"kept\n")
    spin = f"sleep {5000 + int(tag, 16) % 1000}"
    # exec: the dump command itself is what gets killed in the first case.
    command = f"head -c 3000000 /dev/urandom; touch /tmp/sent-{tag}; exec {spin}"
    holder = {}
    worker = threading.Thread(target=lambda: holder.update(
        run=run_module("pod_dump", dict(box, command=command, dest=str(dest)))))
    worker.start()
    ns = box["namespace"]
    wait_for(lambda: pod_exec(kubectl, ns, "box", f"test -e /tmp/sent-{tag}", check=False).returncode == 0,
             120, "the stream to start")
    if victim == "command":
        killer = ('for p in /proc/[0-9]*; do c=$(tr "\\0" " " < "$p/cmdline" 2>/dev/null); '
                  f'[ "$c" = "{spin} " ] && kill -9 "${{p#/proc/}}"; done; true')
    else:
        killer = 'for p in /proc/[0-9]*; do n=${p#/proc/}; [ "$n" = 1 ] || [ "$n" = $$ ] || kill -9 "$n" 2>/dev/null; done'
    pod_exec(kubectl, ns, "box", killer, check=False)
    worker.join(300)
    run = holder["run"]
    assert run.failed, run
    if victim == "command":
        assert "rc 137" in run.msg, run
    else:
        assert "without reporting what it sent" in run.msg or "ended without an exit status" in run.msg, run
    assert f"namespace={ns} pod=box container=main" in run.msg
    assert dest.read_bytes() == b"kept\n" and leftovers(tmp_path) == []


def test_timeout_ends_the_command_in_the_pod(run_module, kubectl, box, tmp_path):
    dest = tmp_path / "slow.out"
    started = time.monotonic()
    run = run_module("pod_dump", dict(box, command="head -c 1000 /dev/zero; sleep 4321", timeout=2, kill_after=1,
                                      dest=str(dest)))
    assert run.failed, run
    assert "timed out after 2 s" in run.msg and run["rc"] == 124
    assert time.monotonic() - started < 60
    assert "sleep 4321" not in processes(kubectl, box["namespace"], "box"), "the command survived its timeout"
    assert not dest.exists() and leftovers(tmp_path) == []


def test_missing_container_tool_or_pod_named(run_module, box, tmp_path):
    run = run_module("pod_dump", dict(box, container="db", argv=["true"], dest=str(tmp_path / "x")))
    assert run.failed and "container db not found" in run.msg and f"namespace={box['namespace']}" in run.msg, run
    run = run_module("pod_dump", dict(box, pod="nope", argv=["true"], dest=str(tmp_path / "x")))
    assert run.failed and 'pods "nope" not found' in run.msg, run


def table_state(kubectl, table: str) -> tuple[int, str]:
    """Row count and MariaDB's checksum of every row."""
    count = int(mysql(kubectl, f"SELECT COUNT(*) FROM {table}"))
    return count, mysql(kubectl, f"CHECKSUM TABLE {table} EXTENDED").split()[-1]


def test_load_into_scratch_database(run_module, kubectl, root_password, scratch_db, tmp_path):
    env = {"MYSQL_PWD": root_password}
    dump = tmp_path / "buildset.sql"
    made = run_module("pod_dump", dict(MARIADB, argv=["mariadb-dump", "-uroot", "--skip-dump-date", "zuul",
                                                      "zuul_buildset"],
                                       env=env, dest=str(dump), expect_trailer=TRAILER))
    assert made.rc == 0, made
    load = dict(MARIADB, state="to_pod", argv=["mariadb", "-uroot", scratch_db], env=env, src=str(dump),
                sha256=made["sha256"], size=made["size"])
    run = run_module("pod_dump", load)
    assert run.rc == 0 and run.changed, run
    assert run["bytes_sent"] == made["size"] and run["sha256"] == made["sha256"] and run["rc"] == 0
    assert root_password not in run.output
    print(f"\nmariadb load: {run['bytes_sent']} bytes in {run['duration']} s, {run['throughput']} B/s")
    original = table_state(kubectl, "zuul.zuul_buildset")
    assert table_state(kubectl, f"{scratch_db}.zuul_buildset") == original
    assert original[0] == 5000

    # A sentinel row the dump's DROP TABLE would remove if anything ran.
    mysql(kubectl, f"INSERT INTO {scratch_db}.zuul_buildset VALUES (999999999, 'sentinel', 't', 'p', 'check', NULL, NOW())")
    guarded = table_state(kubectl, f"{scratch_db}.zuul_buildset")
    wrong = run_module("pod_dump", dict(load, sha256="0" * 64))
    assert wrong.failed and "refusing to load" in wrong.msg and str(dump) in wrong.msg, wrong
    corrupted = tmp_path / "corrupted.sql"
    corrupted.write_bytes(dump.read_bytes().replace(b"INSERT INTO", b"INSERT  INTO", 1)[:made["size"]])
    bad = run_module("pod_dump", dict(load, src=str(corrupted)))
    assert bad.failed and "refusing to load" in bad.msg, bad
    short = run_module("pod_dump", dict(load, size=made["size"] + 1))
    assert short.failed and "refusing to load" in short.msg, short
    assert table_state(kubectl, f"{scratch_db}.zuul_buildset") == guarded, "the table changed though the load refused"


def test_failing_load_reports_stderr(run_module, kubectl, root_password, scratch_db, tmp_path):
    sql = tmp_path / "broken.sql"
    sql.write_bytes(b"CREATE TABLE t (id INT PRIMARY KEY);\nINSERT INTO t VALUES (1);\nSELECT * FROM no_such_table;\n"
                    + b"-- padding\n" * 50000)
    run = run_module("pod_dump", dict(MARIADB, state="to_pod", argv=["mariadb", "-uroot", scratch_db],
                                      env={"MYSQL_PWD": root_password}, src=str(sql), sha256=sha256_of(sql)))
    assert run.failed, run
    assert "failed with rc 1" in run.msg and "no_such_table" in run.msg and f"namespace={SAMPLE_NS} " in run.msg
    assert run["rc"] == 1


def test_load_passes_exactly_the_verified_bytes(run_module, box, tmp_path):
    """The wrapper passes on exactly the verified bytes; the command's stdout tail comes back."""
    src = tmp_path / "blob"
    src.write_bytes(os.urandom(5 * 1024 * 1024 + 7))
    run = run_module("pod_dump", dict(box, state="to_pod", command="sha256sum | cut -c1-64", src=str(src),
                                      sha256=sha256_of(src)))
    assert run.rc == 0, run
    assert run["stdout"].strip() == sha256_of(src) and run["bytes_sent"] == src.stat().st_size
    print(f"\nload of 5 MiB into sha256sum: {run['duration']} s, {run['throughput']} B/s")
