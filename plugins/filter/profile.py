# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters over a profile: its problems (the schema), the verbs a backup of it needs, the Role rules granting them,
the manifest of what a backup staged, and the applications of one scheduled run."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.statesafe.backup.plugins.module_utils.profile import (
    access, applications, backup, parameters, schema)


def profile_errors(profile, profile_parameters=None):
    """Every problem of the profile, and of the parameter values given for it, as 'key.path: message'; []: valid."""
    return schema.validate(profile, profile_parameters or None)


def profile_parameters(profile, profile_parameters=None, recorded=None):
    """The value of each of the profile's parameters for a run: defaults, then recorded, then profile_parameters."""
    return _values(profile, profile_parameters, recorded)


def profile_resolve(profile, profile_parameters=None, recorded=None):
    """The profile as a run uses it: every %{name} replaced, the parameters section gone. Refuses an invalid one."""
    problems = schema.validate(profile, profile_parameters or None)
    if problems:
        raise AnsibleFilterError("The profile is not valid: {0}".format("; ".join(problems)))
    return parameters.resolve(profile, _values(profile, profile_parameters, recorded))


def _values(profile, given, recorded):
    values, problems = parameters.effective(profile, given or None, recorded or None)
    if problems:
        raise AnsibleFilterError("; ".join(problems))
    return values


def profile_listing(profiles):
    """Name, description and parameters (default, type, description) of each profile, sorted by name."""
    if not isinstance(profiles, list):
        raise AnsibleFilterError("profile_listing expects a list of profiles, got {0}".format(type(profiles).__name__))
    return sorted((parameters.describe(item) for item in profiles if isinstance(item, dict)),
                  key=lambda item: str(item["name"]))


def profile_access(profile, hooks_from_annotations=True):
    """The access_check checks a backup of the profile needs."""
    problems = schema.validate(profile)
    if problems:
        raise AnsibleFilterError("invalid profile: {0}".format("; ".join(problems)))
    return access.needed_access(profile, hooks_from_annotations)


def policy_rules(reviews, extra_rules=None):
    """Role rules granting the verbs of access_check's reviews, followed by extra_rules."""
    if not isinstance(reviews, list):
        raise AnsibleFilterError("policy_rules expects access_check's reviews (a list), got {0}".format(
            type(reviews).__name__))
    return access.policy_rules(reviews, extra_rules)


def manifest_artifacts(files, root):
    """MANIFEST.json's artifacts: each file's path relative to root, size and sha256, sorted by path."""
    return backup.manifest_artifacts(files, root)


def schedule_applications(entries, profiles_dir, hooks_from_annotations=True):
    """The applications of one scheduled run checked: {problems, inventory, checks, names} (profile/applications.py).

    A profile is read from profiles_dir/<name>.yml when named, or from the path given (relative to the current
    directory)."""
    def load(profile):
        path = os.path.realpath(profile) if applications.is_profile_file(profile) else os.path.join(
            profiles_dir, profile + ".yml")
        with open(path) as handle:
            try:
                return yaml.safe_load(handle)
            except yaml.YAMLError as exc:
                raise ValueError("{0} is not YAML: {1}".format(path, exc))

    return applications.plan(entries, load, hooks_from_annotations)


class FilterModule(object):
    def filters(self):
        return {"profile_errors": profile_errors, "profile_access": profile_access, "policy_rules": policy_rules,
                "manifest_artifacts": manifest_artifacts, "profile_parameters": profile_parameters,
                "profile_resolve": profile_resolve, "profile_listing": profile_listing,
                "schedule_applications": schedule_applications}
