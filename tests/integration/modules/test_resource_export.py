"""resource_export against the local cluster: built-in kinds, a custom resource and what it refers to."""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from k8s_helpers import wait_for

GROUP = "statesafe.test"
CRD_NAME = f"widgets.{GROUP}"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def b64(text):
    return base64.b64encode(text.encode()).decode()


@pytest.fixture(scope="module")
def crd(api_client):
    ext = client.ApiextensionsV1Api(api_client)
    body = client.V1CustomResourceDefinition(
        metadata=client.V1ObjectMeta(name=CRD_NAME),
        spec=client.V1CustomResourceDefinitionSpec(
            group=GROUP, scope="Namespaced",
            names=client.V1CustomResourceDefinitionNames(plural="widgets", singular="widget", kind="Widget"),
            versions=[client.V1CustomResourceDefinitionVersion(
                name="v1", served=True, storage=True,
                schema=client.V1CustomResourceValidation(open_apiv3_schema=client.V1JSONSchemaProps(
                    type="object", x_kubernetes_preserve_unknown_fields=True)))]))
    try:
        ext.create_custom_resource_definition(body)
    except ApiException as exc:
        if exc.status != 409:
            raise

    def established():
        conditions = ext.read_custom_resource_definition(CRD_NAME).status.conditions or []
        return any(c.type == "Established" and c.status == "True" for c in conditions)

    wait_for(established, 60, "CRD established")
    yield GROUP
    ext.delete_custom_resource_definition(CRD_NAME)


@pytest.fixture(scope="module")
def objects(core, api_client, ns, crd):
    custom = client.CustomObjectsApi(api_client)
    widget = custom.create_namespaced_custom_object(GROUP, "v1", ns, "widgets", {
        "apiVersion": f"{GROUP}/v1", "kind": "Widget", "metadata": {"name": "w1"},
        "spec": {"db": {"secretName": "s-c"}, "conns": [{"name": "one", "secret": "s-a"}]}})
    owner = client.V1OwnerReference(api_version=f"{GROUP}/v1", kind="Widget", name="w1",
                                    uid=widget["metadata"]["uid"])
    for name, labels, owners in (("s-a", {"app": "demo"}, [owner]), ("s-b", {"app": "demo"}, None),
                                 ("s-c", None, None)):
        core.create_namespaced_secret(ns, client.V1Secret(
            metadata=client.V1ObjectMeta(name=name, labels=labels, owner_references=owners,
                                         annotations={LAST_APPLIED: '{"secret": "copy"}'}),
            type="Opaque", data={"password": b64(f"{name}-password")}))
    core.create_namespaced_config_map(ns, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="cfg", labels={"app": "demo"}),
        data={"my.cnf": "[mysqld]\nskip-name-resolve\n", "flag": "on"}))
    core.create_namespaced_service(ns, client.V1Service(
        metadata=client.V1ObjectMeta(name="svc"),
        spec=client.V1ServiceSpec(selector={"app": "demo"}, ports=[client.V1ServicePort(port=80)])))
    return ns


SELECTION = [
    {"kind": "Secret", "label_selectors": ["app=demo"]},
    {"kind": "ConfigMap", "names": ["cfg"]},
    {"kind": "Service", "names": ["svc"]},
]


def read_yaml(path):
    with open(path, "rb") as handle:
        return yaml.safe_load(handle)


class TestExport:
    def test_check_mode_writes_nothing(self, run_module, objects, tmp_path_factory):
        dest = tmp_path_factory.getbasetemp() / "export"
        run = run_module("resource_export", {"namespace": objects, "dest": str(dest), "resources": SELECTION},
                         check=True)
        assert run.rc == 0 and run.changed, run
        assert [o["name"] for o in run["objects"]] == ["s-a", "s-b", "cfg", "svc"]
        assert not dest.exists()

    def test_apply_writes_stripped_deterministic_files(self, run_module, objects, tmp_path_factory):
        dest = tmp_path_factory.getbasetemp() / "export"
        run = run_module("resource_export", {"namespace": objects, "dest": str(dest), "resources": SELECTION})
        assert run.rc == 0 and run.changed, run
        assert run["list_requests"] == 3
        paths = {o["name"]: o["path"] for o in run["objects"]}
        assert paths["s-a"] == str(dest / "Secret" / "s-a.yaml")
        for item in run["objects"]:
            with open(item["path"], "rb") as handle:
                data = handle.read()
            assert item["size"] == len(data) and item["sha256"] == hashlib.sha256(data).hexdigest()
        assert oct(os.stat(paths["s-a"]).st_mode & 0o777) == "0o600"
        assert oct(os.stat(dest / "Secret").st_mode & 0o777) == "0o700"
        assert oct(os.stat(paths["cfg"]).st_mode & 0o777) == "0o644"
        secret = read_yaml(paths["s-a"])
        meta = secret["metadata"]
        for field in ("uid", "resourceVersion", "creationTimestamp", "managedFields", "ownerReferences"):
            assert field not in meta, field
        assert "status" not in secret and LAST_APPLIED not in meta.get("annotations", {})
        assert secret["type"] == "Opaque" and meta["labels"] == {"app": "demo"} and meta["namespace"] == objects
        assert base64.b64decode(secret["data"]["password"]) == b"s-a-password"
        service = read_yaml(paths["svc"])
        assert "clusterIP" not in service["spec"] and service["spec"]["ports"][0]["port"] == 80
        assert read_yaml(paths["cfg"])["data"]["my.cnf"] == "[mysqld]\nskip-name-resolve\n"
        assert b"my.cnf: |" in open(paths["cfg"], "rb").read()

    def test_second_run_changes_nothing(self, run_module, objects, tmp_path_factory):
        dest = tmp_path_factory.getbasetemp() / "export"
        before = os.stat(dest / "Secret" / "s-a.yaml").st_mtime_ns
        run = run_module("resource_export", {"namespace": objects, "dest": str(dest), "resources": SELECTION})
        assert run.rc == 0 and not run.changed, run
        assert not any(o["changed"] for o in run["objects"])
        assert os.stat(dest / "Secret" / "s-a.yaml").st_mtime_ns == before

    def test_diff_never_shows_secret_values(self, run_module, core, objects, tmp_path_factory):
        dest = tmp_path_factory.getbasetemp() / "export"
        core.patch_namespaced_secret("s-a", objects, {"data": {"password": b64("rotated-password")}})
        run = run_module("resource_export", {"namespace": objects, "dest": str(dest), "resources": SELECTION},
                         check=True, diff=True)
        assert run.rc == 0 and run.changed, run
        assert [o["name"] for o in run["objects"] if o["changed"]] == ["s-a"]
        for value in ("rotated-password", "s-a-password"):
            assert b64(value) not in run.output and value not in run.output
        [entry] = run["diff"]
        assert "password: '<hidden, changed>'" in entry["after"] and "password: '<hidden>'" in entry["before"]
        applied = run_module("resource_export", {"namespace": objects, "dest": str(dest), "resources": SELECTION})
        assert applied.changed and base64.b64decode(
            read_yaml(dest / "Secret" / "s-a.yaml")["data"]["password"]) == b"rotated-password"

    def test_owner_references_kept_on_request(self, run_module, objects, tmp_path):
        run = run_module("resource_export", {"namespace": objects, "dest": str(tmp_path), "strip_owner_references": False,
                                             "strip_namespace": True, "resources": [{"kind": "Secret", "names": ["s-a"]}]})
        assert run.rc == 0, run
        meta = read_yaml(tmp_path / "Secret" / "s-a.yaml")["metadata"]
        assert meta["ownerReferences"][0]["name"] == "w1" and "namespace" not in meta

    def test_prune_removes_files_of_deleted_objects(self, run_module, core, objects, tmp_path):
        selection = [{"kind": "Secret", "label_selectors": ["app=demo"]}]
        run_module("resource_export", {"namespace": objects, "dest": str(tmp_path), "resources": selection})
        core.delete_namespaced_secret("s-b", objects)
        try:
            run = run_module("resource_export", {"namespace": objects, "dest": str(tmp_path), "prune": True,
                                                 "resources": selection})
            assert run.rc == 0 and run.changed and run["removed"] == [str(tmp_path / "Secret" / "s-b.yaml")], run
            assert not (tmp_path / "Secret" / "s-b.yaml").exists()
        finally:
            core.create_namespaced_secret(objects, client.V1Secret(
                metadata=client.V1ObjectMeta(name="s-b", labels={"app": "demo"}), data={"password": b64("b")}))


class TestCustomResources:
    def test_custom_resource_and_the_secrets_it_names(self, run_module, objects, tmp_path):
        run = run_module("resource_export", {"namespace": objects, "dest": str(tmp_path), "resources": [{
            "api_version": f"{GROUP}/v1", "kind": "Widget",
            "references": [{"kind": "Secret", "field_names": ["secretName", "secret"]}]}]})
        assert run.rc == 0, run
        exported = [(o["kind"], o["name"]) for o in run["objects"]]
        assert exported == [("Widget", "w1"), ("Secret", "s-a"), ("Secret", "s-c")]
        widget = read_yaml(tmp_path / "Widget" / "w1.yaml")
        assert widget["apiVersion"] == f"{GROUP}/v1" and widget["spec"]["db"]["secretName"] == "s-c"
        assert "uid" not in widget["metadata"] and "generation" not in widget["metadata"]

    def test_reference_paths_and_missing_reference(self, run_module, api_client, objects, tmp_path):
        custom = client.CustomObjectsApi(api_client)
        custom.create_namespaced_custom_object(GROUP, "v1", objects, "widgets", {
            "apiVersion": f"{GROUP}/v1", "kind": "Widget", "metadata": {"name": "w2"},
            "spec": {"conns": [{"secret": "s-b"}, {"secret": "gone"}]}})
        try:
            selection = {"api_version": f"{GROUP}/v1", "kind": "Widget", "names": ["w2"],
                         "references": [{"kind": "Secret", "paths": ["spec.conns[*].secret"]}]}
            run = run_module("resource_export", {"namespace": objects, "dest": str(tmp_path), "resources": [selection]})
            assert run.failed and "Secret gone not found" in run.msg and f"namespace={objects}" in run.msg, run
            selection["references"][0]["optional"] = True
            run = run_module("resource_export", {"namespace": objects, "dest": str(tmp_path), "resources": [selection]})
            assert run.rc == 0, run
            assert [o["name"] for o in run["objects"]] == ["w2", "s-b"]
            assert run["skipped_selections"] == [{"api_version": "v1", "kind": "Secret", "reason": "not found: gone"}]
        finally:
            custom.delete_namespaced_custom_object(GROUP, "v1", objects, "widgets", "w2")


class TestErrors:
    def test_kind_not_served(self, run_module, objects, tmp_path):
        selection = {"api_version": "nothing.example.com/v1", "kind": "Nope"}
        run = run_module("resource_export", {"namespace": objects, "dest": str(tmp_path), "resources": [selection]})
        assert run.failed and "does not serve kind Nope in nothing.example.com/v1" in run.msg, run
        run = run_module("resource_export", {"namespace": objects, "dest": str(tmp_path),
                                             "resources": [dict(selection, optional=True)]})
        assert run.rc == 0 and not run.changed and run["skipped_selections"][0]["kind"] == "Nope", run

    def test_missing_name(self, run_module, objects, tmp_path):
        run = run_module("resource_export", {"namespace": objects, "dest": str(tmp_path),
                                             "resources": [{"kind": "Secret", "names": ["s-a", "nope"]}]})
        assert run.failed and "Secret nope not found" in run.msg and f"namespace={objects}" in run.msg, run
        assert not (tmp_path / "Secret").exists(), "nothing written when the selection is incomplete"

    def test_forbidden_list(self, run_module, objects, tmp_path, limited_connection):
        connection = limited_connection("cm-only", [{"resources": ["configmaps"], "verbs": ["get", "list"]}])
        run = run_module("resource_export", {"namespace": objects, "dest": str(tmp_path),
                                             "resources": [{"kind": "ConfigMap"}, {"kind": "Secret"}]},
                         connection=connection)
        assert run.failed and "HTTP 403" in run.msg and "secrets is forbidden" in run.msg, run
        assert f"namespace={objects}" in run.msg and run["api_status"] == 403
        assert not list(tmp_path.iterdir()), "nothing written when a kind cannot be listed"

    def test_module_defaults_group_reaches_kubernetes_core(self, run_module, objects, tmp_path):
        info = {"kubernetes.core.k8s_info": {"kind": "ConfigMap", "namespace": objects, "name": "cfg"}}
        run = run_module("resource_export", {"namespace": objects, "dest": str(tmp_path),
                                             "resources": [{"kind": "ConfigMap", "names": ["cfg"]}]},
                         extra_tasks=[dict(info, name="kubernetes.core via our group")],
                         extra_env={"K8S_AUTH_KUBECONFIG": "/nonexistent"})
        assert run.rc == 0, run
        assert run["extra"][0]["resources"][0]["metadata"]["name"] == "cfg"


def test_5000_secrets_in_one_task_with_one_list_request(run_module, core, tmp_path):
    namespace = f"it-many-secrets-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    try:
        def create(index):
            core.create_namespaced_secret(namespace, client.V1Secret(
                metadata=client.V1ObjectMeta(name=f"s-{index:05d}", labels={"bulk": "yes"}),
                data={"token": b64(f"token-{index}-" + "x" * 40)}))

        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(create, range(5000)))
        run = run_module("resource_export", {"namespace": namespace, "dest": str(tmp_path),
                                             "resources": [{"kind": "Secret", "label_selectors": ["bulk=yes"]}]})
        assert run.rc == 0 and len(run["objects"]) == 5000, run
        assert run["list_requests"] == 1
        assert len(os.listdir(tmp_path / "Secret")) == 5000
        # How fast is bench/resource_export.py's job (docs/performance.md): a timed
        # assertion here would fail on a busy machine, not on a slow module.
        again = run_module("resource_export", {"namespace": namespace, "dest": str(tmp_path),
                                               "resources": [{"kind": "Secret", "label_selectors": ["bulk=yes"]}]})
        assert not again.changed and again["list_requests"] == 1
    finally:
        core.delete_namespace(namespace, grace_period_seconds=0)
