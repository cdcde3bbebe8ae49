#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: bup_restore
short_description: Restore an archive of a bup repository into a fresh directory
version_added: 0.1.0
author:
  - statesafe maintainers (@statesafe)
description:
  - Selects an archive (the newest complete one by default) and restores it with C(bup restore) into O(target),
    which must not exist or be an empty directory. Nothing is ever restored over existing files.
  - The archive is restored into a scratch directory beside O(target) and renamed into place only when
    C(bup restore) succeeded and, with O(verify_manifest), every artifact of the restored manifest has its size and
    sha256. A failed restore leaves no O(target) behind.
  - Archives without a completeness marker are restored only with O(allow_incomplete=true).
  - Holds the repository's run lock while restoring, so no retention or gc removes data being read.
extends_documentation_fragment:
  - statesafe.backup.bup_repository
options:
  branch:
    description: The branch to restore from.
    type: str
    required: true
  archive:
    description:
      - V(latest) (the newest complete archive), a commit id or unique prefix (7+ hex digits), a save name as
        M(statesafe.backup.bup_archive_info) lists it, a day (V(2024-05-01), local time, its newest complete archive)
        or a date-time (V(2024-05-01T02:15:00Z), the newest complete archive at or before it; no offset means UTC).
    type: str
    default: latest
  allow_incomplete:
    description: Allow selecting an archive that is not marked complete.
    type: bool
    default: false
  target:
    description: Directory to restore into; must not exist or be empty. Its parent must exist.
    type: path
    required: true
  verify_manifest:
    description:
      - Path of the manifest inside the archive (for example V(MANIFEST.json)); after the restore every artifact it
        lists must be a regular file of its size and sha256, or the restore fails and O(target) is not created.
    type: str
  numeric_ids:
    description: Restore numeric user and group ids rather than names (C(bup restore --numeric-ids)).
    type: bool
    default: false
attributes:
  check_mode:
    description: Selects the archive and checks the target, then stops before restoring.
    support: full
  diff_mode:
    description: Nothing to show a difference of.
    support: none
  idempotent:
    description: A second run finds the target not empty and fails rather than restore over it.
    support: none
seealso:
  - module: statesafe.backup.bup_archive_info
"""

EXAMPLES = r"""
- name: Restore the newest complete archive and verify it
  statesafe.backup.bup_restore:
    repository: /srv/backup/bup
    branch: softwarefactory
    target: /var/tmp/statesafe/restore-20240501
    verify_manifest: MANIFEST.json

- name: Restore a given commit, complete or not
  statesafe.backup.bup_restore:
    repository: /srv/backup/bup
    branch: softwarefactory
    archive: 4a11d54
    allow_incomplete: true
    target: /var/tmp/statesafe/forensics
"""

RETURN = r"""
repository:
  description: The repository path or remote specification.
  returned: success
  type: str
branch:
  description: The branch restored from.
  returned: success
  type: str
archive:
  description: The restored archive (branch, name, commit, tree, timestamp, date, complete).
  returned: success
  type: dict
target:
  description: The directory that now holds the archive.
  returned: success
  type: str
lock_waited:
  description: Seconds spent waiting for the run lock.
  returned: success, not in check mode
  type: float
verification:
  description: With O(verify_manifest), the report of the restored tree against it (as in M(statesafe.backup.bup_save)).
  returned: success
  type: dict
error_location:
  description: On failure, the repository, branch, commit or path the error is about.
  returned: failure
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.statesafe.backup.plugins.module_utils.bup.operations import (
    run_restore,
)
from ansible_collections.statesafe.backup.plugins.module_utils.bup.repository import (
    repository_from_params,
)
from ansible_collections.statesafe.backup.plugins.module_utils.bup.args import (
    module_kwargs,
)
from ansible_collections.statesafe.backup.plugins.module_utils.boundary import (
    repository_error,
    run_module,
)

ARGUMENT_SPEC = dict(
    branch=dict(type="str", required=True),
    archive=dict(type="str", default="latest"),
    allow_incomplete=dict(type="bool", default=False),
    target=dict(type="path", required=True),
    verify_manifest=dict(type="str"),
    numeric_ids=dict(type="bool", default=False),
)


def main():
    module = AnsibleModule(**module_kwargs(ARGUMENT_SPEC, supports_check_mode=True))
    result = run_module(module, lambda: run_restore(repository_from_params(module.params), module.params, module.check_mode),
                        describe=repository_error(module.params))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
