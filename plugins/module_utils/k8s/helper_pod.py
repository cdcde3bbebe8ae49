# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A short-lived pod that mounts a claim, so its data can be copied without the app's tools.

For ReadWriteOnce claims the helper runs on the node of the pod that already
mounts the claim. It sleeps for at most its deadline, so even if this process
dies the pod ends by itself; normally it is deleted (and waited for) when the
copy ends, whatever happened.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import time

from ansible_collections.statesafe.backup.plugins.module_utils.k8s import pods as pod_utils
from ansible_collections.statesafe.backup.plugins.module_utils.k8s.helper_identity import (
    Identity,
    check_allowed,
    claim_identity,
    enforces_restricted,
    security_contexts,
)
from ansible_collections.statesafe.backup.plugins.module_utils.errors import (
    ApiError,
    HelperPodError,
    ObjectNotFound,
    StatesafeError,
)

# A public image with every tool the pod scripts run (docs/helper-pods.md); the test cluster serves the same ref,
# built from Debian packages (tests/cluster/images/debian-slim).
DEFAULT_IMAGE = "docker.io/library/debian:bookworm-slim"
MOUNT_PATH = "/mnt/claim"
CONTAINER = "helper"
MANAGED_BY = "statesafe.backup"
COMPONENT = "pv-copy-helper"
_FATAL_WAITING = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError",
                  "CreateContainerError", "RunContainerError")


def helper_name(claim, suffix):
    """A valid pod name that says what it is for: statesafe-copy-<claim>-<suffix>."""
    base = re.sub(r"[^a-z0-9-]", "-", claim.lower()).strip("-")[:40].strip("-") or "claim"
    return "statesafe-copy-{0}-{1}".format(base, suffix)


def helper_manifest(name, claim, image, read_only, lifetime, node=None, identity=None):
    """The helper Pod object: one container sleeping `lifetime` seconds with the claim mounted.

    identity: helper_identity.Identity to run as; a non-root one gets a securityContext that passes
    PodSecurity `restricted`.
    """
    label_claim = re.sub(r"[^A-Za-z0-9_.-]", "-", claim)[:63].strip("-_.") or "claim"
    spec = {
        "restartPolicy": "Never",
        "activeDeadlineSeconds": int(lifetime),
        "terminationGracePeriodSeconds": 0,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        # It must run where the claim is attached, whatever taints that node has.
        "tolerations": [{"operator": "Exists"}],
        "containers": [{
            "name": CONTAINER,
            "image": image,
            "imagePullPolicy": "IfNotPresent",
            "command": ["sleep", str(int(lifetime))],
            "volumeMounts": [{"name": "data", "mountPath": MOUNT_PATH, "readOnly": bool(read_only)}],
        }],
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim, "readOnly": bool(read_only)}}],
    }
    if node:
        spec["nodeName"] = node
    pod_sc, container_sc = security_contexts(identity or Identity())
    if pod_sc:
        spec["securityContext"] = pod_sc
        spec["containers"][0]["securityContext"] = container_sc
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": {
                "app.kubernetes.io/managed-by": MANAGED_BY,
                "app.kubernetes.io/component": COMPONENT,
                "statesafe.backup/claim": label_claim,
            },
        },
        "spec": spec,
    }


def is_helper_pod(pod):
    """Whether the pod is one of this collection's volume-copy helpers (by the labels helper_manifest sets)."""
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return (labels.get("app.kubernetes.io/managed-by") == MANAGED_BY
            and labels.get("app.kubernetes.io/component") == COMPONENT)


def placement(claim_obj, users):
    """The node the helper must run on (or None), refusing what cannot work.

    users: pods mounting the claim (pods.claim_users).
    """
    modes = (claim_obj.get("spec") or {}).get("accessModes") or []
    namespace = claim_obj["metadata"].get("namespace")
    claim = claim_obj["metadata"]["name"]
    phase = (claim_obj.get("status") or {}).get("phase")
    if phase == "Lost":
        raise HelperPodError("claim {0} lost its volume".format(claim), namespace=namespace)
    if "ReadWriteOncePod" in modes and users:
        raise HelperPodError(
            "claim {0} is ReadWriteOncePod and mounted by pod {1}; stop that pod first".format(
                claim, pod_utils.pod_name(users[0])),
            namespace=namespace,
        )
    for user in users:
        node = (user.get("spec") or {}).get("nodeName")
        if node:
            return node
    return None


def waiting_problem(pod):
    """A reason the helper will never start, or None while it still may."""
    status = pod.get("status") or {}
    if status.get("phase") in ("Failed", "Succeeded"):
        return "helper pod ended ({0}): {1}".format(status.get("phase"), status.get("message") or status.get("reason"))
    for cstatus in status.get("containerStatuses") or []:
        waiting = (cstatus.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in _FATAL_WAITING:
            return "helper container cannot start ({0}): {1}".format(waiting.get("reason"), waiting.get("message", ""))
    return None


def pending_summary(pod):
    status = pod.get("status") or {}
    conditions = ["{0}={1}{2}".format(c.get("type"), c.get("status"),
                                      " ({0})".format(c.get("message")) if c.get("message") else "")
                  for c in status.get("conditions") or [] if c.get("status") != "True"]
    return "phase {0}; {1}".format(status.get("phase"), "; ".join(conditions) or "no condition reported")


class HelperPod(object):
    """Context manager: create on enter, wait until running, always delete on exit."""

    def __init__(self, api, namespace, claim, image, read_only, lifetime, start_timeout):
        self.api = api
        self.namespace = namespace
        self.claim = claim
        self.image = image
        self.read_only = read_only
        self.lifetime = lifetime
        self.start_timeout = start_timeout
        self.name = None
        self.node = None
        self.warnings = []
        self.identity = None

    def __enter__(self):
        location = dict(namespace=self.namespace, kind="PersistentVolumeClaim", name=self.claim)
        try:
            claim_obj = self.api.get_claim(self.namespace, self.claim)
        except ObjectNotFound as exc:
            raise ObjectNotFound("claim {0} not found".format(self.claim), **location) from exc
        users = pod_utils.claim_users(self.api.list_pods(self.namespace), self.claim)
        self.node = placement(claim_obj, users)
        namespace_obj = self._optional(lambda: self.api.get_namespace(self.namespace), {})
        workloads = []
        if not users:
            for plural in ("statefulsets", "deployments", "daemonsets"):
                workloads.extend(self._optional(lambda: self.api.list_apps(self.namespace, plural), []))
        self.identity = claim_identity(users, workloads, self.claim, namespace_obj)
        check_allowed(self.identity, self.namespace, self.claim, enforces_restricted(namespace_obj))
        self.name = helper_name(self.claim, os.urandom(3).hex())
        body = helper_manifest(self.name, self.claim, self.image, self.read_only, self.lifetime, self.node,
                               self.identity)
        try:
            self.api.create_pod(self.namespace, body)
        except ApiError as exc:
            if "PodSecurity" not in exc.message:
                raise
            raise HelperPodError("{0}; the helper ran as {1}{2}".format(
                exc.message, self.identity.describe(),
                " read from " + self.identity.source if self.identity.source else " (no pod uses the claim)"),
                namespace=self.namespace, pod=self.name) from exc
        try:
            self._wait_running()
        except BaseException:
            self._delete()
            raise
        return self

    @staticmethod
    def _optional(read, default):
        """What read() returns, or default when the API refuses it (a Role without that right)."""
        try:
            return read()
        except (ApiError, ObjectNotFound):
            return default

    def _wait_running(self):
        deadline = time.monotonic() + self.start_timeout
        pod = None
        while time.monotonic() < deadline:
            pod = self.api.get_pod(self.namespace, self.name)
            problem = waiting_problem(pod)
            if problem:
                raise HelperPodError(problem + " (image {0})".format(self.image), namespace=self.namespace, pod=self.name)
            try:
                pod_utils.ensure_running(pod, CONTAINER)
                return
            except StatesafeError:
                time.sleep(0.5)
        raise HelperPodError(
            "helper pod not running after {0} s: {1}".format(self.start_timeout, pending_summary(pod or {})),
            namespace=self.namespace, pod=self.name,
        )

    def _delete(self):
        """Delete and wait until the pod is gone, so the claim is free again."""
        self.api.delete_pod(self.namespace, self.name, grace_period_seconds=0)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                self.api.get_pod(self.namespace, self.name)
            except ObjectNotFound:
                return
            time.sleep(0.5)
        raise HelperPodError("helper pod still present 60 s after deletion", namespace=self.namespace, pod=self.name)

    def __exit__(self, exc_type, exc, tb):
        try:
            self._delete()
        except (StatesafeError, ObjectNotFound) as cleanup_error:
            if exc_type is None:
                raise HelperPodError("could not remove helper pod: {0}".format(cleanup_error),
                                     namespace=self.namespace, pod=self.name) from cleanup_error
            # The copy already failed; report that, and the leftover pod as a warning.
            self.warnings.append("could not remove helper pod {0}/{1}: {2}".format(
                self.namespace, self.name, cleanup_error))
        return False
