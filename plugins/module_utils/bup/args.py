# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options every bup module shares, defined once (documented by the bup_repository doc fragment)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

REPOSITORY_ARG_SPEC = dict(
    repository=dict(type="path"),
    remote=dict(type="str"),
    remote_cache_dir=dict(type="path"),
    lock_timeout=dict(type="int", default=60),
    lock_token=dict(type="str", no_log=False),
    bup_command=dict(type="str", default="bup"),
)

REPOSITORY_MUTUALLY_EXCLUSIVE = [("repository", "remote")]
REPOSITORY_REQUIRED_ONE_OF = [("repository", "remote")]


def bup_argument_spec(own_spec):
    """The module's own options plus the shared ones (fresh copies, so no module mutates another's)."""
    spec = copy.deepcopy(REPOSITORY_ARG_SPEC)
    spec.update(copy.deepcopy(own_spec))
    return spec


def module_kwargs(own_spec, mutually_exclusive=(), required_if=(), required_one_of=(), required_together=(),
                  required_by=None, supports_check_mode=False):
    """Keyword arguments for AnsibleModule with the shared constraints added."""
    return dict(
        argument_spec=bup_argument_spec(own_spec),
        mutually_exclusive=list(REPOSITORY_MUTUALLY_EXCLUSIVE) + list(mutually_exclusive),
        required_one_of=list(REPOSITORY_REQUIRED_ONE_OF) + list(required_one_of),
        required_if=list(required_if),
        required_together=list(required_together),
        required_by=dict(required_by or {}),
        supports_check_mode=supports_check_mode,
    )
