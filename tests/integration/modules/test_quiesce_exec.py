"""quiesce_exec against the local cluster: check mode, runs, failures, timeouts, permissions."""

from __future__ import annotations

import base64

import pytest

from k8s_helpers import make_pod, pod_exec

SPIN = "sleep 4321"  # a process we can look for


@pytest.fixture(scope="module")
def pods(core, ns, toolbox_image):
    make_pod(core, ns, "two", toolbox_image, containers=("main", "side"))
    for name in ("hook-b", "hook-a"):
        make_pod(core, ns, name, toolbox_image, labels={"app": "hook"})
    return ns


def processes(kubectl, ns, pod, container=None):
    """Command lines of the processes in a container, read from /proc (no procps there)."""
    script = 'for p in /proc/[0-9]*; do tr "\\0" " " < "$p/cmdline" 2>/dev/null; echo; done'
    return pod_exec(kubectl, ns, pod, script, container=container).stdout.decode()


def test_check_mode_does_not_run(run_module, kubectl, pods):
    run = run_module("quiesce_exec", {"namespace": pods, "pod": "two", "command": "touch /tmp/ran"}, check=True)
    assert run.rc == 0 and run.result.get("skipped"), run
    assert pod_exec(kubectl, pods, "two", "test -e /tmp/ran", check=False).returncode == 1


def test_argv_in_named_container_with_env(run_module, pods):
    run = run_module("quiesce_exec", {"namespace": pods, "pod": "two", "container": "side",
                                      "argv": ["sh", "-c", 'printf "%s|%s|%s" "$(printf %s "$PASSWORD" | wc -c)" "$PASSWORD" "$(hostname)"'],
                                      "env": {"PASSWORD": "s3cr3t value"}})
    assert run.rc == 0 and run.changed, run
    [result] = run["results"]
    assert result["container"] == "side" and result["pod"] == "two" and result["namespace"] == pods
    # The command got the value (12 characters); Ansible masks the no_log value wherever it appears.
    assert result["stdout"] == "12|********|two"
    assert result["rc"] == 0 and not result["timed_out"]
    assert "s3cr3t value" not in run.output


def test_default_container_is_the_first(run_module, pods):
    run = run_module("quiesce_exec", {"namespace": pods, "pod": "two", "command": "echo $0"})
    assert run["results"][0]["container"] == "main"


def test_selector_runs_in_every_pod_in_name_order(run_module, pods):
    run = run_module("quiesce_exec", {"namespace": pods, "label_selector": "app=hook", "command": "hostname"})
    assert run.rc == 0, run
    assert [(r["pod"], r["stdout"]) for r in run["results"]] == [("hook-a", "hook-a\n"), ("hook-b", "hook-b\n")]


def test_non_zero_rc_fails_naming_pod_and_container(run_module, pods):
    run = run_module("quiesce_exec", {"namespace": pods, "label_selector": "app=hook",
                                      "command": 'echo boom >&2; [ "$(hostname)" = hook-a ] || exit 3'})
    assert run.failed and run.rc != 0
    assert f"{pods}/hook-b container main: rc 3" in run.msg
    assert [r["rc"] for r in run["results"]] == [0, 3], "the command still ran in every pod"
    assert run["results"][1]["stderr"] == "boom\n"


def test_fail_on_rc_false_reports_rc(run_module, pods):
    run = run_module("quiesce_exec", {"namespace": pods, "pod": "two", "command": "exit 7", "fail_on_rc": False})
    assert run.rc == 0 and not run.failed
    assert run["results"][0]["rc"] == 7


def test_timeout_really_ends_the_command(run_module, kubectl, pods):
    run = run_module("quiesce_exec", {"namespace": pods, "pod": "two", "container": "side",
                                      "command": f"{SPIN} & wait", "timeout": 2, "kill_after": 1})
    assert run.failed, run
    assert "timed out" in run.msg and pods in run.msg and "side" in run.msg
    [result] = run["results"]
    assert result["timed_out"] and result["rc"] == 124
    assert result["duration"] < 30
    assert SPIN not in processes(kubectl, pods, "two", "side"), "the command survived its timeout"


def test_binary_output(run_module, pods):
    script = r"printf 'ok\377\000\200end'"
    text = run_module("quiesce_exec", {"namespace": pods, "pod": "two", "command": script})
    assert text.rc == 0, text
    assert text["results"][0]["stdout"] == "ok\\xff\x00\\x80end"
    raw = run_module("quiesce_exec", {"namespace": pods, "pod": "two", "command": script,
                                      "output_encoding": "base64"})
    assert base64.b64decode(raw["results"][0]["stdout"]) == b"ok\xff\x00\x80end"


def test_output_limit_truncates_and_says_so(run_module, pods):
    run = run_module("quiesce_exec", {"namespace": pods, "pod": "two", "command": "head -c 100000 /dev/zero | tr '\\0' x",
                                      "output_limit": 1000})
    [result] = run["results"]
    assert result["stdout"] == "x" * 1000 and result["stdout_truncated"]


@pytest.mark.parametrize("args, message", [
    ({"pod": "nope", "command": "true"}, 'pods "nope" not found'),
    ({"pod": "two", "container": "db", "command": "true"}, "container db not found in pod; it has: main, side"),
    ({"label_selector": "app=none", "command": "true"}, "no running pod matches label selector"),
    ({"pod": "two", "argv": ["/no/such/program"]}, "could not start"),
])
def test_errors_name_what_is_wrong(run_module, pods, args, message):
    run = run_module("quiesce_exec", dict(args, namespace=pods))
    assert run.failed, run
    assert message in run.msg
    assert f"namespace={pods}" in run.msg


def test_argument_spec_rejects_ambiguous_input(run_module, pods):
    run = run_module("quiesce_exec", {"namespace": pods, "pod": "two", "label_selector": "a=b", "command": "true"})
    assert run.failed and "mutually exclusive" in run.msg


def test_forbidden_exec(run_module, pods, limited_connection):
    connection = limited_connection("no-exec", [{"resources": ["pods"], "verbs": ["get", "list"]}])
    run = run_module("quiesce_exec", {"namespace": pods, "pod": "two", "command": "true"}, connection=connection)
    assert run.failed, run
    assert "exec forbidden" in run.msg and "pod=two" in run.msg
    assert run["api_status"] == 403
