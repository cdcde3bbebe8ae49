# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who uses a claim, and stopping and starting them around a restore of its data.

A claim's users are the pods that mount it. Writing its data back is only safe once none of
them runs, and a pod deleted by hand comes back: what must be stopped is the workload that
owns it, found by following each pod's controller ownerReference up to something with a scale
subresource (Pod -> ReplicaSet -> Deployment, Pod -> StatefulSet, a ReplicaSet of its own).
A pod that no such workload owns (a bare pod, a DaemonSet's, a Job's) cannot be stopped and
started again by a replica count: the restore refuses it, naming the pod, the container and
the path where it mounts the claim. A claim mounted by several pods (ReadWriteMany, or several
replicas) stops every owner of every one of them. The collection's own helper pods are not users:
one left by a killed run only sleeps until its deadline (its copy ended with the run), and a re-run
must not be refused, nor wait, for it.

Pure functions decide (users, owners, the plan, readiness); ClaimWorkloads talks to the API.
The plan is read before anything is stopped, so a caller can always start again what it
stopped, at the replica counts it had, whatever failed in between.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.statesafe.backup.plugins.module_utils.errors import (
    ClaimBusy,
    InvalidInput,
    ObjectNotFound,
    WorkloadsNotReady,
)
from ansible_collections.statesafe.backup.plugins.module_utils.k8s.helper_pod import is_helper_pod
from ansible_collections.statesafe.backup.plugins.module_utils.k8s.rollout import rollout_status

# The apps/v1 kinds with a scale subresource; a DaemonSet has none (one pod per node, whatever its count).
SCALABLE_KINDS = ("Deployment", "StatefulSet", "ReplicaSet")


def workload_key(kind, name):
    return "{0}/{1}".format(kind, name)


def parse_workload(text):
    """(kind, name) of 'Kind/name'; a bare name is a StatefulSet (how profiles named workloads first)."""
    kind, separator, name = (text or "").partition("/")
    if not separator:
        kind, name = "StatefulSet", kind
    if kind not in SCALABLE_KINDS or not name:
        raise InvalidInput("workload {0!r} is not Kind/name with Kind one of {1}".format(
            text, ", ".join(SCALABLE_KINDS)))
    return kind, name


def _claim_volume_names(pod_spec, claim):
    return {v.get("name") for v in pod_spec.get("volumes") or []
            if (v.get("persistentVolumeClaim") or {}).get("claimName") == claim}


def mounting_pods(pods, claim):
    """Pods that mount the claim and have not finished, terminating ones included (they still hold it), by name;
    the collection's helper pods left out."""
    found = [p for p in pods or []
             if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
             and not is_helper_pod(p)
             and _claim_volume_names(p.get("spec") or {}, claim)]
    return sorted(found, key=lambda p: p["metadata"]["name"])


def mount_point(pod, claim):
    """(container, path) where the pod first mounts the claim, for messages; (None, None) when none does."""
    spec = pod.get("spec") or {}
    names = _claim_volume_names(spec, claim)
    for key in ("containers", "initContainers"):
        for container in spec.get(key) or []:
            for mount in container.get("volumeMounts") or []:
                if mount.get("name") in names:
                    return container.get("name"), mount.get("mountPath")
    return None, None


def controller_of(obj):
    """(kind, name) of the object's controller ownerReference, or None."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref.get("kind"), ref.get("name")
    return None


def scalable_owner(pod, replicasets):
    """(kind, name) of the workload that scales the pod, or (None, what owns it) when none does.

    replicasets: {name: ReplicaSet} of the namespace, to see whether a ReplicaSet is a Deployment's.
    """
    owner = controller_of(pod)
    if owner is None:
        return None, "no controller (a bare pod)"
    kind, name = owner
    if kind == "ReplicaSet":
        replicaset = replicasets.get(name)
        above = controller_of(replicaset) if replicaset is not None else None
        if above is not None and above[0] == "Deployment":
            return above, None
        if above is not None:
            return None, "ReplicaSet {0}, controlled by {1} {2}".format(name, above[0], above[1])
        return owner, None
    if kind in SCALABLE_KINDS:
        return owner, None
    return None, "{0} {1}, which has no replica count".format(kind, name)


def claim_users(pods, replicasets, claim, named=()):
    """(workload keys to stop, in a stable order, [(pod, why it cannot be stopped)]).

    named: workload keys the profile names for the claim, kept first even when no pod of theirs runs now.
    """
    keys = list(named)
    unowned = []
    for pod in mounting_pods(pods, claim):
        owner, why = scalable_owner(pod, replicasets)
        if owner is None:
            unowned.append((pod, why))
            continue
        key = workload_key(*owner)
        if key not in keys:
            keys.append(key)
    return keys, unowned


def refuse_unowned(unowned, namespace, claim):
    """ClaimBusy naming the first pod no workload can stop: its container and where it mounts the claim."""
    if not unowned:
        return
    pod, why = unowned[0]
    container, path = mount_point(pod, claim)
    others = [p["metadata"]["name"] for p, _why in unowned[1:]]
    raise ClaimBusy(
        "claim {0} is mounted by pod {1} ({2}){3}; the restore stops a claim's users by scaling their workload to 0 "
        "and cannot stop this pod: stop it yourself, or restore into a namespace where it does not run".format(
            claim, pod["metadata"]["name"], why,
            ", and by {0}".format(", ".join(others)) if others else ""),
        namespace=namespace, pod=pod["metadata"]["name"], container=container, path=path,
        kind="PersistentVolumeClaim", name=claim)


def replicas_of(workload):
    """The replica count the workload asks for (the API's default is 1)."""
    replicas = (workload.get("spec") or {}).get("replicas")
    return 1 if replicas is None else int(replicas)


def scale_plan(keys, live):
    """[{workload, kind, name, replicas}] for keys, replicas read from live ({key: object}); ObjectNotFound if absent."""
    plan = []
    for key in keys:
        kind, name = parse_workload(key)
        if key not in live:
            raise ObjectNotFound("{0} {1} not found".format(kind, name), kind=kind, name=name)
        plan.append({"workload": key, "kind": kind, "name": name, "replicas": replicas_of(live[key])})
    return plan


def workload_ready(workload):
    """(ready, report): rolled out at its replica count, every replica ready (a ReplicaSet has no rollout)."""
    if workload.get("kind") == "ReplicaSet":
        status = workload.get("status") or {}
        wanted, ready = replicas_of(workload), status.get("readyReplicas", 0)
        seen = status.get("observedGeneration", 0) >= (workload.get("metadata") or {}).get("generation", 0)
        return seen and ready >= wanted, "{0} of {1} replicas ready".format(ready, wanted)
    done, report = rollout_status(workload)
    if done and workload.get("kind") == "Deployment":
        # rollout_status counts available replicas; a started Deployment must also report them ready.
        ready = (workload.get("status") or {}).get("readyReplicas", 0)
        if ready < replicas_of(workload):
            return False, "{0} of {1} replicas ready".format(ready, replicas_of(workload))
    return done, report


class ClaimWorkloads(object):
    """The users of one claim in one namespace, through a KubeApi: find them, stop them, start them again."""

    def __init__(self, api, namespace, claim, clock=time.monotonic, sleep=time.sleep):
        self.api = api
        self.namespace = namespace
        self.claim = claim
        self.clock = clock
        self.sleep = sleep
        self._types = {}

    def _type(self, kind):
        if kind not in self._types:
            self._types[kind] = self.api.resource_type("apps/v1", kind)
        return self._types[kind]

    def _location(self, kind=None, name=None):
        return dict(namespace=self.namespace, kind=kind, name=name)

    def _get(self, key):
        kind, name = parse_workload(key)
        return self.api.request("GET", self._type(kind).object_path(name, self.namespace),
                                location=self._location(kind, name))

    def _live(self, keys):
        live = {}
        for key in keys:
            try:
                live[key] = dict(self._get(key), kind=parse_workload(key)[0])
            except ObjectNotFound:
                continue
        return live

    def _pods(self):
        return self.api.list_pods(self.namespace)

    def _replicasets(self):
        return dict((rs["metadata"]["name"], rs)
                    for rs in self.api.list_items(self._type("ReplicaSet"), namespace=self.namespace))

    def _wait(self, what, keys, check, timeout, poll_interval):
        """Poll until check(live) gives no report; WorkloadsNotReady naming what is still not there at the deadline."""
        started = self.clock()
        while True:
            reports = check(self._live(keys))
            if not reports:
                return round(self.clock() - started, 1)
            if self.clock() - started >= timeout:
                raise WorkloadsNotReady("{0} within {1} s: {2}".format(what, timeout, "; ".join(reports)),
                                        namespace=self.namespace, kind="PersistentVolumeClaim", name=self.claim,
                                        not_ready=[report.split(":")[0] for report in reports])
            self.sleep(poll_interval)

    def _not_ready(self, keys):
        def check(live):
            reports = []
            for key in keys:
                if key not in live:
                    reports.append("{0}: absent".format(key))
                    continue
                ready, report = workload_ready(live[key])
                if not ready:
                    reports.append("{0}: {1}".format(key, report))
            return reports
        return check

    def plan(self, named, timeout, poll_interval):
        """The users to stop: the named workloads (waited for until they exist and are ready) and the owners of every
        pod that mounts the claim now. ClaimBusy when a pod has no owner that scales."""
        named = [workload_key(*parse_workload(key)) for key in named]
        if named:
            self._wait("the workloads of claim {0} are not ready".format(self.claim), named,
                       self._not_ready(named), timeout, poll_interval)
        keys, unowned = claim_users(self._pods(), self._replicasets(), self.claim, named)
        refuse_unowned(unowned, self.namespace, self.claim)
        live = self._live(keys)
        try:
            return scale_plan(keys, live)
        except ObjectNotFound as exc:
            exc.location.setdefault("namespace", self.namespace)
            raise

    def _scale(self, entry, replicas):
        path = self._type(entry["kind"]).object_path(entry["name"], self.namespace) + "/scale"
        self.api.request("PATCH", path, body={"spec": {"replicas": int(replicas)}},
                         location=self._location(entry["kind"], entry["name"]),
                         content_type="application/merge-patch+json")

    def stop(self, plan, timeout, poll_interval, check_mode=False):
        """Scale every planned workload to 0, then wait until no pod mounts the claim; whether anything changed."""
        changed = False
        for entry in plan:
            if replicas_of(self._get(entry["workload"])) != 0:
                changed = True
                if not check_mode:
                    self._scale(entry, 0)
        if check_mode:
            return changed, 0.0
        started = self.clock()
        while True:
            holders = mounting_pods(self._pods(), self.claim)
            if not holders:
                return changed, round(self.clock() - started, 1)
            if self.clock() - started >= timeout:
                pod = holders[0]
                container, path = mount_point(pod, self.claim)
                raise ClaimBusy(
                    "claim {0} is still mounted by {1} pod(s) {2} s after its users were scaled to 0 ({3}); the data "
                    "was not written".format(self.claim, len(holders), timeout,
                                             ", ".join(p["metadata"]["name"] for p in holders)),
                    namespace=self.namespace, pod=pod["metadata"]["name"], container=container, path=path,
                    kind="PersistentVolumeClaim", name=self.claim)
            self.sleep(poll_interval)

    def start(self, plan, timeout, poll_interval, check_mode=False):
        """Scale every planned workload back to its replica count, then wait until each is ready; whether anything
        changed, and the seconds waited."""
        changed = False
        for entry in plan:
            if replicas_of(self._get(entry["workload"])) != int(entry["replicas"]):
                changed = True
                if not check_mode:
                    self._scale(entry, entry["replicas"])
        if check_mode:
            return changed, 0.0
        keys = [entry["workload"] for entry in plan]
        return changed, self._wait("the users of claim {0} are not ready again".format(self.claim), keys,
                                   self._not_ready(keys), timeout, poll_interval)


def run(users, params, check_mode=False):
    """The module's work for one operation; its result.

    params: the module's operation, workloads (find), users (stop, start), timeout and poll_interval.
    """
    operation, timeout, poll = params["operation"], params["timeout"], params["poll_interval"]
    if operation == "find":
        plan = users.plan(params["workloads"] or [], timeout, poll)
        return {"changed": False, "users": [dict((k, entry[k]) for k in ("kind", "name", "replicas")) for entry in plan],
                "seconds": 0.0}
    plan = [dict(entry, workload=workload_key(entry["kind"], entry["name"])) for entry in params["users"] or []]
    for entry in plan:
        parse_workload(entry["workload"])
    act = users.stop if operation == "stop" else users.start
    changed, seconds = act(plan, timeout, poll, check_mode=check_mode)
    return {"changed": changed, "users": params["users"] or [], "seconds": seconds}
