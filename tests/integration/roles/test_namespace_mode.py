"""Namespace mode (`-e profile=namespace`): a whole namespace backed up with no profile written, by a namespace admin,
and brought back after the namespace was deleted.

One namespace `sfn-ns-<random>` enforcing PodSecurity `restricted`, built with several kinds: a ServiceAccount, Role
and RoleBinding, a ConfigMap and a Secret, a Deployment on a claim (its pods annotated with a Velero-style freeze),
a StatefulSet with a claim template and its headless Service, a Service without a selector and the Endpoints written
for it, a finished Job, a suspended CronJob, a custom resource of a CRD the test installs, and a claim that can
never bind (its StorageClass does not exist). The identity is a ServiceAccount bound to Kubernetes' own `admin` role
in the namespace, and later a Role reading every kind there.

- The first backup fails before anything is saved, naming the custom resource's kind, which `admin` does not let it
  list; granted reading every kind in the namespace, the backup succeeds, freezes the web pod only around its
  claim's copy, reports the claim that is not Bound (not waited for), and leaves out what their owners or the
  cluster make again (ReplicaSets, Pods, the default ServiceAccount, kube-root-ca.crt).
- The namespace is deleted; the restore (as cluster admin: it creates the namespace) brings every object back with
  the namespace's `restricted` label and both claims' files byte for byte: the fingerprint of objects and data is
  the one taken before the backup. A restore in check mode then shows its plan per object and claim and changes
  nothing.

A MariaDB Deployment there declares its backup the way K8up users do: a dump (`k8up.io/backupcommand`, with our
`statesafe.backup/restore-command` added, since K8up has none), its claim left out (`k8up.io/backup: "false"`), and
a real freeze (a pre-hook holding FLUSH TABLES WITH READ LOCK, a post-hook releasing it). A writer inserts rows
while the backup runs: its writes wait while the pod is frozen, which lasts only for the dump, and resume after; the
restore loads the dump into the new Deployment, and the table holds exactly the rows acknowledged before the freeze.

The namespace and the CRD are deleted at the end, whatever happened.
"""

from __future__ import annotations

import base64
import hashlib
import statistics
import time
import uuid

import pytest
from kubernetes import client

from background_writer import BackgroundWriter
from mariadb_freeze import FREEZE, SQL, THAW
from cluster_helpers import exists, ready_pod, restricted_namespace, token_kubeconfig, wait_until
from role_helpers import namespace_exists, playbook

GROUP, VERSION, PLURAL, KIND = "sfn.example.org", "v1", "widgets", "Widget"
UID, GID, FS_GROUP = 1000, 1000, 2000
RESTRICTED_POD = {"runAsNonRoot": True, "runAsUser": UID, "runAsGroup": GID, "fsGroup": FS_GROUP,
                  "seccompProfile": {"type": "RuntimeDefault"}}
RESTRICTED_CONTAINER = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
SEED = 'mkdir -p /data/a/b && head -c 200000 /dev/urandom > /data/a/b/blob && printf %s "$1" > /data/who && : > /data/empty'
FILES = r"cd /data && find . -mindepth 1 -type d | sort && find . -type f -exec sha256sum {} + | sort -k2"


# MariaDB's backup as annotations. The dump in K8up's spelling: run without a shell, so the password comes in through
# an explicit `sh -c`, as K8up's documentation shows. The freeze holds a global read lock (mariadb_freeze.py).
MARIADB_ANNOTATIONS = {
    "k8up.io/backupcommand": "sh -c 'MYSQL_PWD=\"$MARIADB_ROOT_PASSWORD\" exec mariadb-dump -uroot --single-transaction "
                             "--databases shop'",
    "k8up.io/file-extension": ".sql",
    "statesafe.backup/restore-command": 'MYSQL_PWD="$MARIADB_ROOT_PASSWORD" mariadb -uroot',
    "statesafe.backup/pre-hook-command": FREEZE,
    "statesafe.backup/post-hook-command": THAW,
}


class RowWriter(BackgroundWriter):
    """Inserts one row at a time into shop.t, each acknowledged id with the time its INSERT returned."""

    def __init__(self, kubectl, namespace: str, pod: str):
        super().__init__()
        self.kubectl, self.namespace, self.pod = kubectl, namespace, pod
        self.acks: list[tuple[int, float]] = []

    def run(self) -> None:
        while not self.done.is_set():
            out = self.kubectl("exec", "-n", self.namespace, self.pod, "--", "sh", "-c",
                               f'{SQL} -e "INSERT INTO shop.t () VALUES (); SELECT LAST_INSERT_ID()"').stdout
            self.acks.append((int(out.decode().split()[-1]), time.monotonic()))
            self.acknowledged += 1
            time.sleep(0.05)


def crd() -> dict:
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{PLURAL}.{GROUP}"},
            "spec": {"group": GROUP, "scope": "Namespaced",
                     "names": {"plural": PLURAL, "singular": "widget", "kind": KIND},
                     "versions": [{"name": VERSION, "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                         "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}}


def container(image: str, mount: str) -> dict:
    return {"name": "main", "image": image, "imagePullPolicy": "IfNotPresent", "command": ["sleep", "infinity"],
            "securityContext": RESTRICTED_CONTAINER, "volumeMounts": [{"name": mount, "mountPath": "/data"}]}


def build(namespace: str, image: str, api_client, custom, mariadb_image: str) -> None:
    core, apps, batch = client.CoreV1Api(api_client), client.AppsV1Api(api_client), client.BatchV1Api(api_client)
    rbac = client.RbacAuthorizationV1Api(api_client)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "app"}})
    rbac.create_namespaced_role(namespace, {"metadata": {"name": "reader"}, "rules": [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]})
    rbac.create_namespaced_role_binding(namespace, {
        "metadata": {"name": "app-reader"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                                        "name": "reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "app", "namespace": namespace}]})
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "settings"}, "data": {"mode": "production"}})
    core.create_namespaced_secret(namespace, {"metadata": {"name": "credentials"},
                                              "stringData": {"password": "sfn-" + uuid.uuid4().hex}})
    for name, storage_class in (("web-data", "local"), ("never-bound", "sfn-no-such-class")):
        core.create_namespaced_persistent_volume_claim(namespace, {"metadata": {"name": name}, "spec": {
            "accessModes": ["ReadWriteOnce"], "storageClassName": storage_class,
            "resources": {"requests": {"storage": "64Mi"}}}})
    pod_spec = {"serviceAccountName": "app", "terminationGracePeriodSeconds": 0, "securityContext": RESTRICTED_POD}
    apps.create_namespaced_deployment(namespace, {"metadata": {"name": "web"}, "spec": {
        "replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "strategy": {"type": "Recreate"},
        # A freeze declared the way Velero users do: bound to the copy of the pod's own claim.
        "template": {"metadata": {"labels": {"app": "web"}, "annotations": {
            "pre.hook.backup.velero.io/command": '["/bin/sh", "-c", "sync && touch /tmp/frozen"]',
            "post.hook.backup.velero.io/command": '["/bin/rm", "/tmp/frozen"]'}}, "spec": dict(
            pod_spec, containers=[container(image, "data")],
            volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "web-data"}}])}}})
    core.create_namespaced_service(namespace, {"metadata": {"name": "db"}, "spec": {
        "clusterIP": "None", "selector": {"app": "db"}, "ports": [{"name": "x", "port": 5000}]}})
    apps.create_namespaced_stateful_set(namespace, {"metadata": {"name": "db"}, "spec": {
        "replicas": 1, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
        "template": {"metadata": {"labels": {"app": "db"}}, "spec": dict(pod_spec, containers=[container(image, "data")])},
        "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
            "accessModes": ["ReadWriteOnce"], "storageClassName": "local",
            "resources": {"requests": {"storage": "64Mi"}}}}]}})
    # A Service without a selector and the Endpoints written for it (an external database), and a finished Job.
    core.create_namespaced_service(namespace, {"metadata": {"name": "external-db"}, "spec": {
        "ports": [{"name": "pg", "port": 5432}]}})
    core.create_namespaced_endpoints(namespace, {"metadata": {"name": "external-db"}, "subsets": [{
        "addresses": [{"ip": "192.0.2.10"}], "ports": [{"name": "pg", "port": 5432}]}]})
    batch.create_namespaced_job(namespace, {"metadata": {"name": "migrate"}, "spec": {
        "backoffLimit": 0, "template": {"spec": dict(pod_spec, restartPolicy="Never", containers=[{
            "name": "main", "image": image, "command": ["true"], "securityContext": RESTRICTED_CONTAINER}])}}})
    batch.create_namespaced_cron_job(namespace, {"metadata": {"name": "nightly"}, "spec": {
        "schedule": "0 3 * * *", "suspend": True, "jobTemplate": {"spec": {"template": {"spec": dict(
            pod_spec, restartPolicy="Never", containers=[{
                "name": "main", "image": image, "command": ["true"], "securityContext": RESTRICTED_CONTAINER}])}}}}})
    core.create_namespaced_secret(namespace, {"metadata": {"name": "mariadb-root"},
                                              "stringData": {"password": "sfn-" + uuid.uuid4().hex}})
    core.create_namespaced_persistent_volume_claim(namespace, {
        "metadata": {"name": "mariadb-data", "annotations": {"k8up.io/backup": "false"}},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "local",
                 "resources": {"requests": {"storage": "256Mi"}}}})
    apps.create_namespaced_deployment(namespace, {"metadata": {"name": "mariadb"}, "spec": {
        "replicas": 1, "selector": {"matchLabels": {"app": "mariadb"}}, "strategy": {"type": "Recreate"},
        "template": {"metadata": {"labels": {"app": "mariadb"}, "annotations": MARIADB_ANNOTATIONS}, "spec": dict(
            # No runAsGroup: the image makes what mariadbd writes outside the volume writable by group 0.
            pod_spec, securityContext={k: v for k, v in RESTRICTED_POD.items() if k != "runAsGroup"}, containers=[{
                "name": "mariadb", "image": mariadb_image, "imagePullPolicy": "IfNotPresent",
                "securityContext": RESTRICTED_CONTAINER,
                "env": [{"name": "MARIADB_ROOT_PASSWORD", "valueFrom": {"secretKeyRef": {
                    "name": "mariadb-root", "key": "password"}}}],
                "readinessProbe": {"tcpSocket": {"port": 3306}, "periodSeconds": 2},
                "volumeMounts": [{"name": "data", "mountPath": "/var/lib/mysql"}]}],
            volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "mariadb-data"}}])}}})
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "metadata": {"name": "main"},
        "spec": {"size": 3, "colour": "blue"}})


def running_pod(core, namespace: str, app: str) -> str:
    return ready_pod(core, namespace, f"app={app}")


def wait_running(core, namespace: str) -> None:
    for app in ("web", "db", "mariadb"):
        wait_until(f"a ready {app} pod in {namespace}", lambda app=app: running_pod(core, namespace, app), timeout=240)


def files(kubectl, core, namespace: str, app: str) -> str:
    return kubectl("exec", "-n", namespace, running_pod(core, namespace, app), "--", "sh", "-c", FILES).stdout.decode()


def fingerprint(api_client, kubectl, namespace: str) -> dict:
    """What the namespace holds that a restore must bring back: objects by what they say, and both claims' files."""
    core, apps = client.CoreV1Api(api_client), client.AppsV1Api(api_client)
    batch, rbac = client.BatchV1Api(api_client), client.RbacAuthorizationV1Api(api_client)
    custom = client.CustomObjectsApi(api_client)
    wait_running(core, namespace)
    secret = core.read_namespaced_secret("credentials", namespace).data["password"]
    web, db = apps.read_namespaced_deployment("web", namespace), apps.read_namespaced_stateful_set("db", namespace)
    cron = batch.read_namespaced_cron_job("nightly", namespace)
    return {
        "namespace labels": core.read_namespace(namespace).metadata.labels.get("pod-security.kubernetes.io/enforce"),
        "service accounts": sorted(a.metadata.name for a in core.list_namespaced_service_account(namespace).items),
        "role": [r.to_dict() for r in rbac.read_namespaced_role("reader", namespace).rules],
        "binding": rbac.read_namespaced_role_binding("app-reader", namespace).role_ref.name,
        "config": core.read_namespaced_config_map("settings", namespace).data,
        "secret": hashlib.sha256(base64.b64decode(secret)).hexdigest(),
        "claims": sorted((c.metadata.name, c.spec.storage_class_name)
                         for c in core.list_namespaced_persistent_volume_claim(namespace).items),
        "web": (web.spec.replicas, web.spec.template.spec.service_account_name,
                web.spec.template.spec.containers[0].image),
        "db": (db.spec.replicas, db.spec.volume_claim_templates[0].metadata.name),
        "services": sorted((s.metadata.name, s.spec.cluster_ip == "None")
                           for s in core.list_namespaced_service(namespace).items),
        "cron": (cron.spec.schedule, cron.spec.suspend),
        "external endpoints": [address.ip for subset in core.read_namespaced_endpoints("external-db", namespace).subsets
                               for address in subset.addresses],
        "job": batch.read_namespaced_job("migrate", namespace).spec.template.spec.containers[0].command,
        "widget": custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "main")["spec"],
        "web files": files(kubectl, core, namespace, "web"),
        "db files": files(kubectl, core, namespace, "db"),
    }


def admin_kubeconfig(api_client, kubeconfig: str, namespace: str, path) -> str:
    """A kubeconfig acting as ServiceAccount `backup` bound to Kubernetes' `admin` ClusterRole in the namespace."""
    core, rbac = client.CoreV1Api(api_client), client.RbacAuthorizationV1Api(api_client)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "backup"}})
    rbac.create_namespaced_role_binding(namespace, {
        "metadata": {"name": "backup-admin"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
        "subjects": [{"kind": "ServiceAccount", "name": "backup", "namespace": namespace}]})
    token_kubeconfig(core, kubeconfig, namespace, "backup", path)
    return str(path)


@pytest.fixture(scope="module")
def built(api_client, core, kubectl, kubeconfig, image_refs, tmp_path_factory):
    namespace = f"sfn-ns-{uuid.uuid4().hex[:6]}"
    tmp = tmp_path_factory.mktemp("namespace-mode")
    extensions, custom = client.ApiextensionsV1Api(api_client), client.CustomObjectsApi(api_client)
    extensions.create_custom_resource_definition(crd())
    try:
        restricted_namespace(core, namespace)
        wait_until(f"{KIND} served", lambda: exists(lambda: custom.list_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL)), timeout=60)
        build(namespace, image_refs["toolbox"], api_client, custom, image_refs["mariadb"])
        wait_running(core, namespace)
        for app in ("web", "db"):
            kubectl("exec", "-n", namespace, running_pod(core, namespace, app), "--", "sh", "-c", SEED, "seed", app)
        mariadb_sql(kubectl, core, namespace, "CREATE DATABASE shop; CREATE TABLE shop.t (id INT AUTO_INCREMENT "
                                              "PRIMARY KEY)")
        yield {"namespace": namespace, "tmp": tmp, "custom": custom,
               "identity": admin_kubeconfig(api_client, kubeconfig, namespace, tmp / "backup.kubeconfig")}
    finally:
        core.delete_namespace(namespace)
        wait_until(f"namespace {namespace} gone", lambda: not namespace_exists(core, namespace), timeout=300)
        extensions.delete_custom_resource_definition(f"{PLURAL}.{GROUP}")


def mariadb_sql(kubectl, core, namespace: str, sql: str) -> str:
    return kubectl("exec", "-n", namespace, running_pod(core, namespace, "mariadb"), "--", "sh", "-c",
                   f'{SQL} -e "{sql}"').stdout.decode()


def backup(built, **extra):
    return playbook("backup.yml", built["identity"], built["tmp"], built["namespace"], profile="namespace",
                    staging=str(built["tmp"] / "staging"), **extra)


@pytest.mark.timeout(900)
def test_a_namespace_admin_backs_up_the_whole_namespace_and_it_comes_back(
        built, api_client, core, kubectl, kubeconfig):
    namespace, tmp = built["namespace"], built["tmp"]
    # The backup identity's account is the namespace's too: it is backed up and restored with the rest.
    before = fingerprint(api_client, kubectl, namespace)
    assert before["namespace labels"] == "restricted" and before["web files"] and before["db files"]

    gone = playbook("backup.yml", kubeconfig, tmp, namespace + "-gone", profile="namespace",
                    staging=str(tmp / "staging"))
    assert gone.rc != 0
    assert f"namespace {namespace}-gone does not exist on this cluster; nothing to back up" in " ".join(gone.failures)

    refused = backup(built)
    assert refused.rc != 0
    message = " ".join(refused.failures)
    assert f"{KIND} ({GROUP}/{VERSION}) cannot be listed in namespace {namespace}: HTTP 403" in message, \
        refused.output[-3000:]
    # Refused in preflight: no archive, no branch.
    assert not (tmp / "repo" / "refs" / "heads" / "namespace").exists()

    client.RbacAuthorizationV1Api(api_client).create_namespaced_role(namespace, {
        "metadata": {"name": "backup-widgets"},
        # Every group: other tests' CRDs are served on the same cluster, and a namespace admin may list none of them.
        "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list"]}]})
    client.RbacAuthorizationV1Api(api_client).create_namespaced_role_binding(namespace, {
        "metadata": {"name": "backup-widgets"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "backup-widgets"},
        "subjects": [{"kind": "ServiceAccount", "name": "backup", "namespace": namespace}]})
    mariadb_pod = running_pod(core, namespace, "mariadb")
    with RowWriter(kubectl, namespace, mariadb_pod) as writer:
        run = backup(built)
        time.sleep(2)  # writes go on after the thaw
    assert writer.error is None, writer.error
    assert run.rc == 0, run.failures or run.output[-4000:]
    summary = run.stats["statesafe_backup"]
    mode = summary["namespace_mode"]
    assert mode["pending_claims"] == [{"claim": "never-bound", "phase": "Pending"}]
    left_out = {(entry["kind"], entry.get("name")): entry["reason"] for entry in mode["left_out"]}
    assert left_out[("ServiceAccount", "default")] == "the cluster makes it in every namespace"
    assert left_out[("ConfigMap", "kube-root-ca.crt")] == "the cluster makes it in every namespace"
    assert any(kind == "ReplicaSet" and why == "owned by an object that is backed up"
               for (kind, _name), why in left_out.items())
    assert sum(1 for (kind, _name), why in left_out.items()
               if kind == "Pod" and why == "owned by an object that is backed up") == 4  # web, db, migrate, mariadb
    assert left_out[("PersistentVolumeClaim", "mariadb-data")].startswith("its files: k8up.io/backup is false")
    assert f"{GROUP}/{VERSION}/{KIND}" in mode["kinds"]
    web_pod = running_pod(core, namespace, "web")
    # Each pod frozen only for what captures its data: web's claim, mariadb's dump.
    assert {(entry["pod"], entry["first"], entry["last"]) for entry in summary["hooks"]["bound"]} == {
        (web_pod, "volume-web-data", "volume-web-data"), (mariadb_pod, "dump-mariadb", "dump-mariadb")}, \
        summary["hooks"]
    assert summary["hooks"]["freeze_seconds"][web_pod] > 0, summary["hooks"]
    steps = {step["component"]: step for step in summary["steps"]}
    assert {"config", "claims", "workloads", "volume-web-data", "volume-data-db-0", "dump-mariadb",
            "custom-resources"} <= set(steps)
    assert "volume-never-bound" not in steps and "volume-mariadb-data" not in steps
    assert (steps["dump-mariadb"]["pod"], steps["dump-mariadb"]["container"]) == (mariadb_pod, "mariadb")

    # The writes waited while MariaDB was frozen and resumed after: the longest pause between two acknowledged
    # INSERTs spans most of the freeze, far beyond the usual pace, and rows were acknowledged after it.
    frozen = summary["hooks"]["freeze_seconds"][mariadb_pod]
    gaps = [(later[1] - earlier[1], earlier[0]) for earlier, later in zip(writer.acks, writer.acks[1:])]
    pause, last_before = max(gaps)
    assert frozen > 0.5 and pause >= 0.5 * frozen and pause > 5 * statistics.median(gap for gap, _id in gaps), \
        (frozen, pause, gaps)
    assert writer.acks[-1][0] > last_before + 1, "no write was acknowledged after the thaw"

    core.delete_namespace(namespace)
    wait_until(f"namespace {namespace} gone", lambda: not namespace_exists(core, namespace), timeout=300)
    restored = playbook("restore.yml", kubeconfig, tmp, namespace, profile="namespace",
                        staging=str(tmp / "restore"), wait_ready=True)
    assert restored.rc == 0, restored.failures or restored.output[-4000:]
    after = fingerprint(api_client, kubectl, namespace)
    assert after == before
    # The dump, loaded into the new MariaDB: exactly the rows acknowledged before the freeze.
    restored_ids = [int(n) for n in mariadb_sql(kubectl, core, namespace, "SELECT id FROM shop.t ORDER BY id").split()]
    assert restored_ids == list(range(1, last_before + 1)), (restored_ids[-5:], last_before)

    # The plan of another restore, shown and not carried out: per object and per claim, as for any profile.
    check = playbook("restore.yml", kubeconfig, tmp, namespace, "--check", "--diff", profile="namespace",
                     staging=str(tmp / "restore"), policy="update")
    assert check.rc == 0, check.failures or check.output[-4000:]
    lines = next(result["lines"] for result in check.results("Plan | what the restore does with each object"))
    assert "update ConfigMap/settings (no difference) [update]" in lines, lines
    assert f"update {KIND}/main (no difference) [update]" in lines, lines
    assert any(line.startswith("overwrite volume volume-web-data (claim web-data) of Deployment/web") for line in lines), lines
    assert any(line.startswith("overwrite dump dump-mariadb of Deployment/mariadb") for line in lines), lines
    assert fingerprint(api_client, kubectl, namespace) == after
