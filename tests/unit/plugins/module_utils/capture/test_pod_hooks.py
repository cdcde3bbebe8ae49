from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.statesafe.backup.plugins.module_utils.capture import pod_hooks
from ansible_collections.statesafe.backup.plugins.module_utils.errors import InvalidInput


def pod(name, annotations=None, containers=("app", "sidecar"), phase="Running", deleting=False, namespace="sf"):
    metadata = {"name": name, "namespace": namespace, "annotations": dict(annotations or {})}
    if deleting:
        metadata["deletionTimestamp"] = "2026-11-21T00:00:00Z"
    return {"metadata": metadata, "spec": {"containers": [{"name": c} for c in containers]},
            "status": {"phase": phase}}


A = "statesafe.backup/"


def test_a_pod_without_annotations_has_no_hooks():
    assert pod_hooks.pod_hooks(pod("p", {"other/x": "1"})) == {"pre": [], "post": [], "unused": []}


def test_full_annotations():
    hooks = pod_hooks.pod_hooks(pod("db-0", {
        A + "pre-hook-command": "mysql -e 'FLUSH TABLES WITH READ LOCK'",
        A + "pre-hook-container": "sidecar",
        A + "pre-hook-on-error": "Continue",
        A + "pre-hook-timeout": "2m",
        A + "post-hook-command": '["/bin/touch", "/tmp/done"]',
    }))
    assert hooks["pre"] == [{
        "name": "sf/db-0 pre-hook", "phase": "pre", "source": "annotation", "annotations": "statesafe",
        "namespace": "sf", "pod": "db-0", "command": "mysql -e 'FLUSH TABLES WITH READ LOCK'", "container": "sidecar", "on_error": "continue",
        "timeout": 120}]
    assert hooks["post"] == [{
        "name": "sf/db-0 post-hook", "phase": "post", "source": "annotation", "annotations": "statesafe",
        "namespace": "sf", "pod": "db-0", "argv": ["/bin/touch", "/tmp/done"], "container": "app", "on_error": "fail", "timeout": 300}]


def test_default_container_annotation_wins_over_the_first_container():
    hooks = pod_hooks.pod_hooks(pod("p", {A + "pre-hook-command": "true",
                                          "kubectl.kubernetes.io/default-container": "sidecar"}))
    assert hooks["pre"][0]["container"] == "sidecar"


@pytest.mark.parametrize("value, seconds", [("30", 30), ("30s", 30), ("2m", 120), ("1h", 3600), (" 5 s ", 5),
                                            (45, 45)])
def test_timeouts(value, seconds):
    assert pod_hooks.parse_timeout(value, "x") == seconds


@pytest.mark.parametrize("value", ["", "0", "-1", "1d", "abc", "90000", "1.5m"])
def test_bad_timeouts(value):
    with pytest.raises(InvalidInput):
        pod_hooks.parse_timeout(value, "x")


@pytest.mark.parametrize("annotations, words", [
    ({A + "pre-hook-command": "  "}, ["statesafe.backup/pre-hook-command", "empty"]),
    ({A + "pre-hook-command": "[not json"}, ["statesafe.backup/pre-hook-command", "JSON"]),
    ({A + "pre-hook-command": "[]"}, ["statesafe.backup/pre-hook-command", "non-empty"]),
    ({A + "pre-hook-command": '["a", 1]'}, ["statesafe.backup/pre-hook-command"]),
    ({A + "pre-hook-container": "app"}, ["statesafe.backup/pre-hook-command is missing",
                                         "statesafe.backup/pre-hook-container"]),
    ({A + "post-hook-command": "x", A + "post-hook-container": "nope"},
     ["statesafe.backup/post-hook-container", "'nope'", "app, sidecar", "container=nope"]),
    ({A + "pre-hook-command": "x", A + "pre-hook-on-error": "Ignore"}, ["statesafe.backup/pre-hook-on-error",
                                                                        "'Ignore'"]),
    ({A + "pre-hook-command": "x", A + "pre-hook-timeout": "soon"}, ["statesafe.backup/pre-hook-timeout", "'soon'"]),
    ({A + "pre-hook-comand": "x"}, ["unknown hook annotation statesafe.backup/pre-hook-comand"]),
    ({A + "prehook-command": "x"}, ["unknown hook annotation statesafe.backup/prehook-command"]),
])
def test_errors_name_namespace_pod_and_annotation(annotations, words):
    with pytest.raises(InvalidInput) as caught:
        pod_hooks.pod_hooks(pod("db-0", annotations))
    message = str(caught.value)
    assert "namespace=sf" in message and "pod=db-0" in message, message
    for word in words:
        assert word in message, message


def test_pod_without_containers():
    with pytest.raises(InvalidInput, match="no containers"):
        pod_hooks.pod_hooks(pod("p", {A + "pre-hook-command": "x"}, containers=()))


def test_unrelated_statesafe_annotations_are_ignored():
    assert pod_hooks.pod_hooks(pod("p", {A + "note": "x"})) == {"pre": [], "post": [], "unused": []}


def test_discover_orders_by_pod_and_skips_pods_not_running():
    pods = [
        pod("zk-0", {A + "pre-hook-command": "zk pre", A + "post-hook-command": "zk post"}),
        pod("db-0", {A + "pre-hook-command": "db pre"}),
        pod("pending-0", {A + "pre-hook-command": "x"}, phase="Pending"),
        pod("gone-0", {A + "post-hook-command": "x"}, deleting=True),
        pod("plain-0"),
    ]
    found = pod_hooks.discover(pods)
    assert [h["name"] for h in found["pre"]] == ["sf/db-0 pre-hook", "sf/zk-0 pre-hook"]
    assert [h["name"] for h in found["post"]] == ["sf/zk-0 post-hook"]
    assert found["skipped"] == ["sf/gone-0 (being deleted)", "sf/pending-0 (Pending)"]


def test_discover_still_validates_pods_not_running():
    with pytest.raises(InvalidInput, match="pod=bad-0"):
        pod_hooks.discover([pod("bad-0", {A + "pre-hook-timeout": "1s"}, phase="Pending")])


def test_discover_refuses_non_pods():
    with pytest.raises(InvalidInput):
        pod_hooks.discover(["mariadb-0"])


def test_combine_nests_profile_hooks_outside_pod_hooks():
    found = pod_hooks.discover([pod("db-0", {A + "pre-hook-command": "lock", A + "post-hook-command": "unlock"})])
    release = {"name": "release", "pod": "x", "command": "outer unlock", "on_error": "Continue"}
    profile = {"pre": [{"pod": "x", "command": "outer lock"}], "post": [release]}
    hooks = pod_hooks.combine(profile, found)
    assert [h["name"] for h in hooks["pre"]] == ["profile pre-hook 1", "sf/db-0 pre-hook"]
    assert [h["name"] for h in hooks["post"]] == ["sf/db-0 post-hook", "release"]
    assert hooks["pre"][0]["source"] == "profile" and hooks["pre"][0]["on_error"] == "fail"
    assert hooks["post"][1]["on_error"] == "continue"
    assert profile["pre"][0] == {"pod": "x", "command": "outer lock"}, "the profile is not modified"


@pytest.mark.parametrize("profile", [{"pre": ["x"]}, {"post": [{"command": "x", "on_error": "maybe"}]}])
def test_combine_refuses_bad_profile_hooks(profile):
    with pytest.raises(InvalidInput, match="profile hooks"):
        pod_hooks.combine(profile, {})


def test_combine_without_anything():
    assert pod_hooks.combine(None, None) == {"pre": [], "post": [], "skipped": [], "unused": []}


V = ".hook.backup.velero.io/"


def test_velero_annotations_are_read_as_velero_reads_them():
    hooks = pod_hooks.pod_hooks(pod("db-0", {
        "pre" + V + "command": '["/sbin/fsfreeze", "--freeze", "/var/lib/mysql"]',
        "pre" + V + "container": "sidecar",
        "pre" + V + "on-error": "Continue",
        "pre" + V + "timeout": "1m30s",
        "post" + V + "command": "/usr/local/bin/thaw",
    }))
    assert hooks["pre"] == [{
        "name": "sf/db-0 pre-hook", "phase": "pre", "source": "annotation", "annotations": "velero",
        "namespace": "sf", "pod": "db-0", "argv": ["/sbin/fsfreeze", "--freeze", "/var/lib/mysql"],
        "container": "sidecar", "on_error": "continue", "timeout": 90}]
    # Velero runs a command that is not a JSON list as one word, without a shell, and waits 30 s by default.
    post = hooks["post"][0]
    assert (post["argv"], post["container"], post["on_error"], post["timeout"]) == (
        ["/usr/local/bin/thaw"], "app", "fail", 30)
    assert hooks["unused"] == []


def test_the_design_documents_annotations_are_shell_lines():
    hooks = pod_hooks.pod_hooks(pod("mysql-0", {
        "backups.example.com.pre-hook": "mysql -e 'flush tables with read lock;'",
        "backups.example.com.post-hook": "mysql -e 'unlock tables;'"}, containers=("mysql",)))
    assert [(h["annotations"], h["command"], h["container"], h["timeout"], h["on_error"])
            for h in hooks["pre"] + hooks["post"]] == [
        ("design", "mysql -e 'flush tables with read lock;'", "mysql", 300, "fail"),
        ("design", "mysql -e 'unlock tables;'", "mysql", 300, "fail")]


def test_a_phase_takes_the_first_spelling_and_names_the_others_as_unused():
    hooks = pod_hooks.pod_hooks(pod("db-0", {
        A + "pre-hook-command": "ours",
        "pre" + V + "command": "/velero-freeze",
        "backups.example.com.pre-hook": "design freeze",
        "post" + V + "command": "/velero-thaw",
        "backups.example.com.post-hook": "design thaw"}))
    assert [h["annotations"] for h in hooks["pre"]] == ["statesafe"]
    assert [h["annotations"] for h in hooks["post"]] == ["velero"]
    assert hooks["unused"] == [
        "sf/db-0 pre-hook: pre.hook.backup.velero.io/command not used, the statesafe annotations are",
        "sf/db-0 pre-hook: backups.example.com.pre-hook not used, the statesafe annotations are",
        "sf/db-0 post-hook: backups.example.com.post-hook not used, the velero annotations are"]
    assert pod_hooks.discover([pod("db-0", {A + "pre-hook-command": "ours", "pre" + V + "command": "/v"})])[
        "unused"] == ["sf/db-0 pre-hook: pre.hook.backup.velero.io/command not used, the statesafe annotations are"]


@pytest.mark.parametrize("annotations, words", [
    ({"pre" + V + "comand": "/x"}, ["unknown hook annotation pre.hook.backup.velero.io/comand"]),
    ({"pre" + V + "timeout": "30s"}, ["pre.hook.backup.velero.io/command is missing",
                                      "pre.hook.backup.velero.io/timeout"]),
    ({"pre" + V + "command": "/x", "pre" + V + "timeout": "30"}, ["pre.hook.backup.velero.io/timeout",
                                                                  "not a Go duration"]),
    ({"post" + V + "command": "/x", "post" + V + "on-error": "Ignore"}, ["post.hook.backup.velero.io/on-error",
                                                                         "neither Fail nor Continue"]),
    ({"pre" + V + "command": '["/bin/sh", "-c"'}, ["pre.hook.backup.velero.io/command", "not a JSON list"]),
    ({"pre" + V + "command": "/x", "pre" + V + "container": "nope"},
     ["pre.hook.backup.velero.io/container", "no container 'nope'"]),
    # An unused spelling is still checked: it may be the copy Velero runs.
    ({A + "pre-hook-command": "ours", "pre" + V + "command": "/x", "pre" + V + "timeout": "soon"},
     ["pre.hook.backup.velero.io/timeout"]),
    ({"backups.example.com.pre-hook": "  "}, ["backups.example.com.pre-hook", "the command is empty"]),
])
def test_bad_velero_and_design_annotations_name_pod_and_key(annotations, words):
    with pytest.raises(InvalidInput) as error:
        pod_hooks.pod_hooks(pod("db-0", annotations, namespace="shop"))
    message = str(error.value)
    for word in ["shop", "db-0"] + words:
        assert word in message


@pytest.mark.parametrize("value, seconds", [("30s", 30), ("1m30s", 90), ("2h", 7200), ("1.5m", 90),
                                            ("500ms", 1), ("1h0m1s", 3601), (".5s", 1)])
def test_go_durations(value, seconds):
    assert pod_hooks.parse_go_duration(value, "x") == seconds


@pytest.mark.parametrize("value", ["", "30", "0s", "-1s", "1d", "25h", "1m 30s", "s"])
def test_bad_go_durations(value):
    with pytest.raises(InvalidInput):
        pod_hooks.parse_go_duration(value, "x")


def test_velero_restore_hooks_are_not_backup_hooks():
    assert pod_hooks.pod_hooks(pod("p", {"post.hook.restore.velero.io/command": "/x",
                                         "init.hook.restore.velero.io/container-image": "busybox"})) == {
        "pre": [], "post": [], "unused": []}
