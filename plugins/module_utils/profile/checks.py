# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The verify role's judgement of one of a profile's checks, from the results of its runs.

A check runs in the scratch namespace of the trial restore and, with ``compare: source``, in the application's
namespace too. Its trimmed output must equal ``expect`` when given, and the source's output with ``compare``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

# Characters of output and stderr quoted in a message.
QUOTE = 300


def _text(value):
    return (value or "").strip() if isinstance(value, str) else str(value).strip()


def _quote(text):
    return json.dumps(text)


def runs(loop_results, in_pod):
    """One {namespace, rc, stdout, stderr} per namespace from the loop results of the check's task.

    In a pod the task is quiesce_exec (its own ``results`` list, one entry per command); on the controller it is
    ansible.builtin.command. A run that did not get as far as a command has rc -1 and its error as stderr.
    """
    out = []
    for result in loop_results or []:
        if in_pod:
            first = (result.get("results") or [{"rc": -1}])[0]
            rc, stdout = first.get("rc"), first.get("stdout", "")
            stderr = first.get("stderr", result.get("msg", ""))
        else:
            rc, stdout, stderr = result.get("rc", -1), result.get("stdout", ""), result.get("stderr", result.get("msg", ""))
        out.append({"namespace": result.get("__verify_ns"), "rc": rc, "stdout": _text(stdout), "stderr": _text(stderr)})
    return out


def judge(check, check_runs, scratch, source_namespace):
    """{name, ok, output, msg} of a check, from its runs: the trial's first, the source's second (if any)."""
    trial = check_runs[0]
    source = check_runs[1] if len(check_runs) > 1 else None
    problems = []
    if trial["rc"] != 0:
        problems.append("exited {0} in namespace {1}: {2}".format(trial["rc"], scratch, trial["stderr"][-QUOTE:]))
    if "expect" in check:
        expected = _text(check["expect"])
        if trial["stdout"] != expected:
            problems.append("output {0}, expected {1}".format(_quote(trial["stdout"][:QUOTE]), _quote(expected)))
    if source is not None and source["rc"] != 0:
        problems.append("exited {0} in the application namespace {1}: {2}".format(
            source["rc"], source_namespace, source["stderr"][-QUOTE:]))
    elif source is not None and source["stdout"] != trial["stdout"]:
        problems.append("output {0} in namespace {1} differs from {2} in namespace {3}".format(
            _quote(trial["stdout"][:QUOTE]), scratch, _quote(source["stdout"][:QUOTE]), source_namespace))
    return {"name": check["name"], "ok": not problems, "output": trial["stdout"][:QUOTE],
            "msg": "check {0}: {1}".format(check["name"], "; ".join(problems) if problems else "ok")}
