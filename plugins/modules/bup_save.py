#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: bup_save
short_description: Save a staging tree into a bup repository, validate the commit and mark it complete
version_added: 0.1.0
author:
  - statesafe maintainers (@statesafe)
description:
  - Runs C(bup index) and C(bup save -n BRANCH) on the staging tree O(staging); the archive holds the tree's
    contents at its root (C(--strip-path)).
  - Then validates the new commit against O(manifest) (every artifact present as a regular file of the listed size,
    and with O(validate=sha256) of the listed sha256, read back from the repository) and only then marks it complete
    with the ref C(refs/tags/complete/BRANCH/COMMIT).
  - bup can commit a save that skipped unreadable or vanished files and still exit 1, so completeness is never
    inferred from the exit code. An archive is complete only when C(bup index) and C(bup save) exited 0 and validation
    passed. Otherwise the commit stays in the repository, unmarked, restorable only on purpose, and removed by the
    next retention pass; the task fails unless O(fail_on_incomplete=false).
  - Holds the repository's run lock while it works.
extends_documentation_fragment:
  - statesafe.backup.bup_repository
options:
  branch:
    description: The save set (bup branch) to add the archive to. Letters, digits, C(.), C(_) and C(-).
    type: str
    required: true
  staging:
    description: The staging tree to save. Its contents become the archive's root.
    type: path
    required: true
  manifest:
    description:
      - The manifest to validate against, a JSON file with an C(artifacts) list of C(path), C(size), C(sha256)
        (paths relative to O(staging)). A relative O(manifest) is taken relative to O(staging).
      - When the manifest lies inside O(staging), its own copy in the archive is checked too.
      - Without a manifest nothing can be validated, and the archive is not marked complete.
    type: path
  validate:
    description:
      - V(size) checks presence and size of every artifact from the repository's tree listing.
      - V(sha256) also reads every artifact back from the repository and compares its sha256; it costs a read of
        the saved data.
    type: str
    choices: [size, sha256]
    default: size
  mark:
    description:
      - Write the completeness marker when the archive is complete. V(false) validates only; RV(complete) then
        says whether the archive would have been marked.
    type: bool
    default: true
  fail_on_incomplete:
    description: Fail the task when the archive is not complete (the result still names the commit).
    type: bool
    default: true
  date:
    description: Commit date in seconds since the epoch (C(bup save -d)), for reproducible tests and imports.
    type: int
  index_file:
    description: The bup index to use (C(bup index -f)); defaults to the index in the repository (or O(remote_cache_dir)).
    type: path
  compression:
    description: Compression level (C(bup save -#)); bup's default when unset.
    type: int
    choices: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
attributes:
  check_mode:
    description: A save cannot be simulated; the task is skipped in check mode.
    support: none
  diff_mode:
    description: Nothing to show a difference of.
    support: none
  idempotent:
    description: Every run adds an archive (a new commit), even when the tree did not change.
    support: none
notes:
  - Reports C(changed=true) when a commit was added; RV(tree_unchanged) and RV(bytes_added) say whether it stored
    anything new.
seealso:
  - module: statesafe.backup.bup_archive_info
  - module: statesafe.backup.bup_restore
  - module: statesafe.backup.bup_lock
"""

EXAMPLES = r"""
- name: Save the staging tree, validate it against its manifest and mark it complete
  statesafe.backup.bup_save:
    repository: /srv/backup/bup
    branch: softwarefactory
    staging: /var/tmp/statesafe/staging
    manifest: MANIFEST.json
    validate: sha256
    lock_token: "{{ run_lock.token }}"
  register: saved

- name: Save to a repository on another host
  statesafe.backup.bup_save:
    remote: backup.example.org:/srv/backup/bup
    remote_cache_dir: /var/cache/statesafe/bup
    branch: softwarefactory
    staging: /var/tmp/statesafe/staging
    manifest: MANIFEST.json
"""

RETURN = r"""
repository:
  description: The repository path or remote specification.
  returned: success or incomplete
  type: str
branch:
  description: The branch saved to.
  returned: success or incomplete
  type: str
commit:
  description: The commit bup save made.
  returned: success or incomplete
  type: str
  sample: 4a11d5455a3e213f1ec217d217f43615cd4cf890
tree:
  description: Its tree id.
  returned: success or incomplete
  type: str
previous_commit:
  description: The branch's tip before the save (null for a new branch).
  returned: success or incomplete
  type: str
timestamp:
  description: The commit's date, seconds since the epoch.
  returned: success or incomplete
  type: int
tree_unchanged:
  description: Whether the saved tree is identical to the previous commit's (nothing changed in the staging tree).
  returned: success or incomplete
  type: bool
bytes_added:
  description: Growth of the repository's objects directory; null for a remote repository.
  returned: success or incomplete
  type: int
repository_bytes:
  description: Size of the repository's objects directory after the save; null for a remote repository.
  returned: success or incomplete
  type: int
complete:
  description: Whether index and save exited 0 and validation passed; the marker is written then (unless O(mark=false)).
  returned: success or incomplete
  type: bool
marker:
  description: The completeness marker ref written, or null.
  returned: success or incomplete
  type: str
  sample: refs/tags/complete/softwarefactory/4a11d5455a3e213f1ec217d217f43615cd4cf890
incomplete_reasons:
  description: Why the archive is not complete (empty when it is).
  returned: success or incomplete
  type: list
  elements: str
validation:
  description: The validation report, or null without O(manifest).
  returned: success or incomplete
  type: dict
  contains:
    ok:
      description: Whether every artifact matched.
      type: bool
    level:
      description: V(size) or V(sha256).
      type: str
    files_checked:
      description: Artifacts checked (the manifest itself included when it is inside the staging tree).
      type: int
    bytes_checked:
      description: Their total size.
      type: int
    problems:
      description: Number of artifacts that failed.
      type: int
    missing:
      description: Artifacts absent from the archive (first 20).
      type: list
      elements: str
    wrong_size:
      description: Artifacts of another size, with C(path), C(expected), C(found) (first 20).
      type: list
      elements: dict
    wrong_sha256:
      description: Artifacts with another sha256 (first 20).
      type: list
      elements: dict
    not_a_file:
      description: Artifacts that are not regular files in the archive (first 20).
      type: list
      elements: str
    no_sha256_in_manifest:
      description: With V(sha256), artifacts the manifest gives no sha256 for (first 20).
      type: list
      elements: str
manifest_in_archive:
  description: The manifest's path inside the archive when it lies in the staging tree, else null.
  returned: success or incomplete
  type: str
index_rc:
  description: Exit code of bup index.
  returned: success or incomplete
  type: int
save_rc:
  description: Exit code of bup save (1 when it skipped files it could not read).
  returned: success or incomplete
  type: int
bup_errors:
  description: Problems bup reported on stderr (progress lines dropped, first 50).
  returned: success or incomplete
  type: list
  elements: str
seconds:
  description: Wall time of bup index plus bup save.
  returned: success or incomplete
  type: float
lock_waited:
  description: Seconds spent waiting for the run lock.
  returned: success or incomplete
  type: float
staging:
  description: The staging tree's resolved path.
  returned: success or incomplete
  type: str
error_location:
  description: On failure, the repository, branch and commit the error is about.
  returned: failure
  type: dict
lock_holder:
  description: When the run lock was not obtained in time, what the lock file says about its holder.
  returned: failure
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.statesafe.backup.plugins.module_utils.bup.operations import (
    run_save,
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
    staging=dict(type="path", required=True),
    manifest=dict(type="path"),
    validate=dict(type="str", choices=["size", "sha256"], default="size"),
    mark=dict(type="bool", default=True),
    fail_on_incomplete=dict(type="bool", default=True),
    date=dict(type="int"),
    index_file=dict(type="path"),
    compression=dict(type="int", choices=list(range(10))),
)


def main():
    module = AnsibleModule(**module_kwargs(ARGUMENT_SPEC, supports_check_mode=False))
    result = run_module(module, lambda: run_save(repository_from_params(module.params), module.params),
                        describe=repository_error(module.params))
    if not result["complete"] and module.params["fail_on_incomplete"]:
        module.fail_json(msg="archive {commit} on branch {branch} in {repository} is not complete: {why}".format(
            why="; ".join(result["incomplete_reasons"]), **result), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
