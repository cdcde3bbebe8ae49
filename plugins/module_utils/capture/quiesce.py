# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a hook command in the containers of one or more pods, with a real timeout."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import re
import time

from ansible_collections.statesafe.backup.plugins.module_utils.k8s import pods as pod_utils
from ansible_collections.statesafe.backup.plugins.module_utils.errors import (
    ExecFailed,
    ExecTimeout,
    InvalidInput,
)
from ansible_collections.statesafe.backup.plugins.module_utils.k8s.exec_session import (
    BoundedBuffer,
    ExecSession,
)

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TIMEOUT_EXIT_CODE = 124
# Seconds we keep waiting for the exit status after the in-pod timeout and its
# kill grace have passed: the API server and kubelet need a moment to report.
STATUS_GRACE = 30


def build_argv(argv=None, command=None, env=None, timeout=None, kill_after=10, shell="/bin/sh"):
    """The argv to exec: optional `timeout` wrapper, optional `env`, then the command.

    `timeout -k K T` (coreutils or busybox) sends TERM at T seconds and KILL K
    seconds later; coreutils signals the whole process group, so a shell
    pipeline dies with it. Closing the exec stream alone would not end the
    process in the container.
    """
    if bool(argv) == bool(command):
        raise InvalidInput("give exactly one of argv or command")
    words = [shell, "-c", command] if command else [str(a) for a in argv]
    if env:
        assignments = []
        for name in sorted(env):
            if not _ENV_NAME.match(name):
                raise InvalidInput("environment variable name {0!r} is not valid".format(name))
            assignments.append("{0}={1}".format(name, env[name]))
        if "=" in words[0]:
            raise InvalidInput("the program name {0!r} contains '=' and would be read as a variable".format(words[0]))
        words = ["env"] + assignments + words
    if timeout:
        words = ["timeout", "-k", str(int(kill_after)), str(int(timeout))] + words
    return words


def decode_output(data, encoding):
    """Command output as a string: UTF-8 with undecodable bytes as \\xNN escapes, or exact base64.

    Surrogate escapes would be lossless, but ansible-core 2.19 refuses results
    holding lone surrogates, so text mode spells such bytes out instead.
    """
    if encoding == "base64":
        return base64.b64encode(data).decode("ascii")
    return data.decode("utf-8", "backslashreplace")


def is_timeout(rc, elapsed, timeout):
    """Did the in-pod timeout end the command? 124 from timeout(1), or a TERM/KILL death at the limit."""
    if not timeout or rc is None:
        return False
    return rc == TIMEOUT_EXIT_CODE or (rc in (128 + 9, 128 + 15) and elapsed >= timeout)


# The message keeps the last line a hook wrote to stderr (its reason, as a rule); the whole output is in results.
REASON_LIMIT = 300


def _reason(result, encoding):
    lines = [line.strip() for line in str(result.get("stderr") or "").splitlines() if line.strip()]
    if not lines or encoding == "base64":
        return ""
    last = lines[-1]
    return ": " + (last if len(last) <= REASON_LIMIT else last[:REASON_LIMIT] + "...")


def summarize_failures(results, encoding="text"):
    """One line per pod that failed, for the module's message, with the last line of its stderr."""
    lines = []
    for result in results:
        if result["timed_out"]:
            lines.append("{namespace}/{pod} container {container}: timed out (rc {rc})".format(**result) +
                         _reason(result, encoding))
        elif result["rc"] != 0:
            lines.append("{namespace}/{pod} container {container}: rc {rc}".format(**result) + _reason(result, encoding))
    return lines


def run_one(k8s_client, pod, container, argv, timeout, kill_after, output_limit, encoding):
    """Run argv in one container; a result dict. Raises when the command could not run."""
    namespace = pod["metadata"]["namespace"]
    name = pod_utils.pod_name(pod)
    location = dict(namespace=namespace, pod=name, container=container)
    local_limit = None if not timeout else timeout + kill_after + STATUS_GRACE
    started = time.monotonic()
    with ExecSession.open(k8s_client, namespace, name, argv, container=container,
                          timeout=local_limit, stderr_limit=output_limit) as session:
        stdout = BoundedBuffer(output_limit)
        try:
            session.drain_to(stdout)
            status = session.finish()
        except ExecTimeout as exc:
            raise ExecTimeout(
                "no exit status {0} s after the {1} s timeout; the command may still be running".format(
                    kill_after + STATUS_GRACE, timeout),
                **location
            ) from exc
    elapsed = time.monotonic() - started
    stderr = session.stderr
    if not status.started:
        hint = ""
        if timeout and "timeout" in status.message:
            hint = "; with timeout set the container needs a 'timeout' command (coreutils or busybox)"
        raise ExecFailed("command could not start: {0}{1}".format(status.message, hint),
                         stderr=decode_output(stderr.getvalue(), encoding), **location)
    return {
        "namespace": namespace,
        "pod": name,
        "container": container,
        "rc": status.rc,
        "timed_out": is_timeout(status.rc, elapsed, timeout),
        "stdout": decode_output(stdout.getvalue(), encoding),
        "stderr": decode_output(stderr.getvalue(), encoding),
        "stdout_truncated": stdout.truncated,
        "stderr_truncated": stderr.truncated,
        "duration": round(elapsed, 3),
    }


def run_hook(k8s_client, api, params):
    """Run the command in every selected pod in name order; (results, skipped pods, failures)."""
    for option in ("timeout", "kill_after", "output_limit"):
        value = params.get(option)
        if value is not None and value < (0 if option == "kill_after" else 1):
            raise InvalidInput("{0} must be a positive number, got {1}".format(option, value))
    argv = build_argv(params.get("argv"), params.get("command"), params.get("env"),
                      params.get("timeout"), params["kill_after"], params["shell"])
    found, skipped = pod_utils.find_pods(api, params["namespace"], params.get("pod"), params.get("label_selector"))
    targets = []
    for pod in found:  # check them all before running anywhere
        container = pod_utils.choose_container(pod, params.get("container"))
        pod_utils.ensure_running(pod, container)
        targets.append((pod, container))
    results = []
    for pod, container in targets:
        results.append(run_one(k8s_client, pod, container, argv, params.get("timeout"), params["kill_after"],
                               params["output_limit"], params["output_encoding"]))
    return results, skipped, summarize_failures(results, params.get("output_encoding") or "text")
