"""The mark of an unfinished restore, and the plan of a re-run: what counts as the restore's own, and what it does."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import itertools

import pytest

from ansible_collections.statesafe.backup.plugins.module_utils.capture import restore_mark as rm
from ansible_collections.statesafe.backup.plugins.module_utils.capture import restore_policy as rp

COMMIT = "3f1c2d4e5b6a7988c0d1e2f3a4b5c6d7e8f90a1b"
OTHER = "0123456789abcdef0123456789abcdef01234567"


def obj(kind="ConfigMap", name="c", mark=None, **extra):
    annotations = dict(extra.pop("annotations", {}))
    if mark is not None:
        annotations[rm.MARK] = mark
    metadata = {"name": name, "namespace": "sf", "uid": "u-" + name, "resourceVersion": "7"}
    if annotations:
        metadata["annotations"] = annotations
    return dict({"apiVersion": "apps/v1" if kind == "StatefulSet" else "v1", "kind": kind, "metadata": metadata},
                **extra)


def ref(kind="ConfigMap", name="c", phase="early"):
    return {"kind": kind, "name": name, "api_version": "apps/v1" if kind == "StatefulSet" else "v1",
            "path": "/x/{0}/{1}.yaml".format(kind, name), "component": "c", "phase": phase}


@pytest.mark.parametrize("live, commit, expected", [
    (obj(mark=COMMIT), COMMIT, True),
    (obj(mark=OTHER), COMMIT, False),  # another archive's unfinished restore: not ours
    (obj(), COMMIT, False),  # no mark: the user's own, or a complete restore's
    (obj(annotations={"other": COMMIT}), COMMIT, False),
    (obj(mark=""), "", False),  # a restore that cannot name its archive takes nothing over
    (obj(mark=COMMIT), None, False),
    (None, COMMIT, False),  # absent
    (obj(mark=COMMIT[:12]), COMMIT, False),  # a prefix is another value
])
def test_is_ours(live, commit, expected):
    assert rm.is_ours(live, commit) is expected


def test_mark_of_tolerates_objects_without_metadata():
    assert rm.mark_of({}) is None and rm.mark_of(None) is None
    assert rm.mark_of({"metadata": {"annotations": None}}) is None
    assert rm.mark_of({"metadata": {"annotations": {rm.MARK: 5}}}) is None


def test_with_mark_adds_the_annotation_and_leaves_the_archived_document_alone():
    archived = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "annotations": {"keep": "1"}},
                "data": {"a": "b"}}
    marked = rm.with_mark(archived, COMMIT)
    assert marked["metadata"]["annotations"] == {"keep": "1", rm.MARK: COMMIT}
    assert marked["data"] == {"a": "b"}
    assert archived["metadata"]["annotations"] == {"keep": "1"}
    # A mark the archive itself carries (a backup taken during a restore) is replaced by this restore's.
    assert rm.with_mark(rm.with_mark(archived, OTHER), COMMIT)["metadata"]["annotations"][rm.MARK] == COMMIT
    assert rm.with_mark({"kind": "ConfigMap"}, COMMIT)["metadata"] == {"annotations": {rm.MARK: COMMIT}}


def test_unmark_patches_set_the_annotation_to_null_and_nothing_else():
    patches = rm.unmark_patches([ref("StatefulSet", "db"), ref("Secret", "s")], "target")
    assert patches == [
        {"apiVersion": "apps/v1", "kind": "StatefulSet",
         "metadata": {"name": "db", "namespace": "target", "annotations": {rm.MARK: None}}},
        {"apiVersion": "v1", "kind": "Secret",
         "metadata": {"name": "s", "namespace": "target", "annotations": {rm.MARK: None}}},
    ]


@pytest.mark.parametrize("present, policy", list(itertools.product((False, True), rp.POLICIES)))
def test_the_restores_own_objects_are_applied_again_whatever_the_policy(present, policy):
    # ours implies present in the plan; absent stays create.
    assert rp.decide(present, policy, ours=present) == ("update" if present else "create")
    assert rp.decide_data(present, policy, ours=present) == "restore"


def test_unknown_policy_is_refused_for_the_restores_own_objects_too():
    with pytest.raises(rp.PolicyError):
        rp.decide(True, "drop", ours=True)
    with pytest.raises(rp.PolicyError):
        rp.decide_data(True, "drop", ours=True)


def test_a_rerun_takes_over_its_own_objects_and_leaves_the_others_to_the_policy():
    objects = [ref("Secret", "ours"), ref("Secret", "users"), ref("Secret", "foreign"), ref("Secret", "absent"),
               ref("StatefulSet", "db"), ref("StatefulSet", "kept")]
    live = {"Secret/ours": obj("Secret", "ours", mark=COMMIT), "Secret/users": obj("Secret", "users"),
            "Secret/foreign": obj("Secret", "foreign", mark=OTHER),
            "StatefulSet/db": obj("StatefulSet", "db", mark=COMMIT), "StatefulSet/kept": obj("StatefulSet", "kept")}
    planned = {e["key"]: e for e in rp.plan_objects(objects, live, "fail", commit=COMMIT)}
    assert {key: (e["ours"], e["action"]) for key, e in planned.items()} == {
        "Secret/ours": (True, "update"), "Secret/users": (False, "refuse"), "Secret/foreign": (False, "refuse"),
        "Secret/absent": (False, "create"), "StatefulSet/db": (True, "update"), "StatefulSet/kept": (False, "refuse")}
    assert planned["Secret/ours"]["mark"] == "left by an unfinished restore of this archive"
    assert planned["Secret/foreign"]["mark"] == "left by an unfinished restore of another archive, commit 0123456789ab"
    assert planned["Secret/users"]["mark"] is None and planned["Secret/absent"]["mark"] is None

    components = [{"name": "db", "type": "dump", "statefulset": "db", "pod": "db-0"},
                  {"name": "kept", "type": "volume", "statefulset": "kept", "claim": "data-kept-0"},
                  {"name": "loose", "type": "dump", "pod": "x-0"}]
    data = {e["name"]: e for e in rp.plan_data(components, live, "skip", commit=COMMIT)}
    assert {name: (e["ours"], e["action"]) for name, e in data.items()} == {
        "db": (True, "restore"), "kept": (False, "skip"), "loose": (False, "skip")}


def test_without_the_commit_every_present_object_follows_the_policy():
    live = {"Secret/ours": obj("Secret", "ours", mark=COMMIT), "StatefulSet/db": obj("StatefulSet", "db", mark=COMMIT)}
    planned = rp.plan_objects([ref("Secret", "ours")], live, "fail")
    assert (planned[0]["ours"], planned[0]["action"]) == (False, "refuse")
    data = rp.plan_data([{"name": "db", "type": "dump", "statefulset": "db"}], live, "fail")
    assert (data[0]["ours"], data[0]["action"]) == (False, "refuse")


def test_the_plan_of_a_rerun_says_what_it_resumes_and_refuses_what_is_not_its_own():
    archived = {"ConfigMap/ours": obj("ConfigMap", "ours", data={"a": "1"}),
                "ConfigMap/foreign": obj("ConfigMap", "foreign", data={"a": "1"}),
                "StatefulSet/db": obj("StatefulSet", "db", spec={"replicas": 1})}
    for document in archived.values():
        document["metadata"] = {"name": document["metadata"]["name"]}
    live = {"ConfigMap/ours": obj("ConfigMap", "ours", mark=COMMIT, data={"a": "1"}),
            "ConfigMap/foreign": obj("ConfigMap", "foreign", mark=OTHER, data={"a": "1"}),
            # a kill during the volume copy left it scaled to 0
            "StatefulSet/db": obj("StatefulSet", "db", mark=COMMIT, spec={"replicas": 0})}
    objects = [ref("ConfigMap", "ours"), ref("ConfigMap", "foreign"), ref("StatefulSet", "db")]
    components = [{"name": "db", "type": "volume", "statefulset": "db", "claim": "data-db-0"}]
    artifacts = [{"path": "volumes/data-db-0/f", "size": 3}]
    plan = rp.build_plan(objects, archived, live, components, artifacts, "fail", want_diff=True, commit=COMMIT)
    assert plan["resumed"] == ["ConfigMap/ours", "StatefulSet/db", "data of db"]
    assert plan["refused"] == ["ConfigMap/foreign (left by an unfinished restore of another archive, commit "
                               "0123456789ab)"]
    entries = {e["key"]: e for e in plan["objects"]}
    # The mark is not a difference: the same object applied again changes nothing but the replicas.
    assert entries["ConfigMap/ours"]["differs"] is False
    assert entries["StatefulSet/db"]["differs"] is True
    assert "update ConfigMap/ours (left by an unfinished restore of this archive; no difference) [fail]" in plan["lines"]
    assert ("restore volume db (claim data-db-0) of StatefulSet/db (left by an unfinished restore of this archive: "
            "written again), 1 files, 3 bytes [fail]") in plan["lines"]
    data_diff = [d for d in plan["diff"] if d["before_header"] == "volume db"][0]
    assert data_diff["before"] == "claim data-db-0: data of an unfinished restore of this archive, written again\n"
    object_diffs = [d for d in plan["diff"] if d["before_header"].startswith("StatefulSet/db")]
    assert object_diffs and rm.MARK not in object_diffs[0]["before"]
    assert plan["would_change"] is True


def owned(kind, name, owner, controller=True):
    """A live object an operator made from `owner` (a live object): its ownerReference names owner's uid."""
    made = obj(kind, name, spec={"replicas": 0})
    made["metadata"]["ownerReferences"] = [{"apiVersion": "example.com/v1", "kind": owner["kind"],
                                            "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
                                            "controller": controller}]
    return made


def test_the_data_of_a_workload_the_restores_own_resource_controls_is_the_restores_own():
    """An operator made the StatefulSets from the custom resource a killed restore applied: they carry no mark, and a
    re-run writes their data again instead of refusing them as the user's running application."""
    archived = {"SoftwareFactory/sf": obj("SoftwareFactory", "sf", spec={"a": 1}),
                "SoftwareFactory/other": obj("SoftwareFactory", "other", spec={"a": 1})}
    for document in archived.values():
        document["metadata"] = {"name": document["metadata"]["name"]}
    ours = obj("SoftwareFactory", "sf", mark=COMMIT, spec={"a": 1})
    users = obj("SoftwareFactory", "other", spec={"a": 1})  # present, not the restore's: its policy refuses it
    live = {"SoftwareFactory/sf": ours, "SoftwareFactory/other": users,
            "StatefulSet/db": owned("StatefulSet", "db", ours),
            "StatefulSet/cache": owned("StatefulSet", "cache", users),
            "StatefulSet/side": owned("StatefulSet", "side", ours, controller=False)}
    objects = [ref("SoftwareFactory", "sf"), ref("SoftwareFactory", "other")]
    components = [{"name": name, "type": "dump", "statefulset": name, "pod": name + "-0"}
                  for name in ("db", "cache", "side")]
    plan = rp.build_plan(objects, archived, live, components, [], "fail", commit=COMMIT)
    assert plan["resumed"] == ["SoftwareFactory/sf", "data of db"]
    actions = dict((entry["name"], entry["action"]) for entry in plan["data"])
    # Only a controller makes a workload the resource's: another owner reference is not one.
    assert actions == {"db": "restore", "cache": "refuse", "side": "refuse"}
    assert "StatefulSet/cache (data of cache)" in plan["refused"]


def test_a_complete_restore_leaves_nothing_to_resume():
    # After the restore removed its marks, the same archive again is refused as any running application is.
    archived = {"ConfigMap/c": obj("ConfigMap", "c", data={"a": "1"})}
    live = {"ConfigMap/c": obj("ConfigMap", "c", data={"a": "1"})}
    plan = rp.build_plan([ref()], archived, live, [], [], "fail", commit=COMMIT)
    assert plan["resumed"] == [] and plan["refused"] == ["ConfigMap/c"]


def test_the_sentinel_names_the_commit_and_every_object_to_unmark():
    sentinel = rm.sentinel_definition([ref("StatefulSet", "db"), ref("Secret", "s")], "sf", COMMIT)
    assert (sentinel["kind"], sentinel["metadata"]["name"], sentinel["metadata"]["namespace"]) == (
        "ConfigMap", rm.SENTINEL, "sf")
    assert sentinel["data"]["commit"] == COMMIT
    assert rm.completing_keys(sentinel, COMMIT) == {"Secret/s", "StatefulSet/db"}


@pytest.mark.parametrize("sentinel", [
    None, {}, {"data": {"commit": OTHER, "objects": '["Secret/s"]'}}, {"data": {"commit": COMMIT, "objects": "{"}},
    {"data": {"commit": COMMIT, "objects": '{"Secret/s": 1}'}}, {"data": {"commit": COMMIT}},
], ids=["none", "empty", "another archive", "not json", "not a list", "no objects"])
def test_a_sentinel_of_another_archive_or_unreadable_takes_nothing_over(sentinel):
    assert rm.completing_keys(sentinel, COMMIT) == frozenset()
    assert rm.completing_keys({"data": {"commit": COMMIT, "objects": '["Secret/s"]'}}, None) == frozenset()


def test_a_completion_killed_half_way_is_finished_by_a_rerun():
    # The sentinel names all three; the kill came after two of them were unmarked.
    keys = rm.completing_keys(rm.sentinel_definition(
        [ref("Secret", "a"), ref("Secret", "b"), ref("StatefulSet", "db")], "sf", COMMIT), COMMIT)
    live = {"Secret/a": obj("Secret", "a"), "Secret/b": obj("Secret", "b", mark=COMMIT),
            "StatefulSet/db": obj("StatefulSet", "db"), "Secret/users": obj("Secret", "users"),
            "Secret/foreign": obj("Secret", "foreign", mark=OTHER)}
    remarked = rm.remarked(live, keys, COMMIT)
    assert rm.mark_of(live["Secret/a"]) is None, "the live objects are left as they are"
    objects = [ref("Secret", n) for n in ("a", "b", "users", "foreign")] + [ref("StatefulSet", "db")]
    planned = {e["key"]: e["action"] for e in rp.plan_objects(objects, remarked, "fail", commit=COMMIT)}
    assert planned == {"Secret/a": "update", "Secret/b": "update", "StatefulSet/db": "update",
                       "Secret/users": "refuse", "Secret/foreign": "refuse"}
    data = rp.plan_data([{"name": "db", "type": "dump", "statefulset": "db"}], remarked, "fail", commit=COMMIT)
    assert (data[0]["ours"], data[0]["action"]) == (True, "restore")
    assert rm.remarked(live, frozenset(), COMMIT) is live
