# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection options and client, reused from kubernetes.core rather than rewritten.

The options are kubernetes.core's AUTH_ARG_SPEC (deep-copied so no module can
mutate another's spec), documented by the kubernetes.core.k8s_auth_options doc
fragment, and the client comes from kubernetes.core's get_api_client, so the
K8S_AUTH_* environment variables, kubeconfig dicts, impersonation and proxies
behave exactly as in kubernetes.core.k8s_info.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.kubernetes.core.plugins.module_utils.args_common import (
    AUTH_ARG_SPEC,
)


def connection_argument_spec():
    """A fresh copy of kubernetes.core's connection options."""
    return copy.deepcopy(AUTH_ARG_SPEC)


def module_argument_spec(own_spec):
    """The module's own options plus the connection options.

    Own options win on a name clash, which the unit tests forbid anyway.
    """
    spec = connection_argument_spec()
    spec.update(copy.deepcopy(own_spec))
    return spec


def get_client(module):
    """kubernetes.core's K8SClient for this module's connection options.

    Raises kubernetes.core's CoreException when no configuration can be loaded;
    main() reports it.
    """
    # Imported here so a missing 'kubernetes' library is reported by
    # AnsibleK8SModule's requirement check, not by an ImportError at load time.
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import (
        get_api_client,
    )

    return get_api_client(module=module)
