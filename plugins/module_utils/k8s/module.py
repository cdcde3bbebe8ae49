# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Kubernetes modules' way into the collection's one error boundary.

Every Kubernetes module's main() builds its AnsibleK8SModule, then hands its
work to run_k8s_module(): the client is made here, and boundary.run_module()
turns an error into fail_json as for every other module (the message names
namespace, pod, container and path; the location comes back as error_location).
A kubernetes.core error is reported as a failed connection.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import (
    CoreException,
)
from ansible_collections.statesafe.backup.plugins.module_utils.k8s.connection import (
    get_client,
)
from ansible_collections.statesafe.backup.plugins.module_utils.boundary import (
    failure as boundary_failure,
    local_file_error,
    run_module,
)
from ansible_collections.statesafe.backup.plugins.module_utils.k8s.api import (
    KubeApi,
)


def connection_error(local_path=None, location=None):
    """describe for the boundary: a kubernetes.core error is a failed connection; a local OSError names local_path
    (and location: the namespace, pod and container the module was working with)."""
    local = local_file_error(local_path, location)

    def describe(exc):
        if isinstance(exc, CoreException):
            return {"msg": "cannot connect to the API server: {0}".format(exc)}
        if local is not None:
            return local(exc)
        return None
    return describe


def failure(exc, local_path=None):
    """fail_json's keyword arguments for an exception raised by a module's work, or None to re-raise it."""
    return boundary_failure(exc, connection_error(local_path))


def run_k8s_module(module, work, local_path=None, location=None):
    """Return work(client, api) through the collection's one error boundary (boundary.run_module).

    work: called with kubernetes.core's client for the module's connection
    options and a KubeApi over it. local_path: the module's local file or
    directory, named when a local OSError ends the work (modules without one
    let such an error through as a bug), with location (namespace, pod,
    container) naming the other end.
    """
    def connected():
        client = get_client(module)
        return work(client, KubeApi(client))
    return run_module(module, connected, describe=connection_error(local_path, location),
                      catch=(CoreException, OSError))
