# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the schedule role grants its runs in namespace mode, and what those runs leave out.

A namespace-mode run lists every kind discovery finds (k8s/discovery.py) before it backs anything up, so its Role
needs list on each of them on top of what the discovered profile's components need (access.py). The schedule role
runs namespace_discover as its own identity when it is applied, and grants what that found; a kind served later is
one the run cannot list, and its preflight fails naming it.

The schedule's own objects (its CronJob, ServiceAccounts, Roles, bindings, ConfigMap and the claim holding the
repository) are left out of the runs: the repository would otherwise be copied into itself, and a restore brings the
schedule back before the application, not from the archive.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.statesafe.backup.plugins.module_utils.profile.access import needed_access

RBAC = "rbac.authorization.k8s.io/v1"


def kind_checks(kinds, verb):
    """access_check checks of `verb` on each kind of namespace_discover's `kinds` ('apps/v1/Deployment', 'v1/Secret').

    access_check resolves each kind to its resource (plural) through API discovery, as the run's preflight does.
    """
    checks = []
    for entry in kinds or []:
        api_version, _slash, kind = str(entry).rpartition("/")
        if not api_version or not kind:
            raise ValueError("{0!r} is not an api_version/kind of namespace_discover's kinds".format(entry))
        check = {"verb": verb, "kind": kind, "api_version": api_version}
        if check not in checks:
            checks.append(check)
    return checks


def namespace_mode_access(discovered, hooks_from_annotations=True):
    """The checks a namespace-mode run of what namespace_discover found needs, each once: what its profile's
    components need (access.needed_access), then list on every kind discovery listed (the run lists them all,
    also those with nothing left to back up)."""
    out = needed_access(discovered.get("profile"), hooks_from_annotations)
    for check in kind_checks(discovered.get("kinds"), "list"):
        if check not in out:
            out.append(check)
    return out


def own_objects(name, restore_name, claim):
    """discover.exclude entries for the schedule's own objects, by name."""
    return [
        {"kind": "CronJob", "api_version": "batch/v1", "names": [name]},
        {"kind": "ConfigMap", "api_version": "v1", "names": [name]},
        {"kind": "ServiceAccount", "api_version": "v1", "names": [name, restore_name]},
        {"kind": "Role", "api_version": RBAC, "names": [name, restore_name]},
        {"kind": "RoleBinding", "api_version": RBAC, "names": [name, restore_name]},
        {"kind": "PersistentVolumeClaim", "api_version": "v1", "names": [claim]},
    ]


def without_own_objects(profile, name, restore_name, claim):
    """A namespace-mode profile whose discover.exclude also names the schedule's own objects (a copy; a profile
    without discover is returned as it is)."""
    if not isinstance(profile, dict) or "discover" not in profile:
        return profile
    discover = dict(profile.get("discover") or {})
    exclude = list(discover.get("exclude") or [])
    exclude.extend(entry for entry in own_objects(name, restore_name, claim) if entry not in exclude)
    discover["exclude"] = exclude
    return dict(profile, discover=discover)
