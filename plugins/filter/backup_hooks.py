# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup_hooks and backup_freeze_seconds filters: the run's hooks, and how long each pod was frozen."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.statesafe.backup.plugins.module_utils.errors import StatesafeError
from ansible_collections.statesafe.backup.plugins.module_utils.capture.freeze_scope import (
    freeze_seconds, pending_posts, scope)
from ansible_collections.statesafe.backup.plugins.module_utils.capture.pod_hooks import combine, discover
from ansible_collections.statesafe.backup.plugins.module_utils.capture.release import with_releases


def backup_hooks(pods, profile_hooks=None, components=None, token=None):
    """{'pre': [...], 'post': [...], 'skipped': [...], 'unused': [...]} from pod annotations and the profile's
    hooks; with `components`, pod hooks bound to the components capturing their pod ('by_component', 'pending').
    A pod with statesafe.backup/max-freeze gets its release armed and disarmed, marked with `token` (unique to
    the run)."""
    if not isinstance(pods, list):
        raise AnsibleFilterError("backup_hooks expects the list of pods k8s_info returns, got {0}".format(
            type(pods).__name__))
    try:
        hooks = combine(profile_hooks, discover(pods))
        if components is None:
            return with_releases(hooks, token)
        if not isinstance(components, list):
            raise AnsibleFilterError("backup_hooks: components must be the profile's list of components")
        plan = scope(hooks, components, pods)
        plan["pending"] = pending_posts(plan)
        return with_releases(plan, token)
    except StatesafeError as exc:
        raise AnsibleFilterError("invalid backup hook: {0}".format(exc)) from exc


def backup_freeze_seconds(started, ended):
    """{pod: seconds} between each pod's first pre-hook and its last post-hook (timestamps in seconds)."""
    if not isinstance(started, dict) or not isinstance(ended, dict):
        raise AnsibleFilterError("backup_freeze_seconds expects two mappings of pod to timestamp")
    try:
        return freeze_seconds(started, ended)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError("backup_freeze_seconds: {0}".format(exc)) from exc


class FilterModule(object):
    def filters(self):
        return {"backup_hooks": backup_hooks, "backup_freeze_seconds": backup_freeze_seconds}
