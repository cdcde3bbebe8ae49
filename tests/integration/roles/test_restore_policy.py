"""Restore policies, check mode, readiness and the oldest of several archives, against the local cluster.

The sample Software Factory stack is deployed in its unhardened shape (`sample.sh deploy --root`: root pods, a
namespace without Pod Security labels, as on a cluster without that admission; the other tests of the stack run it
under PodSecurity `restricted`) and seeded in its own namespace (`sf-restore`) and backed up ARCHIVES times through
playbooks/backup.yml, with a change to the data (a row and a Secret) before each backup after the first. Then, in
order (each test starts from what the previous one left):

- each backup is complete, with every component's step and the artifacts the restore needs in its manifest;
- the namespace is lost and the OLDEST archive is restored: the fingerprint equals the first one, no Secret value
  is in the output, and nothing needed a restart (every pod started on the restored Secrets and ConfigMaps);
- on the running stack, the default policy and a per-kind `fail` refuse and change nothing;
  `--check --diff` shows per object and per volume and dump what would happen, without a Secret
  value, and changes nothing (resourceVersions, uids and fingerprint);
- `skip` keeps a Secret and data changed after the backup; `update` brings them back in the same
  objects; `recreate` brings them back in new objects (new uids) and waits for the custom
  resource's readiness, which the test sets since the sample has no operator;
- a custom resource that never reports ready fails the run after the timeout, naming it.

The namespace is deleted at the end, whatever happened.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import os
import threading
import time
from pathlib import Path

import pytest
from kubernetes import client

from role_helpers import (
    ANSIBLE_PLAYBOOK,
    PLAYBOOKS,
    SAMPLE,
    PlaybookRun,
    mariadb,
    namespace_exists,
    playbook,
    playbook_env,
    sample,
)

NS = "sf-restore"
ARCHIVES = 2  # 3 works the same; each backup costs minutes on the shared 2-core machine
CHANGED_SECRET = "zuul-db"
SF_GROUP, SF_VERSION, SF_PLURAL, SF_NAME = "sf.softwarefactory-project.io", "v1", "softwarefactories", "my-sf"
PLAN_TASK = "Plan | what the restore does with each object, volume and dump (the policy of each kind)"


def state(core: client.CoreV1Api, apps: client.AppsV1Api, custom: client.CustomObjectsApi) -> dict:
    """(uid, resourceVersion) of every object the restore touches, by Kind/name."""
    found = {}
    for kind, items in (("Secret", core.list_namespaced_secret(NS).items),
                        ("ConfigMap", core.list_namespaced_config_map(NS).items),
                        ("Service", core.list_namespaced_service(NS).items),
                        ("StatefulSet", apps.list_namespaced_stateful_set(NS).items)):
        for item in items:
            if (item.metadata.labels or {}).get("app.kubernetes.io/part-of") == "softwarefactory":
                found[f"{kind}/{item.metadata.name}"] = (item.metadata.uid, item.metadata.resource_version)
    for item in custom.list_namespaced_custom_object(SF_GROUP, SF_VERSION, NS, SF_PLURAL)["items"]:
        metadata = item["metadata"]
        found["SoftwareFactory/" + metadata["name"]] = (metadata["uid"], metadata["resourceVersion"])
    return found


def fingerprint(kubeconfig: str) -> tuple[str, dict]:
    """The sample's fingerprint and its parts (sample.sh fingerprint --verbose prints them on stderr)."""
    env = dict(os.environ, KUBECONFIG=kubeconfig, SAMPLE_NAMESPACE=NS,
               KUBECTL=str(Path(kubeconfig).parent / "bin" / "kubectl"))
    run = subprocess.run([str(SAMPLE), "fingerprint", "--verbose"], env=env, capture_output=True, text=True,
                         check=False, timeout=300)
    assert run.returncode == 0, f"sample.sh fingerprint ({NS}) failed:\n{run.stderr[-3000:]}"
    parts = dict(line.strip().split(": ", 1) for line in run.stderr.splitlines() if line.startswith("  ") and ": " in line)
    return run.stdout.strip(), parts


def differing(parts: dict, expected: dict) -> list:
    return sorted(key for key in set(parts) | set(expected) if parts.get(key) != expected.get(key))


def uids(snapshot: dict) -> dict:
    return {key: value[0] for key, value in snapshot.items()}


def secret_password(core: client.CoreV1Api) -> str:
    return base64.b64decode(core.read_namespaced_secret(CHANGED_SECRET, NS).data["password"]).decode()


def change_secret(core: client.CoreV1Api, value: str) -> None:
    core.patch_namespaced_secret(CHANGED_SECRET, NS, {"data": {"password": base64.b64encode(value.encode()).decode()}})


def add_row(kubectl, row_id: int) -> None:
    mariadb(kubectl, NS, f"INSERT INTO zuul.zuul_buildset VALUES ({row_id}, REPEAT('x', 32), 'later-{row_id}', "
                         "'p', 'check', NULL, NOW())")


def task_result(run: PlaybookRun, name: str) -> dict:
    for play in run.document.get("plays", []):
        for task in play.get("tasks", []):
            if task["task"]["name"] in (name, "statesafe.backup.restore : " + name):
                return task["hosts"]["localhost"]
    raise AssertionError(f"task {name!r} did not run; tasks: {run.task_names()}")


def restore(kubeconfig, history, *options, **extra) -> PlaybookRun:
    return playbook("restore.yml", kubeconfig, history["tmp"], NS, *options,
                    staging=str(history["tmp"] / "restore"), **extra)


@pytest.fixture(scope="module")
def apis(api_client, core, apps):
    return core, apps, client.CustomObjectsApi(api_client)


@pytest.fixture(scope="module")
def history(kubeconfig, core, kubectl, tmp_path_factory):
    """ARCHIVES complete archives of the stack, each with different data; the namespace is deleted at the end."""
    tmp = tmp_path_factory.mktemp("restore-policy")
    try:
        sample(kubeconfig, NS, "deploy", "--root")
        sample(kubeconfig, NS, "seed")
        fingerprints, parts, commits, passwords, summaries = [], [], [], [], []
        for number in range(ARCHIVES):
            if number:
                add_row(kubectl, 990000 + number)
                change_secret(core, f"changed-before-backup-{number}")
            value, value_parts = fingerprint(kubeconfig)
            fingerprints.append(value)
            parts.append(value_parts)
            passwords.append(secret_password(core))
            run = playbook("backup.yml", kubeconfig, tmp, NS, staging=str(tmp / "staging"))
            assert run.rc == 0, run.failures or run.output[-4000:]
            commits.append(run.stats["statesafe_backup"]["commit"])
            summaries.append(run.stats["statesafe_backup"])
        assert len(set(fingerprints)) == ARCHIVES and len(set(commits)) == ARCHIVES
        yield {"tmp": tmp, "fingerprints": fingerprints, "parts": parts, "commits": commits, "passwords": passwords,
               "summaries": summaries}
    finally:
        sample(kubeconfig, NS, "destroy", "--no-wait")


# The first test also builds the module's history (a stack deployed, seeded and backed up ARCHIVES times).
@pytest.mark.timeout(1200)
def test_each_backup_is_complete_and_summarised(history):
    for summary in history["summaries"]:
        assert summary["complete"] is True
        assert [step["component"] for step in summary["steps"]] == [
            "config", "workloads", "mariadb", "zookeeper", "zuul-keys", "softwarefactory"]
    staging = history["tmp"] / "staging" / "softwarefactory"
    manifest = json.loads((staging / "MANIFEST.json").read_text())
    paths = {artifact["path"] for artifact in manifest["artifacts"]}
    assert {"dumps/mariadb.sql", "resources/Secret/mariadb-root-password.yaml",
            "resources/ConfigMap/zuul-config.yaml", "resources/SoftwareFactory/my-sf.yaml"} <= paths
    assert any(path.startswith("volumes/zookeeper-data-zookeeper-0/") for path in paths)
    assert (staging / "dumps" / "mariadb.sql").read_bytes().rstrip().endswith(b"-- Dump completed")


def test_restore_the_oldest_of_several_archives(history, kubeconfig, core):
    sample(kubeconfig, NS, "destroy")
    assert not namespace_exists(core, NS)
    oldest = history["commits"][0]
    run = restore(kubeconfig, history, archive=oldest[:12])
    assert run.rc == 0, run.failures or run.output[-4000:]
    summary = run.stats["statesafe_restore"]
    assert summary["commit"] == oldest
    assert set(summary["actions"].values()) == {"create"}
    assert set(summary["data_actions"].values()) == {"restore"}
    # Into an empty namespace every pod starts on the restored Secrets and ConfigMaps: nothing to restart.
    assert summary["restarted"] == [], summary["steps"]
    assert secret_password(core) == history["passwords"][0]
    value, parts = fingerprint(kubeconfig)
    assert value == history["fingerprints"][0], differing(parts, history["parts"][0])
    assert history["passwords"][0] not in run.output, "a Secret value appeared in the playbook output"


def test_refusal_and_check_mode_change_nothing(history, kubeconfig, core, kubectl, apis):
    # A Secret and data changed after the backup, for check mode to show.
    add_row(kubectl, 991000)
    change_secret(core, "changed-after-backup")
    before, current = state(*apis), sample(kubeconfig, NS, "fingerprint")
    assert current != history["fingerprints"][0]

    refused = restore(kubeconfig, history, archive=history["commits"][0][:12])
    assert refused.rc != 0
    message = " ".join(refused.failures)
    assert "already has" in message and "Nothing was changed" in message, message
    assert "Secret/zuul-db" in message and "StatefulSet/mariadb (data of mariadb)" in message

    # Per kind: everything may be skipped except ConfigMaps, so only they are named.
    per_kind = restore(kubeconfig, history, policy="skip", policy_by_kind={"ConfigMap": "fail"})
    assert per_kind.rc != 0
    message = " ".join(per_kind.failures)
    assert "ConfigMap/zuul-config" in message and "Secret/" not in message and "(data of" not in message, message

    staged = sorted((history["tmp"] / "restore").iterdir())
    check = restore(kubeconfig, history, "--check", "--diff", archive=history["commits"][0][:12], policy="update",
                    policy_by_kind={"Secret": "recreate", "StatefulSet": "recreate"})
    assert check.rc == 0, check.failures or check.output[-4000:]
    plan = task_result(check, PLAN_TASK)
    assert plan["changed"] is True
    lines = plan["lines"]
    assert "recreate Secret/zuul-db [recreate]" in lines
    assert "update ConfigMap/zuul-config (no difference) [update]" in lines
    assert "recreate StatefulSet/mariadb [recreate]" in lines
    assert any(line.startswith("overwrite dump mariadb of StatefulSet/mariadb, ") for line in lines), lines
    assert any(line.startswith("overwrite volume zookeeper (claim zookeeper-data-zookeeper-0) of "
                               "StatefulSet/zookeeper, ") for line in lines), lines
    headers = [entry["after_header"] for entry in plan["diff"]]
    assert "Secret/zuul-db (recreated from the archive)" in headers
    assert "dump mariadb (from the archive)" in headers and "volume zookeeper (from the archive)" in headers
    secret_diff = plan["diff"][headers.index("Secret/zuul-db (recreated from the archive)")]
    assert "password: '<hidden, changed>'" in secret_diff["after"]
    for value in ("changed-after-backup", history["passwords"][0]):
        for encoded in (value, base64.b64encode(value.encode()).decode()):
            assert encoded not in check.output, "a Secret value appeared in the --check --diff output"
    assert check.stats["statesafe_restore"]["check_mode"] is True
    # Nothing changed in the cluster, and check mode leaves no staging tree behind.
    assert state(*apis) == before
    assert sample(kubeconfig, NS, "fingerprint") == current
    assert sorted((history["tmp"] / "restore").iterdir()) == staged


def test_skip_keeps_what_exists(history, kubeconfig, core, apis):
    before, current = state(*apis), sample(kubeconfig, NS, "fingerprint")
    run = restore(kubeconfig, history, archive=history["commits"][0][:12], policy="skip")
    assert run.rc == 0, run.failures or run.output[-4000:]
    summary = run.stats["statesafe_restore"]
    assert set(summary["actions"].values()) == {"skip"} and set(summary["data_actions"].values()) == {"skip"}
    assert secret_password(core) == "changed-after-backup"
    assert state(*apis) == before
    assert sample(kubeconfig, NS, "fingerprint") == current != history["fingerprints"][0]


def test_update_brings_objects_and_data_back_in_place(history, kubeconfig, core, apis):
    before = state(*apis)
    run = restore(kubeconfig, history, archive=history["commits"][0][:12], policy="update")
    assert run.rc == 0, run.failures or run.output[-4000:]
    summary = run.stats["statesafe_restore"]
    assert set(summary["actions"].values()) == {"update"}
    assert set(summary["data_actions"].values()) == {"overwrite"}
    assert secret_password(core) == history["passwords"][0]
    value, parts = fingerprint(kubeconfig)
    assert value == history["fingerprints"][0], differing(parts, history["parts"][0])
    assert uids(state(*apis)) == uids(before)


def run_in_background(kubeconfig, history, **extra):
    """restore.yml started as playbook() would; returns (process, started time)."""
    variables = {"kubeconfig": kubeconfig, "repository": str(history["tmp"] / "repo"), "app_namespace": NS,
                 "ansible_python_interpreter": sys.executable, "staging": str(history["tmp"] / "restore"), **extra}
    argv = [str(ANSIBLE_PLAYBOOK), str(PLAYBOOKS / "restore.yml"), "-e", json.dumps(variables)]
    return subprocess.Popen(argv, env=playbook_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


MARK_READY_AFTER = 20  # seconds after the restore creates the custom resource


def test_recreate_gives_new_objects_and_waits_for_readiness(history, kubeconfig, core, kubectl, apis):
    change_secret(core, "changed-again")
    add_row(kubectl, 992000)
    before = state(*apis)
    custom = apis[2]
    old_uid = before["SoftwareFactory/" + SF_NAME][0]
    started = time.monotonic()
    process = run_in_background(kubeconfig, history, archive=history["commits"][0][:12], policy="recreate",
                                wait_ready=True, ready_timeout=600)
    output: dict = {}
    reader = threading.Thread(target=lambda: output.update(zip(("out", "err"), process.communicate(timeout=900))))
    reader.start()
    # The sample has no operator: once the new custom resource exists, say it is ready, as sf-operator would,
    # but only after the restore has had time to reach its readiness poll (it applies the resource last, then
    # only the restart step runs before it): it must find the resource not ready and wait. A few seconds
    # are not enough on a loaded machine.
    marked_at = None
    while reader.is_alive() and marked_at is None:
        items = custom.list_namespaced_custom_object(SF_GROUP, SF_VERSION, NS, SF_PLURAL)["items"]
        if items and items[0]["metadata"]["uid"] != old_uid:
            time.sleep(MARK_READY_AFTER)
            custom.patch_namespaced_custom_object_status(SF_GROUP, SF_VERSION, NS, SF_PLURAL, SF_NAME,
                                                         {"status": {"ready": True}})
            marked_at = time.monotonic()
        time.sleep(1)
    reader.join(timeout=900)
    run = PlaybookRun(subprocess.CompletedProcess(process.args, process.returncode, output["out"], output["err"]),
                      time.monotonic() - started)
    assert run.rc == 0, run.failures or run.output[-4000:]
    assert marked_at is not None, "the custom resource was never recreated"
    waited = task_result(run, "Ready | wait for each object of a component with a ready description")
    assert waited["results"][0]["attempts"] >= 2, "the restore did not wait for the custom resource"
    after = state(*apis)
    assert set(after) == set(before)
    assert all(after[key][0] != before[key][0] for key in before), "recreate kept an object's uid"
    assert set(run.stats["statesafe_restore"]["actions"].values()) == {"recreate"}
    assert secret_password(core) == history["passwords"][0]
    value, parts = fingerprint(kubeconfig)
    assert value == history["fingerprints"][0], differing(parts, history["parts"][0])


def test_readiness_timeout_names_the_object(history, kubeconfig, apis):
    before = state(*apis)
    run = restore(kubeconfig, history, archive=history["commits"][0][:12], policy="skip",
                  policy_by_kind={"SoftwareFactory": "recreate"}, wait_ready=True, ready_timeout=6)
    assert run.rc != 0
    message = " ".join(run.failures)
    assert (f"SoftwareFactory/{SF_NAME} in namespace {NS} is not ready after 6 s: waited for status.ready == true; "
            "its status is {}") in message, message
    after = state(*apis)
    assert after["SoftwareFactory/" + SF_NAME][0] != before["SoftwareFactory/" + SF_NAME][0]
    del after["SoftwareFactory/" + SF_NAME], before["SoftwareFactory/" + SF_NAME]
    assert after == before
