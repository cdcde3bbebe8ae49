"""playbooks/etcd_backup.yml and etcd_restore.yml against a real etcd and kube-apiserver: a throwaway control
plane of their own (controlplane.sh: TLS with certificates made here, its own ports and directories), so the local
cluster is never touched. One control plane for the whole file; the tests run in order and build on each other's
archives: back up, skip unchanged, skip inside min_interval, force, refuse a corrupted snapshot at save, check
mode, refuse a serving cluster, restore, an interrupted restore, a corrupted snapshot refused at restore, and
retention pruning the branch.
Last, a second throwaway control plane runs as static pods of the local cluster's kubelet (kubeadm's way), and a
restore with etcd_control_plane=static-pods stops and starts it by moving its manifests.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from role_helpers import PlaybookRun, playbook_env

from ansible_collections.statesafe.backup.plugins.module_utils.bup import operations as bup_ops
from ansible_collections.statesafe.backup.plugins.module_utils.bup import repository as bup_repository

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
CONTROLPLANE = HERE / "controlplane.sh"
BUILD_TOOLS = REPO / "tests" / "cluster" / "k8s" / "build-etcd-tools.sh"
PLAYBOOKS = REPO / "playbooks"
NS = "etcd-proof"
BRANCH = "etcd-throwaway"


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for index in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@pytest.fixture(scope="module")
def bin_dir() -> Path:
    run = subprocess.run([str(BUILD_TOOLS)], capture_output=True, text=True, timeout=1800, check=False)
    assert run.returncode == 0, f"building etcdutl and etcdctl failed:\n{run.stderr[-3000:]}"
    path = Path(run.stdout.strip())
    for tool in ("etcd", "kube-apiserver", "kubectl", "etcdctl", "etcdutl"):
        assert (path / tool).is_file(), f"{path / tool} is missing: build the local cluster's binaries " \
                                        "(tests/cluster/k8s/build.sh, or make cluster)"
    for tool in ("bup", "git", "openssl", "curl"):
        assert shutil.which(tool), f"{tool} is not installed: run tests/cluster/install-deps.sh"
    return path


class ControlPlane:
    def __init__(self, root: Path, bin_dir: Path):
        self.root = root
        self.bin = bin_dir
        self.etcd_port, peer, metrics, self.api_port = free_ports(4)
        root.mkdir(parents=True)
        (root / "env").write_text(f"BIN={bin_dir}\nETCD_PORT={self.etcd_port}\nPEER_PORT={peer}\n"
                                  f"METRICS_PORT={metrics}\nAPI_PORT={self.api_port}\n")
        self.peer_url = f"http://127.0.0.1:{peer}"
        self.k8s = root / "etc" / "kubernetes"
        self.pki = self.k8s / "pki"
        self.data_dir = root / "var" / "lib" / "etcd"
        self.repository = root / "bup"
        self.metrics = root / "metrics"
        self.metrics.mkdir()

    def script(self, action: str) -> None:
        run = subprocess.run([str(CONTROLPLANE), str(self.root), action], capture_output=True, text=True,
                             timeout=240, check=False)
        assert run.returncode == 0, f"controlplane.sh {action} failed:\n{run.stderr[-3000:]}"

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        run = subprocess.run([str(self.bin / "kubectl"), "--kubeconfig", str(self.k8s / "admin.conf"), *args],
                             capture_output=True, text=True, timeout=60, check=False)
        assert not check or run.returncode == 0, f"kubectl {' '.join(args)}: {run.stderr}"
        return run

    def configmaps(self) -> set[str]:
        out = self.kubectl("-n", NS, "get", "configmaps", "-o", "json").stdout
        return {item["metadata"]["name"] for item in json.loads(out)["items"]} - {"kube-root-ca.crt"}

    def role_vars(self, **extra) -> dict:
        pki = self.pki
        return {
            "etcd_hosts": "localhost", "etcd_become": False, "ansible_python_interpreter": sys.executable,
            "repository": str(self.repository), "etcd_branch": BRANCH, "etcd_staging": str(self.root / "staging"),
            "etcd_endpoints": [f"https://127.0.0.1:{self.etcd_port}"], "etcd_cacert": str(pki / "etcd" / "ca.crt"),
            "etcd_cert": str(pki / "etcd" / "healthcheck-client.crt"),
            "etcd_key": str(pki / "etcd" / "healthcheck-client.key"),
            "etcd_etcdctl": str(self.bin / "etcdctl"), "etcd_etcdutl": str(self.bin / "etcdutl"),
            "etcd_paths": [str(self.k8s / "manifests"), str(self.pki), str(self.k8s / "admin.conf")],
            "metrics_dir": str(self.metrics),
            "etcd_restore_staging": str(self.root / "restore-staging"), "etcd_data_dir": str(self.data_dir),
            "etcd_member_name": "throwaway", "etcd_initial_advertise_peer_urls": self.peer_url,
            "etcd_control_plane": "commands",
            "etcd_stop_commands": [f"{CONTROLPLANE} {self.root} stop"],
            "etcd_start_commands": [f"{CONTROLPLANE} {self.root} start"],
            "etcd_api_url": f"https://127.0.0.1:{self.api_port}", "etcd_api_ca": str(pki / "ca.crt"),
            "etcd_stop_timeout": 30, "etcd_api_timeout": 120, **extra}

    def playbook(self, name: str, *options: str, **extra) -> PlaybookRun:
        argv = [str(Path(sys.executable).with_name("ansible-playbook")), "-i", "localhost,", "-c", "local",
                str(PLAYBOOKS / name), "-e", json.dumps(self.role_vars(**extra)), *options]
        started = time.monotonic()
        # Pipelining: one process per module instead of a temporary file and three; these runs are many short tasks.
        env = dict(playbook_env(), ANSIBLE_PIPELINING="1")
        run = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=600)
        # With -vvv the callback's JSON document follows the verbose lines on stdout.
        start = run.stdout.rfind("\n{\n")
        if not run.stdout.startswith("{") and start >= 0:
            verbose = run.stdout[:start]
            run = subprocess.CompletedProcess(run.args, run.returncode, run.stdout[start + 1:], verbose + run.stderr)
        return PlaybookRun(run, time.monotonic() - started)

    def markers(self) -> list[str]:
        tags = self.repository / "refs" / "tags" / "complete" / BRANCH
        return sorted(path.name for path in tags.iterdir()) if tags.is_dir() else []

    def metric(self, name: str) -> float:
        text = (self.metrics / "statesafe_backup_etcd_localhost.prom").read_text()
        values = [line.split()[-1] for line in text.splitlines() if line.startswith(f"statesafe_backup_{name}{{")]
        assert values, f"no statesafe_backup_{name} in {text}"
        return float(values[0])


@pytest.fixture(scope="module")
def cp(bin_dir, tmp_path_factory):
    plane = ControlPlane(tmp_path_factory.mktemp("etcd") / "cp", bin_dir)
    plane.script("init")
    try:
        plane.script("start")
        plane.kubectl("create", "namespace", NS)
        yield plane
    finally:
        subprocess.run([str(CONTROLPLANE), str(plane.root), "stop"], capture_output=True, timeout=120, check=False)


def explain(run: PlaybookRun) -> str:
    """Every failed result's message and stderr (loop items included): what an assertion shows."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("failed") is True:
                found.append(f"{node.get('msg', '')} {node.get('stderr', '')}".strip())
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    walk(run.document)
    return "\n".join(found) or run.output[-3000:]


def summary(run: PlaybookRun, key: str = "statesafe_etcd_backup") -> dict:
    return run.stats.get("localhost", {}).get(key) or run.stats.get(key) or {}


def test_backup_saves_a_checked_snapshot_and_the_files_no_key_in_the_log(cp):
    cp.kubectl("-n", NS, "create", "configmap", "a1", "--from-literal=v=1")
    cp.kubectl("-n", NS, "create", "configmap", "a2", "--from-literal=v=2")
    run = cp.playbook("etcd_backup.yml", "-vvv")
    assert run.rc == 0, explain(run)
    result = summary(run)
    assert result["skipped"] is False and result["complete"] is True, result
    assert result["snapshot"]["total_keys"] > 0 and result["snapshot"]["revision"] == result["revision"]
    assert cp.markers() == [result["commit"]]
    manifest = json.loads((cp.root / "staging" / "MANIFEST.json").read_text())
    paths = {artifact["path"] for artifact in manifest["artifacts"]}
    key_rel = f"files{cp.pki}/etcd/healthcheck-client.key"
    assert {"snapshot/etcd.db", key_rel, f"files{cp.k8s}/manifests/etcd.yaml"} <= paths
    assert cp.metric("success") == 1 and cp.metric("skipped") == 0
    # No line of any private key in the -vvv log; the same search finds them in the keys themselves.
    keys = list(cp.pki.rglob("*.key"))
    body = [line for key in keys for line in key.read_text().splitlines() if "-----" not in line]
    assert len(body) > 10 and any(line in keys[0].read_text() for line in body)
    assert not [line for line in body if line in run.output]


def test_the_backup_refuses_check_mode(cp):
    before = cp.markers()
    run = cp.playbook("etcd_backup.yml", "--check")
    assert run.rc != 0 and any("has no check mode" in failure for failure in run.failures), explain(run)
    assert cp.markers() == before


def test_an_unchanged_second_run_is_skipped(cp):
    before = cp.markers()
    run = cp.playbook("etcd_backup.yml")
    assert run.rc == 0, explain(run)
    result = summary(run)
    assert result["skipped"] is True and result["skipped_by"] == "unchanged" and result["unchanged"] is True, result
    assert cp.markers() == before
    assert cp.metric("success") == 1 and cp.metric("skipped") == 1


def test_min_interval_skips_then_force_saves(cp):
    cp.kubectl("-n", NS, "create", "configmap", "b1", "--from-literal=v=3")
    before = cp.markers()
    run = cp.playbook("etcd_backup.yml", min_interval="1h")
    assert run.rc == 0, explain(run)
    result = summary(run)
    assert result["skipped_by"] == "min_interval" and result["unchanged"] is False, result
    assert cp.markers() == before
    run = cp.playbook("etcd_backup.yml", min_interval="1h", force=True)
    assert run.rc == 0, explain(run)
    result = summary(run)
    assert result["skipped"] is False and len(cp.markers()) == len(before) + 1, result


def test_a_corrupted_snapshot_is_refused_at_save(cp):
    # etcdctl saves a sound snapshot, then one byte of it is flipped before the role checks it (a bad disk).
    wrapper = cp.root / "etcdctl-flip"
    wrapper.write_text(f"""#!/bin/sh
"{cp.bin}/etcdctl" "$@" || exit $?
for last; do :; done
case " $* " in *" snapshot save "*)
  python3 -c 'import sys; f=open(sys.argv[1],"r+b"); f.seek(8192); b=f.read(1); f.seek(8192); f.write(bytes([b[0]^255]))' "$last";;
esac
""")
    wrapper.chmod(0o755)
    cp.kubectl("-n", NS, "create", "configmap", "tmp-x", "--from-literal=v=x")
    before = cp.markers()
    run = cp.playbook("etcd_backup.yml", etcd_etcdctl=str(wrapper), etcd_retention=False)
    assert run.rc != 0
    assert any("snapshot refused" in failure and "differs from the one it ends with" in failure
               for failure in run.failures), run.failures
    assert cp.markers() == before
    assert cp.metric("success") == 0
    cp.kubectl("-n", NS, "delete", "configmap", "tmp-x")


def test_check_mode_shows_the_plan_and_a_serving_cluster_is_refused(cp):
    # After the newest archive (a1, a2, b1): a new object and a deleted one.
    cp.kubectl("-n", NS, "create", "configmap", "c1", "--from-literal=v=4")
    cp.kubectl("-n", NS, "delete", "configmap", "a1")
    run = cp.playbook("etcd_restore.yml", "--check")
    assert run.rc != 0 and any("the cluster is serving" in failure for failure in run.failures), explain(run)
    plan = [result["msg"] for result in run.results("Restore | what this restore does")]
    assert plan, explain(run)
    steps = plan[0]
    assert any("etcdutl snapshot restore" in step for step in steps) and any("/readyz" in step for step in steps)
    assert any("(they are serving now)" in step for step in steps)
    assert cp.configmaps() == {"a2", "b1", "c1"}


def test_restore_brings_back_exactly_the_archive(cp):
    manifest = cp.k8s / "manifests" / "kube-apiserver.yaml"
    saved = manifest.read_text()
    manifest.write_text(saved + "# changed after the backup\n")
    run = cp.playbook("etcd_restore.yml", allow_serving=True)
    assert run.rc == 0, explain(run)
    result = summary(run, "statesafe_etcd_restore")
    assert cp.configmaps() == {"a1", "a2", "b1"}
    assert manifest.read_text() == saved
    assert result["previous_data_dir"] and Path(result["previous_data_dir"]).is_dir()
    assert not list(cp.data_dir.parent.glob("etcd.restore-*"))


def test_an_interrupted_restore_leaves_the_old_data(cp):
    cp.kubectl("-n", NS, "create", "configmap", "d1", "--from-literal=v=5")
    kept_before = sorted(cp.data_dir.parent.glob("etcd.before-restore-*"))
    member = cp.data_dir / "member"
    inode = member.stat().st_ino
    # etcdutl killed while it restores: before the swap.
    wrapper = cp.root / "etcdutl-killed"
    wrapper.write_text(f"""#!/bin/sh
case " $* " in *" snapshot restore "*)
  "{cp.bin}/etcdutl" "$@" & sleep 0.05; kill -9 $! ; kill -9 $$;;
esac
exec "{cp.bin}/etcdutl" "$@"
""")
    wrapper.chmod(0o755)
    time.sleep(1)  # the new directories are named by the second
    run = cp.playbook("etcd_restore.yml", allow_serving=True, etcd_etcdutl=str(wrapper))
    assert run.rc != 0
    assert any("Before the swap" in failure for failure in run.failures), run.failures
    assert member.stat().st_ino == inode
    assert sorted(cp.data_dir.parent.glob("etcd.before-restore-*")) == kept_before
    assert not list(cp.data_dir.parent.glob("etcd.restore-*"))
    # The control plane was started again on its old data.
    assert cp.configmaps() == {"a1", "a2", "b1", "d1"}


def test_a_corrupted_snapshot_in_an_archive_is_refused_at_restore(cp):
    # An archive whose snapshot has a flipped byte, its manifest made from the corrupted file and marked complete
    # (saved by the bup layer directly, bypassing the role's check): the restore refuses it before it stops anything.
    staging = cp.root / "staging"
    snapshot = staging / "snapshot" / "etcd.db"
    data = bytearray(snapshot.read_bytes())
    data[8192] ^= 0xFF
    snapshot.write_bytes(bytes(data))
    from ansible_collections.statesafe.backup.plugins.module_utils.capture.tree_checksums import tree_checksums
    import hashlib
    found = tree_checksums(str(staging), ["MANIFEST.json"])["files"]
    manifest = json.loads((staging / "MANIFEST.json").read_text())
    manifest["artifacts"] = [{"path": os.path.relpath(entry["path"], staging), "size": entry["size"],
                              "sha256": entry["checksum"]} for entry in found]
    (staging / "MANIFEST.json").write_text(json.dumps(manifest))
    assert hashlib.sha256(bytes(data)).hexdigest() in {entry["sha256"] for entry in manifest["artifacts"]}
    params = {"repository": str(cp.repository), "branch": BRANCH, "staging": str(staging),
              "manifest": "MANIFEST.json", "validate": "sha256", "lock_timeout": 10}
    saved = bup_ops.run_save(bup_repository.repository_from_params(params), params)
    assert saved["complete"], saved
    run = cp.playbook("etcd_restore.yml", allow_serving=True)
    assert run.rc != 0
    assert any("snapshot refused" in failure for failure in run.failures), run.failures
    # Refused before the stop: the API kept serving the same objects all along.
    assert cp.configmaps() == {"a1", "a2", "b1", "d1"}


def test_retention_prunes_the_etcd_branch_with_the_bup_roles_windows(cp):
    """Every run applies retention to its branch: with windows of a second, all but the run's own archive go (the
    corrupted one of the test before included), counted in the summary and the metrics' run."""
    before = cp.markers()
    assert len(before) >= 3, before
    time.sleep(2)  # the older archives leave the one-second windows
    windows = {f"etcd_retention_keep_{period}_for": "1s"
               for period in ("all", "dailies", "weeklies", "monthlies")}
    run = cp.playbook("etcd_backup.yml", force=True, **windows)
    assert run.rc == 0, explain(run)
    result = summary(run)
    assert cp.markers() == [result["commit"]], (before, cp.markers())
    # Incomplete saves of the branch, if any, are removed too.
    assert result["retention_removed"] >= len(before), result
    assert cp.metric("success") == 1


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def static_cp(bin_dir, tmp_path_factory, cluster_state, image_refs):
    """A second throwaway control plane, run as kubeadm runs one: static pods of the local cluster's kubelet."""
    kubelet_dir = cluster_state / "kubelet" / "static-pods"
    assert kubelet_dir.is_dir(), f"{kubelet_dir} is missing: the local cluster predates static pods " \
                                 "(run tests/cluster/cluster.sh up again: it restarts the kubelet)"
    plane = ControlPlane(tmp_path_factory.mktemp("etcd-static") / "cp", bin_dir)
    plane.script("init")
    prefix = f"sfe-{uuid.uuid4().hex[:6]}"
    manifests = [f"{prefix}-etcd.yaml", f"{prefix}-kube-apiserver.yaml"]
    try:
        run = subprocess.run([str(CONTROLPLANE), str(plane.root), "static-pods", str(kubelet_dir), prefix,
                              image_refs["toolbox"]], capture_output=True, text=True, timeout=240, check=False)
        assert run.returncode == 0, f"the static pods did not come up:\n{run.stderr[-3000:]}"
        plane.kubectl("create", "namespace", NS)
        yield plane, kubelet_dir, manifests
    finally:
        for name in manifests:
            (kubelet_dir / name).unlink(missing_ok=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and listening(plane.etcd_port):
            time.sleep(0.5)


def test_a_control_plane_of_static_pods_is_stopped_and_started_through_its_manifests(static_cp):
    """etcd_control_plane=static-pods, kubeadm's default: the restore moves the manifests out (the kubelet stops etcd
    and the API server), swaps the data in, moves them back (the kubelet starts both) and waits for /readyz."""
    plane, kubelet_dir, manifests = static_cp
    plane.kubectl("-n", NS, "create", "configmap", "kept", "--from-literal=v=1")
    run = plane.playbook("etcd_backup.yml")
    assert run.rc == 0, explain(run)
    plane.kubectl("-n", NS, "create", "configmap", "later", "--from-literal=v=2")
    plane.kubectl("-n", NS, "delete", "configmap", "kept")
    held = plane.root / "held-manifests"
    run = plane.playbook("etcd_restore.yml", allow_serving=True, etcd_control_plane="static-pods",
                         etcd_static_pod_dir=str(kubelet_dir), etcd_static_pods=manifests,
                         etcd_static_pod_holding_dir=str(held))
    assert run.rc == 0, explain(run)
    assert plane.configmaps() == {"kept"}
    # Both manifests are back where the kubelet reads them, and nothing is left held.
    assert all((kubelet_dir / name).is_file() for name in manifests) and not held.exists()
    restore = summary(run, "statesafe_etcd_restore")
    assert restore["previous_data_dir"] and Path(restore["previous_data_dir"]).is_dir()
