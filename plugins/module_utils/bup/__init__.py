# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bup repository: saving, restoring, listing, locking and checking archives.

It owns the one place that starts bup and git, the bup server protocol client, the
parsers of what bup prints, archive selection and retention, the run lock, the
validation of saved commits and restored trees, the options every bup module shares, and
the bup layer's exceptions.

It may import the root modules (errors, local_files) only; it knows nothing of
Kubernetes.

This package is PRIVATE to the statesafe.backup collection: its names and signatures can
change in any release. Do not import it from other collections or from your own plugins;
use the collection's modules and filters instead.
"""
