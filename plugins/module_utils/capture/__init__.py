# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Application capture: what is saved besides volumes, and how a restore applies it.

It owns logical dumps streamed out of and into pods, quiesce hooks, the backup hooks
declared on pods, the export of objects as deterministic manifests, the restore policy,
and component revisions.

It may import the root modules (errors, local_files), module_utils.k8s and the pure
parsers of module_utils.bup (bup/parse.py); never volume, offsite or report.

This package is PRIVATE to the statesafe.backup collection: its names and signatures can
change in any release. Do not import it from other collections or from your own plugins;
use the collection's modules and filters instead.
"""
