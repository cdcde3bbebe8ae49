#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: bup_archive_info
short_description: List the archives of a bup repository, with date, commit, size and completeness
version_added: 0.1.0
author:
  - statesafe maintainers (@statesafe)
description:
  - Lists every save (archive) of the given branches, newest first, with its bup save name, commit, tree, date, size
    and whether it carries a completeness marker (see M(statesafe.backup.bup_save)).
  - With O(archive), also selects one archive the way M(statesafe.backup.bup_restore) would, so a playbook can show
    what a restore will use before running it.
  - Reads only; takes no lock.
extends_documentation_fragment:
  - statesafe.backup.bup_repository
options:
  branch:
    description: The branch to list. Mutually exclusive with O(branches); all branches when neither is given.
    type: str
  branches:
    description: Branches to list.
    type: list
    elements: str
  archive:
    description:
      - Select one archive of O(branch) into RV(selected). V(latest) (the newest complete archive), a commit id or
        unique prefix (7+ hex digits), a save name as listed (V(2024-05-01-021500)), a day (V(2024-05-01), local
        time, the newest complete archive of that day) or a date-time (V(2024-05-01T02:15:00Z), the newest complete
        archive at or before it; no offset means UTC).
    type: str
  allow_incomplete:
    description: Let O(archive) select archives that are not marked complete.
    type: bool
    default: false
  sizes:
    description: Compute each archive's size and file count (one C(git ls-tree) per archive; local repositories only).
    type: bool
    default: true
attributes:
  check_mode:
    description: Reads only, so it runs the same in check mode.
    support: full
  diff_mode:
    description: Nothing to show a difference of.
    support: none
  idempotent:
    description: Never changes anything.
    support: full
seealso:
  - module: statesafe.backup.bup_restore
"""

EXAMPLES = r"""
- name: List the archives
  statesafe.backup.bup_archive_info:
    repository: /srv/backup/bup
    branch: softwarefactory
  register: listing

- name: Which archive would a restore of 1 May use?
  statesafe.backup.bup_archive_info:
    repository: /srv/backup/bup
    branch: softwarefactory
    archive: "2024-05-01"
  register: choice
"""

RETURN = r"""
repository:
  description: The repository path or remote specification.
  returned: always
  type: str
archives:
  description: Archives of the listed branches, each branch newest first.
  returned: always
  type: list
  elements: dict
  contains:
    branch:
      description: The branch.
      type: str
    name:
      description: The save name bup gives it (local time of the commit, C(-N) suffixes for saves in the same second).
      type: str
      sample: 2024-05-01-021500
    commit:
      description: Commit id. Retention rewrites the commits after a removed one, so ids change over time; trees do not.
      type: str
    tree:
      description: Tree id of the saved tree.
      type: str
    timestamp:
      description: Commit date, seconds since the epoch.
      type: int
    date:
      description: Commit date, ISO 8601 UTC.
      type: str
      sample: "2024-05-01T02:15:00Z"
    complete:
      description: Whether the archive carries a completeness marker.
      type: bool
    size:
      description: Total bytes of the archive's regular files (with O(sizes), local repositories).
      type: int
      returned: when sizes is true and the repository is local
    files:
      description: Number of files and symlinks in the archive.
      type: int
      returned: when sizes is true and the repository is local
selected:
  description: The archive O(archive) selects, as in RV(archives), or null without O(archive).
  returned: always
  type: dict
stale_markers:
  description: Markers that vouch for no archive any more (left by an interrupted retention pass; the next one removes them).
  returned: always
  type: int
error_location:
  description: On failure, the repository and branch the error is about.
  returned: failure
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.statesafe.backup.plugins.module_utils.bup.operations import (
    run_list,
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
    branch=dict(type="str"),
    branches=dict(type="list", elements="str"),
    archive=dict(type="str"),
    allow_incomplete=dict(type="bool", default=False),
    sizes=dict(type="bool", default=True),
)


def main():
    module = AnsibleModule(**module_kwargs(ARGUMENT_SPEC, mutually_exclusive=[("branch", "branches")],
                                           required_by={"archive": "branch"}, supports_check_mode=True))
    result = run_module(module, lambda: run_list(repository_from_params(module.params), module.params),
                        describe=repository_error(module.params))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
