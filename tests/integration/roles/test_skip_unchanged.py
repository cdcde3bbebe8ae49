"""skip_unchanged, min_interval and force of playbooks/backup.yml, against the local cluster (namespace `sf-skip`).

The sample stack is deployed and seeded there and backed up once; then, in order (one repository, each test
building on the previous one's archive):

- an unchanged application: the run with skip_unchanged=true is skipped (exit 0, set_stats and metrics say so,
  no new archive, no new ref, no new pack in the repository), although the backup itself ran zuul-admin
  export-keys and mariadb-dump (which must not move the probes);
- one MariaDB row changed, a ZooKeeper znode written, a ConfigMap edited: each time the next run backs up and
  names the component that changed; the run right after each is skipped again;
- min_interval=1h right after a backup: skipped, naming when the next run may happen;
- force=true: runs whatever skip_unchanged and min_interval say.

The namespace is deleted at the end, whatever happened.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from role_helpers import mariadb, playbook, sample

NS = "sf-skip"
BRANCH = "softwarefactory"


def git(repo: Path, *args: str) -> str:
    run = subprocess.run(["git", "--git-dir", str(repo), *args], capture_output=True, text=True, check=True,
                         timeout=120)
    return run.stdout


def repository(repo: Path) -> dict:
    """What a run could add to the repository: commits of the branch, refs, pack files."""
    return {"commits": git(repo, "rev-list", f"refs/heads/{BRANCH}").split(),
            "refs": git(repo, "for-each-ref", "--format=%(refname) %(objectname)"),
            "packs": sorted(p.name for p in (repo / "objects" / "pack").iterdir())}


def metrics(tmp: Path) -> dict[str, float]:
    text = (tmp / "metrics" / f"statesafe_backup_{BRANCH}_{NS}.prom").read_text()
    return {line.split("{")[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line and not line.startswith("#") and "step" not in line.split("{")[0]}


def backup(stack, **extra):
    """Run playbooks/backup.yml; its statesafe_backup stats, with the decision's message as `decision`."""
    tmp = stack["tmp"]
    run = playbook("backup.yml", stack["kubeconfig"], tmp, NS, staging=str(tmp / "staging"),
                   metrics_dir=str(tmp / "metrics"), **extra)
    assert run.rc == 0, run.failures or run.output[-4000:]
    messages = [result.get("msg", "") for play in run.document["plays"] for task in play["tasks"]
                if task["task"]["name"].endswith("Changes | why this run backs up or is skipped")
                for result in task["hosts"].values()]
    assert len(messages) == 1, run.task_names()
    return dict(run.stats["statesafe_backup"], decision=messages[0])


@pytest.fixture(scope="module")
def stack(kubeconfig, kubectl, tmp_path_factory):
    """The sample in sf-skip, seeded and backed up once; the namespace deleted after."""
    tmp = tmp_path_factory.mktemp("skip-unchanged")
    (tmp / "metrics").mkdir()
    try:
        sample(kubeconfig, NS, "deploy")
        sample(kubeconfig, NS, "seed")
        state = {"tmp": tmp, "kubeconfig": kubeconfig, "repo": tmp / "repo"}
        first = backup(state, skip_unchanged=True)
        state["first"] = first
        yield state
    finally:
        sample(kubeconfig, NS, "destroy", "--no-wait")


def assert_skipped_unchanged(stack, before):
    summary = backup(stack, skip_unchanged=True)
    assert summary["skipped"] is True and summary["skipped_by"] == "unchanged", summary
    assert summary["unchanged"] is True
    assert summary["archive"] == before["commits"][0]
    assert summary["compared"] == ["config", "workloads", "mariadb", "zookeeper", "zuul-keys", "softwarefactory"]
    assert "nothing changed since the last complete archive " + before["commits"][0][:12] in summary["reason"]
    assert summary["reason"] in summary["decision"]
    assert repository(stack["repo"]) == before
    got = metrics(stack["tmp"])
    assert got["statesafe_backup_success"] == 1 and got["statesafe_backup_skipped"] == 1
    assert got["statesafe_backup_last_current_timestamp_seconds"] > got["statesafe_backup_last_success_timestamp_seconds"]
    return summary


def assert_backs_up(stack, before, components):
    summary = backup(stack, skip_unchanged=True)
    assert not summary.get("skipped"), summary
    # "changed since the last complete archive <commit> of <time>: mariadb (revision changed)"
    assert re.findall(r"([\w-]+) \(revision changed\)", summary["decision"]) == components, summary["decision"]
    assert "changed since the last complete archive " + before["commits"][0][:12] in summary["decision"]
    assert summary["complete"] is True
    after = repository(stack["repo"])
    assert after["commits"][1:] == before["commits"] and after["commits"][0] == summary["commit"]
    state = json.loads((stack["repo"] / "statesafe-state" / f"{BRANCH}.json").read_text())
    assert state["archive"]["commit"] == summary["commit"]
    # The revisions recorded are the ones taken before the capture, in the archive's manifest as in the state file.
    manifest = json.loads((stack["tmp"] / "staging" / BRANCH / "MANIFEST.json").read_text())
    assert manifest["revisions"] == state["revisions"]
    assert metrics(stack["tmp"])["statesafe_backup_skipped"] == 0
    return summary, after


def test_first_run_backs_up_and_records_revisions(stack):
    first = stack["first"]
    assert not first.get("skipped") and first["complete"] is True
    state = json.loads((stack["repo"] / "statesafe-state" / f"{BRANCH}.json").read_text())
    assert state["archive"]["commit"] == first["commit"] and state["namespace"] == NS
    assert set(state["revisions"]) == {"config", "workloads", "mariadb", "zookeeper", "zuul-keys", "softwarefactory"}
    assert all(str(value).startswith("sha256:") for value in state["revisions"].values())


def test_unchanged_run_is_skipped_and_adds_nothing(stack):
    assert_skipped_unchanged(stack, repository(stack["repo"]))


def test_each_changed_component_is_named_and_backed_up(stack, kubectl):
    """One change per kind of probe at once (a backup costs a minute or more here): a MariaDB row, a ZooKeeper
    znode, a ConfigMap. Each probe is compared on its own, so the decision must name exactly those components."""
    before = repository(stack["repo"])
    mariadb(kubectl, NS, "UPDATE zuul.zuul_build SET result = 'SKIP-TEST' WHERE id = 11;")
    code = ('from kazoo.client import KazooClient\n'
            'zk = KazooClient(hosts="127.0.0.1:2181"); zk.start(timeout=30)\n'
            'zk.set("/zuul/system/conf-version", b"43")\n'
            'zk.stop()\n')
    kubectl("exec", "-i", "-n", NS, "zookeeper-0", "-c", "zookeeper", "--", "python3", "-", input=code.encode())
    name = kubectl("get", "configmap", "-n", NS, "-l", "app.kubernetes.io/part-of=softwarefactory",
                   "-o", "jsonpath={.items[0].metadata.name}").stdout.decode()
    kubectl("patch", "configmap", name, "-n", NS, "--type", "merge", "-p", '{"data": {"skip-test": "changed"}}')
    # The zuul-keys component shares the zookeeper volume's probe; workloads and softwarefactory did not change.
    summary, after = assert_backs_up(stack, before, ["config", "mariadb", "zookeeper", "zuul-keys"])
    assert summary["commit"] != before["commits"][0]
    assert_skipped_unchanged(stack, after)


def test_min_interval_skips_and_names_the_next_allowed_time(stack):
    before = repository(stack["repo"])
    summary = backup(stack, min_interval="1h")
    assert summary["skipped"] is True and summary["skipped_by"] == "min_interval", summary
    assert summary["next_allowed"] and summary["next_allowed"] in summary["reason"]
    assert "less than min_interval 1h" in summary["reason"] and summary["reason"] in summary["decision"]
    assert repository(stack["repo"]) == before


def test_force_runs_whatever(stack):
    before = repository(stack["repo"])
    summary = backup(stack, min_interval="1h", skip_unchanged=True, force=True)
    assert not summary.get("skipped") and summary["complete"] is True
    assert "forced" in summary["decision"]
    assert repository(stack["repo"])["commits"][1:] == before["commits"]
