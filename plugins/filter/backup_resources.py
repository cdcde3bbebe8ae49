# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The stale_exports filter: the exported object files a backup run did not write again."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.statesafe.backup.plugins.module_utils.capture import resource_export


def stale_exports(found, exported, kinds, root):
    """Paths of `found` (find's files or paths) under `root`/<Kind>/ that no export of this run returned."""
    for name, value in (("found", found), ("exported", exported), ("kinds", kinds)):
        if not isinstance(value, list):
            raise AnsibleFilterError("stale_exports: {0} must be a list, got {1}".format(name, type(value).__name__))
    paths = [item["path"] if isinstance(item, dict) else item for item in found]
    return resource_export.stale_exports(paths, exported, kinds, root)


class FilterModule(object):
    def filters(self):
        return {"stale_exports": stale_exports}
