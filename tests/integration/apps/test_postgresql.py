"""profiles/postgresql.yml against a real PostgreSQL 15 server, in a namespace that enforces PodSecurity `restricted`.

The server (tests/cluster/apps/postgresql.yaml: a StatefulSet running as uid 999, its claim on the test cluster's
`local` class, where fsGroup is applied as on CSI storage) holds a role with a password, a database it owns with
its own settings, grants and comment, pgbench's tables, and a database whose name needs quoting. Then, in order:

- the fingerprint (every table's rows, every database's properties, every role's attributes and password hash)
  comes back equal after a backup, changes made later, the namespace deleted and a restore into it; the later
  changes are gone, and the role logs in over TCP with its password;
- on the running server (policy update) a changed row comes back, and the database is a new one (the load went
  into a new database, which then took the name);
- a load stopped half-way (the backend of pg_restore's COPY ended) leaves the database as it was;
- a dump cut short is refused by the profile's trailer; a database whose table is locked by a transaction that
  does not end fails the backup at the dump's timeout, naming the database, with no archive made; the revision
  probe moves when a write ends (also one in progress during the probe) and on a role's change, not on a dump;
- a backup taken while pgbench keeps moving money from accounts into the history (two tables, one invariant:
  balances plus history stay constant) restores a database where the invariant holds, with a number of transfers
  between those committed before the backup began and those committed when it ended.

The namespace is deleted at the end, whatever happened.
"""

from __future__ import annotations

import copy
import json
import subprocess
import threading
from pathlib import Path

import pytest
import yaml

from ansible_collections.statesafe.backup.plugins.module_utils.profile import parameters
from cluster_helpers import wait_until
from role_helpers import REPO, playbook


def with_defaults(profile: dict) -> dict:
    """The profile as a run with no profile_parameters uses it: the revision test runs its commands by hand."""
    return parameters.resolve(profile, parameters.effective(profile)[0])


NS = "sfp-postgresql"
PROFILE = with_defaults(yaml.safe_load((REPO / "profiles" / "postgresql.yml").read_text()))
MANIFEST = REPO / "tests" / "cluster" / "apps" / "postgresql.yaml"
SEED = """
CREATE ROLE app LOGIN PASSWORD 'app-password';
CREATE DATABASE appdb OWNER app;
ALTER DATABASE appdb SET work_mem = '8MB';
REVOKE CONNECT ON DATABASE appdb FROM PUBLIC;
GRANT CONNECT ON DATABASE appdb TO app;
COMMENT ON DATABASE appdb IS 'the application';
CREATE DATABASE "odd name";
"""
# Every table's rows (ordered, hashed), every database's properties (its grants in a stable order: a restore may
# list the same grants in another) and every role's attributes and password hash.
FINGERPRINT_DATABASES = ("SELECT datname || '|' || pg_get_userbyid(datdba) || '|' "
                         "|| coalesce((SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(datacl) a), '') || '|' "
                         "|| coalesce(shobj_description(oid, 'pg_database'), '') || '|' || coalesce((SELECT "
                         "setconfig::text FROM pg_db_role_setting WHERE setdatabase = d.oid AND setrole = 0), '') "
                         "FROM pg_database d WHERE NOT datistemplate ORDER BY datname")
FINGERPRINT_ROLES = ("SELECT rolname || '|' || rolsuper || rolcanlogin || '|' || coalesce(rolpassword, '') "
                     "FROM pg_authid WHERE rolname !~ '^pg_' ORDER BY rolname")
TABLES = "SELECT quote_ident(relname) FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"
TABLE_HASH = "SELECT md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM {0} x"


STOP_FIRST_COPY = """
for _ in $(seq 1 6000); do
  n=$(psql -X -A -t -q -d postgres -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
    WHERE datname LIKE 'statesafe_new_%' AND query ILIKE 'COPY %'")
  [ "$n" = 0 ] || exit 0
  sleep 0.05
done
echo "no COPY into a new database within 300 s" >&2; exit 1
"""


def image(cluster_state: Path) -> str:
    refs = (cluster_state / "images.txt").read_text().split()
    found = [ref for ref in refs if ref.startswith("localhost/postgres:")]
    assert found, f"no postgres image in {cluster_state / 'images.txt'}: rebuild the cluster (make cluster)"
    return found[0]


def manifests(ref: str) -> list[dict]:
    text = (MANIFEST.read_text().replace("NAMESPACE", NS).replace("IMAGE", ref)
            .replace("SUPERUSER_PASSWORD", "superuser-password"))
    objects = [o for o in yaml.safe_load_all(text) if o]
    for obj in objects:
        for template in obj.get("spec", {}).get("volumeClaimTemplates", []):
            template["spec"]["storageClassName"] = "local"  # the test cluster's class where fsGroup applies
    return objects


def psql(kubectl, sql: str, database: str = "postgres", check: bool = True, env: str = ""):
    return kubectl("-n", NS, "exec", "-i", "postgresql-0", "-c", "postgresql", "--", "sh", "-c",
                   f'{env} exec psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$1"', "sh", database,
                   input=sql.encode(), check=check)


def query(kubectl, sql: str, database: str = "postgres") -> str:
    return psql(kubectl, sql, database).stdout.decode().strip()


def fingerprint(kubectl) -> dict:
    found = {"databases": query(kubectl, FINGERPRINT_DATABASES), "roles": query(kubectl, FINGERPRINT_ROLES)}
    for name in query(kubectl, "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate").split("\n"):
        for table in sorted(filter(None, query(kubectl, TABLES, name).split("\n"))):
            found[f"{name}.{table}"] = query(kubectl, TABLE_HASH.format(table), name)
    return found


def server_ready(kubectl) -> None:
    kubectl("-n", NS, "rollout", "status", "statefulset/postgresql", "--timeout=240s", timeout=260)
    wait_until("postgresql-0 to accept connections",
               lambda: psql(kubectl, "SELECT 1", check=False).returncode == 0, timeout=120)


def deploy(kubectl, core, ref: str) -> None:
    kubectl("create", "namespace", NS)
    kubectl("label", "namespace", NS, "pod-security.kubernetes.io/enforce=restricted")
    kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                  "items": manifests(ref)}).encode())
    server_ready(kubectl)


def delete_namespace(kubectl, core) -> None:
    kubectl("delete", "namespace", NS, "--ignore-not-found", "--wait=false")
    wait_until(f"namespace {NS} to be gone",
               lambda: NS not in [n.metadata.name for n in core.list_namespace().items], timeout=300)


@pytest.fixture(scope="module")
def server(kubeconfig, kubectl, core, cluster_state, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("postgresql")
    delete_namespace(kubectl, core)
    try:
        deploy(kubectl, core, image(cluster_state))
        psql(kubectl, SEED)
        kubectl("-n", NS, "exec", "postgresql-0", "--", "pgbench", "-i", "-s", "3", "-q", "appdb", timeout=300)
        psql(kubectl, "CREATE TABLE notes (id int PRIMARY KEY, body text); INSERT INTO notes VALUES (1, 'kept')",
             "odd name")
        yield {"tmp": tmp, "kubeconfig": kubeconfig}
    finally:
        kubectl("delete", "namespace", NS, "--ignore-not-found", "--wait=false")


def run(server, name: str, profile: dict | None = None, **extra):
    return playbook(name, server["kubeconfig"], server["tmp"], NS, profile_data=profile or PROFILE,
                    staging=str(server["tmp"] / ("staging" if name == "backup.yml" else "restore")), **extra)


def test_disaster_recovery_of_the_whole_server(server, kubectl, core):
    expected = fingerprint(kubectl)
    backup = run(server, "backup.yml")
    assert backup.rc == 0, backup.failures or backup.output[-4000:]
    psql(kubectl, "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid <= 10", "appdb")
    psql(kubectl, "CREATE DATABASE later")
    assert fingerprint(kubectl) != expected

    delete_namespace(kubectl, core)
    restore = run(server, "restore.yml")
    assert restore.rc == 0, restore.failures or restore.output[-4000:]
    server_ready(kubectl)
    assert fingerprint(kubectl) == expected
    # The role's password came back with it: a login over TCP, as a client in another pod would make.
    login = kubectl("-n", NS, "exec", "postgresql-0", "--", "sh", "-c",
                    "PGPASSWORD=app-password psql -X -A -t -h 127.0.0.1 -U app -d appdb -c 'SELECT current_user'")
    assert login.stdout.decode().strip() == "app"


def test_restore_over_the_running_server_loads_a_new_database_then_swaps(server, kubectl):
    before_oid = query(kubectl, "SELECT oid FROM pg_database WHERE datname = 'appdb'")
    expected = fingerprint(kubectl)
    psql(kubectl, "DELETE FROM pgbench_history; UPDATE pgbench_branches SET bbalance = 7", "appdb")
    restore = run(server, "restore.yml", policy="update")
    assert restore.rc == 0, restore.failures or restore.output[-4000:]
    assert fingerprint(kubectl) == expected
    assert query(kubectl, "SELECT oid FROM pg_database WHERE datname = 'appdb'") != before_oid
    assert query(kubectl, "SELECT count(*) FROM pg_database WHERE datname ~ '^statesafe_'") == "0"


def test_a_load_stopped_half_way_leaves_the_database_as_it_was(server, kubectl):
    psql(kubectl, "UPDATE pgbench_branches SET bbalance = 99", "appdb")
    changed = fingerprint(kubectl)
    finished = {}
    restore = threading.Thread(target=lambda: finished.update(run=run(server, "restore.yml", policy="update")))
    restore.start()
    try:
        # Inside the pod, so as not to miss it: the first COPY into a new database ends with its backend.
        kubectl("-n", NS, "exec", "postgresql-0", "--", "sh", "-c", STOP_FIRST_COPY, timeout=400)
    finally:
        restore.join(timeout=900)
    run_ = finished["run"]
    assert run_.rc != 0
    assert "loading database appdb failed; it was left as it was" in run_.output + "".join(run_.failures), \
        run_.failures
    assert fingerprint(kubectl) == changed
    assert query(kubectl, "SELECT count(*) FROM pg_database WHERE datname ~ '^statesafe_'") == "0"


def test_a_dump_cut_short_is_refused_by_the_trailer(server):
    profile = copy.deepcopy(PROFILE)
    databases = next(c for c in profile["components"] if c["name"] == "databases")
    databases["command"] = "( " + databases["command"] + " ) | head -c -4096"  # all but its last 4 KiB
    heads = branch_heads(server)
    backup = run(server, "backup.yml", profile=profile)
    assert backup.rc != 0
    message = " ".join(backup.failures)
    assert "do not match the expected trailer" in message, message
    assert f"namespace={NS} pod=postgresql-0 container=postgresql" in message, message
    assert branch_heads(server) == heads, "a failed backup moved a branch"


# Holds an ACCESS EXCLUSIVE lock on one of appdb's tables (a migration that never ends) until its backend is ended.
HOLD_LOCK = ("BEGIN; LOCK TABLE pgbench_accounts IN ACCESS EXCLUSIVE MODE; "
             "SELECT pg_sleep(600) /* statesafe-test-lock */;\n")
LOCK_HELD = ("SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
             "WHERE c.relname = 'pgbench_accounts' AND l.mode = 'AccessExclusiveLock' AND l.granted")
DUMPS_RUNNING = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pg_dump'"


def branch_heads(server) -> str:
    """Every branch of the test's bup repository and its commit: what a complete backup moves ("" before the first
    backup made the repository)."""
    if not (server["tmp"] / "repo").exists():
        return ""
    return subprocess.run(["git", "--git-dir", str(server["tmp"] / "repo"), "for-each-ref",
                           "--format=%(refname) %(objectname)"], capture_output=True, text=True, check=True,
                          timeout=60).stdout


def test_a_database_that_does_not_answer_fails_naming_it_and_leaves_nothing(server, kubectl, cluster_state):
    """A lock no dump can get (appdb's table held by a transaction that does not end): the dump's timeout ends it,
    the error names namespace, pod, container and the database it was dumping, pg_dump is gone from the server,
    and no archive was made."""
    heads = branch_heads(server)
    assert "refs/heads/postgresql " in heads, "the earlier tests made archives"
    holder = subprocess.Popen([str(cluster_state / "bin" / "kubectl"), "--kubeconfig", server["kubeconfig"], "-n",
                               NS, "exec", "-i", "postgresql-0", "-c", "postgresql", "--", "psql", "-X", "-q",
                               "-d", "appdb"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    holder.stdin.write(HOLD_LOCK.encode())
    holder.stdin.flush()
    try:
        wait_until("the lock on pgbench_accounts held", lambda: query(kubectl, LOCK_HELD, "appdb") == "1",
                   timeout=60, interval=0.5)
        profile = copy.deepcopy(PROFILE)
        next(c for c in profile["components"] if c["name"] == "databases")["timeout"] = 20
        backup = run(server, "backup.yml", profile=profile)
    finally:
        psql(kubectl, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE query LIKE '%statesafe-test-lock%' AND pid <> pg_backend_pid()", check=False)
        holder.stdin.close()
        holder.wait(timeout=120)
    assert backup.rc != 0
    message = " ".join(backup.failures)
    assert "timed out after 20 s" in message and "pg_dump of database appdb" in message, message
    assert f"namespace={NS} pod=postgresql-0 container=postgresql" in message, message
    wait_until("no pg_dump connected to the server", lambda: query(kubectl, DUMPS_RUNNING) == "0", timeout=60)
    assert branch_heads(server) == heads, "a failed backup moved a branch"


def test_a_full_staging_disk_fails_naming_the_path_and_moves_no_branch(server, small_disk):
    """Staging on a 2 MiB disk: the Secrets and the StatefulSet fit, the databases' dump does not. The error names
    the namespace, pod and container it was reading from and the path it could not write; no archive is made. (The
    preflight's free-space floor, backup_min_free_bytes, would refuse this disk before anything runs: it is lowered
    so that the disk fills during the dump, as when something else fills it during a backup.)"""
    heads = branch_heads(server)
    backup = playbook("backup.yml", server["kubeconfig"], server["tmp"], NS, profile_data=PROFILE,
                      staging=str(small_disk / "staging"), backup_min_free_bytes=1)
    assert backup.rc != 0
    message = " ".join(backup.failures)
    assert "No space left on device" in message and str(small_disk) in message, message
    assert f"namespace={NS} pod=postgresql-0 container=postgresql" in message, message
    assert branch_heads(server) == heads, "a failed backup moved a branch"


def test_a_wrong_password_fails_naming_the_server_and_moves_no_branch(server, kubectl):
    """A server that asks a password on the local socket (as the Bitnami image does) and a password variable that
    holds another: the backup fails at the first connection, naming namespace, pod and container and what the server
    answered; no archive is made. The test's server trusts local connections, so for one role it is told to ask."""
    heads = branch_heads(server)
    hba = query(kubectl, "SHOW hba_file")
    psql(kubectl, "CREATE ROLE statesafe_pw SUPERUSER LOGIN PASSWORD 'the-right-one'")
    edit = ('f="$1"; { echo "local all statesafe_pw scram-sha-256"; cat "$f"; } >"$f.new" && cat "$f.new" >"$f" '
            '&& rm "$f.new"')
    kubectl("-n", NS, "exec", "postgresql-0", "-c", "postgresql", "--", "sh", "-c", edit, "sh", hba)
    try:
        query(kubectl, "SELECT pg_reload_conf()")
        backup = playbook("backup.yml", server["kubeconfig"], server["tmp"], NS, profile="postgresql",
                          profile_parameters={"superuser": "statesafe_pw", "password_variable": "POSTGRES_PASSWORD"},
                          staging=str(server["tmp"] / "staging"))
    finally:
        kubectl("-n", NS, "exec", "postgresql-0", "-c", "postgresql", "--", "sed", "-i",
                "/^local all statesafe_pw scram-sha-256$/d", hba)
        query(kubectl, "SELECT pg_reload_conf()")
        psql(kubectl, "DROP ROLE statesafe_pw")
    assert backup.rc != 0
    message = " ".join(backup.failures)
    assert 'password authentication failed for user "statesafe_pw"' in message, message
    assert f"namespace={NS} pod=postgresql-0 container=postgresql" in message, message
    assert "the-right-one" not in backup.output and "superuser-password" not in backup.output
    assert branch_heads(server) == heads, "a failed backup moved a branch"


IN_PROGRESS = ("SELECT count(*) FROM pg_stat_activity WHERE backend_xid IS NOT NULL "
               "AND query LIKE '%statesafe-test-running%'")


def test_the_revision_moves_on_every_write_and_not_on_a_dump(server, kubectl, cluster_state):
    """The revision is the server's transaction snapshot: reads take no transaction id, writes do."""
    databases = next(c for c in PROFILE["components"] if c["name"] == "databases")

    def revision() -> str:
        return kubectl("-n", NS, "exec", "postgresql-0", "--", "sh", "-c",
                       databases["revision"]["command"]).stdout.decode().strip()

    def dump() -> None:
        kubectl("-n", NS, "exec", "postgresql-0", "--", "sh", "-c", databases["command"] + " >/dev/null", timeout=300)

    # Autovacuum off for the measurement: an autoanalyze starting on any database at any minute takes a transaction
    # id, a spurious change (a dump more, never a change missed) that would only make this test flaky.
    psql(kubectl, "ALTER SYSTEM SET autovacuum = off; SELECT pg_reload_conf()")
    try:
        # The setting starts no new worker; one already running (after the earlier tests' writes and role changes)
        # finishes its table first, and its ANALYZE takes a transaction id.
        wait_until("no autovacuum worker running", lambda: query(
            kubectl, "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'") == "0",
            timeout=300, interval=1)
        # Right after the earlier tests' writes and restores: the dumps' reads prune dead row versions and set hint
        # bits, and the server checkpoints and logs standby snapshots, all writing WAL (which moved the WAL position,
        # the profile's first revision), none taking a transaction id.
        first = revision()
        dump()
        psql(kubectl, "CHECKPOINT")
        dump()
        assert revision() == first, "a dump moved the revision"

        # A write still running when the revision is taken (as one running during a backup's dump, which the dump
        # does not contain): the snapshot may not show it yet (an id above every completed one is not listed), but
        # its end moves the snapshot's horizon, so the next backup sees a change.
        writer = subprocess.Popen([str(cluster_state / "bin" / "kubectl"), "--kubeconfig", server["kubeconfig"],
                                   "-n", NS, "exec", "-i", "postgresql-0", "-c", "postgresql", "--", "psql", "-X",
                                   "-q", "-v", "ON_ERROR_STOP=1", "-d", "odd name"], stdin=subprocess.PIPE,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            writer.stdin.write(b"BEGIN; INSERT INTO notes VALUES (10, 'running') /* statesafe-test-running */;\n")
            writer.stdin.flush()
            wait_until("the insert's transaction in progress", lambda: query(kubectl, IN_PROGRESS) == "1",
                       timeout=60, interval=0.5)
            running = revision()
            writer.stdin.write(b"COMMIT;\n")
            writer.stdin.close()
            assert writer.wait(timeout=60) == 0, writer.stderr.read()
        finally:
            if writer.poll() is None:
                writer.kill()
                writer.wait(timeout=60)
        committed = revision()
        assert committed != running, "the commit of a write in progress at the probe did not move the revision"

        # Any database, any role.
        psql(kubectl, "ALTER ROLE app CONNECTION LIMIT 50")
        assert revision() != committed, "a role's change did not move the revision"
    finally:
        psql(kubectl, "ALTER SYSTEM RESET autovacuum; SELECT pg_reload_conf()")


# One transfer: an account pays 7 into the history, in one transaction. Whatever the moment, the sum of the
# balances plus the sum of the history's deltas is the same; a dump that read the two tables at different
# moments would break it.
TRANSFER = """\\set a random(1, 300000)
BEGIN;
UPDATE pgbench_accounts SET abalance = abalance - 7 WHERE aid = :a;
INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 1, :a, 7, now());
END;
"""
INVARIANT = ("SELECT (SELECT sum(abalance) FROM pgbench_accounts) + (SELECT coalesce(sum(delta), 0) "
             "FROM pgbench_history)")
TRANSFERS = "SELECT count(*) FROM pgbench_history WHERE delta = 7 AND tid = 1 AND bid = 1"
# pgbench in the pod, rate-limited so the dump is not starved on a small node; its pid kept so the test can stop
# it. The shell of the exec session waits for it: a pgbench left to be reparented to the container's PID 1, the
# postmaster, would make it take pgbench's exit for a crashed backend and restart the server. Its clients' open
# transactions die with it and roll back.
WRITER = ("cat > /tmp/transfer.sql && { pgbench -n -c 2 -R 40 -T 900 -f /tmp/transfer.sql appdb "
          ">/tmp/pgbench.log 2>&1 & echo $! > /tmp/pgbench.pid; wait; }")


@pytest.mark.timeout(900)
def test_a_backup_under_writes_restores_a_consistent_database(server, kubectl, cluster_state):
    total = query(kubectl, INVARIANT, "appdb")
    writer = subprocess.Popen([str(cluster_state / "bin" / "kubectl"), "--kubeconfig", server["kubeconfig"], "-n", NS,
                               "exec", "-i", "postgresql-0", "-c", "postgresql", "--", "sh", "-c", WRITER],
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    writer.stdin.write(TRANSFER.encode())
    writer.stdin.close()
    try:
        started = int(query(kubectl, TRANSFERS, "appdb"))
        wait_until("pgbench to commit transfers", lambda: int(query(kubectl, TRANSFERS, "appdb")) > started + 20,
                   timeout=120, interval=1)
        before = int(query(kubectl, TRANSFERS, "appdb"))
        backup = run(server, "backup.yml")
        after = int(query(kubectl, TRANSFERS, "appdb"))
    finally:
        kubectl("-n", NS, "exec", "postgresql-0", "-c", "postgresql", "--", "sh", "-c", 'kill "$(cat /tmp/pgbench.pid)"',
                check=False, timeout=120)
        writer.wait(timeout=120)
    assert backup.rc == 0, backup.failures or backup.output[-4000:]
    assert after > before, "no transfer was committed while the backup ran"
    assert query(kubectl, INVARIANT, "appdb") == total
    restore = run(server, "restore.yml", policy="update")
    assert restore.rc == 0, restore.failures or restore.output[-4000:]
    assert query(kubectl, INVARIANT, "appdb") == total
    restored = int(query(kubectl, TRANSFERS, "appdb"))
    assert before <= restored <= after, (before, restored, after)
