# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Kubernetes layer: API access, the exec transport, pods and preflight checks.

It owns the connection options and client (reused from kubernetes.core), the Kubernetes
modules' way into the error boundary (module.py), thin JSON calls to the API server, the
exec channel protocol and session, pod and container lookups, the helper pod that mounts
a claim, and the access reviews of a preflight.

It may import the root modules (errors, local_files, boundary) and kubernetes.core only;
it knows nothing of volumes, captures, bup or offsite copies.

This package is PRIVATE to the statesafe.backup collection: its names and signatures can
change in any release. Do not import it from other collections or from your own plugins;
use the collection's modules and filters instead.
"""
