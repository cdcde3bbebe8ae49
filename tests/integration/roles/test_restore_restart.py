"""A restore that changes a Secret or ConfigMap restarts the workloads that read it, and only those.

A small application of our own in namespace `sfc-restart` (no sample stack: only configuration and
the workloads that read it): a Deployment reading a ConfigMap through envFrom and a Secret through
an env secretKeyRef, a StatefulSet mounting the Secret, a DaemonSet reading the ConfigMap through an env
configMapKeyRef, a Deployment reading neither and one at 0 replicas reading the ConfigMap. The profile backs up the ConfigMap and the Secret only (the workloads
are managed elsewhere, as with GitOps). After the backup the configuration is changed and the
workloads restarted onto it; then:

- a restore with policy update brings the values back and restarts the three running readers (their
  pods see the backed-up values), not the bystander nor the one at 0 replicas; the summary names
  each restarted workload with what it reads, and the idle one with its reason;
- what a restore killed between writing the configuration and restarting its readers leaves (the archived values
  with its mark, the readers on the values before): the same restore again restarts the readers;
- with `restart_changed=false` the configuration is restored and no pod is restarted;
- an identity that may update the application's ConfigMaps but not create one restores all the same: the
  sentinel ConfigMap the completion writes is refused (Forbidden) and the marks are removed without it.

That a restore of identical configuration restarts nothing is a unit test (test_rollout.py): here each
playbook run costs seconds, and the file stays near two minutes.

The namespace is deleted at the end, whatever happened.
"""

from __future__ import annotations

import base64
import json
import time

import pytest
from kubernetes import client

from cluster_helpers import service_account_kubeconfig
from role_helpers import playbook

NS = "sfc-restart"
IMAGE = "localhost/toolbox:bookworm-1"
PART_OF = {"app.kubernetes.io/part-of": "restart-app"}
PROFILE = {
    "name": "restart-app",
    "components": [{"name": "config", "type": "resources", "restore_phase": "early",
                    "resources": [{"kind": "ConfigMap", "label_selectors": ["app.kubernetes.io/part-of=restart-app"]},
                                  {"kind": "Secret", "label_selectors": ["app.kubernetes.io/part-of=restart-app"]}]}],
}
READERS = {"Deployment/web", "StatefulSet/worker", "DaemonSet/agent"}


def pod_template(name: str, spec: dict) -> dict:
    container = {"name": "main", "image": IMAGE, "imagePullPolicy": "IfNotPresent",
                 "command": ["sleep", "infinity"], **spec.pop("container", {})}
    return {"metadata": {"labels": {"app": name}},
            "spec": {"terminationGracePeriodSeconds": 0, "containers": [container], **spec}}


def meta(name: str) -> dict:
    return {"name": name, "namespace": NS, "labels": PART_OF}


def manifests(greeting: str, token: str) -> list[dict]:
    return [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("settings"), "data": {"GREETING": greeting}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": meta("token"),
         "data": {"token": base64.b64encode(token.encode()).decode()}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": NS},
         "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                  "template": pod_template("web", {"container": {
                      "envFrom": [{"configMapRef": {"name": "settings"}}],
                      "env": [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "token", "key": "token"}}}]}})}},
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "worker", "namespace": NS},
         "spec": {"replicas": 1, "serviceName": "worker", "selector": {"matchLabels": {"app": "worker"}},
                  "template": pod_template("worker", {
                      "container": {"volumeMounts": [{"name": "token", "mountPath": "/token", "readOnly": True}]},
                      "volumes": [{"name": "token", "secret": {"secretName": "token"}}]})}},
        {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": NS},
         "spec": {"selector": {"matchLabels": {"app": "agent"}},
                  "template": pod_template("agent", {"container": {"env": [{"name": "GREETING", "valueFrom": {
                      "configMapKeyRef": {"name": "settings", "key": "GREETING"}}}]}})}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bystander", "namespace": NS},
         "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "bystander"}},
                  "template": pod_template("bystander", {})}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "idle", "namespace": NS},
         "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "idle"}},
                  "template": pod_template("idle", {"container": {"envFrom": [{"configMapRef": {"name": "settings"}}]}})}},
    ]


def apply(kubectl, objects: list[dict]) -> None:
    kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}).encode())


def settle(kubectl) -> None:
    for workload in ("deployment/web", "statefulset/worker", "daemonset/agent", "deployment/bystander"):
        kubectl("-n", NS, "rollout", "status", workload, "--timeout=180s", timeout=200)


def pods(core) -> dict[str, str]:
    """app label -> name/uid of its one running pod (waits out pods still terminating; a StatefulSet's pod keeps
    its name across a restart, not its uid)."""
    deadline = time.monotonic() + 120
    while True:
        items = [p for p in core.list_namespaced_pod(NS).items if p.metadata.deletion_timestamp is None]
        by_app = {}
        for item in items:
            by_app.setdefault(item.metadata.labels["app"], []).append(f"{item.metadata.name}/{item.metadata.uid}")
        if all(len(names) == 1 for names in by_app.values()) and len(by_app) == 4:
            return {app: names[0] for app, names in by_app.items()}
        assert time.monotonic() < deadline, f"pods of {NS} did not settle: {by_app}"
        time.sleep(1)


def seen(kubectl, pod: str, command: str) -> str:
    return kubectl("-n", NS, "exec", pod.split("/")[0], "--", "sh", "-c", command).stdout.decode().strip()


@pytest.fixture(scope="module")
def app(kubeconfig, kubectl, core, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("restart")
    kubectl("delete", "namespace", NS, "--ignore-not-found", "--wait=true", timeout=300)
    kubectl("create", "namespace", NS)
    try:
        apply(kubectl, manifests("backed-up", "token-1"))
        settle(kubectl)
        run = playbook("backup.yml", kubeconfig, tmp, NS, profile_data=PROFILE, staging=str(tmp / "staging"))
        assert run.rc == 0, run.failures or run.output[-4000:]
        yield {"tmp": tmp, "kubeconfig": kubeconfig, "commit": run.stats["statesafe_backup"]["commit"]}
    finally:
        kubectl("delete", "namespace", NS, "--ignore-not-found", "--wait=false")


def change_and_restart(kubectl, core) -> dict[str, str]:
    """Change both values after the backup, and restart the readers onto them, as an operator would."""
    apply(kubectl, manifests("changed-later", "token-2")[:2])
    for workload in ("deployment/web", "statefulset/worker", "daemonset/agent"):
        kubectl("-n", NS, "rollout", "restart", workload)
    settle(kubectl)
    running = pods(core)
    assert seen(kubectl, running["web"], "echo $GREETING $TOKEN") == "changed-later token-2"
    assert seen(kubectl, running["worker"], "cat /token/token") == "token-2"
    assert seen(kubectl, running["agent"], "echo $GREETING") == "changed-later"
    return running


def restore(app, **extra):
    run = playbook("restore.yml", app["kubeconfig"], app["tmp"], NS, profile_data=PROFILE,
                   staging=str(app["tmp"] / "restore"), **{"policy": "update", **extra})
    assert run.rc == 0, run.failures or run.output[-4000:]
    return run.stats["statesafe_restore"]


def test_a_restore_restarts_the_readers_of_what_it_changed_and_only_them(app, kubectl, core):
    before = change_and_restart(kubectl, core)
    summary = restore(app)
    assert set(summary["restarted"]) == READERS
    assert summary["restarted_because"] == {"Deployment/web": ["ConfigMap/settings", "Secret/token"],
                                            "StatefulSet/worker": ["Secret/token"],
                                            "DaemonSet/agent": ["ConfigMap/settings"]}
    step = next(s for s in summary["steps"] if s["step"] == "restart")
    assert sorted(step["changed_config"]) == ["ConfigMap/settings", "Secret/token"]
    assert [(e["workload"], e["reason"].split(":")[0]) for e in step["left_alone"]] == [
        ("Deployment/idle", "it runs no pods (0 replicas)")]
    # Names only: a value of the Secret never reaches the summary.
    assert "token-1" not in json.dumps(summary) and "token-2" not in json.dumps(summary)
    after = pods(core)
    assert after["web"] != before["web"] and after["worker"] != before["worker"] and after["agent"] != before["agent"]
    assert after["bystander"] == before["bystander"]
    assert seen(kubectl, after["web"], "echo $GREETING $TOKEN") == "backed-up token-1"
    assert seen(kubectl, after["worker"], "cat /token/token") == "token-1"
    assert seen(kubectl, after["agent"], "echo $GREETING") == "backed-up"


def test_a_rerun_restarts_the_readers_a_killed_restore_did_not(app, kubectl, core):
    """What a restore killed between writing the configuration and restarting its readers leaves: the archived
    values, carrying its mark, and the readers still running on the values before. Written here by hand, as no
    state of the cluster tells the moment between those two steps apart: the same restore again finds nothing
    left to change, and restarts the readers all the same."""
    before = change_and_restart(kubectl, core)
    left = manifests("backed-up", "token-1")[:2]
    for obj in left:
        obj["metadata"]["annotations"] = {"statesafe.backup/restoring": app["commit"]}
    apply(kubectl, left)
    summary = restore(app, policy="fail")
    assert set(summary["restarted"]) == READERS
    assert {"ConfigMap/settings", "Secret/token"} <= set(summary["resumed"]), summary["resumed"]
    after = pods(core)
    assert after["web"] != before["web"] and after["agent"] != before["agent"]
    assert after["bystander"] == before["bystander"]
    assert seen(kubectl, after["web"], "echo $GREETING $TOKEN") == "backed-up token-1"


def test_restart_changed_false_restores_the_configuration_without_restarting(app, kubectl, core):
    before = change_and_restart(kubectl, core)
    summary = restore(app, restart_changed=False)
    assert summary["restarted"] == [] and summary["restarted_because"] == {}
    assert pods(core) == before
    assert json.loads(kubectl("-n", NS, "get", "configmap", "settings", "-o", "json").stdout)["data"] == \
        {"GREETING": "backed-up"}
    # The running pod still has the value it started with: what the restart is for.
    assert seen(kubectl, before["web"], "echo $GREETING $TOKEN") == "changed-later token-2"


def test_an_identity_that_may_not_create_configmaps_completes_without_the_sentinel(app, kubectl, api_client,
                                                                                   tmp_path):
    apply(kubectl, manifests("changed-later", "token-2")[:2])
    read = ["get", "list", "watch"]
    rules = [client.V1PolicyRule(api_groups=[""], resources=["configmaps", "secrets"], verbs=read + ["update", "patch"]),
             client.V1PolicyRule(api_groups=[""], resources=["namespaces", "pods"], verbs=read),
             client.V1PolicyRule(api_groups=["apps"], resources=["deployments", "statefulsets", "daemonsets",
                                                                 "replicasets"], verbs=read)]
    with service_account_kubeconfig(api_client, app["kubeconfig"], NS, "no-create", rules,
                                    tmp_path / "no-create.kubeconfig") as identity:
        summary = restore(dict(app, kubeconfig=identity[0]), restart_changed=False)
    assert any(step["step"] == "complete" for step in summary["steps"]), summary["steps"]
    assert json.loads(kubectl("-n", NS, "get", "configmap", "settings", "-o", "json").stdout)["data"] == \
        {"GREETING": "backed-up"}
    left = kubectl("-n", NS, "get", "configmaps,secrets", "-o", "json").stdout
    assert b"statesafe.backup/restoring" not in left and b"statesafe-restore-completing" not in left
