# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The volume copy: a directory tree out of or into a pod as one verified tar stream.

It owns the copy in each direction (copy.py: one class a direction, built from
target.py, receive.py, apply.py and send.py), the listing and mirror plan, the POSIX sh
scripts run in the pod, the tar stream receiver and its safety checks, and the threaded
file writer.

It may import the root modules (errors, local_files) and module_utils.k8s (exec
sessions, pods, the helper pod); never capture, bup, offsite or report.

This package is PRIVATE to the statesafe.backup collection: its names and signatures can
change in any release. Do not import it from other collections or from your own plugins;
use the collection's modules and filters instead.
"""
