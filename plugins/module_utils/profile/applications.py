# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Several applications of one namespace backed up by one scheduled run (the schedule role's schedule_applications).

The run is playbooks/backup.yml over an inventory in which each host is one application (docs/applications.md): this
module checks the applications and writes that inventory, and the verbs the run's Role must grant (every
application's, each once).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.statesafe.backup.plugins.module_utils.profile import access, parameters, schema

GROUP = "applications"
ENTRY_KEYS = ("name", "profile", "profile_data", "profile_parameters", "branch")
# An inventory host name that is also a DNS label: it names the application's staging directory and its metrics.
NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
# As the backup role names branches (bup refuses others).
BRANCH = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def is_profile_file(profile):
    """A profile given as the path of a file of the user's own, not the name of a shipped one."""
    return "/" in profile or profile.endswith((".yml", ".yaml"))


def plan(entries, load, hooks_from_annotations=True):
    """{"problems", "inventory", "checks", "names"} of the applications in `entries`.

    Each entry: name (the inventory host), and profile (a shipped profile's name, or a file's path) or profile_data,
    with optional profile_parameters and branch. `load(profile)` returns the profile's contents for a name or path,
    or raises (IOError, OSError, ValueError) saying why it cannot. Every problem is named by the entry's position and
    name; the inventory and checks are only meant to be used when there is none.
    """
    if not isinstance(entries, list) or not entries:
        return _result(["schedule_applications must be a non-empty list of applications, got {0!r}".format(entries)])
    problems, hosts, checks, branches = [], {}, [], {}
    for index, entry in enumerate(entries):
        where = "schedule_applications[{0}]".format(index)
        if not isinstance(entry, dict):
            problems.append("{0}: an application is a mapping (name, profile or profile_data, profile_parameters, "
                            "branch), got {1!r}".format(where, entry))
            continue
        name = entry.get("name")
        where = "{0} ({1})".format(where, name)
        unknown = sorted(str(key) for key in entry if key not in ENTRY_KEYS)
        if unknown:
            problems.append("{0}: unknown keys {1}; an application takes {2}".format(
                where, ", ".join(unknown), ", ".join(ENTRY_KEYS)))
        if not isinstance(name, str) or not NAME.match(name):
            problems.append("{0}: name must be a DNS label (lower-case letters, digits, '-'), got {1!r}".format(
                where, name))
            continue
        if name in hosts:
            problems.append("{0}: the name {1!r} is given twice".format(where, name))
            continue
        profile, vars_, problem = _profile(entry, load)
        if problem:
            problems.append("{0}: {1}".format(where, problem))
            continue
        if "discover" in profile:
            problems.append("{0}: namespace mode (profile {1!r} discovers its components) cannot be scheduled yet: "
                            "the CronJob's Role is made from the components, which only the run finds; run "
                            "playbooks/backup.yml -e profile=namespace from AWX or cron (docs/namespace-mode.md)".format(
                                where, profile.get("name")))
            continue
        given = entry.get("profile_parameters") or {}
        errors = schema.validate(profile, given or None)
        if errors:
            problems.append("{0}: the profile {1!r} is not valid: {2}".format(
                where, profile.get("name"), "; ".join(errors)))
            continue
        branch = entry.get("branch") or profile["name"]
        if not isinstance(branch, str) or not BRANCH.match(branch):
            problems.append("{0}: branch must be letters, digits, '.', '_', '-', got {1!r}".format(where, branch))
            continue
        if branch in branches:
            problems.append("{0}: writes branch {1!r}, as {2} does: each application needs a branch of its own "
                            "(give one with branch)".format(where, branch, branches[branch]))
            continue
        branches[branch] = name
        if given:
            vars_["profile_parameters"] = given
        if entry.get("branch"):
            vars_["branch"] = branch
        hosts[name] = vars_
        values = parameters.effective(profile, given or None)[0]
        for check in access.needed_access(parameters.resolve(profile, values), hooks_from_annotations):
            if check not in checks:
                checks.append(check)
    if problems:
        return _result(problems)
    inventory = {GROUP: {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"},
        "hosts": hosts}}
    return _result([], inventory, checks, list(hosts))


def _profile(entry, load):
    """(profile, the host's profile variables, problem) of one entry."""
    data, name = entry.get("profile_data"), entry.get("profile")
    if data and name:
        return None, None, "give profile or profile_data, not both"
    if data:
        if not isinstance(data, dict):
            return None, None, "profile_data must be a profile (a mapping), got {0!r}".format(data)
        return data, {"profile": data.get("name"), "profile_data": data}, None
    if not isinstance(name, str) or not name:
        return None, None, "a profile (a shipped profile's name or a file's path) or profile_data is required"
    try:
        loaded = load(name)
    except (IOError, OSError, ValueError) as exc:
        return None, None, "cannot read profile {0!r}: {1}".format(name, exc)
    if not isinstance(loaded, dict):
        return None, None, "profile {0!r} is not a profile (a mapping)".format(name)
    # A file of the user's own is not in the image that runs the backups: it reaches them as data.
    if is_profile_file(name):
        return loaded, {"profile": loaded.get("name"), "profile_data": loaded}, None
    return loaded, {"profile": name}, None


def _result(problems, inventory=None, checks=None, names=None):
    return {"problems": problems, "inventory": inventory or {}, "checks": checks or [], "names": names or []}
