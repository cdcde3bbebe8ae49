# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Exceptions raised by the collection's module_utils.

Deep code raises these; each module's main() is the one place that turns them
into fail_json. Every error carries the Kubernetes coordinates it is about so
the message always names the namespace, pod, container and path involved.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools

_LOCATION_KEYS = ("namespace", "pod", "container", "path", "kind", "name")


def describe_location(location, keys=_LOCATION_KEYS):
    """Render a location dict as 'namespace=a pod=b path=/x' (only set keys, in the order of keys)."""
    parts = []
    for key in keys:
        value = location.get(key)
        if value not in (None, ""):
            parts.append("{0}={1}".format(key, value))
    return " ".join(parts)


class StatesafeError(Exception):
    """Base class: a message plus the location (namespace/pod/container/path/...)."""

    # The location keys the message names, in this order; a layer with other coordinates sets its own.
    LOCATION_KEYS = _LOCATION_KEYS

    def __init__(self, message, **location):
        self.message = message
        self.location = dict((k, v) for k, v in location.items() if v not in (None, ""))
        super(StatesafeError, self).__init__(self.__str__())

    def __str__(self):
        where = describe_location(self.location, self.LOCATION_KEYS)
        if where:
            return "{0} ({1})".format(self.message, where)
        return self.message

    def result_fields(self):
        """Extra keys for fail_json so callers can branch on them."""
        return {"error_location": dict(self.location)}


def adds_location(error_class, key, value):
    """Decorator: every error_class the function raises names key=value(*its arguments), unless it names one.

    For errors raised deep in pure code that does not know, say, which
    repository it works for.
    """
    def decorate(operation):
        @functools.wraps(operation)
        def wrapped(*args, **kwargs):
            try:
                return operation(*args, **kwargs)
            except error_class as exc:
                label = value(*args, **kwargs)
                if label and key not in exc.location:
                    exc.location[key] = label
                    exc.args = (str(exc),)
                raise
        return wrapped
    return decorate


class ApiError(StatesafeError):
    """The API server refused or failed a request."""

    def __init__(self, message, status=None, reason=None, **location):
        self.status = status
        self.reason = reason
        super(ApiError, self).__init__(message, **location)

    def result_fields(self):
        fields = super(ApiError, self).result_fields()
        fields["api_status"] = self.status
        fields["api_reason"] = self.reason
        return fields


class KindNotServed(StatesafeError):
    """The API server does not serve this apiVersion/kind."""


class ObjectNotFound(StatesafeError):
    """A named object (pod, claim, referenced secret...) does not exist."""


class InvalidInput(StatesafeError):
    """Input that the argument spec cannot reject on its own."""


class PodNotReady(StatesafeError):
    """The pod or container exists but cannot run a command now."""


class ExecFailed(StatesafeError):
    """A command ran in a container and failed, or could not be started."""

    def __init__(self, message, rc=None, stderr=None, **location):
        self.rc = rc
        self.stderr = stderr
        super(ExecFailed, self).__init__(message, **location)

    def result_fields(self):
        fields = super(ExecFailed, self).result_fields()
        fields["rc"] = self.rc
        if self.stderr is not None:
            fields["stderr"] = self.stderr
        return fields


class ExecTimeout(ExecFailed):
    """The command did not finish in time."""


class FileChangedWhileRead(ExecFailed):
    """The pod's tar read a file that was written or removed meanwhile; a fresh pass may succeed."""


class StreamError(StatesafeError):
    """The exec stream broke, ended early or violated the channel protocol.

    details: what the stream carried before it broke (bytes, files, exit status
    frame...), returned to the caller as `stream` so a cut can be diagnosed.
    """

    def __init__(self, message, details=None, **location):
        self.details = details
        super(StreamError, self).__init__(message, **location)

    def result_fields(self):
        fields = super(StreamError, self).result_fields()
        if self.details:
            fields["stream"] = dict(self.details)
        return fields


class StreamCut(StreamError):
    """A stream that ended early or broke; details say what arrived and whether the exit status came."""

    @property
    def lost_tail(self):
        """True when the pod's command reported success: the tail of its output was lost in transit."""
        details = self.details or {}
        return bool(details.get("status_arrived")) and '"Success"' in (details.get("status") or "")


class UnsafeArchive(StatesafeError):
    """A tar member or a listing entry would escape or damage the target tree."""


class VerificationFailed(StatesafeError):
    """What arrived does not match what the pod says it sent."""


class ChecksumMismatch(VerificationFailed):
    """A received file's sha256 differs from the one the pod computed, or the pod computed none."""


class HelperPodError(StatesafeError):
    """The helper pod that mounts a claim could not be created, started or removed."""


class UnreadableFiles(StatesafeError):
    """The user a copy runs as cannot read some files of the tree; nothing is skipped silently."""


class UnwritableFiles(StatesafeError):
    """The user a restore runs as cannot replace some directories of the tree; nothing was written."""


class RolloutNotDone(StatesafeError):
    """Restarted workloads did not finish their rollout in time."""

    def __init__(self, message, done=None, not_done=None, **location):
        self.done = list(done or [])
        self.not_done = list(not_done or [])
        super(RolloutNotDone, self).__init__(message, **location)

    def result_fields(self):
        fields = super(RolloutNotDone, self).result_fields()
        fields.update(restarted_done=self.done, restarted_not_done=self.not_done)
        return fields


class ClaimBusy(StatesafeError):
    """A pod mounts a claim whose data is about to be written, and cannot be stopped (or did not stop)."""


class WorkloadsNotReady(StatesafeError):
    """The workloads using a claim did not become ready (or did not exist) in time."""

    def __init__(self, message, not_ready=None, **location):
        self.not_ready = list(not_ready or [])
        super(WorkloadsNotReady, self).__init__(message, **location)

    def result_fields(self):
        fields = super(WorkloadsNotReady, self).result_fields()
        fields["not_ready"] = self.not_ready
        return fields
