#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: archive_verify
short_description: Check a restored archive tree against its MANIFEST.json, artifact by artifact
version_added: 0.1.0
author:
  - statesafe maintainers (@statesafe)
description:
  - Reads the manifest in O(root) and checks that every artifact it lists is a regular file of the listed size and
    sha256. Every artifact is hashed, so each mismatch is reported with its path, expected and actual size and
    sha256. Regular files the manifest does not list are reported as unexpected.
  - Used by C(playbooks/verify.yml) on an archive restored into a scratch directory.
  - Reads only.
options:
  root:
    description: The restored archive tree (absolute path).
    type: path
    required: true
  manifest:
    description: The manifest, relative to O(root).
    type: str
    default: MANIFEST.json
  fail_on_mismatch:
    description: Fail the task when an artifact does not match or a file is unexpected.
    type: bool
    default: true
attributes:
  check_mode:
    description: Reads only; runs the same in check mode.
    support: full
  diff_mode:
    description: Nothing to show a difference of.
    support: none
  idempotent:
    description: Reads only.
    support: full
seealso:
  - module: statesafe.backup.bup_restore
"""

EXAMPLES = r"""
- name: Every artifact of the restored archive has its manifest's sha256
  statesafe.backup.archive_verify:
    root: /var/tmp/statesafe/verify/softwarefactory-2026-11-21-021500
  register: checked
"""

RETURN = r"""
ok:
  description: Whether every artifact matches and no file is unexpected.
  returned: success
  type: bool
root:
  description: The tree checked.
  returned: success
  type: str
artifacts_checked:
  description: Artifacts the manifest lists.
  returned: success
  type: int
bytes_checked:
  description: Bytes read and hashed.
  returned: success
  type: int
problem_count:
  description: Artifacts that are missing, not regular files, or differ in size or sha256.
  returned: success
  type: int
problems:
  description: The first 50 of them, each with C(path), C(problem), C(expected_size), C(expected_sha256) and, when the
    file is there, C(actual_size) and C(actual_sha256).
  returned: success
  type: list
  elements: dict
unexpected_count:
  description: Regular files in the tree that the manifest does not list.
  returned: success
  type: int
unexpected:
  description: The first 50 of them.
  returned: success
  type: list
  elements: str
msg:
  description: One line saying what was found, naming each problem.
  returned: always
  type: str
error_location:
  description: On failure to read the tree or the manifest, the path.
  returned: failure
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.statesafe.backup.plugins.module_utils.bup.archive_check import (
    verify_tree,
)
from ansible_collections.statesafe.backup.plugins.module_utils.boundary import (
    plain_error,
    run_module,
)

ARGUMENT_SPEC = dict(
    root=dict(type="path", required=True),
    manifest=dict(type="str", default="MANIFEST.json"),
    fail_on_mismatch=dict(type="bool", default=True),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    report = run_module(module, lambda: verify_tree(module.params["root"], module.params["manifest"]),
                        describe=plain_error)
    if not report["ok"] and module.params["fail_on_mismatch"]:
        module.fail_json(**report)
    module.exit_json(changed=False, **report)


if __name__ == "__main__":
    main()
