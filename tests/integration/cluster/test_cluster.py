"""The local cluster is a real Kubernetes: real containers, volumes, exec and scaling."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import uuid

import pytest
from kubernetes import client
from kubernetes.stream import stream

from cluster_helpers import REPO, exists, namespace_events, wait_until

SAMPLE = REPO / "tests" / "cluster" / "sample" / "sample.sh"


def run_exec(core, namespace: str, pod: str, argv: list[str],
             container: str | None = None) -> tuple[int, bytes, bytes]:
    """Exec through the API server's websocket, keeping stdout as raw bytes."""
    ws = stream(core.connect_get_namespaced_pod_exec, pod, namespace, command=argv, container=container,
                stdin=False, stdout=True, stderr=True, tty=False,
                _preload_content=False, binary=True)
    out, err = bytearray(), bytearray()
    while ws.is_open():
        ws.update(timeout=5)
        if ws.peek_stdout():
            out += ws.read_stdout()
        if ws.peek_stderr():
            err += ws.read_stderr()
    rc = ws.returncode
    ws.close()
    return rc, bytes(out), bytes(err)


def toolbox_statefulset(namespace: str, image: str, replicas: int = 1) -> client.V1StatefulSet:
    labels = {"app": "vol"}
    return client.V1StatefulSet(
        metadata=client.V1ObjectMeta(name="vol", namespace=namespace),
        spec=client.V1StatefulSetSpec(
            service_name="vol", replicas=replicas,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(
                    termination_grace_period_seconds=1,
                    containers=[client.V1Container(
                        name="toolbox", image=image, command=["sleep", "infinity"],
                        volume_mounts=[client.V1VolumeMount(name="data", mount_path="/data")])])),
            volume_claim_templates=[client.V1PersistentVolumeClaim(
                metadata=client.V1ObjectMeta(name="data"),
                spec=client.V1PersistentVolumeClaimSpec(
                    access_modes=["ReadWriteOnce"],
                    resources=client.V1VolumeResourceRequirements(requests={"storage": "64Mi"})))]))


def ready_replicas(apps, namespace: str, name: str) -> int:
    return apps.read_namespaced_stateful_set(name, namespace).status.ready_replicas or 0


@pytest.fixture
def volume_pod(apps, core, namespace, image_refs):
    """A StatefulSet with a PVC from the default StorageClass, Ready."""
    apps.create_namespaced_stateful_set(namespace, toolbox_statefulset(namespace, image_refs["toolbox"]))
    wait_until("StatefulSet vol Ready", lambda: ready_replicas(apps, namespace, "vol") == 1,
               explain=lambda: namespace_events(core, namespace))
    return "vol-0"


def test_node_is_ready_and_runs_our_versions(core):
    nodes = core.list_node().items
    assert len(nodes) == 1
    node = nodes[0]
    ready = {c.type: c.status for c in node.status.conditions}["Ready"]
    assert ready == "True"
    assert node.status.node_info.kubelet_version.startswith("v1.34.")
    assert node.status.node_info.container_runtime_version.startswith("containerd://1.6")


def test_statefulset_with_pvc_becomes_ready(core, namespace, volume_pod):
    claim = core.read_namespaced_persistent_volume_claim("data-vol-0", namespace)
    assert claim.status.phase == "Bound"
    assert claim.spec.storage_class_name == "hostpath"


def test_exec_returns_exit_code_and_binary_stdout(core, namespace, volume_pod):
    rc, out, err = run_exec(core, namespace, volume_pod, ["sh", "-c", "echo oops >&2; exit 7"])
    assert (rc, out, err) == (7, b"", b"oops\n")

    every_byte = bytes(range(256)) * 4096  # 1 MiB, every byte value, NULs and invalid UTF-8
    script = ("python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 4096)'")
    rc, out, err = run_exec(core, namespace, volume_pod, ["sh", "-c", script])
    assert rc == 0, err
    assert hashlib.sha256(out).hexdigest() == hashlib.sha256(every_byte).hexdigest()


def test_volume_data_survives_pod_deletion(core, namespace, volume_pod):
    rc, before, err = run_exec(core, namespace, volume_pod,
                               ["sh", "-c", "head -c 100000 /dev/urandom > /data/blob && sha256sum /data/blob"])
    assert rc == 0, err
    old_uid = core.read_namespaced_pod(volume_pod, namespace).metadata.uid
    core.delete_namespaced_pod(volume_pod, namespace, grace_period_seconds=0)

    def recreated_and_ready():
        try:
            pod = core.read_namespaced_pod(volume_pod, namespace)
        except client.ApiException:
            return False
        conditions = {c.type: c.status for c in pod.status.conditions or []}
        return pod.metadata.uid != old_uid and conditions.get("Ready") == "True"

    wait_until("pod recreated", recreated_and_ready)
    rc, after, err = run_exec(core, namespace, volume_pod, ["sha256sum", "/data/blob"])
    assert rc == 0, err
    assert after == before


def test_scale_to_zero_and_back(core, apps, namespace, volume_pod):
    run_exec(core, namespace, volume_pod, ["sh", "-c", "echo kept > /data/marker"])
    apps.patch_namespaced_stateful_set_scale("vol", namespace, {"spec": {"replicas": 0}})
    wait_until("pod gone", lambda: not core.list_namespaced_pod(namespace).items)
    apps.patch_namespaced_stateful_set_scale("vol", namespace, {"spec": {"replicas": 1}})
    wait_until("StatefulSet vol Ready again", lambda: ready_replicas(apps, namespace, "vol") == 1)
    assert run_exec(core, namespace, volume_pod, ["cat", "/data/marker"]) == (0, b"kept\n", b"")


def test_containers_are_real_containerd_containers(core, namespace, volume_pod, cluster_state):
    pod = core.read_namespaced_pod(volume_pod, namespace)
    container_id = pod.status.container_statuses[0].container_id.removeprefix("containerd://")
    listed = subprocess.run(
        ["ctr", "--address", str(cluster_state / "containerd" / "containerd.sock"),
         "-n", "k8s.io", "containers", "ls", "-q"], capture_output=True, text=True, check=True, timeout=120)
    assert container_id in listed.stdout.split()


def test_pods_cannot_reach_outside_the_machine(core, namespace, volume_pod):
    # The bridge has no default route: an address off the machine is unreachable at once.
    rc, out, err = run_exec(core, namespace, volume_pod,
                            ["python3", "-c", "import socket; s=socket.socket(); s.settimeout(3); "
                             "s.connect(('192.0.2.1', 9))"])
    assert rc != 0 and out == b""
    assert b"unreachable" in err.lower()


@pytest.fixture
def dns_namespace(core):
    """A namespace of the Service and DNS tests, deleted afterwards."""
    name = f"sfd-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    wait_until(f"default ServiceAccount in {name}",
               lambda: exists(lambda: core.read_namespaced_service_account("default", name)))
    yield name
    core.delete_namespace(name, grace_period_seconds=0)


def start_pod(core, namespace: str, name: str, image: str, script: str, labels: dict | None = None,
              port: int | None = None) -> None:
    """A toolbox pod running `sh -c script`; with a port, Ready once something listens on it."""
    probe = client.V1Probe(tcp_socket=client.V1TCPSocketAction(port=port), period_seconds=1) if port else None
    core.create_namespaced_pod(namespace, client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1PodSpec(
            termination_grace_period_seconds=1,
            containers=[client.V1Container(name="toolbox", image=image, command=["sh", "-c", script],
                                           readiness_probe=probe)])))


def wait_ready(core, namespace: str, *pods: str) -> None:
    def ready():
        for pod in pods:
            conditions = core.read_namespaced_pod(pod, namespace).status.conditions or []
            if {c.type: c.status for c in conditions}.get("Ready") != "True":
                return False
        return True

    wait_until(f"pods {', '.join(pods)} Ready in {namespace}", ready, explain=lambda: namespace_events(core, namespace))


# Run in the client pod: resolve each name the way applications do (getaddrinfo, through the
# resolv.conf kubelet wrote), then GET /token from the resolved address on the Service's port 80,
# where nothing in any pod listens: only kube-proxy's NAT leads to the server's 8080.
REACH = """
import json, socket, sys, urllib.request
out = {}
for name in sys.argv[1:]:
    try:
        addr = socket.getaddrinfo(name, 80, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
        body = urllib.request.urlopen(f"http://{addr}:80/token", timeout=5).read().decode().strip()
        out[name] = [addr, body]
    except OSError as exc:
        out[name] = [None, repr(exc)]
print(json.dumps(out))
"""


def test_a_pod_reaches_another_through_its_service_name(core, dns_namespace, image_refs):
    """kube-proxy and CoreDNS: `web`, `web.<ns>.svc.cluster.local` and `kubernetes.default` resolve to their
    ClusterIPs from another pod, and the Service's port leads to the server pod."""
    token = uuid.uuid4().hex
    start_pod(core, dns_namespace, "web", image_refs["toolbox"],
              f"cd $(mktemp -d) && echo {token} > token && exec python3 -m http.server 8080",
              labels={"app": "web"}, port=8080)
    start_pod(core, dns_namespace, "client", image_refs["toolbox"], "exec sleep infinity")
    service = core.create_namespaced_service(dns_namespace, client.V1Service(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1ServiceSpec(selector={"app": "web"},
                                  ports=[client.V1ServicePort(port=80, target_port=8080)])))
    wait_ready(core, dns_namespace, "web", "client")

    fqdn = f"web.{dns_namespace}.svc.cluster.local"
    expected = {"web": [service.spec.cluster_ip, token], fqdn: [service.spec.cluster_ip, token]}
    api_ip = core.read_namespaced_service("kubernetes", "default").spec.cluster_ip
    results = {}

    def reached():
        rc, out, err = run_exec(core, dns_namespace, "client", ["python3", "-c", REACH, "web", fqdn])
        assert rc == 0, err
        results.update(json.loads(out))
        return results == expected

    # kube-proxy and CoreDNS learn of the new Service and its endpoint within seconds.
    wait_until("the web Service reached by name from the client pod", reached, timeout=60,
               explain=lambda: f"got {results}, expected {expected}")
    rc, out, err = run_exec(core, dns_namespace, "client", ["python3", "-c",
                            "import socket; print(socket.gethostbyname('kubernetes.default'))"])
    assert (rc, out.decode().strip()) == (0, api_ip), err


# Run in a pod: the resolver kubelet gave it, a lookup as applications do it (getaddrinfo, timed), and
# the same name sent by hand to that resolver to read the answer's rcode (3 = NXDOMAIN).
LOOKUP_OUTSIDE = """
import json, random, socket, struct, sys, time
name = sys.argv[1]
conf = open("/etc/resolv.conf").read().split()
server = conf[conf.index("nameserver") + 1]
start = time.monotonic()
try:
    socket.getaddrinfo(name, 80)
    error = None
except socket.gaierror as exc:
    error = exc.errno
elapsed = time.monotonic() - start
query_id = random.randrange(65536)
question = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\\0" + struct.pack("!HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.sendto(struct.pack("!HHHHHH", query_id, 0x0100, 1, 0, 0, 0) + question, (server, 53))
reply = s.recv(512)
print(json.dumps({"resolv_conf": conf, "error": error, "elapsed": elapsed,
                  "id_matches": struct.unpack("!H", reply[:2])[0] == query_id, "rcode": reply[3] & 0xF}))
"""


def _leak_rules(label: str, pod_cidr: str) -> list[list[str]]:
    """iptables rules that count packets carrying `label` which leave for anywhere but a pod or this machine:
    sent by a host process (CoreDNS forwarding) or routed from a pod."""
    match = ["-m", "string", "--algo", "bm", "--string", label, "-m", "comment", "--comment", "sfd-dns-leak"]
    return [["iptables", "OUTPUT", "!", "-o", "lo", "!", "-d", pod_cidr, *match],
            ["iptables", "FORWARD", "!", "-d", pod_cidr, *match],
            ["ip6tables", "OUTPUT", "!", "-o", "lo", *match],
            ["ip6tables", "FORWARD", *match]]


def _packets(rule: list[str], label: str) -> int:
    """The packets the rule counted (found by its label: runs side by side each have their own)."""
    table = subprocess.run([rule[0], "-L", rule[1], "-v", "-x", "-n"], capture_output=True, text=True,
                           check=True, timeout=60).stdout
    return sum(int(line.split()[0]) for line in table.splitlines() if label in line)


def test_names_outside_the_cluster_do_not_resolve_and_no_query_leaves_the_machine(core, dns_namespace,
                                                                                  image_refs, cluster_state):
    """CoreDNS answers NXDOMAIN at once for a name outside cluster.local, and not one packet carrying the name
    leaves the machine (counted by iptables while the pod looks it up)."""
    conflist = json.loads((cluster_state / "cni" / "net.d" / "10-statesafe.conflist").read_text())
    pod_cidr = conflist["plugins"][0]["ipam"]["ranges"][0][0]["subnet"]
    label = f"sfd{uuid.uuid4().hex}"
    name = f"{label}.example.org"
    dns_ip = core.read_namespaced_service("kube-dns", "kube-system").spec.cluster_ip
    start_pod(core, dns_namespace, "client", image_refs["toolbox"], "exec sleep infinity")
    wait_ready(core, dns_namespace, "client")

    rules = _leak_rules(label, pod_cidr)
    for rule in rules:
        subprocess.run([rule[0], "-I", *rule[1:]], check=True, timeout=60)
    try:
        rc, out, err = run_exec(core, dns_namespace, "client", ["python3", "-c", LOOKUP_OUTSIDE, name])
        assert rc == 0, err
        leaked = {f"{rule[0]} {rule[1]}": _packets(rule, label) for rule in rules}
    finally:
        for rule in rules:
            subprocess.run([rule[0], "-D", *rule[1:]], check=True, timeout=60)

    result = json.loads(out)
    conf = result["resolv_conf"]
    assert conf[conf.index("nameserver") + 1] == dns_ip
    assert conf[conf.index("search") + 1] == f"{dns_namespace}.svc.cluster.local"
    # "Name or service not known": an answer, not EAI_AGAIN (no server answered).
    assert result["error"] == socket.EAI_NONAME
    assert result["elapsed"] < 2, result
    assert (result["id_matches"], result["rcode"]) == (True, 3)
    assert leaked == {key: 0 for key in leaked}


def test_the_local_class_applies_fsgroup_and_deletes_its_volume_with_the_claim(core, namespace, image_refs,
                                                                               cluster_state):
    """Claims of class `local` (tests/cluster/local_provisioner.py) behave as CSI storage does for a non-root pod:
    the volume is group-owned by the pod's fsGroup and writable by it; deleting the claim deletes the volume."""
    core.create_namespaced_persistent_volume_claim(namespace, client.V1PersistentVolumeClaim(
        metadata=client.V1ObjectMeta(name="data"),
        spec=client.V1PersistentVolumeClaimSpec(
            access_modes=["ReadWriteOnce"], storage_class_name="local",
            resources=client.V1VolumeResourceRequirements(requests={"storage": "64Mi"}))))
    core.create_namespaced_pod(namespace, client.V1Pod(
        metadata=client.V1ObjectMeta(name="writer"),
        spec=client.V1PodSpec(
            termination_grace_period_seconds=1,
            security_context=client.V1PodSecurityContext(run_as_user=1000, run_as_group=1000, fs_group=2000,
                                                         run_as_non_root=True),
            containers=[client.V1Container(
                name="toolbox", image=image_refs["toolbox"], command=["sleep", "infinity"],
                volume_mounts=[client.V1VolumeMount(name="data", mount_path="/data")])],
            volumes=[client.V1Volume(name="data", persistent_volume_claim=client.V1PersistentVolumeClaimVolumeSource(
                claim_name="data"))])))

    def running():
        return core.read_namespaced_pod("writer", namespace).status.phase == "Running"

    wait_until("pod writer Running on a local volume", running, explain=lambda: namespace_events(core, namespace))
    rc, out, err = run_exec(core, namespace, "writer", ["sh", "-c", "echo kept > /data/f && stat -c '%u %g' /data/f"])
    assert (rc, out) == (0, b"1000 2000\n"), err
    volume = core.read_persistent_volume(core.read_namespaced_persistent_volume_claim("data", namespace).spec.volume_name)
    assert volume.spec.local.path.startswith(str(cluster_state / "local-volumes"))

    core.delete_namespaced_pod("writer", namespace, grace_period_seconds=0)
    core.delete_namespaced_persistent_volume_claim("data", namespace)

    def volume_gone():
        return (not exists(lambda: core.read_persistent_volume(volume.metadata.name))
                and not os.path.exists(volume.spec.local.path))

    wait_until(f"volume {volume.metadata.name} and its directory deleted", volume_gone, timeout=120)


SAMPLE_NS = "sf-cluster"


@pytest.fixture(scope="module")
def sample(kubeconfig):
    """Run tests/cluster/sample/sample.sh with a command on a stack of this file's own; return its stdout."""
    def run(*args: str) -> str:
        return subprocess.run([str(SAMPLE), *args], capture_output=True, text=True, check=True, timeout=900,
                              env={**os.environ, "KUBECONFIG": kubeconfig, "SAMPLE_NAMESPACE": SAMPLE_NS}
                              ).stdout.strip()
    yield run
    run("destroy", "--no-wait")


def test_sample_stack_seeds_and_fingerprints_the_same_twice(sample):
    sample("deploy")
    sample("seed")
    first = sample("fingerprint")
    sample("seed")
    assert sample("fingerprint") == first and len(first) == 64


def test_fingerprint_sees_one_changed_row_and_one_changed_znode(sample, core):
    sample("deploy")
    sample("seed")
    seeded = sample("fingerprint")
    rc, out, err = run_exec(core, SAMPLE_NS, "mariadb-0", [
        "sh", "-c", 'MYSQL_PWD="$MARIADB_ROOT_PASSWORD" mariadb -uroot '
                    '-e "UPDATE zuul.zuul_build SET result=\'FAILURE\' WHERE id=12345"'])
    assert rc == 0, err + out
    after_row = sample("fingerprint")
    rc, out, err = run_exec(core, SAMPLE_NS, "zookeeper-0", [
        "zkCli", "set", "/zuul/system/conf-version", "43"], container="zookeeper")
    assert rc == 0, err + out
    after_znode = sample("fingerprint")
    sample("seed")
    assert len({seeded, after_row, after_znode}) == 3
    assert sample("fingerprint") == seeded
