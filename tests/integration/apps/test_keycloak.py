"""profiles/keycloak.yml against a real Keycloak 26 on a real PostgreSQL 15, in a namespace that enforces `restricted`.

The stack (tests/cluster/apps/keycloak.yaml) is Keycloak in a Deployment reaching its database through the Service
name `keycloak-postgresql`, as users run it. The proof uses Keycloak itself, through its admin REST API: a realm, a
public client with direct access grants and a user with a password are created and a token is issued for that user;
then a backup (with the shipped profile, by name), a user created after it, the namespace deleted, a restore. After
it the user obtains a token with the same password, the later user cannot, and the realm's signing keys are the same
ones: the token issued before the backup still verifies against the restored realm's published keys.

Under writes: an administrator's client keeps creating users, each with its password (one request, one transaction
in Keycloak), one after the other all through the backup. The restored realm holds every user acknowledged before
the backup started and a gap-free series after them, each with exactly its one password credential, and the last of
them logs in: the database's dump is one snapshot, never a user without the credential written with it.

The namespace is deleted at the end, whatever happened.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from background_writer import BackgroundWriter
from cluster_helpers import wait_until
from role_helpers import REPO, playbook

NS = "sfk-keycloak"
MANIFEST = REPO / "tests" / "cluster" / "apps" / "keycloak.yaml"
ADMIN_PASSWORD = "admin-password-for-test"
REALM = "statesafe"
USER_PASSWORD = "alice-password-1"


def images(cluster_state: Path) -> dict[str, str]:
    refs = (cluster_state / "images.txt").read_text().split()
    found = {name: [r for r in refs if r.startswith(f"localhost/{name}:")] for name in ("postgres", "keycloak")}
    missing = [name for name, refs in found.items() if not refs]
    assert not missing, f"no {missing} image in {cluster_state / 'images.txt'}: rebuild the cluster (make cluster)"
    return {name: refs[0] for name, refs in found.items()}


def manifests(refs: dict[str, str]) -> list[dict]:
    text = MANIFEST.read_text()
    for placeholder, value in {"@NAMESPACE@": NS, "@POSTGRES_IMAGE@": refs["postgres"],
                               "@KEYCLOAK_IMAGE@": refs["keycloak"], "@ADMIN_PASSWORD@": ADMIN_PASSWORD,
                               "@DB_PASSWORD@": "keycloak-db-password",
                               "@DB_SUPERUSER_PASSWORD@": "superuser-password"}.items():
        text = text.replace(placeholder, value)
    assert "@" not in re.sub(r"#.*", "", text), "a placeholder of keycloak.yaml was left unreplaced"
    objects = [o for o in yaml.safe_load_all(text) if o]
    for obj in objects:
        for template in obj.get("spec", {}).get("volumeClaimTemplates", []):
            template["spec"]["storageClassName"] = "local"  # the test cluster's class where fsGroup applies
    return objects


def delete_namespace(kubectl, core) -> None:
    kubectl("delete", "namespace", NS, "--ignore-not-found", "--wait=false")
    wait_until(f"namespace {NS} to be gone",
               lambda: NS not in [n.metadata.name for n in core.list_namespace().items], timeout=300)


def keycloak_ready(kubectl) -> None:
    kubectl("-n", NS, "rollout", "status", "statefulset/keycloak-postgresql", "--timeout=300s", timeout=320)
    kubectl("-n", NS, "rollout", "status", "deployment/keycloak", "--timeout=600s", timeout=620)


@contextmanager
def keycloak_url(kubectl, cluster_state: Path, kubeconfig: str):
    """A local port forwarded to the Keycloak Service, as a user's browser or client would reach it."""
    forward = subprocess.Popen([str(cluster_state / "bin" / "kubectl"), "--kubeconfig", kubeconfig, "-n", NS,
                                "port-forward", "service/keycloak", ":8080"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = forward.stdout.readline()
        port = re.search(r"127\.0\.0\.1:(\d+)", line)
        assert port, f"kubectl port-forward printed {line!r}, stderr {forward.stderr.read() if not line else ''}"
        yield f"http://127.0.0.1:{port.group(1)}"
    finally:
        forward.terminate()
        forward.wait(timeout=30)


def call(url: str, method: str = "GET", token: str | None = None, form: dict | None = None,
         body: object = None) -> tuple[int, object]:
    headers, data = {}, None
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            text = response.read().decode()
            return response.status, json.loads(text) if text else None
    except urllib.error.HTTPError as exc:
        text = exc.read().decode()
        try:
            return exc.code, json.loads(text)
        except ValueError:
            return exc.code, text


def token(base: str, realm: str, client_id: str, username: str, password: str) -> tuple[int, object]:
    return call(f"{base}/realms/{realm}/protocol/openid-connect/token", "POST",
                form={"grant_type": "password", "client_id": client_id, "username": username, "password": password})


def admin_token(base: str) -> str:
    status, body = token(base, "master", "admin-cli", "admin", ADMIN_PASSWORD)
    assert status == 200, body
    return body["access_token"]


def create_user(base: str, admin: str, username: str, password: str) -> None:
    status, body = call(f"{base}/admin/realms/{REALM}/users", "POST", admin, body={
        "username": username, "enabled": True, "email": f"{username}@example.org", "emailVerified": True,
        "firstName": username.title(), "lastName": "Statesafe",
        "credentials": [{"type": "password", "value": password, "temporary": False}]})
    assert status == 201, body


def realm_keys(base: str) -> dict[str, dict]:
    status, body = call(f"{base}/realms/{REALM}/protocol/openid-connect/certs")
    assert status == 200, body
    return {key["kid"]: key for key in body["keys"] if key.get("use") == "sig"}


def b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verifies(jwt: str, keys: dict[str, dict]) -> bool:
    """RS256 verification of a token's signature against a realm's published keys."""
    header, payload, signature = jwt.split(".")
    key = keys.get(json.loads(b64(header))["kid"])
    if key is None:
        return False
    public = rsa.RSAPublicNumbers(int.from_bytes(b64(key["e"]), "big"), int.from_bytes(b64(key["n"]), "big"))
    try:
        public.public_key().verify(b64(signature), f"{header}.{payload}".encode(), padding.PKCS1v15(),
                                   hashes.SHA256())
    except InvalidSignature:
        return False
    return True


class UserWriter(BackgroundWriter):
    """Creates users load-0000, load-0001, ... one after the other, each with its password, from a thread through its
    own port-forward, until stopped; a new admin token when the last one expired. `acknowledged`: load-0000 ..
    load-<acknowledged - 1> were created."""

    def __init__(self, forward):
        super().__init__()
        self.forward = forward

    def run(self):
        with keycloak_url(*self.forward) as base:
            admin = admin_token(base)
            while not self.done.is_set():
                name = load_user(self.acknowledged)
                # A complete profile (Keycloak's default user profile asks for these before a login).
                status, body = call(f"{base}/admin/realms/{REALM}/users", "POST", admin, body={
                    "username": name, "enabled": True, "email": f"{name}@example.org", "emailVerified": True,
                    "firstName": "Load", "lastName": name,
                    "credentials": [{"type": "password", "value": f"{name}-password", "temporary": False}]})
                if status == 401:
                    admin = admin_token(base)
                    continue
                if status != 201:
                    self.error = f"creating {name}: {status} {str(body)[:500]}"
                    return
                self.acknowledged += 1
                time.sleep(0.1)


def load_user(index: int) -> str:
    return f"load-{index:04d}"


@pytest.fixture(scope="module")
def stack(kubeconfig, kubectl, core, cluster_state, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("keycloak")
    delete_namespace(kubectl, core)
    try:
        kubectl("create", "namespace", NS)
        kubectl("label", "namespace", NS, "pod-security.kubernetes.io/enforce=restricted")
        kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                      "items": manifests(images(cluster_state))}).encode())
        keycloak_ready(kubectl)
        yield {"tmp": tmp, "kubeconfig": kubeconfig, "cluster_state": cluster_state}
    finally:
        kubectl("delete", "namespace", NS, "--ignore-not-found", "--wait=false")


def test_a_realm_client_and_user_come_back_and_log_in_after_the_namespace_was_deleted(stack, kubectl, core):
    forward = (kubectl, stack["cluster_state"], stack["kubeconfig"])
    with keycloak_url(*forward) as base:
        admin = admin_token(base)
        status, body = call(f"{base}/admin/realms", "POST", admin, body={"realm": REALM, "enabled": True})
        assert status == 201, body
        status, body = call(f"{base}/admin/realms/{REALM}/clients", "POST", admin, body={
            "clientId": "app", "publicClient": True, "directAccessGrantsEnabled": True})
        assert status == 201, body
        create_user(base, admin, "alice", USER_PASSWORD)
        status, issued = token(base, REALM, "app", "alice", USER_PASSWORD)
        assert status == 200, issued
        keys_before = realm_keys(base)
        assert verifies(issued["access_token"], keys_before)

    with UserWriter(forward) as writer:
        wait_until("the writer to create users", lambda: writer.acknowledged >= 5 or writer.error, timeout=300)
        before_backup = writer.acknowledged
        backup = playbook("backup.yml", stack["kubeconfig"], stack["tmp"], NS, profile="keycloak",
                          staging=str(stack["tmp"] / "staging"))
        after_backup = writer.acknowledged
    assert writer.error is None, writer.error
    assert backup.rc == 0, backup.failures or backup.output[-4000:]
    assert after_backup > before_backup, "no user was created while the backup ran"
    with keycloak_url(*forward) as base:
        create_user(base, admin_token(base), "later", "later-password-1")
        assert token(base, REALM, "app", "later", "later-password-1")[0] == 200

    delete_namespace(kubectl, core)
    restore = playbook("restore.yml", stack["kubeconfig"], stack["tmp"], NS, profile="keycloak",
                       staging=str(stack["tmp"] / "restore"))
    assert restore.rc == 0, restore.failures or restore.output[-4000:]
    keycloak_ready(kubectl)

    with keycloak_url(*forward) as base:
        status, body = token(base, REALM, "app", "alice", USER_PASSWORD)
        assert status == 200, body
        status, body = token(base, REALM, "app", "later", "later-password-1")
        assert status == 401, body  # created after the backup: gone
        keys_after = realm_keys(base)
        assert keys_after == keys_before
        assert verifies(issued["access_token"], keys_after)
        # The admin's password is the backed-up Secret's; the master realm is the restored one.
        admin = admin_token(base)
        # The users created during the backup: those acknowledged before it, then no gap, each with its password.
        status, users = call(f"{base}/admin/realms/{REALM}/users?" + urllib.parse.urlencode(
            {"search": "load-", "max": 100_000, "briefRepresentation": "true"}), token=admin)
        assert status == 200, users
        names = sorted(user["username"] for user in users)
        assert names == [load_user(index) for index in range(len(names))], f"users missing after restore: {names}"
        assert before_backup <= len(names) <= after_backup + 1, (before_backup, len(names), after_backup)
        for user in users:
            status, credentials = call(f"{base}/admin/realms/{REALM}/users/{user['id']}/credentials", token=admin)
            assert status == 200 and [c["type"] for c in credentials] == ["password"], (user["username"], credentials)
        last = names[-1]
        status, body = token(base, REALM, "app", last, f"{last}-password")
        assert status == 200, (last, body)


def test_a_token_is_refused_by_keys_it_was_not_signed_with():
    """The signature check above can fail: a token verified against another key pair is refused."""
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    mine = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def enc(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    header = enc(json.dumps({"alg": "RS256", "kid": "k1"}).encode())
    payload = enc(b'{"sub": "alice"}')
    signature = enc(mine.sign(f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256()))
    jwt = f"{header}.{payload}.{signature}"

    def jwk(key) -> dict:
        numbers = key.public_key().public_numbers()
        return {"kid": "k1", "n": enc(numbers.n.to_bytes(256, "big")), "e": enc(numbers.e.to_bytes(3, "big"))}

    assert verifies(jwt, {"k1": jwk(mine)})
    assert not verifies(jwt, {"k1": jwk(other)})
    assert not verifies(jwt, {"k2": jwk(mine)})
