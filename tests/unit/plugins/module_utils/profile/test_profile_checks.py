from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.statesafe.backup.plugins.module_utils.profile.checks import judge, runs


def pod_result(ns, rc=0, stdout="", stderr="", results=True, msg=None):
    item = {"__verify_ns": ns}
    if results:
        item["results"] = [{"rc": rc, "stdout": stdout, "stderr": stderr}]
    if msg:
        item["msg"] = msg
    return item


def test_runs_in_a_pod_and_on_the_controller():
    assert runs([pod_result("s", 0, " a\n"), pod_result("src", results=False, msg="no pod")], in_pod=True) == [
        {"namespace": "s", "rc": 0, "stdout": "a", "stderr": ""},
        {"namespace": "src", "rc": -1, "stdout": "", "stderr": "no pod"}]
    assert runs([{"__verify_ns": "s", "rc": 2, "stdout": "x", "stderr": "boom "}], in_pod=False) == [
        {"namespace": "s", "rc": 2, "stdout": "x", "stderr": "boom"}]
    assert runs([{"__verify_ns": "s", "msg": "not found"}], in_pod=False)[0] == {
        "namespace": "s", "rc": -1, "stdout": "", "stderr": "not found"}


def run(ns, rc=0, stdout="", stderr=""):
    return {"namespace": ns, "rc": rc, "stdout": stdout, "stderr": stderr}


def test_a_passing_check():
    assert judge({"name": "c", "expect": "a\n"}, [run("s", stdout="a")], "s", "src") == {
        "name": "c", "ok": True, "output": "a", "msg": "check c: ok"}


def test_expect_may_be_a_number():
    assert judge({"name": "c", "expect": 5}, [run("s", stdout="5")], "s", "src")["ok"]


@pytest.mark.parametrize("check, check_runs, msg", [
    ({"name": "c"}, [run("s", 3, stderr="bad")], "check c: exited 3 in namespace s: bad"),
    ({"name": "c", "expect": "b"}, [run("s", stdout="a")], 'check c: output "a", expected "b"'),
    ({"name": "c"}, [run("s", stdout="a"), run("src", 1, stderr="down")],
     "check c: exited 1 in the application namespace src: down"),
    ({"name": "c"}, [run("s", stdout="a"), run("src", stdout="b")],
     'check c: output "a" in namespace s differs from "b" in namespace src'),
    ({"name": "c", "expect": "b"}, [run("s", 1, stdout="a", stderr="e")],
     'check c: exited 1 in namespace s: e; output "a", expected "b"'),
])
def test_every_problem_is_named(check, check_runs, msg):
    result = judge(check, check_runs, "s", "src")
    assert not result["ok"] and result["msg"] == msg


def test_output_and_stderr_are_cut():
    result = judge({"name": "c"}, [run("s", 1, stdout="x" * 400, stderr="y" * 400)], "s", "src")
    assert result["output"] == "x" * 300 and result["msg"].endswith(": " + "y" * 300)
