# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters over a repository's archives (bup_archive_info's result)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.statesafe.backup.plugins.module_utils.bup import archives


def archive_listing(archive_list):
    """One line per archive, newest first: name, commit, size and whether it is complete."""
    return archives.listing_lines(archive_list)


class FilterModule(object):
    def filters(self):
        return {"archive_listing": archive_listing}
