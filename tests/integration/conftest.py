"""Fixtures shared by every integration test: the local cluster, never a mock.

The cluster is brought up by `make cluster` (tests/cluster/cluster.sh up); its
kubeconfig path comes from STATESAFE_KUBECONFIG. Without it these tests fail:
an integration test that silently skipped would prove nothing.
"""

from __future__ import annotations

import fcntl
import json
import os
import resource
import subprocess
import uuid
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from cluster_helpers import CLUSTER_SH, exists, wait_until
from role_helpers import REFERENCE_NS, playbook, sample


@pytest.fixture(scope="session")
def kubeconfig() -> str:
    path = os.environ.get("STATESAFE_KUBECONFIG") or subprocess.run(
        [str(CLUSTER_SH), "kubeconfig"], capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    if not Path(path).is_file():
        pytest.fail(f"no kubeconfig at {path}: bring the local cluster up with `make cluster`")
    return path


@pytest.fixture(scope="session")
def api_client(kubeconfig) -> client.ApiClient:
    return config.new_client_from_config(config_file=kubeconfig)


@pytest.fixture(scope="session")
def core(api_client) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


@pytest.fixture(scope="session")
def apps(api_client) -> client.AppsV1Api:
    return client.AppsV1Api(api_client)


@pytest.fixture(scope="session")
def cluster_state(kubeconfig) -> Path:
    return Path(kubeconfig).parent


@pytest.fixture(scope="session")
def kubectl(cluster_state, kubeconfig):
    def run(*args: str, input: bytes | None = None, check: bool = True,
            timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run([str(cluster_state / "bin" / "kubectl"), "--kubeconfig", kubeconfig,
                               *args], input=input, capture_output=True, check=check, timeout=timeout)
    return run


@pytest.fixture(scope="session")
def image_refs(cluster_state) -> dict[str, str]:
    refs = {}
    for line in (cluster_state / "images.txt").read_text().splitlines():
        ref = line.split()[0]
        refs[ref.split("/", 1)[1].split(":", 1)[0]] = ref
    return refs


@pytest.fixture
def namespace(core):
    """A fresh namespace per test, always deleted afterwards."""
    name = f"it-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    wait_until(f"default ServiceAccount in {name}",
               lambda: exists(lambda: core.read_namespaced_service_account("default", name)))
    yield name
    try:
        core.delete_namespace(name, grace_period_seconds=0)
    except ApiException as exc:
        if exc.status != 404:
            raise


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs, unmounted afterwards: a local disk that fills up."""
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mount)], check=True, timeout=60)
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True, timeout=60)


def _run_root(tmp_path_factory) -> Path:
    """A directory every pytest-xdist worker of this run shares (the base temp dir without xdist)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def reference(kubeconfig, tmp_path_factory) -> dict:
    """The sample stack in `sf-reference`, seeded, fingerprinted and backed up once for the whole run.

    For tests that only read the stack or the archive: the first worker that needs it builds it under a
    file lock, the others read what it recorded. A test must not change the stack, nor write to `repo`
    or `staging` (copy them first). Keys: namespace, fingerprint, repo, staging, commit, summary.
    The namespace is deleted when the run ends (pytest_sessionfinish below).
    """
    root = _run_root(tmp_path_factory)
    home = root / "reference"
    record = root / "reference.json"
    with open(root / "reference.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not record.exists():
            try:
                home.mkdir(exist_ok=True)
                sample(kubeconfig, REFERENCE_NS, "destroy")  # a stack left by a killed run is not this run's
                sample(kubeconfig, REFERENCE_NS, "deploy")
                sample(kubeconfig, REFERENCE_NS, "seed")
                fingerprint = sample(kubeconfig, REFERENCE_NS, "fingerprint")
                backup = playbook("backup.yml", kubeconfig, home, REFERENCE_NS, staging=str(home / "staging"))
                assert backup.rc == 0, backup.failures or backup.output[-4000:]
                summary = backup.stats["statesafe_backup"]
                data = {"namespace": REFERENCE_NS, "fingerprint": fingerprint, "repo": str(home / "repo"),
                        "staging": str(home / "staging"), "commit": summary["commit"], "summary": summary}
            except BaseException as exc:  # recorded, so every worker fails with the cause instead of retrying
                data = {"error": f"{type(exc).__name__}: {exc}"}
            record.write_text(json.dumps(data))
    data = json.loads(record.read_text())
    if "error" in data:
        pytest.fail(f"the reference stack and backup could not be made: {data['error']}")
    return data


def pytest_sessionfinish(session):
    """Delete the reference stack's namespace once, from the process that ran (or controlled) the run."""
    if hasattr(session.config, "workerinput"):
        return
    record = Path(str(session.config._tmp_path_factory.getbasetemp())) / "reference.json"
    if not record.exists():
        return
    kubeconfig = os.environ.get("STATESAFE_KUBECONFIG")
    if kubeconfig and Path(kubeconfig).is_file():
        core = client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig))
        try:
            core.delete_namespace(REFERENCE_NS)
        except ApiException as exc:
            if exc.status != 404:
                raise


# Test files that take longest, longest first: the per-file seconds this conftest prints at the end of
# a full run. A worker is busy for a whole file (--dist loadfile); starting the long ones first keeps
# one of them from running alone at the end while the other workers idle. The Makefile passes
# --no-loadscope-reorder: without it pytest-xdist (3.8) hands out files by their number of tests, not
# in this order. Files not listed keep their order after these.
SLOWEST_FIRST = [
    "roles/test_restore_policy.py", "roles/test_backup_kills.py", "roles/test_restore_rerun.py",
    "roles/test_operator_restore.py", "apps/test_postgresql.py", "roles/test_schedule.py", "roles/test_molecule.py",
    "compat/test_oldest_ansible_core.py", "roles/test_secret_logs.py", "roles/test_zuul_keys.py",
    "roles/test_backup_faults.py", "roles/test_skip_unchanged.py", "cluster/test_cluster.py", "roles/test_verify.py",
    "apps/test_keycloak.py", "roles/test_namespace_mode.py", "etcd/test_etcd_role.py",
    "roles/test_helper_image_roles.py", "roles/test_verify_namespace_mode.py", "roles/test_schedule_namespace_mode.py",
    "apps/test_mlflow.py", "modules/test_k8s_pv_copy.py", "roles/test_report.py",
    "roles/test_restore_restart.py", "roles/test_schedule_applications.py", "modules/test_pod_dump.py",
    "apps/test_postgresql_parameters.py", "modules/test_resource_export.py", "roles/test_deployment_volumes.py",
    "bup/test_retention.py", "offsite/test_offsite_s3.py", "roles/test_inventory.py", "roles/test_ansible_runner.py",
]


# A test that uses `reference` may first wait for another worker to build it (deploy, seed and back up
# the sample stack: minutes on a loaded machine). That wait is not the test's own time: its bound grows
# by this much, so a long fixture that comes early in the order does not time out behind the lock.
REFERENCE_WAIT = 600


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    rank = {str(here / name): position for position, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(str(item.path), len(rank)))
    default = float(config.getini("timeout") or 0)
    for item in items:
        if "reference" not in getattr(item, "fixturenames", ()):
            continue
        marker = item.get_closest_marker("timeout")
        own = default if marker is None else float(marker.args[0] if marker.args else marker.kwargs["timeout"])
        if own > 0:
            # prepended: pytest-timeout reads the closest marker, the first one
            item.add_marker(pytest.mark.timeout(own + REFERENCE_WAIT), append=False)


# Where the run's time went, per file: the `--durations` list shows single tests, but a worker is busy
# for a whole file (loadfile), and the budget (docs/development.md) is spent per file. Beside the wall
# seconds, the CPU seconds the file's own processes used (the worker's and every process it waited for:
# ansible-playbook, its workers and modules, kubectl; not what ran inside pods): the suite runs on two
# cores, so a file that waits costs little, and one that computes slows every other worker.
_FILE_SECONDS: dict[str, list[float]] = {}
_CPU_MARK: list[float] = []


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    ticks = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]  # idle and iowait
    return (sum(fields[:8]) - idle) / ticks, sum(fields[:8]) / ticks


def pytest_sessionstart(session):
    _CPU_MARK[:] = [_cpu_seconds(), *_machine_cpu()]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    now = _cpu_seconds()
    # Since the previous phase's report: what ran between tests (a module fixture's teardown) is counted too.
    report.user_properties = [*report.user_properties, ("cpu_seconds", now - _CPU_MARK[0])]
    _CPU_MARK[0] = now


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::", 1)[0]
    seconds = _FILE_SECONDS.setdefault(path, [0.0, 0.0])
    seconds[0] += report.duration
    seconds[1] += dict(report.user_properties).get("cpu_seconds", 0.0)


def pytest_terminal_summary(terminalreporter):
    if not _FILE_SECONDS:
        return
    terminalreporter.section("seconds per test file (setup, call and teardown), longest first")
    terminalreporter.write_line("    wall       CPU  file")
    for path, (wall, cpu) in sorted(_FILE_SECONDS.items(), key=lambda item: -item[1][0]):
        terminalreporter.write_line(f"{wall:8.1f}s {cpu:8.1f}s  {path}")
    wall, cpu = (sum(column) for column in zip(*_FILE_SECONDS.values()))
    terminalreporter.write_line(f"{wall:8.1f}s {cpu:8.1f}s  in all, over every worker")
    if len(_CPU_MARK) == 3:
        busy, total = (now - then for now, then in zip(_machine_cpu(), _CPU_MARK[1:]))
        terminalreporter.write_line(f"the machine's CPUs were busy {busy:.0f} of {total:.0f} CPU-seconds "
                                    f"({busy / total:.0%}) during the run, the cluster's own work included")
