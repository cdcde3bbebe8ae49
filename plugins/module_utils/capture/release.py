# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A dead-man release for a pod's freeze: the pod thaws itself if the backup never comes back to thaw it.

A pod annotated ``statesafe.backup/max-freeze: 10m`` (next to a pre- and a post-hook in any spelling) gets
two more hooks, run by the same task as its own:

- right after its pre-hook, *arm*: in the post-hook's container, a background shell is started that
  sleeps the maximum and then runs the post-hook's command, unless a marker file that arming created is
  gone by then. The marker lives in ``/dev/shm`` (a tmpfs even under readOnlyRootFilesystem) or ``/tmp``.
- right before its post-hook, *disarm*: the marker is removed. Removing a file is atomic, so exactly one of
  the two wins: the backup (which then runs the post-hook itself) or the timer (which thawed the pod).
  When the timer won, the pod was thawed before its capture ended, so the disarm fails and with it the
  backup: a capture that outlived its freeze is never reported as consistent.

If ansible-playbook, its machine or its connection dies during the freeze, nothing disarms the timer and
the pod thaws within the maximum. The timer runs inside the pod, so it dies with the pod (which ends the
freeze too). Needs ``sh``, ``sleep`` and ``rm`` in the post-hook's container.

Data to data: hook argument sets (pod_hooks) and a token unique to the run in; quiesce_exec argument sets out.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.statesafe.backup.plugins.module_utils.errors import InvalidInput

MARKER_DIRECTORIES = ("/dev/shm", "/tmp")
# Arming and disarming are a file operation and a fork: they either finish at once or the container is stuck.
TIMEOUT = 30
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")

# $1 seconds, $2 marker name, $3 the post-hook as a shell line.
ARM_SCRIPT = """mark=
for dir in {dirs}; do
  if [ -d "$dir" ] && [ -w "$dir" ] && : > "$dir/$2" 2>/dev/null; then mark="$dir/$2"; break; fi
done
if [ -z "$mark" ]; then
  echo "cannot arm the release after a freeze of at most $1 s: none of {dirs} is writable in this container" >&2
  exit 3
fi
( trap '' HUP; sleep "$1"; if rm "$mark" 2>/dev/null; then sh -c "$3"; fi ) </dev/null >/dev/null 2>&1 &
echo "release armed: unless the backup removes $mark first, the post-hook runs in $1 s"
"""

# $1 seconds, $2 marker name.
DISARM_SCRIPT = """for dir in {dirs}; do
  if rm "$dir/$2" 2>/dev/null; then echo "release disarmed ($dir/$2)"; exit 0; fi
done
echo "no armed release $2 in {dirs}: either the freeze reached its maximum of $1 s and the pod thawed itself \
before its capture ended (this capture is not consistent: raise statesafe.backup/max-freeze), or the release was \
never armed because the pre-hook failed" >&2
exit 3
"""


def marker(hook, token):
    """The marker file's name: the run's token and the pod, so two runs never disarm each other's release."""
    return _UNSAFE.sub("_", "statesafe-release-{0}-{1}".format(token, hook.get("pod") or "pod"))


def arm_hook(pre, token):
    """The hook that arms the release of `pre`'s pod (pre['release'] from pod_hooks)."""
    release = pre["release"]
    script = ARM_SCRIPT.format(dirs=" ".join(MARKER_DIRECTORIES))
    name = "{0}/{1} release armed (max-freeze {2}s)".format(pre.get("namespace") or "", pre["pod"], release["after"])
    return {"name": name,
            "phase": "pre", "source": "annotation", "annotations": pre.get("annotations"),
            "namespace": pre.get("namespace"), "pod": pre["pod"], "container": release["container"],
            "argv": ["sh", "-c", script, "statesafe-release", str(release["after"]), marker(pre, token),
                     release["line"]],
            "timeout": TIMEOUT, "on_error": "fail"}


def disarm_hook(post, token):
    """The hook that disarms the release of `post`'s pod right before the post-hook runs."""
    script = DISARM_SCRIPT.format(dirs=" ".join(MARKER_DIRECTORIES))
    return {"name": "{0}/{1} release disarmed".format(post.get("namespace") or "", post["pod"]),
            "phase": "post", "source": "annotation", "annotations": post.get("annotations"),
            "namespace": post.get("namespace"), "pod": post["pod"], "container": post["container"],
            "argv": ["sh", "-c", script, "statesafe-release", str(post["release_after"]), marker(post, token)],
            "timeout": TIMEOUT, "on_error": "fail"}


def expand(hooks, token):
    """A hook list with each released pod's arm right after its pre-hook and disarm right before its post-hook."""
    out = []
    for hook in hooks or []:
        if hook.get("phase") == "post" and hook.get("release_after"):
            out.append(disarm_hook(hook, token))
        out.append(hook)
        if hook.get("phase") == "pre" and hook.get("release"):
            out.append(arm_hook(hook, token))
    return out


def needs_release(plan):
    """Whether any hook of the plan asks for a release."""
    lists = [plan.get(key) or [] for key in ("pre", "post", "pending")]
    lists += [hooks for phases in (plan.get("by_component") or {}).values() for hooks in phases.values()]
    return any(hook.get("release") or hook.get("release_after") for hooks in lists for hook in hooks)


def with_releases(plan, token):
    """The run's hook plan (freeze_scope.scope, with 'pending') with every release armed and disarmed."""
    if not needs_release(plan):
        return plan
    if not token or _UNSAFE.search(str(token)):
        raise InvalidInput("the release token must be letters, digits, '.', '_' or '-', got {0!r}".format(token))
    result = dict(plan)
    for key in ("pre", "post", "pending"):
        if key in plan:
            result[key] = expand(plan[key], token)
    if "by_component" in plan:
        result["by_component"] = dict((name, {"pre": expand(lists["pre"], token), "post": expand(lists["post"], token)})
                                      for name, lists in plan["by_component"].items())
    return result
