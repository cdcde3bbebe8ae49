# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the schedule role in namespace mode: the verbs its runs need, and the profile its runs use
(module_utils/profile/schedule_rbac.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.statesafe.backup.plugins.module_utils.profile import schedule_rbac


def schedule_namespace_access(discovered, hooks_from_annotations=True):
    """access_check checks a namespace-mode run of what namespace_discover found needs."""
    if not isinstance(discovered, dict) or not isinstance(discovered.get("profile"), dict):
        raise AnsibleFilterError("schedule_namespace_access expects namespace_discover's result (with profile and kinds)")
    try:
        return schedule_rbac.namespace_mode_access(discovered, hooks_from_annotations)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc))


def schedule_kind_checks(kinds, verb):
    """access_check checks of verb on each api_version/kind of namespace_discover's kinds."""
    try:
        return schedule_rbac.kind_checks(kinds, verb)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc))


def schedule_run_profile(profile, name, restore_name, claim):
    """The profile the schedule's runs use: in namespace mode, the schedule's own objects left out."""
    return schedule_rbac.without_own_objects(profile, name, restore_name, claim)


class FilterModule(object):
    def filters(self):
        return {"schedule_namespace_access": schedule_namespace_access, "schedule_kind_checks": schedule_kind_checks,
                "schedule_run_profile": schedule_run_profile}
