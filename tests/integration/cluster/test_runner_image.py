"""The runner image (tests/cluster/images/runner.sh) runs the collection inside the cluster.

One pod, as the image's non-root user, with a ServiceAccount and the in-cluster configuration (what
playbooks/schedule.yml's CronJob gets): ansible-core 2.19 from /opt/ansible, bup, the collection (its
module docs, its playbooks by FQCN, its profiles found from the playbooks), kubernetes.core and the
collection's own module talking to the API server with the pod's token.
"""

from __future__ import annotations

import re

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from cluster_helpers import exists, namespace_events, wait_until
from runner_image import runner_image_ref
from test_cluster import run_exec

NAMESPACE = "sf-runner-image"
POD = "runner"


def delete_namespace(core):
    try:
        core.delete_namespace(NAMESPACE, grace_period_seconds=0)
    except ApiException as exc:
        if exc.status != 404:
            raise
    wait_until(f"namespace {NAMESPACE} gone", lambda: not exists(lambda: core.read_namespace(NAMESPACE)),
               timeout=300)


@pytest.fixture(name="runner_pod", scope="module")
def fixture_runner_pod(core, api_client, kubeconfig):
    ref = runner_image_ref(kubeconfig)
    delete_namespace(core)  # a leftover from an interrupted run
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))
    try:
        rbac = client.RbacAuthorizationV1Api(api_client)
        core.create_namespaced_service_account(NAMESPACE, client.V1ServiceAccount(
            metadata=client.V1ObjectMeta(name="runner")))
        rbac.create_namespaced_role(NAMESPACE, client.V1Role(
            metadata=client.V1ObjectMeta(name="runner"),
            rules=[client.V1PolicyRule(api_groups=[""], resources=["pods", "configmaps"],
                                       verbs=["get", "list"])]))
        rbac.create_namespaced_role_binding(NAMESPACE, client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name="runner"),
            role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name="runner"),
            subjects=[client.RbacV1Subject(kind="ServiceAccount", name="runner", namespace=NAMESPACE)]))
        core.create_namespaced_config_map(NAMESPACE, client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="probe"), data={"answer": "42"}))
        core.create_namespaced_pod(NAMESPACE, client.V1Pod(
            metadata=client.V1ObjectMeta(name=POD),
            spec=client.V1PodSpec(
                service_account_name="runner", termination_grace_period_seconds=1,
                # No runAsUser: the image's numeric USER (1000) is what kubelet checks against this.
                security_context=client.V1PodSecurityContext(run_as_non_root=True),
                containers=[client.V1Container(
                    name="runner", image=ref, image_pull_policy="Never")])))
        wait_until(f"pod {POD} Running ({ref})",
                   lambda: core.read_namespaced_pod(POD, NAMESPACE).status.phase == "Running",
                   explain=lambda: namespace_events(core, NAMESPACE))
        yield ref
    finally:
        delete_namespace(core)


def sh(core, script: str) -> tuple[int, str, str]:
    rc, out, err = run_exec(core, NAMESPACE, POD, ["sh", "-c", "export ANSIBLE_NOCOLOR=1\n" + script])
    return rc, out.decode(errors="replace"), err.decode(errors="replace")


def ok(core, script: str) -> str:
    rc, out, err = sh(core, script)
    assert rc == 0, f"{script!r} exited {rc}\nstdout:\n{out[-3000:]}\nstderr:\n{err[-3000:]}"
    return out


def test_runner_image_runs_the_collection_in_the_cluster(core, runner_pod):
    assert re.fullmatch(r"localhost/statesafe-runner:[0-9a-f]{16}", runner_pod), runner_pod

    # Non-root, with a writable HOME, the venv first on PATH.
    assert ok(core, "id -u; id -g; echo $HOME; touch $HOME/.w && echo writable").split() == [
        "1000", "0", "/home/runner", "writable"]

    version = ok(core, "ansible-playbook --version")
    assert re.search(r"^ansible-playbook \[core 2\.19\.\d+\]", version, re.M), version
    assert "executable location = /opt/ansible/bin/ansible-playbook" in version
    assert re.search(r"python version = 3\.11\.\d+ .*\(/opt/ansible/bin/python3?\)", version), version

    assert re.match(r"\d+\.\d+", ok(core, "bup --version")), "bup --version printed no version"

    # The collection is in the image (its own module docs), next to kubernetes.core.
    doc = ok(core, "ansible-doc statesafe.backup.resource_export")
    collection = "/usr/share/ansible/collections/ansible_collections/statesafe/backup"
    assert f"> MODULE statesafe.backup.resource_export ({collection}/plugins/modules/resource_export.py)" in doc, \
        doc[:500]
    assert "writes one YAML file per object" in " ".join(doc.split()), doc[:1000]
    listing = ok(core, "ansible-galaxy collection list")
    assert re.search(r"^statesafe\.backup\s+0\.\d+\.\d+", listing, re.M), listing
    assert re.search(r"^kubernetes\.core\s+6\.\d+\.\d+", listing, re.M), listing

    # The playbooks run by FQCN (what the CronJob runs).
    for playbook in ("backup", "restore", "list", "verify", "offsite"):
        out = ok(core, f"ansible-playbook statesafe.backup.{playbook} --syntax-check")
        assert f"playbook: {collection}/playbooks/{playbook}.yml" in out, out


def test_in_cluster_config_and_profiles(core, runner_pod):
    """kubernetes.core and the collection's own module reach the API server with the pod's
    ServiceAccount, without a kubeconfig; backup.yml finds its profile inside the collection."""
    out = ok(core, "ansible localhost -o -m kubernetes.core.k8s_info "
                   f"-a 'kind=Pod namespace={NAMESPACE} name={POD}'")
    assert '"phase": "Running"' in out or '"phase":"Running"' in out.replace(" ", ""), out[-2000:]

    out = ok(core, "cat >/tmp/export.yml <<'EOF'\n"
                   "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
                   "    - statesafe.backup.resource_export:\n"
                   f"        namespace: {NAMESPACE}\n        dest: /tmp/export\n"
                   "        resources: [{api_version: v1, kind: ConfigMap, names: [probe]}]\n"
                   "EOF\n"
                   "ansible-playbook /tmp/export.yml >&2 && cat $(find /tmp/export -type f -name '*probe*')")
    assert "answer" in out and "42" in out, out[-3000:]

    # backup.yml loads profiles/<profile>.yml from {{ playbook_dir }}/../profiles: inside the collection.
    # The backup then stops at its preflight, which names what this ServiceAccount may not do: the
    # in-cluster identity, and verbs only the Software Factory profile asks for.
    rc, out, err = sh(core, "ansible-playbook statesafe.backup.backup "
                            f"-e app_namespace={NAMESPACE} -e repository=/tmp/repo -e staging=/tmp/staging")
    assert re.search(r"^TASK \[Load the profile\] \**\nok: \[localhost\]$", out, re.M), out[-3000:]
    assert rc == 2, (rc, out[-3000:], err[-2000:])
    assert (f"missing RBAC permission in namespace {NAMESPACE} for user "
            f"system:serviceaccount:{NAMESPACE}:runner: ") in out, out[-3000:]
    assert "list softwarefactories.sf.softwarefactory-project.io" in out, out[-3000:]
