#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: bup_fsck
short_description: Check a bup repository's packs, and generate or use par2 recovery data
version_added: 0.1.0
author:
  - statesafe maintainers (@statesafe)
description:
  - Runs C(bup fsck -v) on every pack of the repository and reports each pack's status.
  - With O(par2_generate), creates par2 recovery data for packs that have none (C(bup fsck -g)).
  - With O(repair), repairs damaged packs from their par2 data (C(bup fsck -r)); only when asked, since it rewrites
    pack files.
  - The task fails when a pack is damaged and was not repaired, unless O(fail_on_error=false).
  - Needs the repository on this host; bup cannot fsck over C(-r).
  - Holds the repository's run lock, so no gc removes packs while they are checked.
extends_documentation_fragment:
  - statesafe.backup.bup_repository
options:
  par2_generate:
    description: Generate par2 recovery data for packs without it. Needs C(par2).
    type: bool
    default: false
  repair:
    description: Repair damaged packs from their par2 recovery data. Needs C(par2).
    type: bool
    default: false
  quick:
    description: Only check each pack's trailing checksum rather than C(git verify-pack) (packs without par2 data).
    type: bool
    default: false
  jobs:
    description: Packs checked in parallel (C(bup fsck -j)).
    type: int
  fail_on_error:
    description: Fail the task when a pack is damaged and not repaired.
    type: bool
    default: true
attributes:
  check_mode:
    description: Checks only; par2 data is neither generated nor used for repairs.
    support: partial
    details: In check mode the packs are verified as without O(par2_generate) and O(repair).
  diff_mode:
    description: Nothing to show a difference of.
    support: none
  idempotent:
    description: Generating par2 data a second time finds it present; checking changes nothing.
    support: full
seealso:
  - module: statesafe.backup.bup_repo
"""

EXAMPLES = r"""
- name: Check the repository and add par2 recovery data to new packs
  statesafe.backup.bup_fsck:
    repository: /srv/backup/bup
    par2_generate: true

- name: Repair damaged packs
  statesafe.backup.bup_fsck:
    repository: /srv/backup/bup
    repair: true
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
ok:
  description: Whether every pack is sound (after repairs).
  returned: always
  type: bool
fsck_rc:
  description:
    - Exit code of bup fsck (0 sound, 1 damage found, 100 damage repaired). Not called C(rc), which Ansible would take
      for failure when it is not 0.
  returned: always
  type: int
packs:
  description: Status of each pack as bup fsck reports it (ok, failed, repaired, generated, exists, skipped).
  returned: always
  type: dict
  sample: {"pack-402964a7a2c4f07c85905b887789e77dddb60cda": "ok"}
damaged:
  description: Packs found damaged and not repaired.
  returned: always
  type: list
  elements: str
repaired:
  description: Packs repaired from par2 data.
  returned: always
  type: list
  elements: str
par2_generated:
  description: Packs that got par2 recovery data.
  returned: always
  type: list
  elements: str
messages:
  description: What bup fsck and par2 said on stderr.
  returned: always
  type: list
  elements: str
lock_waited:
  description: Seconds spent waiting for the run lock.
  returned: always
  type: float
error_location:
  description: On failure, the repository the error is about.
  returned: failure
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.statesafe.backup.plugins.module_utils.bup.operations import (
    run_fsck,
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
    par2_generate=dict(type="bool", default=False),
    repair=dict(type="bool", default=False),
    quick=dict(type="bool", default=False),
    jobs=dict(type="int"),
    fail_on_error=dict(type="bool", default=True),
)


def main():
    module = AnsibleModule(**module_kwargs(ARGUMENT_SPEC, supports_check_mode=True))
    result = run_module(module, lambda: run_fsck(repository_from_params(module.params), module.params, module.check_mode),
                        describe=repository_error(module.params))
    if not result["ok"] and module.params["fail_on_error"]:
        module.fail_json(msg="bup fsck found damaged packs in {0}: {1}".format(
            result["repository"], ", ".join(result["damaged"]) or "; ".join(result["messages"][:5])), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
