# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one error boundary of the collection's modules.

Every module's main() builds its module object, then hands its work to
run_module(): this is the only place where an exception becomes fail_json, so
every module reports the same error the same way. A StatesafeError carries its
own message and fields (the location comes back as error_location); any other
exception the module names in `catch` is described by `describe`, and one it
does not describe is a bug and is raised as such. The Kubernetes modules reach
it through k8s/module.py, which makes the client first.

This module is PRIVATE to the statesafe.backup collection; do not import it from
other collections or from your own plugins.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import traceback

from ansible_collections.statesafe.backup.plugins.module_utils.errors import (
    StatesafeError,
    describe_location,
)


def failure(exc, describe=None):
    """fail_json's keyword arguments for an exception raised by a module's work, or None to re-raise it."""
    if isinstance(exc, StatesafeError):
        fields = exc.result_fields()
        fields["msg"] = str(exc)
        return fields
    if describe is None:
        return None
    return describe(exc)


def run_module(module, work, describe=None, catch=(OSError,)):
    """Return work(), or end the module with fail_json.

    describe: exception -> fail_json's keyword arguments (or None to let it
    through) for the exceptions in `catch` that are not StatesafeErrors.
    """
    caught = (StatesafeError,) + tuple(catch)
    try:
        return work()
    except caught as exc:
        fields = failure(exc, describe)
        if fields is None:
            raise
        module.fail_json(exception=traceback.format_exc(), **fields)
    return None  # not reached: fail_json exits


def local_file_error(local_path, location=None):
    """describe for a module with a local file or directory: the error names it and the file at fault, and where in
    the cluster the data came from or went to (location: namespace, pod, container), as a StatesafeError would."""
    if local_path is None:
        return None
    location = dict((key, value) for key, value in (location or {}).items() if value not in (None, ""))

    def describe(exc):
        if not isinstance(exc, OSError):
            return None
        message = "local file error at {0}: {1}".format(local_path, exc)
        if location:
            message = "{0} ({1})".format(message, describe_location(location))
        return {"msg": message,
                "error_location": dict(location, path=getattr(exc, "filename", None) or local_path)}
    return describe


def repository_error(params):
    """describe for a bup module: the error names the repository (remote or local) it was working on."""
    repository = params.get("remote") or params.get("repository")

    def describe(exc):
        return {"msg": "{0} (repository={1})".format(exc, repository),
                "error_location": {"repository": repository}}
    return describe


def plain_error(exc):
    """describe that reports the exception's own message and nothing else."""
    return {"msg": str(exc)}
