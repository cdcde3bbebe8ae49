"""The sample Software Factory stack: deploy it, seed it with known data, fingerprint it.

    sample.py deploy        apply the manifests, create missing Secrets, wait until Ready, in the hardened shape:
                            the namespace enforces PodSecurity restricted, pods run as non-root (--root: the
                            unhardened shape; --operator: the operator-managed shape, below)
    sample.py operator      install only the operator stand-in (and the CRD and namespace), as an administrator
                            installs the operator before restoring into a new namespace
    sample.py seed          write the known data (databases, tables, znodes, Zuul project keys)
    sample.py fingerprint   print one digest of everything a restore must bring back
    sample.py destroy       delete the namespace and wait until it is gone (--no-wait: only ask)

The fingerprint is what proves a restore: taken before a backup and after a restore,
the two must be equal. `fingerprint --verbose` prints each part's digest to stderr so
that a mismatch says what differs.

`deploy` gives the stack the shape sf-operator's pods have on OpenShift (restricted-v2): an
arbitrary non-root uid with group 0 and the same number as fsGroup, no privilege escalation, every capability
dropped, seccomp RuntimeDefault, in a namespace labelled to enforce PodSecurity `restricted`; the claims use the
`local` StorageClass, whose volumes get the fsGroup (the default `hostpath` class ignores it). `deploy --root` is
the shape of a cluster without Pod Security admission: the images' root users, an unlabelled namespace. A
namespace keeps the shape it was deployed with: destroy it before deploying it the other way.

Secret values are generated once, on first deploy, never rewritten: deploy is
idempotent and a later fingerprint sees the same data.

`deploy --operator` is the operator-managed shape (profiles/softwarefactory-operator.yml): the sample applies the
CRD, its ConfigMaps and the Secrets a user provides (zookeeper-client-tls, zuul-ssh-key), installs the TEST
STAND-IN for sf-operator (tests/cluster/images/sf-operator-standin: a Deployment, its ServiceAccount, a Role and
RoleBinding in the namespace, and its templates, the sample's Services and StatefulSets, as a ConfigMap), then
applies the SoftwareFactory resource; the stand-in generates the other Secrets and creates the Services and
StatefulSets, owned by the resource. The stand-in's objects carry `app.kubernetes.io/name=sf-operator-standin`
and not the part-of label: they are the operator's installation, not the application's data.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from kubernetes import client, config
from kubernetes.client.rest import ApiException
from kubernetes.stream import stream

HERE = Path(__file__).resolve().parent
# One sample stack per namespace; tests that must not share one set SAMPLE_NAMESPACE.
NAMESPACE = os.environ.get("SAMPLE_NAMESPACE", "sf")
PART_OF = {"app.kubernetes.io/part-of": "softwarefactory"}
CR = ("sf.softwarefactory-project.io", "v1", "softwarefactories", "my-sf")
STATEFULSETS = ("mariadb", "zookeeper", "zuul-scheduler")
TABLES = ("zuul.zuul_buildset", "zuul.zuul_build", "sfmanager.artifacts")

# deploy (without --root): the first uid of a typical OpenShift namespace range (openshift.io/sa.scc.uid-range), in no
# image's /etc/passwd, as restricted-v2 assigns it; also the fsGroup, as the range's supplemental groups give it.
RESTRICTED_UID = 1000680000
RESTRICTED_LABELS = {"pod-security.kubernetes.io/enforce": "restricted",
                     "pod-security.kubernetes.io/enforce-version": "latest"}
RESTRICTED_STORAGE_CLASS = "local"

# deploy --operator: the TEST STAND-IN for sf-operator (tests/cluster/images/sf-operator-standin).
STANDIN = "sf-operator-standin"
STANDIN_LABELS = {"app.kubernetes.io/name": STANDIN, "statesafe.backup/test-stand-in": "true"}
# What the stand-in creates itself from the SoftwareFactory resource (the rest of the manifests the sample applies).
OPERATOR_OWNED_KINDS = ("Service", "StatefulSet")
# Secrets the stand-in generates when missing; with --operator the sample leaves them to it.
OPERATOR_GENERATED_SECRETS = ("mariadb-root-password", "zuul-keystore-password", "zuul-db")

SEED_SQL = """
CREATE DATABASE IF NOT EXISTS zuul;
USE zuul;
CREATE OR REPLACE TABLE zuul.zuul_buildset (
  id INT PRIMARY KEY, uuid CHAR(32) NOT NULL, tenant VARCHAR(64) NOT NULL,
  project VARCHAR(255) NOT NULL, pipeline VARCHAR(64) NOT NULL,
  result VARCHAR(32), event_timestamp DATETIME NOT NULL
) ENGINE=InnoDB;
INSERT INTO zuul.zuul_buildset
  SELECT seq, MD5(CONCAT('buildset', seq)), 'internal', CONCAT('project-', seq MOD 37),
         ELT(1 + seq MOD 3, 'check', 'gate', 'post'),
         ELT(1 + seq MOD 4, 'SUCCESS', 'FAILURE', 'SUCCESS', 'MERGE_CONFLICT'),
         TIMESTAMP('2026-01-01') + INTERVAL seq MINUTE
  FROM seq_1_to_5000;
CREATE OR REPLACE TABLE zuul.zuul_build (
  id INT PRIMARY KEY, buildset_id INT NOT NULL, uuid CHAR(32) NOT NULL,
  job_name VARCHAR(255) NOT NULL, result VARCHAR(32), log_url TEXT,
  start_time DATETIME, end_time DATETIME, INDEX (buildset_id)
) ENGINE=InnoDB;
INSERT INTO zuul.zuul_build
  SELECT seq, 1 + seq MOD 5000, MD5(CONCAT('build', seq)), CONCAT('job-', seq MOD 53),
         ELT(1 + seq MOD 5, 'SUCCESS', 'SUCCESS', 'FAILURE', 'TIMED_OUT', 'SUCCESS'),
         CONCAT('https://sfop.me/logs/', seq MOD 5000, '/', seq, '/'),
         TIMESTAMP('2026-01-01') + INTERVAL seq MINUTE,
         TIMESTAMP('2026-01-01') + INTERVAL seq MINUTE + INTERVAL (seq MOD 900) SECOND
  FROM seq_1_to_20000;
CREATE DATABASE IF NOT EXISTS sfmanager;
USE sfmanager;
CREATE OR REPLACE TABLE sfmanager.artifacts (
  id INT PRIMARY KEY, name VARCHAR(64) NOT NULL, payload BLOB NOT NULL
) ENGINE=InnoDB;
INSERT INTO sfmanager.artifacts
  SELECT seq, CONCAT('artifact-', seq),
         CONCAT(UNHEX(SHA2(seq, 512)), UNHEX(SHA2(seq + 1, 512)), CHAR(0, 10, 13, 39, 92))
  FROM seq_1_to_2000;
"""

# Runs inside the zookeeper container (Debian's python3-kazoo), data on stdin-free argv.
ZK_SEED = r"""
import json
from kazoo.client import KazooClient
zk = KazooClient(hosts="127.0.0.1:2181"); zk.start(timeout=30)
for path in ("/zuul", "/nodepool", "/sf"):
    if zk.exists(path):
        zk.delete(path, recursive=True)
zk.create("/zuul/system/conf-version", b"42", makepath=True)
for tenant in ("internal", "public"):
    for n in range(40):
        node = "/zuul/config/cache/%s/project-%02d" % (tenant, n)
        zk.create(node, json.dumps({"tenant": tenant, "project": n}).encode(), makepath=True)
for n in range(100):
    zk.create("/nodepool/nodes/%010d" % n,
              json.dumps({"state": "ready", "label": "pod-%d" % (n % 3)}).encode(), makepath=True)
zk.create("/sf/binary", bytes(range(256)) * 4, makepath=True)
zk.stop()
"""

ZK_FINGERPRINT = r"""
import hashlib
from kazoo.client import KazooClient
zk = KazooClient(hosts="127.0.0.1:2181"); zk.start(timeout=30)
digest, count, todo = hashlib.sha256(), 0, ["/"]
while todo:
    path = todo.pop()
    for child in sorted(zk.get_children(path), reverse=True):
        full = path.rstrip("/") + "/" + child
        if full != "/zookeeper":
            todo.append(full)
    if path != "/":
        data, _ = zk.get(path)
        digest.update(path.encode() + b"\0" + (data or b"").hex().encode() + b"\n")
        count += 1
zk.stop()
print(count, digest.hexdigest())
"""


# Zuul's own code, in the zuul-scheduler pod (its venv's python3 is first on PATH), which reaches ZooKeeper through
# the zookeeper Service (TLS).
# The config is read the way zuul-admin reads it: ZUUL_* environment variables interpolated.
ZUUL_CONNECT = r"""
import configparser, os
from zuul.zk import ZooKeeperClient
conf = configparser.ConfigParser({k: v for k, v in os.environ.items() if k.startswith("ZUUL_")})
conf.read("/etc/zuul/zuul.conf")
password = conf["keystore"]["password"]
"""

# Key pairs for several projects of the gerrit connection (secrets and SSH) and a tenant SSH key,
# created by Zuul's KeyStorage exactly as the scheduler creates them; existing keys are kept.
ZUUL_SEED = ZUUL_CONNECT + r"""
from zuul.lib.keystorage import KeyStorage, OIDCSigningKeys
zk = ZooKeeperClient.fromConfig(conf); zk.connect()
keystore = KeyStorage(zk, password=password, start_cache=False)
for project in %(projects)r:
    keystore.getProjectSecretsKeys("gerrit", project)
    keystore.getProjectSSHKeys("gerrit", project)
for tenant in %(tenants)r:
    keystore.getTenantSSHKeys(tenant)
# Zuul creates this (empty) znode whenever a KeyStorage starts its OIDC cache, as every zuul-admin
# export-keys does; made here, the znode count no longer depends on whether an export has run yet.
zk.client.ensure_path(OIDCSigningKeys.OIDC_ROOT_PATH)
zk.disconnect()
"""
ZUUL_PROJECTS = ("config", "sf-jobs", "zuul-jobs", "org/project-a", "org/project-b", "org/project-c")
ZUUL_TENANTS = ("internal",)

# The keys as `zuul-admin export-keys` gives them (into a fresh file), fingerprinted by their public
# parts (derived with the keystore password, so a wrong password fails here) and a digest of the
# exported private parts. Prints "<count> <digest>", or "0 none" when ZooKeeper holds no keys at all
# (export-keys itself fails then: it walks /keystorage and /keystorage2 without checking they exist).
ZUUL_FINGERPRINT = ZUUL_CONNECT + r"""
import hashlib, io, json, subprocess, sys, tempfile
import paramiko
from zuul.lib import encryption
zk = ZooKeeperClient.fromConfig(conf); zk.connect()
empty = not any(zk.client.exists(root) for root in ("/keystorage", "/keystorage2"))
zk.disconnect()
if empty:
    print("0 none")
    sys.exit(0)
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "keys.json")
    subprocess.run(["zuul-admin", "export-keys", path], check=True, stdout=subprocess.DEVNULL)
    with open(path) as f:
        keys = json.load(f)["keys"]
public = {}
for name, data in keys.items():
    for entry in data["keys"]:
        pem = entry["private_key"]
        if name.endswith("/secrets"):
            _, pub = encryption.deserialize_rsa_keypair(pem.encode(), password.encode())
            text = encryption.serialize_rsa_public_key(pub).decode()
        else:
            text = "ssh-rsa " + paramiko.RSAKey.from_private_key(io.StringIO(pem), password).get_base64()
        public.setdefault(name, []).append([entry["version"], text])
private = hashlib.sha256(json.dumps(keys, sort_keys=True).encode()).hexdigest()
body = json.dumps({"public": public, "private_sha256": private}, sort_keys=True)
print(len(keys), hashlib.sha256(body.encode()).hexdigest())
"""


def load_clients(kubeconfig: str | None):
    config.load_kube_config(config_file=kubeconfig)
    return client.CoreV1Api(), client.AppsV1Api(), client.CustomObjectsApi()


def kubectl(kubeconfig: str | None, *args: str, stdin: str | None = None) -> str:
    cmd = [os.environ.get("KUBECTL", "kubectl")]
    if kubeconfig:
        cmd += ["--kubeconfig", kubeconfig]
    result = subprocess.run(cmd + list(args), input=stdin, text=True, capture_output=True, timeout=600)
    if result.returncode != 0:
        raise SystemExit(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def pod_exec(core, pod: str, container: str, argv: list[str]) -> str:
    """Run argv in the pod; return stdout; raise naming the pod if the exit code is not 0."""
    ws = stream(core.connect_get_namespaced_pod_exec, pod, NAMESPACE, container=container,
                command=argv, stdin=False, stdout=True, stderr=True, tty=False,
                _preload_content=False)
    out, err = [], []
    while ws.is_open():
        ws.update(timeout=5)
        if ws.peek_stdout():
            out.append(ws.read_stdout())
        if ws.peek_stderr():
            err.append(ws.read_stderr())
    rc = ws.returncode
    ws.close()
    if rc != 0:
        raise SystemExit(f"{NAMESPACE}/{pod} [{container}] {argv[-1][:60]!r} exited {rc}: "
                         f"{''.join(err)[-2000:]}")
    return "".join(out)


def sh_in(core, pod: str, container: str, script: str) -> str:
    return pod_exec(core, pod, container, ["sh", "-c", script])


def mysql(core, sql: str, extra: str = "") -> str:
    # The password comes from the container's own env: it never appears in our argv or logs.
    return sh_in(core, "mariadb-0", "mariadb",
                 f'MYSQL_PWD="$MARIADB_ROOT_PASSWORD" mariadb -uroot {extra} <<\'SQL\'\n{sql}\nSQL')


def python_in_zookeeper(core, code: str) -> str:
    return sh_in(core, "zookeeper-0", "zookeeper", f"python3 - <<'PY'\n{code}\nPY")


def python_in_zuul(core, code: str) -> str:
    return sh_in(core, "zuul-scheduler-0", "zuul-scheduler", f"python3 - <<'PY'\n{code}\nPY")


# ---------------------------------------------------------------- deploy


def image_refs() -> dict[str, str]:
    """name -> ref of the images the cluster imported (written by cluster.sh up)."""
    state = Path(os.environ.get("STATESAFE_CLUSTER_DIR",
                                Path.home() / ".cache" / "statesafe" / "cluster"))
    refs = {}
    for line in (state / "images.txt").read_text().splitlines():
        ref = line.split()[0]
        refs[ref.split("/", 1)[1].split(":", 1)[0]] = ref
    return refs


def restricted_shape(document: dict) -> dict:
    """A manifest as it must be to run in a namespace enforcing PodSecurity `restricted` (deploy without --root)."""
    kind = document.get("kind")
    if kind == "Namespace":
        document["metadata"].setdefault("labels", {}).update(RESTRICTED_LABELS)
    elif kind == "StatefulSet":
        pod_spec = document["spec"]["template"]["spec"]
        # No runAsGroup: an arbitrary uid runs with group 0 on OpenShift, and the images make what they write
        # outside the volume writable by group 0.
        pod_spec["securityContext"] = {"runAsNonRoot": True, "runAsUser": RESTRICTED_UID,
                                       "fsGroup": RESTRICTED_UID, "seccompProfile": {"type": "RuntimeDefault"}}
        for container in pod_spec["containers"]:
            container["securityContext"] = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
        for template in document["spec"].get("volumeClaimTemplates") or []:
            template["spec"]["storageClassName"] = RESTRICTED_STORAGE_CLASS
    return document


def rendered_manifests(restricted: bool = False) -> list[tuple[str, str]]:
    """(file name, text) in apply order, with each `localhost/<image>:TAG` resolved; `restricted`: restricted_shape."""
    refs = image_refs()
    rendered = []
    for path in sorted((HERE / "manifests").glob("*.yaml")):
        text = path.read_text()
        for name, ref in refs.items():
            text = text.replace(f"localhost/{name}:TAG", ref)
        text = re.sub(r"(?m)^(\s*namespace:) sf$", rf"\1 {NAMESPACE}", text)
        if path.name.startswith("00-namespace"):
            text = re.sub(r"(?m)^(  name:) sf$", rf"\1 {NAMESPACE}", text)
        if restricted:
            text = yaml.safe_dump_all([restricted_shape(d) for d in yaml.safe_load_all(text) if d],
                                      sort_keys=False)
        rendered.append((path.name, text))
    return rendered


def self_signed_tls() -> dict[str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "365",
                        "-subj", f"/CN=zookeeper.{NAMESPACE}", "-keyout", f"{tmp}/tls.key",
                        "-out", f"{tmp}/tls.crt"], check=True, capture_output=True, timeout=120)
        crt = Path(tmp, "tls.crt").read_bytes()
        key = Path(tmp, "tls.key").read_bytes()
    return {"tls.crt": crt, "tls.key": key, "ca.crt": crt}


def wanted_secrets() -> list[client.V1Secret]:
    """The sample's Secrets, with fresh random values (used only when absent)."""
    def make(name, data, type_="Opaque", labels=None, annotations=None):
        return client.V1Secret(
            metadata=client.V1ObjectMeta(name=name, namespace=NAMESPACE,
                                         labels={**PART_OF, **(labels or {})},
                                         annotations=annotations),
            type=type_,
            data={k: base64.b64encode(v if isinstance(v, bytes) else v.encode()).decode()
                  for k, v in data.items()})
    return [
        make("mariadb-root-password", {"mariadb-root-password": secrets.token_urlsafe(18)},
             labels={"app.kubernetes.io/name": "mariadb"}),
        make("zuul-keystore-password", {"zuul-keystore-password": secrets.token_urlsafe(24)},
             labels={"app.kubernetes.io/name": "zuul"},
             annotations={"sf.softwarefactory-project.io/critical": "zuul project keys need it"}),
        make("zookeeper-client-tls", self_signed_tls(), type_="kubernetes.io/tls",
             labels={"app.kubernetes.io/name": "zookeeper"}),
        make("zuul-db", {"username": "zuul", "password": secrets.token_urlsafe(18)},
             type_="kubernetes.io/basic-auth", labels={"app.kubernetes.io/name": "zuul"}),
        make("zuul-ssh-key", {"priv": secrets.token_bytes(400), "pub": "ssh-ed25519 AAAA sample"},
             labels={"app.kubernetes.io/name": "zuul"}),
    ]


def apply(kubeconfig: str | None, text: str) -> None:
    kubectl(kubeconfig, "apply", "--server-side", "--force-conflicts", "--field-manager=statesafe-sample",
            "-f", "-", stdin=text)
    if "kind: CustomResourceDefinition" in text:  # the CR further down needs it served
        kubectl(kubeconfig, "wait", "--for=condition=Established", "--timeout=60s", "-f", "-", stdin=text)


def split_operator_owned(text: str) -> tuple[str, list[dict]]:
    """A manifest file's documents: (what the sample applies, as YAML; the Services and StatefulSets the operator
    creates from the SoftwareFactory resource)."""
    documents = [d for d in yaml.safe_load_all(text) if d]
    owned = [d for d in documents if d.get("kind") in OPERATOR_OWNED_KINDS]
    rest = [d for d in documents if d.get("kind") not in OPERATOR_OWNED_KINDS]
    return yaml.safe_dump_all(rest, sort_keys=False), owned


def standin_manifests(templates: list[dict], restricted: bool) -> str:
    """The TEST STAND-IN's installation in NAMESPACE: templates ConfigMap, ServiceAccount, Role, RoleBinding and
    Deployment. Rights in the namespace only; the pod passes PodSecurity restricted."""
    meta = lambda name: {"name": name, "namespace": NAMESPACE, "labels": dict(STANDIN_LABELS)}  # noqa: E731
    rules = [
        {"apiGroups": ["sf.softwarefactory-project.io"], "resources": ["softwarefactories"],
         "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["sf.softwarefactory-project.io"], "resources": ["softwarefactories/status"],
         "verbs": ["get", "patch", "update"]},
        {"apiGroups": [""], "resources": ["secrets", "services"], "verbs": ["get", "list", "create", "patch"]},
        {"apiGroups": ["apps"], "resources": ["statefulsets"], "verbs": ["get", "list", "create", "patch"]},
    ]
    pod_security = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    if restricted:
        pod_security["runAsUser"] = RESTRICTED_UID
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(STANDIN),
        "spec": {
            "replicas": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": STANDIN}},
            "template": {
                "metadata": {"labels": dict(STANDIN_LABELS)},
                "spec": {
                    "serviceAccountName": STANDIN, "terminationGracePeriodSeconds": 2,
                    "securityContext": pod_security,
                    "containers": [{
                        "name": "operator", "image": image_refs()[STANDIN],
                        "env": [{"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}],
                        # Ready once it has reconciled everything once after starting (see the stand-in's docstring).
                        "readinessProbe": {"exec": {"command": ["test", "-f", "/tmp/reconciled"]}, "periodSeconds": 1},
                        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                        "volumeMounts": [{"name": "templates", "mountPath": "/etc/sf-operator-standin"}],
                    }],
                    "volumes": [{"name": "templates", "configMap": {"name": STANDIN + "-templates"}}],
                },
            },
        },
    }
    return yaml.safe_dump_all([
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(STANDIN + "-templates"),
         "data": {"templates.yaml": yaml.safe_dump_all(templates, sort_keys=False)}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(STANDIN)},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta(STANDIN), "rules": rules},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta(STANDIN),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": STANDIN},
         "subjects": [{"kind": "ServiceAccount", "name": STANDIN, "namespace": NAMESPACE}]},
        deployment,
    ], sort_keys=False)


def install_operator(kubeconfig: str | None, timeout: int, restricted: bool) -> None:
    """The namespace, the CRD and the TEST STAND-IN (its templates: the sample's Services and StatefulSets), until
    the stand-in is Ready. Nothing of the application: a restore brings that."""
    core, apps, _ = load_clients(kubeconfig)
    wait_namespace_gone_if_terminating(core, timeout)
    refuse_other_shape(core, restricted)
    templates = []
    for name, text in rendered_manifests(restricted):
        if name.startswith(("00-", "10-")):
            apply(kubeconfig, text)
        else:
            templates += split_operator_owned(text)[1]
    apply(kubeconfig, standin_manifests(templates, restricted))
    deadline = time.monotonic() + timeout
    while (apps.read_namespaced_deployment(STANDIN, NAMESPACE).status.ready_replicas or 0) < 1:
        if time.monotonic() > deadline:
            raise SystemExit(f"Deployment {NAMESPACE}/{STANDIN} (the operator stand-in) not ready after {timeout}s")
        time.sleep(1)
    print(f"Deployment {NAMESPACE}/{STANDIN} (TEST STAND-IN for sf-operator) ready", file=sys.stderr)


def deploy(kubeconfig: str | None, timeout: int, restricted: bool = True, operator: bool = False) -> None:
    core, apps, _ = load_clients(kubeconfig)
    wait_namespace_gone_if_terminating(core, timeout)
    refuse_other_shape(core, restricted)
    if operator:
        install_operator(kubeconfig, timeout, restricted)
    custom_resource = ""
    for name, text in rendered_manifests(restricted):
        if operator:
            text = split_operator_owned(text)[0]
            if name.startswith("50-"):  # the resource last: the user's Secrets must be there first
                custom_resource = text
                continue
            if not text.strip():  # a file of the operator's children only
                continue
        apply(kubeconfig, text)
    for secret in wanted_secrets():
        if operator and secret.metadata.name in OPERATOR_GENERATED_SECRETS:
            continue
        try:
            core.create_namespaced_secret(NAMESPACE, secret)
            print(f"created Secret {NAMESPACE}/{secret.metadata.name}", file=sys.stderr)
        except ApiException as exc:
            if exc.status != 409:  # already there: never rewrite existing secret data
                raise
    if custom_resource:
        apply(kubeconfig, custom_resource)
        deadline = time.monotonic() + timeout
        for name in STATEFULSETS:  # created by the stand-in from the resource
            while not exists(lambda: apps.read_namespaced_stateful_set(name, NAMESPACE)):
                if time.monotonic() > deadline:
                    raise SystemExit(f"the operator stand-in created no StatefulSet {NAMESPACE}/{name} in {timeout}s")
                time.sleep(1)
    wait_ready(apps, timeout)


def exists(read) -> bool:
    try:
        read()
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def refuse_other_shape(core, restricted: bool) -> None:
    """Stop before applying anything when the namespace runs the other shape: its StatefulSets' claim templates
    cannot change, and `restricted` would refuse the root pods."""
    try:
        labels = core.read_namespace(NAMESPACE).metadata.labels or {}
    except ApiException as exc:
        if exc.status == 404:
            return
        raise
    enforced = labels.get("pod-security.kubernetes.io/enforce") == "restricted"
    if enforced != restricted:
        have, want = ("restricted", "default") if enforced else ("default", "restricted")
        raise SystemExit(f"namespace {NAMESPACE} runs the {have} shape of the sample; deploying the {want} one "
                         f"needs `sample.sh destroy` first (SAMPLE_NAMESPACE={NAMESPACE})")


def wait_namespace_gone_if_terminating(core, timeout: int) -> None:
    """A namespace left terminating by `destroy --no-wait` refuses new objects: wait until it is gone."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            namespace = core.read_namespace(NAMESPACE)
        except ApiException as exc:
            if exc.status == 404:
                return
            raise
        if namespace.metadata.deletion_timestamp is None:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"namespace {NAMESPACE} still terminating after {timeout}s")
        time.sleep(1)


def wait_ready(apps, timeout: int) -> None:
    deadline = time.monotonic() + timeout
    for name in STATEFULSETS:
        while True:
            sts = apps.read_namespaced_stateful_set(name, NAMESPACE)
            want = sts.spec.replicas or 0
            if (sts.status.ready_replicas or 0) == want and \
                    (sts.status.observed_generation or 0) >= sts.metadata.generation:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"StatefulSet {NAMESPACE}/{name} not ready after {timeout}s "
                                 f"({sts.status.ready_replicas or 0}/{want} ready)")
            time.sleep(1)
        print(f"StatefulSet {NAMESPACE}/{name} ready", file=sys.stderr)


# ---------------------------------------------------------------- seed / fingerprint


def seed(kubeconfig: str | None) -> None:
    core, _, _ = load_clients(kubeconfig)
    mysql(core, SEED_SQL)
    python_in_zookeeper(core, ZK_SEED)
    python_in_zuul(core, ZUUL_SEED % {"projects": ZUUL_PROJECTS, "tenants": ZUUL_TENANTS})
    print("seeded: zuul and sfmanager databases (27,000 rows), znodes under /zuul, /nodepool, /sf, "
          f"Zuul keys for {len(ZUUL_PROJECTS)} projects and {len(ZUUL_TENANTS)} tenant", file=sys.stderr)


def fingerprint_parts(kubeconfig: str | None) -> dict[str, str]:
    core, _, custom = load_clients(kubeconfig)
    parts = {}
    databases = mysql(core, "SELECT schema_name FROM information_schema.schemata "
                            "WHERE schema_name NOT IN ('mysql','information_schema',"
                            "'performance_schema','sys') ORDER BY 1;", extra="-N -B")
    parts["mariadb/databases"] = databases.split()
    for table in TABLES:
        db, name = table.split(".")
        columns = mysql(core, f"SELECT column_name FROM information_schema.columns "
                              f"WHERE table_schema='{db}' AND table_name='{name}' "
                              f"ORDER BY ordinal_position;", extra="-N -B").split()
        select = ", ".join(f"HEX({c})" for c in columns)
        # bash for pipefail: a failed query must not hash as an empty table.
        out = pod_exec(core, "mariadb-0", "mariadb", [
            "bash", "-o", "pipefail", "-c",
            f'MYSQL_PWD="$MARIADB_ROOT_PASSWORD" mariadb -uroot -N -B '
            f'-e "SELECT {select} FROM {table} ORDER BY id" | sha256sum'])
        parts[f"mariadb/{table}"] = out.split()[0]
    parts["zookeeper/znodes"] = python_in_zookeeper(core, ZK_FINGERPRINT).strip()
    parts["zuul/keys"] = python_in_zuul(core, ZUUL_FINGERPRINT).strip()
    for secret in sorted(core.list_namespaced_secret(NAMESPACE).items,
                         key=lambda s: s.metadata.name):
        if secret.type == "kubernetes.io/service-account-token":
            continue
        body = json.dumps({"type": secret.type, "data": secret.data,
                           "labels": secret.metadata.labels,
                           "annotations": secret.metadata.annotations}, sort_keys=True)
        parts[f"secret/{secret.metadata.name}"] = hashlib.sha256(body.encode()).hexdigest()
    for cm in sorted(core.list_namespaced_config_map(NAMESPACE).items,
                     key=lambda c: c.metadata.name):
        if cm.metadata.name == "kube-root-ca.crt":  # created by the cluster in every namespace
            continue
        if cm.metadata.name.startswith(STANDIN):  # the operator's installation, not the application
            continue
        parts[f"configmap/{cm.metadata.name}"] = hashlib.sha256(
            json.dumps(cm.data, sort_keys=True).encode()).hexdigest()
    group, version, plural, name = CR
    obj = custom.get_namespaced_custom_object(group, version, NAMESPACE, plural, name)
    parts[f"softwarefactory/{name}"] = hashlib.sha256(
        json.dumps(obj["spec"], sort_keys=True).encode()).hexdigest()
    return parts


def fingerprint(kubeconfig: str | None, verbose: bool) -> str:
    parts = fingerprint_parts(kubeconfig)
    if verbose:
        for key, value in parts.items():
            print(f"  {key}: {value}", file=sys.stderr)
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def destroy(kubeconfig: str | None, timeout: int, wait: bool = True) -> None:
    core, _, _ = load_clients(kubeconfig)
    try:
        core.delete_namespace(NAMESPACE)
    except ApiException as exc:
        if exc.status != 404:
            raise
    if not wait:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            core.read_namespace(NAMESPACE)
        except ApiException as exc:
            if exc.status == 404:
                print(f"namespace {NAMESPACE} deleted", file=sys.stderr)
                return
            raise
        time.sleep(1)
    raise SystemExit(f"namespace {NAMESPACE} still present after {timeout}s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["deploy", "operator", "seed", "fingerprint", "destroy"])
    parser.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"))
    parser.add_argument("--timeout", type=int, default=300)
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--no-wait", dest="wait", action="store_false",
                        help="destroy: ask for the deletion and return (a test's teardown that nothing waits on)")
    parser.add_argument("--root", dest="restricted", action="store_false",
                        help="deploy, operator: the unhardened shape, root pods in a namespace without PodSecurity "
                             "labels (by default the namespace enforces restricted; see the module's docstring)")
    parser.add_argument("--operator", action="store_true",
                        help="deploy: the operator-managed shape, run by the TEST STAND-IN for sf-operator")
    args = parser.parse_args(argv)
    if args.command == "deploy":
        deploy(args.kubeconfig, args.timeout, args.restricted, args.operator)
    elif args.command == "operator":
        install_operator(args.kubeconfig, args.timeout, args.restricted)
    elif args.command == "seed":
        seed(args.kubeconfig)
    elif args.command == "fingerprint":
        print(fingerprint(args.kubeconfig, args.verbose))
    else:
        destroy(args.kubeconfig, args.timeout, args.wait)
    return 0


if __name__ == "__main__":
    sys.exit(main())
