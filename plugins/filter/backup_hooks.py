# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup_hooks filter: pods (k8s_info resources) and a profile's hooks -> the run's hooks."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.statesafe.backup.plugins.module_utils.errors import StatesafeError
from ansible_collections.statesafe.backup.plugins.module_utils.capture.pod_hooks import combine, discover


def backup_hooks(pods, profile_hooks=None):
    """{'pre': [...], 'post': [...], 'skipped': [...]} from pod annotations and the profile's hooks."""
    if not isinstance(pods, list):
        raise AnsibleFilterError("backup_hooks expects the list of pods k8s_info returns, got {0}".format(
            type(pods).__name__))
    try:
        return combine(profile_hooks, discover(pods))
    except StatesafeError as exc:
        raise AnsibleFilterError("invalid backup hook: {0}".format(exc)) from exc


class FilterModule(object):
    def filters(self):
        return {"backup_hooks": backup_hooks}
