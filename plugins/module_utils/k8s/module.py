# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one error boundary of the collection's Kubernetes modules.

Every Kubernetes module's main() builds its AnsibleK8SModule, then hands its
work to run_k8s_module(): the client is made here, and this is the only place
where an error becomes fail_json, so every module reports the same error the
same way (the message names namespace, pod, container and path; the location
comes back as error_location).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import traceback

from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import (
    CoreException,
)
from ansible_collections.statesafe.backup.plugins.module_utils.k8s.connection import (
    get_client,
)
from ansible_collections.statesafe.backup.plugins.module_utils.errors import (
    StatesafeError,
)
from ansible_collections.statesafe.backup.plugins.module_utils.k8s.api import (
    KubeApi,
)


def failure(exc, local_path=None):
    """fail_json's keyword arguments for an exception raised by a module's work, or None to re-raise it."""
    if isinstance(exc, StatesafeError):
        fields = exc.result_fields()
        fields["msg"] = str(exc)
        return fields
    if isinstance(exc, CoreException):
        return {"msg": "cannot connect to the API server: {0}".format(exc)}
    if isinstance(exc, (OSError, IOError)) and local_path is not None:
        return {"msg": "local file error at {0}: {1}".format(local_path, exc),
                "error_location": {"path": getattr(exc, "filename", None) or local_path}}
    return None


def run_k8s_module(module, work, local_path=None):
    """Return work(client, api), or end the module with fail_json.

    work: called with kubernetes.core's client for the module's connection
    options and a KubeApi over it. local_path: the module's local file or
    directory, named when a local OSError ends the work (modules without one
    let such an error through as a bug).
    """
    try:
        client = get_client(module)
        return work(client, KubeApi(client))
    except (StatesafeError, CoreException, OSError, IOError) as exc:
        fields = failure(exc, local_path)
        if fields is None:
            raise
        module.fail_json(exception=traceback.format_exc(), **fields)
    return None  # not reached: fail_json exits
