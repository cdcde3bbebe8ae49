# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Copy a directory tree out of or into a pod as one tar stream, incrementally and verified.

from_pod: list the remote tree (one exec), plan against the local mirror,
stream only the changed files (one exec, one tar stream) into a staging
directory beside the mirror, check every file's sha256 against the pod's
(one exec), and only then apply the plan: the mirror is never left half
updated, and unchanged files are never rewritten.

to_pod: list the remote tree; when it already matches, do nothing. Otherwise
stream the whole local tree plus a checksum manifest into the pod, where
RECEIVE_TAR extracts it next to the old data, verifies it and swaps it in.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import posixpath
import shutil
import tempfile
import time

from ansible_collections.statesafe.backup.plugins.module_utils.volume import mirror
from ansible_collections.statesafe.backup.plugins.module_utils.errors import (
    ChecksumMismatch,
    FileChangedWhileRead,
    InvalidInput,
    ObjectNotFound,
    StatesafeError,
    UnsafeArchive,
)
from ansible_collections.statesafe.backup.plugins.module_utils.k8s import pods as pod_utils
from ansible_collections.statesafe.backup.plugins.module_utils.volume.apply import (
    apply_plan,
    received_in_place,
)
from ansible_collections.statesafe.backup.plugins.module_utils.volume.receive import (
    RemoteSums,
    attempt_directory,
    check_received,
    fetch,
    fetch_retrying,
)
from ansible_collections.statesafe.backup.plugins.module_utils.volume.send import (
    send,
)
from ansible_collections.statesafe.backup.plugins.module_utils.volume.target import (
    Target,
    check_readable,
    check_writable,
    remote_listing,
)
from ansible_collections.statesafe.backup.plugins.module_utils.k8s.helper_pod import (
    CONTAINER as HELPER_CONTAINER,
    MOUNT_PATH,
    HelperPod,
)

LOCAL_ROOT_MODE = 0o700
IGNORED_REPORT_LIMIT = 100


def copy_summary(plan, started, transferred_files, transferred_bytes, changed, stream_retries=0, changed_retries=0):
    duration = time.monotonic() - started
    ignored = plan.ignored[:IGNORED_REPORT_LIMIT]
    return {
        "changed": changed,
        "files_transferred": transferred_files,
        "bytes_transferred": transferred_bytes,
        "files_skipped": plan.unchanged,
        "files_removed": len(plan.remove),
        "dirs_created": len(plan.mkdirs),
        "links_updated": len(plan.links),
        "modes_updated": len(plan.chmods) + len(plan.chowns),
        "ignored": ignored,
        "ignored_count": len(plan.ignored),
        "duration": round(duration, 3),
        "throughput": int(transferred_bytes / duration) if duration > 0 else 0,
        "stream_retries": stream_retries,
        "changed_retries": changed_retries,
        "plan": plan.summary(),
    }


# A live application may write while its volume is copied (ZooKeeper appends to its transaction log, even when
# only a client session expires). GNU tar in the pod then ends with "file changed as we read it", or the sha256
# the pod computes while tar streams differs from the bytes received. Nothing has been applied then, so the copy
# is planned and fetched again from a fresh listing - only what differs from the mirror travels - at most this
# many more times; a file still changing after that fails the copy, naming it.
CHANGED_RETRIES = 2


class K8SCopy(object):
    """One copy between a directory in a pod (target) and a local directory, with its options.

    k8s_client: kubernetes.core's client; target: a Target; local_root: the
    local directory; excludes: patterns left out on both sides; timeout: of
    each exec; preserve_owner: keep (from_pod) or set (to_pod) numeric owners.
    """

    def __init__(self, k8s_client, target, local_root, excludes=(), check_mode=False, timeout=None,
                 preserve_owner=False, reader=None):
        self.k8s_client = k8s_client
        self.target = target
        self.local_root = local_root
        self.excludes = list(excludes)
        self.check_mode = check_mode
        self.timeout = timeout
        self.preserve_owner = preserve_owner
        self.reader = reader  # who runs in the pod, for messages ("uid 1000, gid 1000 read from pod app-0")

    def run(self):
        """The copy's result (copy_summary)."""
        raise NotImplementedError

    def remote_listing(self, missing_ok=False):
        return remote_listing(self.k8s_client, self.target, self.timeout, missing_ok=missing_ok,
                              excluded=mirror.exclusion_matcher(self.excludes))


class K8SCopyFromPod(K8SCopy):
    """Mirror the pod's tree into local_root (see the module docstring); a copy the pod wrote into is repeated."""

    changed_retries = CHANGED_RETRIES

    def run(self):
        started = time.monotonic()
        attempt = 0
        while True:
            try:
                return self.copy_once(started, attempt)
            except (FileChangedWhileRead, ChecksumMismatch) as exc:
                if attempt >= self.changed_retries:
                    exc.message = "{0}; the files kept changing while they were copied ({1} attempts)".format(
                        exc.message, attempt + 1)
                    exc.args = (str(exc),)
                    raise
                attempt += 1

    def copy_once(self, started, changed_retries):
        """One pass: list, plan, fetch what differs, verify, apply. changed_retries: passes before this one."""
        target, local_root = self.target, self.local_root
        excluded = mirror.exclusion_matcher(self.excludes)
        # Read-only, so also in check mode: a copy that would skip or trip over unreadable files fails naming them.
        check_readable(self.k8s_client, target, self.timeout, excluded, self.reader)
        source = mirror.filter_listing(self.remote_listing(), excluded)
        if os.path.lexists(local_root) and not os.path.isdir(local_root):
            raise InvalidInput("local_path exists and is not a directory", path=local_root)
        owner = True if (self.preserve_owner and os.geteuid() == 0) else None
        local = mirror.scan_local(local_root, excluded)
        try:
            plan = mirror.plan_mirror(source, local, compare_owner=owner is not None)
        except UnsafeArchive as exc:
            raise UnsafeArchive(exc.message, **target.location(exc.location.get("path"))) from exc
        creating_root = not os.path.isdir(local_root)
        if self.check_mode or not (plan.changed or creating_root):
            return copy_summary(plan, started, 0, 0, plan.changed or creating_root, changed_retries=changed_retries)
        parent = os.path.dirname(os.path.abspath(local_root))
        if not os.path.isdir(parent):
            os.makedirs(parent, 0o755)
        staging = tempfile.mkdtemp(dir=parent, prefix=".{0}.statesafe-incoming-".format(os.path.basename(local_root)))
        try:
            received, retries = self._receive(plan.transfer, staging, owner)
            if creating_root:
                # A first copy is built where the files were received and renamed into place whole:
                # no per-file rename, and no half-built mirror under local_path if anything fails.
                tree = attempt_directory(staging, retries)
                if not (received and received_in_place(tree, received)):
                    tree = os.path.join(staging, "tree")
                    os.mkdir(tree, LOCAL_ROOT_MODE)
                apply_plan(tree, plan, source, received, staging, owner)
                os.chmod(tree, LOCAL_ROOT_MODE)
                os.rename(tree, local_root)
            else:
                apply_plan(local_root, plan, source, received, staging, owner)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        transferred = sum(r.size for r in received.values())
        return copy_summary(plan, started, len(received), transferred, True, retries, changed_retries)

    def _receive(self, paths, staging, owner):
        """({relpath: Received}, stream retries) of paths fetched into staging and checked against the pod's sums."""
        if not paths:
            return {}, 0
        sums = RemoteSums(self.k8s_client, self.target, paths, self.timeout)  # hashes while tar streams
        received, retries = fetch_retrying(
            lambda wanted, directory: fetch(self.k8s_client, self.target, wanted, directory, self.timeout, owner),
            paths, staging)
        try:
            check_received(received, sums.result())
        except ChecksumMismatch as exc:
            raise ChecksumMismatch(exc.message, **self.target.location(exc.location.get("path"))) from exc
        return received, retries


class K8SCopyToPod(K8SCopy):
    """Make the pod's tree match local_root: nothing when it already does, else the whole tree, verified in the pod."""

    def run(self):
        started = time.monotonic()
        local_root = self.local_root
        if not os.path.isdir(local_root):
            raise ObjectNotFound("local_path is not a directory", path=local_root)
        excluded = mirror.exclusion_matcher(self.excludes)
        source = mirror.scan_local(local_root, excluded)
        try:
            mirror.check_source_tree(source)
        except UnsafeArchive as exc:
            raise UnsafeArchive(exc.message, path=os.path.join(local_root, exc.location.get("path", ""))) from exc
        dest = mirror.filter_listing(self.remote_listing(missing_ok=True), excluded)
        plan = mirror.plan_mirror(source, dest, compare_owner=self.preserve_owner)
        if self.check_mode or not plan.changed:
            return copy_summary(plan, started, 0, 0, plan.changed)
        # The pod's whole tree is replaced (RECEIVE_TAR swaps every top-level entry), excluded entries too.
        check_writable(self.k8s_client, self.target, self.timeout, writer=self.reader)
        sums = send(self.k8s_client, self.target, local_root, source, self.preserve_owner, self.timeout)
        sent = sum(source[p].size for p in sums)
        return copy_summary(plan, started, len(sums), sent, True)


def resolve_pod_target(api, namespace, pod, container, path):
    pod_obj = api.get_pod(namespace, pod)
    container = pod_utils.choose_container(pod_obj, container)
    pod_utils.ensure_running(pod_obj, container)
    return Target(namespace, pod, container, path)


def claim_root(path, mount=MOUNT_PATH):
    """Path inside the claim, as seen where it is mounted (the helper's mount by default); refuses '..'."""
    relative = (path or ".").strip("/")
    parts = [p for p in relative.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidInput("remote_path must stay inside the claim", path=path)
    return posixpath.join(mount, *parts) if parts else mount


def resolve_claim_user_target(api, namespace, claim, container, path):
    """A running pod that mounts the claim, its container and the path in it: a copy read through the application's
    own container, without a helper pod."""
    pod_obj, container, mount = pod_utils.claim_mount(api.list_pods(namespace), claim, container)
    pod_obj["metadata"].setdefault("namespace", namespace)
    pod_utils.ensure_running(pod_obj, container)
    return Target(namespace, pod_utils.pod_name(pod_obj), container, claim_root(path, mount))


def run(k8s_client, api, params, check_mode):
    namespace = params["namespace"]
    timeout = params["timeout"]
    from_pod = params["state"] == "from_pod"
    local_root = params["local_path"]

    direction = K8SCopyFromPod if from_pod else K8SCopyToPod

    def copy(target, preserve_owner=params["preserve_owner"], reader=None):
        return direction(k8s_client, target, local_root, excludes=params["exclude"], check_mode=check_mode,
                         timeout=timeout, preserve_owner=preserve_owner, reader=reader).run()

    if params.get("pod"):
        if not params["remote_path"].startswith("/"):
            raise InvalidInput("remote_path must be absolute when copying from a pod", namespace=namespace,
                               pod=params["pod"], container=params.get("container"), path=params["remote_path"])
        return copy(resolve_pod_target(api, namespace, params["pod"], params.get("container"), params["remote_path"]))

    claim = params["pvc"]
    location = dict(namespace=namespace, kind="PersistentVolumeClaim", name=claim)
    if params.get("through") == "user":
        if not from_pod:
            raise InvalidInput("a copy into claim {0} goes through a helper pod, with the pods that use the claim "
                               "stopped; through=user only reads".format(claim), **location)
        target = resolve_claim_user_target(api, namespace, claim, params.get("container"), params["remote_path"])
        result = copy(target)
        result["read_through"] = {"pod": target.pod, "container": target.container, "path": target.root}
        return result
    if params.get("container"):
        raise InvalidInput("container names the container of a claim's user to read through (through=user); a "
                           "helper pod has its own", **location)
    if check_mode:
        return {"changed": False, "skipped": True,
                "msg": "check mode does not start a helper pod to read claim {0}/{1}".format(namespace, claim)}
    helper = HelperPod(api, namespace, claim, params["helper_image"], read_only=from_pod,
                       lifetime=timeout + 300, start_timeout=params["helper_start_timeout"])
    try:
        with helper:
            identity = helper.identity
            # A non-root helper cannot chown: restored files belong to it, the application's user.
            preserve = params["preserve_owner"] and (from_pod or identity.root)
            reader = "{0}{1}".format(identity.describe(), " read from " + identity.source if identity.source else "")
            result = copy(Target(namespace, helper.name, HELPER_CONTAINER, claim_root(params["remote_path"])),
                          preserve_owner=preserve, reader=reader)
    except StatesafeError as exc:
        if helper.warnings:
            exc.message = "{0}; also: {1}".format(exc.message, "; ".join(helper.warnings))
        raise
    result["helper_pod"] = helper.name
    result["helper_node"] = helper.node
    result["helper_identity"] = helper.identity.as_dict()
    return result
