#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: bup_retention
short_description: Remove old archives from a bup repository by age policy, then collect garbage
version_added: 0.1.0
author:
  - statesafe maintainers (@statesafe)
description:
  - Applies bup prune-older's policy to the archives of each branch, removes the others with C(bup rm), fixes the
    completeness markers and runs C(bup gc).
  - "The policy is bup prune-older's: every archive younger than O(keep_all_for) is kept; older ones fall by age into
    the daily, weekly, monthly and yearly regions (each region starts where the shorter one ends) and the newest
    archive of each local day, ISO week, month or year of its region is kept. What differs from
    C(bup prune-older): a weekly region (bup 0.33 has none); only complete archives compete for a slot, so an
    incomplete save never displaces a complete one; the newest complete archive is never removed; incomplete
    archives are removed unless O(keep_incomplete=true)."
  - C(bup rm) rewrites every commit after the first removed one (same tree and dates, new id). Their completeness
    markers are moved to the new ids, the markers of removed archives deleted, before C(bup gc) runs, so no marker
    keeps removed data alive and no kept archive loses its marker.
  - Needs the repository on this host; bup cannot prune or gc over C(-r).
  - Holds the repository's run lock while it works.
extends_documentation_fragment:
  - statesafe.backup.bup_repository
options:
  branch:
    description: The branch to prune. Mutually exclusive with O(branches); all branches when neither is given.
    type: str
  branches:
    description: Branches to prune.
    type: list
    elements: str
  keep_all_for:
    description: Keep every archive younger than this period (bup's syntax, V(7d), V(12h), V(forever)).
    type: str
  keep_dailies_for:
    description: Keep the newest archive of each day within this period (V(30d)).
    type: str
  keep_weeklies_for:
    description: Keep the newest archive of each ISO week within this period (V(12w)).
    type: str
  keep_monthlies_for:
    description: Keep the newest archive of each month within this period (V(12m); a month is 31 days).
    type: str
  keep_yearlies_for:
    description: Keep the newest archive of each year within this period (V(5y); a year is 366 days).
    type: str
  keep_incomplete:
    description: Keep archives that are not marked complete (they never take a slot of the policy).
    type: bool
    default: false
  gc:
    description: Run C(bup gc) after removing archives, to free their space.
    type: bool
    default: true
  gc_threshold:
    description: Only rewrite a pack with more than this percentage of garbage (C(bup gc --threshold)); bup's default is 10.
    type: int
  wrt:
    description: End every period at this time (seconds since the epoch) rather than now, as C(bup prune-older --wrt).
    type: int
attributes:
  check_mode:
    description: Computes and returns the plan (what would be kept and removed, and why) without changing anything.
    support: full
  diff_mode:
    description: The plan in the result is the difference; there is no separate diff.
    support: none
  idempotent:
    description: A second run with the same policy and time removes nothing.
    support: full
notes:
  - Commit ids of archives newer than a removed one change; their trees, dates and save names do not.
seealso:
  - module: statesafe.backup.bup_archive_info
"""

EXAMPLES = r"""
- name: Keep a week of everything, 30 dailies, 12 weeklies, 12 monthlies
  statesafe.backup.bup_retention:
    repository: /srv/backup/bup
    branch: softwarefactory
    keep_all_for: 7d
    keep_dailies_for: 30d
    keep_weeklies_for: 12w
    keep_monthlies_for: 12m
    lock_token: "{{ run_lock.token }}"

- name: What would a stricter policy remove?
  statesafe.backup.bup_retention:
    repository: /srv/backup/bup
    branch: softwarefactory
    keep_dailies_for: 7d
  check_mode: true
  register: plan
"""

RETURN = r"""
stale_temporaries:
  description:
    - Directories C(objects/pack-tmp-*) left by killed saves and untouched for an hour, with C(path), C(bytes) and
      C(age) in seconds. bup gc never looks there; retention removes them (not in check mode), fsck only reports them.
  returned: always
  type: list
  elements: dict
repository:
  description: The repository path.
  returned: always
  type: str
kept:
  description: Archives kept, each as in M(statesafe.backup.bup_archive_info) (ids from before the pass) plus C(reason).
  returned: always
  type: list
  elements: dict
removed:
  description: Archives removed (or in check mode, to remove), with C(reason).
  returned: always
  type: list
  elements: dict
markers_moved:
  description: Completeness markers moved to rewritten commits.
  returned: always
  type: int
rewritten:
  description:
    - Kept archives whose commit C(bup rm) rewrote (every commit after the first removed one gets a new id),
      as old commit id to new commit id. A caller that holds a commit id from before retention (the backup
      that just saved it) finds its current id here.
  returned: always
  type: dict
  sample: {"0c639b656ff03242d5971166da9ffcdd00f0fd46": "e17b5660ccb8d43d427b8b725724445f5402be7d"}
markers_deleted:
  description: Completeness markers of removed archives deleted.
  returned: always
  type: int
gc:
  description: Whether bup gc ran.
  returned: always
  type: bool
repository_bytes:
  description: Size of the repository's objects directory afterwards.
  returned: always
  type: int
bytes_freed:
  description: How much smaller the objects directory became.
  returned: always
  type: int
lock_waited:
  description: Seconds spent waiting for the run lock.
  returned: always
  type: float
error_location:
  description: On failure, the repository and branch the error is about.
  returned: failure
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.statesafe.backup.plugins.module_utils.bup.operations import (
    run_retention,
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
    keep_all_for=dict(type="str"),
    keep_dailies_for=dict(type="str"),
    keep_weeklies_for=dict(type="str"),
    keep_monthlies_for=dict(type="str"),
    keep_yearlies_for=dict(type="str"),
    keep_incomplete=dict(type="bool", default=False),
    gc=dict(type="bool", default=True),
    gc_threshold=dict(type="int"),
    wrt=dict(type="int"),
)

POLICY = ("keep_all_for", "keep_dailies_for", "keep_weeklies_for", "keep_monthlies_for", "keep_yearlies_for")


def main():
    module = AnsibleModule(**module_kwargs(ARGUMENT_SPEC, mutually_exclusive=[("branch", "branches")],
                                           required_one_of=[POLICY], supports_check_mode=True))
    result = run_module(module, lambda: run_retention(repository_from_params(module.params), module.params, module.check_mode),
                        describe=repository_error(module.params))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
