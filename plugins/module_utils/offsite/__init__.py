# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Encrypted offsite copies of a bup repository.

It owns the plan of an offsite copy as data (plan.py), the object store (store.py:
S3 with boto3) and the operations: encryption with age, reading and rebuilding the
repository (ops.py).

It may import the root modules (errors, local_files) and module_utils.bup; never k8s,
volume or capture.

This package is PRIVATE to the statesafe.backup collection: its names and signatures can
change in any release. Do not import it from other collections or from your own plugins;
use the collection's modules and filters instead.
"""
