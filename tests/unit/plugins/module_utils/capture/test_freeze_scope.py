from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.statesafe.backup.plugins.module_utils.capture import freeze_scope, pod_hooks

A = "statesafe.backup/"


def pod(name, annotations=None, claims=(), namespace="shop"):
    return {"metadata": {"name": name, "namespace": namespace, "annotations": dict(annotations or {})},
            "spec": {"containers": [{"name": "app"}],
                     "volumes": [{"name": "v%d" % i, "persistentVolumeClaim": {"claimName": c}}
                                 for i, c in enumerate(claims)] + [{"name": "cfg", "configMap": {"name": "x"}}]},
            "status": {"phase": "Running"}}


def frozen(name, **kw):
    return pod(name, {A + "pre-hook-command": "freeze " + name, A + "post-hook-command": "thaw " + name}, **kw)


COMPONENTS = [
    {"name": "config", "type": "resources", "resources": [{"kind": "Secret"}]},
    {"name": "db", "type": "dump", "pod": "db-0", "command": "dump", "restore_command": "load"},
    {"name": "files", "type": "volume", "claim": "files"},
    {"name": "db-data", "type": "volume", "claim": "data-db-0"},
    {"name": "cache", "type": "volume", "claim": "cache"},
]
PROFILE_HOOKS = {"pre": [{"name": "profile freeze", "pod": "web-0", "command": "x"}],
                 "post": [{"name": "profile thaw", "pod": "web-0", "command": "y"}]}


def plan(pods, components=None, profile_hooks=None):
    return freeze_scope.scope(pod_hooks.combine(profile_hooks, pod_hooks.discover(pods)),
                              COMPONENTS if components is None else components, pods)


def names(hooks):
    return [hook["name"] for hook in hooks]


def test_a_pod_is_frozen_from_its_first_to_its_last_component_only():
    # db-0 has a dump and its data volume: frozen from the dump until its volume is copied, not during config.
    result = plan([frozen("db-0", claims=["data-db-0"]), frozen("web-0", claims=["files"])])
    by = result["by_component"]
    assert names(by["db"]["pre"]) == ["shop/db-0 pre-hook"] and by["db"]["post"] == []
    assert names(by["db-data"]["post"]) == ["shop/db-0 post-hook"] and by["db-data"]["pre"] == []
    assert names(by["files"]["pre"]) == ["shop/web-0 pre-hook"]
    assert names(by["files"]["post"]) == ["shop/web-0 post-hook"]
    assert by["config"] == {"pre": [], "post": []} and by["cache"] == {"pre": [], "post": []}
    assert result["pre"] == [] and result["post"] == []
    assert {"pod": "db-0", "hook": "shop/db-0 pre-hook", "first": "db", "last": "db-data"} in result["bound"]


def test_several_pods_at_one_component_thaw_in_reverse_order():
    result = plan([frozen("b-0", claims=["files"]), frozen("a-0", claims=["files"])])
    assert names(result["by_component"]["files"]["pre"]) == ["shop/a-0 pre-hook", "shop/b-0 pre-hook"]
    assert names(result["by_component"]["files"]["post"]) == ["shop/b-0 post-hook", "shop/a-0 post-hook"]


def test_profile_hooks_and_pods_nothing_captures_stay_run_wide():
    # web-0 mounts no claim a component copies; db-0 has the dump; the profile's hooks name web-0 but are run-wide.
    result = plan([frozen("web-0", claims=["uploads"]), frozen("db-0")], profile_hooks=PROFILE_HOOKS)
    assert names(result["pre"]) == ["profile freeze", "shop/web-0 pre-hook"]
    assert names(result["post"]) == ["shop/web-0 post-hook", "profile thaw"]
    assert names(result["by_component"]["db"]["pre"]) == ["shop/db-0 pre-hook"]


def test_pending_posts_thaw_the_last_frozen_first():
    result = plan([frozen("db-0", claims=["data-db-0"]), frozen("web-0", claims=["files"]),
                   frozen("c-0", claims=["cache"])])
    assert names(freeze_scope.pending_posts(result)) == [
        "shop/c-0 post-hook", "shop/web-0 post-hook", "shop/db-0 post-hook"]


def test_a_post_hook_without_a_pre_hook_is_still_owed():
    only_post = pod("db-0", {A + "post-hook-command": "cleanup"})
    result = plan([only_post])
    assert names(result["by_component"]["db"]["post"]) == ["shop/db-0 post-hook"]
    assert names(freeze_scope.pending_posts(result)) == ["shop/db-0 post-hook"]


def test_other_keys_pass_through():
    pods = [frozen("db-0"), dict(frozen("x-0"), status={"phase": "Pending"})]
    result = plan(pods)
    assert result["skipped"] == ["shop/x-0 (Pending)"] and result["unused"] == []


def test_freeze_seconds_leaves_out_pods_never_thawed():
    assert freeze_scope.freeze_seconds({"db-0": 100.0, "web-0": "101.5"}, {"db-0": "104.25"}) == {"db-0": 4.25}


def test_pod_claims():
    assert freeze_scope.pod_claims(pod("p", claims=["a", "b"])) == {"a", "b"}
    assert freeze_scope.pod_claims({"metadata": {"name": "p"}}) == set()


def replica(name, replicaset, template_hash, annotations):
    item = pod(name, annotations)
    item["metadata"]["labels"] = {"pod-template-hash": template_hash}
    item["metadata"]["ownerReferences"] = [{"kind": "ReplicaSet", "name": replicaset, "controller": True}]
    return item


def test_a_workloads_dump_freezes_the_pods_of_that_workload_only():
    """Namespace mode dumps a Deployment in whichever pod is ready: its pods' freeze is bound to that dump."""
    hooks = {A + "pre-hook-command": "lock", A + "post-hook-command": "unlock"}
    pods = [replica("db-7f9-a", "db-7f9", "7f9", hooks), replica("dbx-5c-b", "dbx-5c", "5c", hooks),
            replica("db-stale-c", "db-other", "abc", hooks)]
    components = [{"name": "dump-db", "type": "dump", "workload": "db", "workload_kind": "Deployment",
                   "command": "dump"}]
    result = plan(pods, components)
    assert names(result["by_component"]["dump-db"]["pre"]) == ["shop/db-7f9-a pre-hook"]
    # Another Deployment's pod, and a pod whose ReplicaSet is not named after db and its hash, stay run-wide.
    assert names(result["pre"]) == ["shop/db-stale-c pre-hook", "shop/dbx-5c-b pre-hook"]


def test_a_statefulsets_dump_freezes_its_pods():
    item = frozen("pg-0")
    item["metadata"]["ownerReferences"] = [{"kind": "StatefulSet", "name": "pg", "controller": True}]
    result = plan([item], [{"name": "dump-pg", "type": "dump", "workload": "pg", "command": "dump"}])
    assert names(result["by_component"]["dump-pg"]["post"]) == ["shop/pg-0 post-hook"]
