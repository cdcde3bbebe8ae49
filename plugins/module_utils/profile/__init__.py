# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE to the collection: what the roles compute from a profile, as data in, data out.

Owns the profile schema (schema.py: every key the roles and modules read, and the validator the
preflights use), the Kubernetes verbs a profile needs (access.py), and the small programs the roles
used to write in Jinja (checks.py for verify, restore.py for restore). The filter plugins in
plugins/filter/ are thin wrappers over these functions. Imports nothing from the rest of
module_utils, so it can be tested and moved on its own.
"""
