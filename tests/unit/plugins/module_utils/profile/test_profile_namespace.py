"""Namespace mode's planning: what the API server lists becomes a profile, with what is left out and why."""

from pathlib import Path

import yaml

from ansible_collections.statesafe.backup.plugins.module_utils.profile import namespace, schema

ROOT = Path(__file__).resolve().parents[5]


def obj(name, uid=None, owners=(), **extra):
    metadata = {"name": name, "uid": uid or "uid-" + name}
    if owners:
        metadata["ownerReferences"] = [{"uid": owner} for owner in owners]
    return dict(extra, metadata=metadata)


def listed(api_version, kind, *items):
    return {"api_version": api_version, "kind": kind, "items": list(items)}


def claim(name, phase="Bound", **extra):
    return obj(name, status={"phase": phase}, **extra)


SHOP = [
    listed("v1", "Secret", obj("db-credentials"), obj("legacy-token", type=namespace.LEGACY_TOKEN_TYPE)),
    listed("v1", "ConfigMap", obj("kube-root-ca.crt"), obj("settings")),
    listed("v1", "ServiceAccount", obj("default"), obj("shop")),
    listed("v1", "PersistentVolumeClaim", claim("data"), claim("scratch", "Pending")),
    listed("apps/v1", "Deployment", obj("web", uid="d1")),
    listed("apps/v1", "ReplicaSet", obj("web-5d8f", uid="rs1", owners=["d1"])),
    listed("v1", "Pod", obj("web-5d8f-x2", owners=["rs1"]), obj("debug")),
    listed("v1", "Service", obj("web")),
    listed("shop.example.org/v1", "Shop", obj("main")),
]


def components(result):
    return {c["name"]: c for c in result["profile"]["components"]}


def names_of(component, kind):
    return next(s["names"] for s in component["resources"] if s["kind"] == kind)


def test_a_namespace_becomes_a_profile_in_restore_order():
    result = namespace.plan("shop", "namespace", SHOP)
    assert result["problems"] == []
    assert [c["name"] for c in result["profile"]["components"]] == [
        "config", "claims", "workloads", "volume-data", "custom-resources"]
    found = components(result)
    # ServiceAccounts before the ConfigMaps and Secrets; the cluster's own objects and legacy tokens left out.
    assert [s["kind"] for s in found["config"]["resources"]] == ["ServiceAccount", "ConfigMap", "Secret"]
    assert names_of(found["config"], "ServiceAccount") == ["shop"]
    assert names_of(found["config"], "ConfigMap") == ["settings"]
    assert names_of(found["config"], "Secret") == ["db-credentials"]
    assert found["config"]["restore_phase"] == found["claims"]["restore_phase"] == "early"
    # Both claims' objects are restored; only the bound one has data, written once the workloads exist.
    assert names_of(found["claims"], "PersistentVolumeClaim") == ["data", "scratch"]
    assert found["volume-data"] == {"name": "volume-data", "type": "volume", "claim": "data"}
    assert result["pending_claims"] == [{"claim": "scratch", "phase": "Pending"}]
    # Owned objects are left to their owner; a bare pod has none and is kept.
    assert [s["kind"] for s in found["workloads"]["resources"]] == ["Service", "Deployment", "Pod"]
    assert names_of(found["workloads"], "Pod") == ["debug"]
    assert found["workloads"]["restore_phase"] == "early"
    assert found["custom-resources"]["restore_phase"] == "last"
    assert found["custom-resources"]["resources"] == [
        {"kind": "Shop", "api_version": "shop.example.org/v1", "names": ["main"], "optional": True}]
    assert result["objects"] == 9
    reasons = {(entry["kind"], entry["name"]): entry["reason"] for entry in result["left_out"]}
    assert reasons == {
        ("Secret", "legacy-token"): "a ServiceAccount token, valid only for the account it was made for",
        ("ConfigMap", "kube-root-ca.crt"): "the cluster makes it in every namespace",
        ("ServiceAccount", "default"): "the cluster makes it in every namespace",
        ("ReplicaSet", "web-5d8f"): "owned by an object that is backed up",
        ("Pod", "web-5d8f-x2"): "owned by an object that is backed up",
    }


def test_endpoints_of_a_selector_are_the_controllers_and_those_written_by_hand_are_kept():
    result = namespace.plan("shop", "namespace", [
        listed("v1", "Service", obj("web", uid="svc-web", spec={"selector": {"app": "web"}}),
               obj("external-db", uid="svc-db", spec={"ports": [{"port": 5432}]})),
        listed("v1", "Endpoints", obj("web"), obj("external-db")),
        listed("discovery.k8s.io/v1", "EndpointSlice", obj("web-abc12", owners=["svc-web"]))])
    found = components(result)
    assert [s["kind"] for s in found["workloads"]["resources"]] == ["Service", "Endpoints"]
    assert names_of(found["workloads"], "Endpoints") == ["external-db"]
    reasons = {(entry["kind"], entry["name"]): entry["reason"] for entry in result["left_out"]}
    assert reasons == {("Endpoints", "web"): "kept up by the endpoints controller for the Service's selector",
                       ("EndpointSlice", "web-abc12"): "owned by an object that is backed up"}


def test_the_made_profile_passes_the_schema():
    assert schema.validate(namespace.plan("shop", "namespace", SHOP)["profile"]) == []


def template_mounting(*claims):
    return {"template": {"spec": {"volumes": [{"name": c, "persistentVolumeClaim": {"claimName": c}} for c in claims]
                                  + [{"name": "tmp", "emptyDir": {}}]}}}


def test_each_volume_names_the_workload_whose_template_mounts_its_claim():
    """The restore waits for that workload, stops it while the data is written, and starts it again."""
    result = namespace.plan("shop", "namespace", [
        listed("apps/v1", "Deployment", obj("web", uid="d1", spec=template_mounting("uploads")),
               obj("reader", uid="d2", spec=template_mounting("uploads", "cache"))),
        listed("apps/v1", "ReplicaSet", obj("web-1", uid="rs1", owners=["d1"], spec=template_mounting("other"))),
        listed("apps/v1", "StatefulSet", obj("pg", uid="s1", spec={
            "volumeClaimTemplates": [{"metadata": {"name": "data"}}], **template_mounting("shared")})),
        listed("v1", "PersistentVolumeClaim", claim("uploads"), claim("cache"), claim("data-pg-0"),
               claim("data-pg-x"), claim("shared"), claim("other"), claim("loose"))])
    found = components(result)
    users = {c["claim"]: (c.get("workload_kind"), c.get("workload")) for c in found.values() if c["type"] == "volume"}
    assert users == {
        "cache": ("Deployment", "reader"),
        # Two Deployments mount it: the first by name is waited for; the restore stops every pod's owner.
        "uploads": ("Deployment", "reader"),
        "data-pg-0": ("StatefulSet", "pg"),
        # Not an ordinal of the template; a StatefulSet comes before a Deployment.
        "data-pg-x": (None, None),
        "shared": ("StatefulSet", "pg"),
        # Only an owned ReplicaSet mounts it: its Deployment would make another.
        "other": (None, None),
        "loose": (None, None),
    }
    assert schema.validate(result["profile"]) == []


def test_a_claim_owned_by_its_statefulset_keeps_its_data():
    """With a retention policy the StatefulSet owns its claims: the object is its to make, the data is ours."""
    result = namespace.plan("db", "namespace", [
        listed("apps/v1", "StatefulSet", obj("pg", uid="s1")),
        listed("v1", "PersistentVolumeClaim", claim("data-pg-0", owners=["s1"]))])
    found = components(result)
    assert "claims" not in found
    assert found["volume-data-pg-0"]["claim"] == "data-pg-0"


def test_an_owner_outside_the_namespace_does_not_hide_an_object():
    result = namespace.plan("ns", "namespace", [listed("v1", "ConfigMap", obj("cm", owners=["cluster-scoped-uid"]))])
    assert names_of(components(result)["config"], "ConfigMap") == ["cm"]


def test_a_kind_that_cannot_be_listed_is_a_problem_unless_excluded():
    unlistable = [{"api_version": "shop.example.org/v1", "kind": "Shop", "reason": "HTTP 403"}]
    problems = namespace.plan("shop", "namespace", SHOP[:1], unlistable)["problems"]
    assert problems == ["Shop (shop.example.org/v1) cannot be listed in namespace shop: HTTP 403; grant list on it "
                        "or name it in discover.exclude"]
    assert namespace.plan("shop", "namespace", SHOP[:1], unlistable, [{"kind": "Shop"}])["problems"] == []
    # Excluding some objects of the kind is not excluding the kind.
    assert namespace.plan("shop", "namespace", SHOP[:1], unlistable, [{"kind": "Shop", "names": ["a"]}])["problems"]


def test_pod_templates_a_namespace_admin_may_not_list_are_reported_not_a_problem():
    unlistable = [{"api_version": "v1", "kind": "PodTemplate", "reason": "HTTP 403"}]
    result = namespace.plan("shop", "namespace", SHOP, unlistable)
    assert result["problems"] == []
    assert {"api_version": "v1", "kind": "PodTemplate",
            "reason": "may not be listed (HTTP 403); a namespace admin cannot make these"} in result["left_out"]


def test_exclude_by_name_by_kind_and_by_group():
    exclude = [{"kind": "Secret", "names": ["db-credentials"]}, {"kind": "Service"},
               {"kind": "*", "api_version": "shop.example.org/v2"}]
    found = components(namespace.plan("shop", "namespace", SHOP, exclude=exclude))
    assert not any(s["kind"] == "Secret" for s in found["config"]["resources"])
    assert [s["kind"] for s in found["workloads"]["resources"]] == ["Deployment", "Pod"]
    assert "custom-resources" not in found


def test_an_excluded_claim_has_no_volume():
    found = components(namespace.plan("shop", "namespace", SHOP, exclude=[{"kind": "PersistentVolumeClaim",
                                                                           "names": ["data"]}]))
    assert "volume-data" not in found
    assert names_of(found["claims"], "PersistentVolumeClaim") == ["scratch"]


def test_kinds_worth_listing():
    resources = [
        {"api_version": "v1", "kind": "Event", "plural": "events", "verbs": ["create", "get", "list"]},
        {"api_version": "v1", "kind": "Secret", "plural": "secrets", "verbs": ["create", "get", "list", "delete"]},
        {"api_version": "metrics.k8s.io/v1beta1", "kind": "PodMetrics", "plural": "pods", "verbs": ["get", "list"]},
        {"api_version": "coordination.k8s.io/v1", "kind": "Lease", "plural": "leases",
         "verbs": ["create", "get", "list"]},
        {"api_version": "v1", "kind": "ConfigMap", "plural": "configmaps", "verbs": ["create", "get", "list"]},
    ]
    kept, left_out = namespace.kinds_to_list(resources, [{"kind": "ConfigMap"}])
    assert [r["kind"] for r in kept] == ["Secret"]
    assert {entry["kind"]: entry["reason"] for entry in left_out} == {
        "Event": "the cluster keeps these up itself", "Lease": "the cluster keeps these up itself",
        "PodMetrics": "the API offers no list, get and create for it", "ConfigMap": "discover.exclude"}


def test_openshift_objects_only_on_openshift():
    items = [listed("v1", "ServiceAccount", obj("builder"), obj("deployer"))]
    assert "config" in components(namespace.plan("ns", "namespace", items))
    result = namespace.plan("ns", "namespace", items + [listed("v1", "ConfigMap", obj("app"))], openshift=True)
    assert [s["kind"] for s in components(result)["config"]["resources"]] == ["ConfigMap"]


def test_one_kind_name_in_two_groups_is_a_problem():
    result = namespace.plan("ns", "namespace", [listed("a.example.org/v1", "Widget", obj("x")),
                                                listed("b.example.org/v1", "Widget", obj("y"))])
    assert any("kind Widget is served by a.example.org/v1 and b.example.org/v1" in p for p in result["problems"])


def test_an_empty_namespace_is_a_problem():
    result = namespace.plan("empty", "namespace", [listed("v1", "ServiceAccount", obj("default"))])
    assert result["problems"] == ["namespace empty holds nothing to back up (every object listed is left out or "
                                  "owned; see left_out)"]


def test_a_group_whose_discovery_failed_is_a_problem_unless_excluded():
    unavailable = [{"group_version": "metrics.k8s.io/v1beta1", "reason": "HTTP 503"}]
    assert "metrics.k8s.io/v1beta1 did not answer" in namespace.unavailable_problems("ns", unavailable)[0]
    assert namespace.unavailable_problems("ns", unavailable, [{"kind": "*", "api_version": "metrics.k8s.io/v1"}]) == []


def test_exclusion_errors_name_the_entry():
    assert namespace.exclusion_errors([{"kind": "Secret", "names": ["a"]}, {"kind": "*", "api_version": "x/v1"}]) == []
    assert namespace.exclusion_errors([{"names": []}, "Secret", {"kind": "Pod", "nmes": ["a"]}]) == [
        "discover.exclude[0].kind: required (a kind such as Secret)",
        "discover.exclude[0].names: must be a non-empty list of object names",
        "discover.exclude[1]: must be a mapping with kind (and api_version, names)",
        "discover.exclude[2]: unknown key nmes (expected kind, api_version, names)",
    ]


def test_the_shipped_namespace_profile_and_its_schema():
    shipped = yaml.safe_load((ROOT / "profiles" / "namespace.yml").read_text())
    assert schema.validate(shipped) == []
    assert schema.validate({"name": "ns", "discover": {"exclude": [{"nmes": 1}]}, "components": []}) == [
        "components: unknown key (a profile with discover has its components made by the backup) (expected one of "
        "name, description, hooks, discover)",
        "discover.exclude[0]: unknown key nmes (expected kind, api_version, names)",
        "discover.exclude[0].kind: required (a kind such as Secret)",
    ]


K8UP_DUMP = {"k8up.io/backupcommand": "mariadb-dump --all-databases", "k8up.io/file-extension": ".sql",
             "statesafe.backup/restore-command": "mariadb"}


def annotated_template(annotations, containers=("db",)):
    return {"template": {"metadata": {"annotations": dict(annotations)},
                         "spec": {"containers": [{"name": c} for c in containers]}}}


def controlled(name, owner_uid, annotations=None, **extra):
    item = obj(name, **extra)
    item["metadata"]["ownerReferences"] = [{"uid": owner_uid, "controller": True}]
    if annotations:
        item["metadata"]["annotations"] = dict(annotations)
    return item


def test_a_workload_whose_template_declares_a_dump_gets_a_dump_component_after_the_volumes():
    """Runs in a ready pod of the Deployment, found when it runs: its pods' names change with every rollout."""
    result = namespace.plan("shop", "namespace", [
        listed("v1", "PersistentVolumeClaim", claim("db-data")),
        listed("apps/v1", "Deployment", obj("db", uid="d1", spec=dict(
            annotated_template(K8UP_DUMP), **{"selector": {"matchLabels": {"app": "db"}}}))),
        listed("apps/v1", "ReplicaSet", obj("db-7f", uid="rs1", owners=["d1"], spec=annotated_template(K8UP_DUMP))),
        listed("v1", "Pod", controlled("db-7f-abc", "rs1", K8UP_DUMP, spec={"containers": [{"name": "db"}]})),
        listed("example.org/v1", "Widget", obj("main"))])
    assert result["problems"] == []
    assert [c["name"] for c in result["profile"]["components"]] == [
        "claims", "workloads", "volume-db-data", "dump-db", "custom-resources"]
    assert components(result)["dump-db"] == {
        "name": "dump-db", "type": "dump", "workload": "db", "workload_kind": "Deployment", "container": "db",
        "command": "mariadb-dump --all-databases", "restore_command": "mariadb", "extension": "sql"}
    assert schema.validate(result["profile"]) == []


def test_a_pod_nothing_owns_gets_a_dump_in_itself():
    pod = obj("tool", spec={"containers": [{"name": "main"}, {"name": "db"}]})
    pod["metadata"]["annotations"] = {"statesafe.backup/dump-command": "dump", "statesafe.backup/dump-container": "db"}
    result = namespace.plan("shop", "namespace", [listed("v1", "Pod", pod)])
    assert components(result)["dump-tool"] == {"name": "dump-tool", "type": "dump", "pod": "tool", "container": "db",
                                               "command": "dump", "extension": "dump"}
    # No restore command: the dump is backed up, and the restore leaves it where the user finds it.
    assert schema.validate(result["profile"]) == []


def test_a_pod_annotated_by_hand_and_a_pod_of_a_job_are_problems():
    result = namespace.plan("shop", "namespace", [
        listed("apps/v1", "StatefulSet", obj("pg", uid="s1", spec=annotated_template({}))),
        listed("v1", "Pod", controlled("pg-0", "s1", K8UP_DUMP), controlled("migrate-x", "j1", K8UP_DUMP)),
        listed("batch/v1", "Job", obj("migrate", uid="j1"))])
    assert len(result["problems"]) == 2
    assert result["problems"][0] == (
        "pod migrate-x in namespace shop declares a dump, but it is made by Job migrate: namespace mode dumps the pods "
        "of StatefulSets, Deployments and ReplicaSets and pods nothing owns (a custom resource is restored after the "
        "dumps are loaded); write a profile for it (docs/profile-reference.md) or leave the pod out with "
        "discover.exclude")
    assert result["problems"][1] == (
        "pod pg-0 in namespace shop declares a dump, but the pod template of its StatefulSet pg does not: annotate the "
        "template (spec.template.metadata.annotations), which every pod and a restored one carry")


def test_a_pod_of_a_statefulset_an_operator_makes_is_a_problem():
    result = namespace.plan("shop", "namespace", [
        listed("apps/v1", "StatefulSet", controlled("pg", "w1", uid="s1", spec=annotated_template(K8UP_DUMP))),
        listed("v1", "Pod", controlled("pg-0", "s1", K8UP_DUMP)),
        listed("example.org/v1", "Widget", obj("main", uid="w1"))])
    assert result["problems"] == [
        "pod pg-0 in namespace shop declares a dump, but it is made by Widget main: namespace mode dumps the pods of "
        "StatefulSets, Deployments and ReplicaSets and pods nothing owns (a custom resource is restored after the "
        "dumps are loaded); write a profile for it (docs/profile-reference.md) or leave the pod out with "
        "discover.exclude"]
    assert "dump-pg" not in components(result)


def test_bad_dump_annotations_are_problems_naming_the_workload_and_key_and_exclude_silences_them():
    bad = {"k8up.io/backupcommand": "dump", "k8up.io/backupcommand-container": "sidecar"}
    listing = [listed("apps/v1", "Deployment", obj("db", uid="d1", spec=annotated_template(bad)))]
    assert namespace.plan("shop", "namespace", listing)["problems"] == [
        "Deployment db (its pod template): annotation k8up.io/backupcommand-container: there is no container "
        "'sidecar' (there are db) (namespace=shop)"]
    excluded = namespace.plan("shop", "namespace", listing, exclude=[{"kind": "Deployment", "names": ["db"]}])
    assert excluded["problems"] == ["namespace shop holds nothing to back up (every object listed is left out or "
                                    "owned; see left_out)"]


def test_a_claim_k8up_leaves_out_keeps_its_object_but_not_its_files():
    opted = claim("cache")
    opted["metadata"]["annotations"] = {"k8up.io/backup": "false"}
    result = namespace.plan("shop", "namespace", [listed("v1", "PersistentVolumeClaim", opted, claim("data"))])
    found = components(result)
    assert names_of(found["claims"], "PersistentVolumeClaim") == ["cache", "data"]
    assert "volume-cache" not in found and "volume-data" in found
    assert {"api_version": "v1", "kind": "PersistentVolumeClaim", "name": "cache",
            "reason": "its files: k8up.io/backup is false (the claim itself is restored, empty)"} in result["left_out"]


def test_unused_k8up_annotations_are_reported():
    both = dict(K8UP_DUMP, **{"statesafe.backup/dump-command": "pg_dumpall"})
    result = namespace.plan("shop", "namespace", [
        listed("apps/v1", "StatefulSet", obj("pg", uid="s1", spec=annotated_template(both)))])
    assert components(result)["dump-pg"]["command"] == "pg_dumpall"
    assert {"api_version": "apps/v1", "kind": "StatefulSet", "name": "pg",
            "reason": "k8up.io/backupcommand, k8up.io/file-extension not used: statesafe.backup/dump-command is"} \
        in result["left_out"]
