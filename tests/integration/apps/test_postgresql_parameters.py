"""profiles/postgresql.yml with parameters, against a PostgreSQL deployed under other names than the profile's defaults.

The server of tests/cluster/apps/postgresql.yaml, renamed as a chart would name it: StatefulSet `ledger-db`, Secret
`ledger-credentials`, labels `app.kubernetes.io/instance=ledger` (none of the defaults' `part-of`), container `db`.
Like the Bitnami chart with `auth.usePasswordFiles`, the superuser's password reaches the container as a file named
by a variable (LEDGER_SUPERUSER_PASSWORD_FILE, the Secret mounted), and local connections need it (pg_hba.conf's
`local` lines switched from peer to scram-sha-256 once the server is up).

- a parameter the profile does not declare is refused before anything runs, naming the profile and the parameter;
- without password_variable the dump fails on authentication (the control that the password is what the credential
  parameters supply);
- with the parameters, a backup records them in its manifest; after a change and the namespace deleted, a restore
  given no parameters at all uses the recorded ones and brings back exactly the data of the backup.

The namespace is deleted at the end, whatever happened.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from cluster_helpers import wait_until
from role_helpers import REPO, playbook

NS = "sfp-pg-params"
MANIFEST = REPO / "tests" / "cluster" / "apps" / "postgresql.yaml"
LABELS = {"app.kubernetes.io/instance": "ledger", "app.kubernetes.io/name": "ledger-db"}
SECRET_DIR = "/etc/ledger-secret"
PARAMETERS = {"selector": "app.kubernetes.io/instance=ledger", "statefulset": "ledger-db", "container": "db",
              "superuser": "postgres", "password_variable": "LEDGER_SUPERUSER_PASSWORD"}
SEED = """
CREATE ROLE clerk LOGIN PASSWORD 'clerk-password';
CREATE DATABASE ledger OWNER clerk;
\\connect ledger
CREATE TABLE entries (id int PRIMARY KEY, amount numeric NOT NULL);
INSERT INTO entries SELECT g, g * 1.5 FROM generate_series(1, 500) g;
ALTER TABLE entries OWNER TO clerk;
"""
FINGERPRINT = "SELECT count(*) || ':' || md5(string_agg(id || '=' || amount, ',' ORDER BY id)) FROM entries"


def image(cluster_state: Path) -> str:
    refs = (cluster_state / "images.txt").read_text().split()
    found = [ref for ref in refs if ref.startswith("localhost/postgres:")]
    assert found, f"no postgres image in {cluster_state / 'images.txt'}: rebuild the cluster (make cluster)"
    return found[0]


def renamed(ref: str) -> list[dict]:
    """The test server under a chart's names, its password in a file and required for local connections."""
    text = (MANIFEST.read_text().replace("NAMESPACE", NS).replace("IMAGE", ref)
            .replace("SUPERUSER_PASSWORD", "ledger-superuser-password"))
    objects = [o for o in yaml.safe_load_all(text) if o]
    for obj in objects:
        obj["metadata"]["labels"] = dict(LABELS)
        if obj["kind"] == "Secret":
            obj["metadata"]["name"] = "ledger-credentials"
            obj["stringData"] = {"superuser-password": obj["stringData"].pop("password")}
        elif obj["kind"] == "Service":
            obj["metadata"]["name"] = "ledger-db"
            obj["spec"]["selector"] = dict(LABELS)
        elif obj["kind"] == "StatefulSet":
            obj["metadata"]["name"] = "ledger-db"
            spec = obj["spec"]
            spec["serviceName"] = "ledger-db"
            spec["selector"] = {"matchLabels": dict(LABELS)}
            spec["template"]["metadata"]["labels"] = dict(LABELS)
            pod = spec["template"]["spec"]
            secret = {"secretName": "ledger-credentials", "defaultMode": 0o440}
            pod["volumes"] = [{"name": "credentials", "secret": secret}]
            container = pod["containers"][0]
            container["name"] = "db"
            container["env"] = [
                # The image's initdb reads POSTGRES_PASSWORD; the profile is told only of the file.
                {"name": "POSTGRES_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "ledger-credentials",
                                                                             "key": "superuser-password"}}},
                {"name": "LEDGER_SUPERUSER_PASSWORD_FILE", "value": f"{SECRET_DIR}/superuser-password"},
            ]
            container["volumeMounts"].append({"name": "credentials", "mountPath": SECRET_DIR, "readOnly": True})
            for template in spec["volumeClaimTemplates"]:
                template["metadata"]["labels"] = dict(LABELS)
                template["spec"]["storageClassName"] = "local"
    return objects


def psql(kubectl, sql: str, database: str = "postgres", check: bool = True):
    return kubectl("-n", NS, "exec", "-i", "ledger-db-0", "-c", "db", "--", "sh", "-c",
                   'PGPASSWORD=$POSTGRES_PASSWORD exec psql -X -A -t -q -v ON_ERROR_STOP=1 -U postgres -d "$1"',
                   "sh", database, input=sql.encode(), check=check)


def require_local_passwords(kubectl) -> None:
    """pg_hba.conf's local lines from peer to scram-sha-256, reloaded: psql over the socket needs the password."""
    kubectl("-n", NS, "exec", "ledger-db-0", "-c", "db", "--", "sh", "-c",
            'sed -i "s/^\\(local .*\\)peer$/\\1scram-sha-256/" "$PGDATA/pg_hba.conf" && '
            'psql -X -A -t -q -c "SELECT pg_reload_conf()" && grep -c "^local .*scram-sha-256$" "$PGDATA/pg_hba.conf"')
    refused = kubectl("-n", NS, "exec", "ledger-db-0", "-c", "db", "--", "psql", "-X", "-c", "SELECT 1",
                      check=False)
    assert refused.returncode != 0 and b"password" in refused.stderr, refused


def query(kubectl, sql: str, database: str = "ledger") -> str:
    return psql(kubectl, sql, database).stdout.decode().strip()


def server_ready(kubectl) -> None:
    kubectl("-n", NS, "rollout", "status", "statefulset/ledger-db", "--timeout=240s", timeout=260)
    wait_until("ledger-db-0 to accept connections",
               lambda: psql(kubectl, "SELECT 1", check=False).returncode == 0, timeout=120)


def delete_namespace(kubectl, core) -> None:
    kubectl("delete", "namespace", NS, "--ignore-not-found", "--wait=false")
    wait_until(f"namespace {NS} to be gone",
               lambda: NS not in [n.metadata.name for n in core.list_namespace().items], timeout=300)


@pytest.fixture(scope="module")
def server(kubeconfig, kubectl, core, cluster_state, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("postgresql-parameters")
    delete_namespace(kubectl, core)
    try:
        kubectl("create", "namespace", NS)
        kubectl("label", "namespace", NS, "pod-security.kubernetes.io/enforce=restricted")
        kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                      "items": renamed(image(cluster_state))}).encode())
        server_ready(kubectl)
        require_local_passwords(kubectl)
        psql(kubectl, SEED)
        yield {"tmp": tmp, "kubeconfig": kubeconfig}
    finally:
        kubectl("delete", "namespace", NS, "--ignore-not-found", "--wait=false")


def run(server, name: str, **extra):
    return playbook(name, server["kubeconfig"], server["tmp"], NS, profile="postgresql",
                    staging=str(server["tmp"] / ("staging" if name == "backup.yml" else "restore")), **extra)


def test_a_parameter_the_profile_does_not_declare_is_refused_before_anything_runs(server):
    backup = run(server, "backup.yml", profile_parameters={"stateful_set": "ledger-db"})
    assert backup.rc != 0
    assert "profile 'postgresql' has no parameter 'stateful_set'" in " ".join(backup.failures), backup.failures
    assert not (server["tmp"] / "repo").exists()


def test_the_renamed_server_comes_back_with_the_parameters_its_archive_recorded(server, kubectl, core):
    expected = query(kubectl, FINGERPRINT)
    assert expected.startswith("500:")

    # The control: the same names without the password fail on authentication, so the password is what
    # password_variable supplies.
    without_password = run(server, "backup.yml", profile_parameters={
        k: v for k, v in PARAMETERS.items() if k != "password_variable"})
    assert without_password.rc != 0
    assert "password" in without_password.output, without_password.failures

    backup = run(server, "backup.yml", profile_parameters=PARAMETERS)
    assert backup.rc == 0, backup.failures or backup.output[-4000:]
    manifest = json.loads((server["tmp"] / "staging" / "postgresql" / "MANIFEST.json").read_text())
    assert manifest["parameters"] == PARAMETERS
    exported = sorted(p.name for p in (server["tmp"] / "staging" / "postgresql" / "resources").rglob("*.yaml"))
    assert exported == ["ledger-credentials.yaml", "ledger-db.yaml", "ledger-db.yaml"], exported

    psql(kubectl, "INSERT INTO entries VALUES (501, 0); DELETE FROM entries WHERE id <= 10", "ledger")
    assert query(kubectl, FINGERPRINT) != expected

    delete_namespace(kubectl, core)
    restore = run(server, "restore.yml")  # no profile_parameters: the archive's own
    assert restore.rc == 0, restore.failures or restore.output[-4000:]
    assert restore.stats["statesafe_restore"]["parameters"] == PARAMETERS
    server_ready(kubectl)
    assert query(kubectl, FINGERPRINT) == expected
    owner = query(kubectl, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'ledger'", "postgres")
    assert owner == "clerk"
