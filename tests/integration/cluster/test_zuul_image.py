"""The zuul image (tests/cluster/images/zuul) runs in the cluster: zuul-admin, Zuul's key storage, stunnel."""

from __future__ import annotations

from kubernetes import client

from cluster_helpers import namespace_events, wait_until
from test_cluster import run_exec


def test_zuul_image_runs_zuul_admin(core, namespace, image_refs):
    assert "zuul" in image_refs, "no zuul image in images.txt: see docs/local-cluster.md (adding an image)"
    core.create_namespaced_pod(namespace, client.V1Pod(
        metadata=client.V1ObjectMeta(name="zuul"),
        spec=client.V1PodSpec(termination_grace_period_seconds=1, containers=[
            client.V1Container(name="zuul", image=image_refs["zuul"])])))
    wait_until("pod zuul Running",
               lambda: core.read_namespaced_pod("zuul", namespace).status.phase == "Running",
               explain=lambda: namespace_events(core, namespace))

    rc, out, err = run_exec(core, namespace, "zuul", ["zuul-admin", "--help"])
    assert rc == 0, err
    assert b"export-keys" in out and b"import-keys" in out
    rc, out, err = run_exec(core, namespace, "zuul", ["zuul-admin", "import-keys", "--help"])
    assert rc == 0 and b"--force" in out, err
    version = "python3 -c 'import importlib.metadata as m, zuul.lib.keystorage; print(m.version(\"zuul\"))'"
    rc, out, err = run_exec(core, namespace, "zuul", ["sh", "-c", version])
    assert (rc, out.strip()) == (0, image_refs["zuul"].rsplit(":", 1)[1].encode()), err
    # No ZooKeeper configured: zuul-admin fails, and says why, with a non-zero exit code.
    rc, out, err = run_exec(core, namespace, "zuul", ["zuul-admin", "export-keys", "/tmp/k.json"])
    assert rc != 0 and b"config file" in err, (out, err)
    rc, out, err = run_exec(core, namespace, "zuul", ["stunnel", "-version"])
    assert rc == 0 and b"stunnel" in (out + err).lower()
