# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Exceptions of the bup layer.

They are StatesafeErrors, so a module's main() handles them like every other
error of the collection; their location is the repository, branch and commit
rather than a namespace and pod.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.statesafe.backup.plugins.module_utils.errors import (
    StatesafeError,
)


class BupError(StatesafeError):
    """An error about a bup repository: the message names repository, branch and commit."""

    LOCATION_KEYS = ("repository", "branch", "commit", "archive", "path")


class BupCommandFailed(BupError):
    """bup or git ran and failed in a way the caller cannot continue from."""

    def __init__(self, message, argv=None, rc=None, stderr=None, **location):
        self.argv = list(argv or ())
        self.rc = rc
        self.stderr = stderr
        super(BupCommandFailed, self).__init__(message, **location)

    def result_fields(self):
        fields = super(BupCommandFailed, self).result_fields()
        fields.update(rc=self.rc, cmd=self.argv, stderr=self.stderr)
        return fields


class RepositoryMissing(BupError):
    """The path is not a bup repository (or not one we may initialise)."""


class ArchiveNotFound(BupError):
    """No archive matches the selection (latest, date, name or commit)."""


class ArchiveIncomplete(BupError):
    """The selected archive exists but carries no completeness marker."""


class LockTimeout(BupError):
    """The run lock stayed held by someone else for longer than the timeout."""

    def __init__(self, message, holder=None, **location):
        self.holder = holder
        super(LockTimeout, self).__init__(message, **location)

    def result_fields(self):
        fields = super(LockTimeout, self).result_fields()
        fields["lock_holder"] = self.holder
        return fields


class LockNotHeld(BupError):
    """A release or a token names a lease that is not (or no longer) ours."""


class BadInput(BupError):
    """Input the argument spec cannot reject on its own (a period, a manifest, a target)."""


class UnsupportedRemote(BupError):
    """The operation needs a repository on this host; bup cannot do it over -r."""
