from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess
import time
import uuid

import pytest

from ansible_collections.statesafe.backup.plugins.module_utils.capture import freeze_scope, pod_hooks, release
from ansible_collections.statesafe.backup.plugins.module_utils.errors import InvalidInput

A = "statesafe.backup/"
VELERO = "hook.backup.velero.io/"


def pod(name, annotations, claims=("data",)):
    return {"metadata": {"name": name, "namespace": "shop", "annotations": annotations},
            "spec": {"containers": [{"name": "db"}, {"name": "tools"}],
                     "volumes": [{"name": c, "persistentVolumeClaim": {"claimName": c}} for c in claims]},
            "status": {"phase": "Running"}}


def released(max_freeze="10m", **extra):
    annotations = {A + "pre-hook-command": "freeze", A + "post-hook-command": "thaw --now 'all tables'",
                   A + "max-freeze": max_freeze}
    annotations.update(extra)
    return pod("db-0", annotations)


def test_max_freeze_hands_the_post_hook_to_the_pre_hook():
    hooks = pod_hooks.pod_hooks(released(**{A + "post-hook-container": "tools"}))
    assert hooks["pre"][0]["release"] == {"after": 600, "container": "tools", "line": "thaw --now 'all tables'"}
    assert hooks["post"][0]["release_after"] == 600


def test_an_argv_post_hook_is_quoted_word_by_word_for_the_timer():
    annotations = {"pre." + VELERO + "command": '["fsfreeze", "-f", "/data"]',
                   "post." + VELERO + "command": '["fsfreeze", "-u", "/data dir"]', A + "max-freeze": "90s"}
    hooks = pod_hooks.pod_hooks(pod("db-0", annotations))
    assert hooks["pre"][0]["release"]["line"] == "fsfreeze -u '/data dir'"
    assert hooks["pre"][0]["release"]["after"] == 90


@pytest.mark.parametrize("annotations, expected", [
    ({A + "pre-hook-command": "freeze", A + "max-freeze": "5m"}, "the pod declares pre-hook"),
    ({A + "max-freeze": "5m"}, "the pod declares neither"),
    ({A + "pre-hook-command": "freeze", A + "post-hook-command": "thaw", A + "max-freeze": "soon"},
     "max-freeze 'soon' is not a number of seconds"),
    ({A + "pre-hook-command": "freeze", A + "post-hook-command": "thaw", A + "max-freeze": "2d"},
     "not a number of seconds"),
])
def test_a_max_freeze_that_cannot_work_names_pod_and_annotation(annotations, expected):
    with pytest.raises(InvalidInput) as error:
        pod_hooks.pod_hooks(pod("db-0", annotations))
    assert expected in str(error.value)
    assert "statesafe.backup/max-freeze" in str(error.value)
    assert "shop" in str(error.value) and "db-0" in str(error.value)


def test_without_max_freeze_nothing_is_added():
    hooks = pod_hooks.pod_hooks(pod("db-0", {A + "pre-hook-command": "freeze", A + "post-hook-command": "thaw"}))
    plan = release.with_releases({"pre": hooks["pre"], "post": hooks["post"]}, None)
    assert [h["name"] for h in plan["pre"] + plan["post"]] == ["shop/db-0 pre-hook", "shop/db-0 post-hook"]


def test_arm_follows_the_freeze_and_disarm_precedes_the_thaw_in_every_list():
    pods = [released()]
    components = [{"name": "dump", "type": "dump", "pod": "db-0", "command": "d", "restore_command": "r"},
                  {"name": "data", "type": "volume", "claim": "data"}]
    plan = freeze_scope.scope(pod_hooks.combine({}, pod_hooks.discover(pods)), components, pods)
    plan["pending"] = freeze_scope.pending_posts(plan)
    plan = release.with_releases(plan, "20261206T000000")
    names = dict((key, [h["name"] for h in hooks]) for key, hooks in (
        ("first", plan["by_component"]["dump"]["pre"]), ("last", plan["by_component"]["data"]["post"]),
        ("pending", plan["pending"])))
    assert names == {"first": ["shop/db-0 pre-hook", "shop/db-0 release armed (max-freeze 600s)"],
                     "last": ["shop/db-0 release disarmed", "shop/db-0 post-hook"],
                     "pending": ["shop/db-0 release disarmed", "shop/db-0 post-hook"]}
    arm, disarm = plan["by_component"]["dump"]["pre"][1], plan["pending"][0]
    assert arm["argv"][-3:] == ["600", "statesafe-release-20261206T000000-db-0", "thaw --now 'all tables'"]
    assert disarm["argv"][-2:] == ["600", "statesafe-release-20261206T000000-db-0"]
    assert (arm["phase"], disarm["phase"], arm["source"], arm["on_error"]) == ("pre", "post", "annotation", "fail")


@pytest.mark.parametrize("token", [None, "", "a b", "../x"])
def test_a_release_needs_a_token_that_is_safe_in_a_file_name(token):
    hooks = pod_hooks.pod_hooks(released())
    with pytest.raises(InvalidInput):
        release.with_releases({"pre": hooks["pre"], "post": hooks["post"]}, token)


# The scripts themselves, run by this machine's /bin/sh: what the container's shell will run.

def run(hook, env_dir):
    argv = hook["argv"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False,
                          env=dict(os.environ, OUT=str(env_dir)))


@pytest.fixture
def armed(tmp_path):
    """A pod whose max-freeze is 2 s and whose post-hook appends to $OUT/thawed; its arm and disarm hooks."""
    hooks = pod_hooks.pod_hooks(released("2", **{A + "post-hook-command": 'echo thawed >> "$OUT/thawed"'}))
    token = "unit-" + uuid.uuid4().hex
    plan = release.with_releases({"pre": hooks["pre"], "post": hooks["post"]}, token)
    return {"arm": plan["pre"][1], "disarm": plan["post"][0], "thawed": tmp_path / "thawed", "tmp": tmp_path}


def wait_for(path, seconds, content):
    """Whether the file holds `content` within `seconds`: the post-hook's shell creates it before it writes it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists() and path.read_text() == content:
            return True
        time.sleep(0.1)
    return path.exists() and path.read_text() == content


def test_an_armed_release_thaws_by_itself_when_nobody_disarms_it(armed):
    started = time.monotonic()
    result = run(armed["arm"], armed["tmp"])
    assert result.returncode == 0, result.stderr
    assert "release armed" in result.stdout
    assert time.monotonic() - started < 1.5, "arming waited for the timer"
    assert wait_for(armed["thawed"], 10, "thawed\n"), "the timer never ran the post-hook"
    late = run(armed["disarm"], armed["tmp"])
    assert late.returncode == 3
    assert "reached its maximum of 2 s" in late.stderr and "not consistent" in late.stderr


def test_a_disarmed_release_never_runs_the_post_hook(armed):
    assert run(armed["arm"], armed["tmp"]).returncode == 0
    result = run(armed["disarm"], armed["tmp"])
    assert result.returncode == 0, result.stderr
    assert "release disarmed" in result.stdout
    time.sleep(3)
    assert not armed["thawed"].exists(), "the disarmed timer still ran the post-hook"
