# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The verify_check filter: the loop results of one profile check's runs -> whether it passed, and why not."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.statesafe.backup.plugins.module_utils.profile import checks


def verify_check(loop_results, check, scratch_namespace, source_namespace):
    """{name, ok, output, msg} of `check` from its task's loop results (scratch namespace first)."""
    if not isinstance(loop_results, list) or not loop_results:
        raise AnsibleFilterError("verify_check expects the non-empty loop results of the check's task")
    runs = checks.runs(loop_results, in_pod="pod" in check)
    return checks.judge(check, runs, scratch_namespace, source_namespace)


class FilterModule(object):
    def filters(self):
        return {"verify_check": verify_check}
