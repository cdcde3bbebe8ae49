# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restart the workloads that use a Secret or ConfigMap a restore changed, and wait for them.

A pod reads a Secret or ConfigMap in its environment only when it starts, and a mounted one is
refreshed by the kubelet only eventually (never for subPath mounts). After a restore changed one,
the workloads that use it run on the old values until they restart. The restart is the one
`kubectl rollout restart` does: a new `kubectl.kubernetes.io/restartedAt` annotation in the pod
template, so the workload's own update strategy replaces its pods; the wait is what
`kubectl rollout status` waits for.

"Changed" is narrower than "written by the restore": an update that leaves an object as it was changes
nothing, and a workload whose pods all started after the configuration was written already runs on it
(the restore created or rolled it, scaled it to 0 and back for its data, an operator made it from the
restored custom resource): restarting those would only cost a rollout. So a disaster-recovery restore
into an empty namespace restarts nothing, and a restore over a running application restarts exactly
the workloads whose pods predate what they read. Nothing is restarted where nothing runs (0 replicas).

Pure functions decide (which configuration changed, which workloads use it, whether their pods predate
the change, whether a rollout is done); Restarter does the API calls.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.statesafe.backup.plugins.module_utils.errors import (
    ObjectNotFound,
    RolloutNotDone,
)

CONFIG_KINDS = ("Secret", "ConfigMap")
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
_WRITTEN = ("create", "update", "recreate")


def key(kind, name):
    return "{0}/{1}".format(kind, name)


def changed_config(plan_objects):
    """The Secrets and ConfigMaps the restore plan writes with content that differs from what runs, and those an
    unfinished restore of the same archive wrote (``ours``): a run killed between writing them and restarting
    their readers left those readers on the old values, and this run finds nothing left to change. Whether a
    reader predates the write is decided after (predates_config), so readers already restarted stay as they are.

    plan_objects: statesafe.backup.restore_plan's `objects` (kind, key, action, differs, ours).
    """
    return sorted(entry["key"] for entry in plan_objects
                  if entry.get("kind") in CONFIG_KINDS and entry.get("action") in _WRITTEN
                  and (entry.get("differs", True) or entry.get("ours")))


def restarted_by_restore(plan_objects, plan_data):
    """Workloads whose pods start after the restore wrote the configuration anyway.

    Those it creates or recreates, and those whose volume or dump data it writes (it scales them to
    0 and back after the configuration is applied).
    """
    started = set(entry["key"] for entry in plan_objects
                  if entry.get("kind") in WORKLOAD_KINDS and entry.get("action") in ("create", "recreate"))
    started.update(entry["workload"] for entry in plan_data
                   if entry.get("workload") and entry.get("action") in ("restore", "overwrite"))
    return started


def config_references(pod_spec):
    """Every Secret and ConfigMap a pod spec reads: env, envFrom and volumes (projected too), as keys.

    imagePullSecrets are left out: the kubelet reads them at each pull, a running pod does not use them.
    """
    refs = set()
    containers = []
    for field in ("initContainers", "containers", "ephemeralContainers"):
        containers.extend((pod_spec or {}).get(field) or [])
    for container in containers:
        for env in container.get("env") or []:
            source = env.get("valueFrom") or {}
            if source.get("secretKeyRef", {}).get("name"):
                refs.add(key("Secret", source["secretKeyRef"]["name"]))
            if source.get("configMapKeyRef", {}).get("name"):
                refs.add(key("ConfigMap", source["configMapKeyRef"]["name"]))
        for env_from in container.get("envFrom") or []:
            if (env_from.get("secretRef") or {}).get("name"):
                refs.add(key("Secret", env_from["secretRef"]["name"]))
            if (env_from.get("configMapRef") or {}).get("name"):
                refs.add(key("ConfigMap", env_from["configMapRef"]["name"]))
    for volume in (pod_spec or {}).get("volumes") or []:
        if (volume.get("secret") or {}).get("secretName"):
            refs.add(key("Secret", volume["secret"]["secretName"]))
        if (volume.get("configMap") or {}).get("name"):
            refs.add(key("ConfigMap", volume["configMap"]["name"]))
        for source in (volume.get("projected") or {}).get("sources") or []:
            if (source.get("secret") or {}).get("name"):
                refs.add(key("Secret", source["secret"]["name"]))
            if (source.get("configMap") or {}).get("name"):
                refs.add(key("ConfigMap", source["configMap"]["name"]))
    return refs


def _template_spec(workload):
    return ((workload.get("spec") or {}).get("template") or {}).get("spec") or {}


def last_written(obj):
    """When an object was last written: the newest of its managedFields times and its creationTimestamp, or None.

    Every write that changes an object stamps the writer's managedFields entry; a write that changes nothing
    does not. The API server writes these times as RFC 3339 UTC with whole seconds ("...T08:40:00Z"), so the
    strings order as the times do.
    """
    meta = obj.get("metadata") or {}
    times = [entry.get("time") for entry in meta.get("managedFields") or []]
    times.append(meta.get("creationTimestamp"))
    times = [value for value in times if value]
    return max(times) if times else None


def _expression_matches(expression, labels):
    operator, label = expression.get("operator"), expression.get("key")
    values = expression.get("values") or []
    if operator == "In":
        return label in labels and labels[label] in values
    if operator == "NotIn":
        return label not in labels or labels[label] not in values
    if operator == "Exists":
        return label in labels
    if operator == "DoesNotExist":
        return label not in labels
    return False


def selector_matches(selector, labels):
    """Whether a label selector (matchLabels and matchExpressions) selects these labels, as the API server does:
    no selector selects nothing, an empty one everything."""
    if selector is None:
        return False
    labels = labels or {}
    for label, value in (selector.get("matchLabels") or {}).items():
        if labels.get(label) != value:
            return False
    return all(_expression_matches(expression, labels) for expression in selector.get("matchExpressions") or [])


def running_pods(workload, pods):
    """The workload's pods that run or are about to: selected by its selector, not terminating, not finished."""
    selector = (workload.get("spec") or {}).get("selector")
    return [pod for pod in pods
            if selector_matches(selector, (pod.get("metadata") or {}).get("labels"))
            and not (pod.get("metadata") or {}).get("deletionTimestamp")
            and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]


def _predates(pods, written):
    """Whether a pod was created at or before the newest write time (unknown write times count as now).

    The same second counts as before: the times have whole seconds, and a needless restart is cheaper than a pod
    left on the old values.
    """
    if not written or None in written:
        return bool(pods)
    newest = max(written)
    return any((pod.get("metadata") or {}).get("creationTimestamp", "") <= newest for pod in pods)


def _why_left_alone(workload, workload_key, uses, exclude, pods, written):
    if workload_key in exclude:
        return "its pods started after the restore wrote the configuration"
    if _update_strategy(workload) == "OnDelete":
        return "its update strategy is OnDelete: its pods keep the old configuration until they are deleted"
    running = running_pods(workload, pods)
    if not running:
        if (workload.get("spec") or {}).get("replicas") == 0:
            return "it runs no pods (0 replicas): they will start on the restored configuration"
        return "it runs no pods: they will start on the restored configuration"
    if not _predates(running, [written.get(use) for use in uses]):
        return "its pods started after {0} was last written".format(", ".join(uses))
    return None


def users_of(workloads, changed, exclude=(), pods=(), written=None):
    """(to restart, left alone): each {workload, uses} for the workloads whose pods read a changed key.

    workloads: live Deployments, StatefulSets and DaemonSets (kind and metadata.name set);
    exclude: workload keys whose pods start after the change anyway (from the plan);
    pods: the live pods of the namespace; written: {changed key: last_written time} (missing counts as now).
    Those left alone carry the reason.
    """
    changed = set(changed)
    written = written or {}
    restart, left = [], []
    for workload in workloads:
        uses = sorted(config_references(_template_spec(workload)) & changed)
        if not uses:
            continue
        entry = {"workload": key(workload["kind"], workload["metadata"]["name"]), "uses": uses}
        reason = _why_left_alone(workload, entry["workload"], uses, exclude, pods, written)
        if reason:
            entry["reason"] = reason
            left.append(entry)
        else:
            restart.append(entry)
    return restart, left


def _update_strategy(workload):
    spec = workload.get("spec") or {}
    strategy = spec.get("updateStrategy") or spec.get("strategy") or {}
    return strategy.get("type")


def restart_patch(timestamp):
    """The merge patch of `kubectl rollout restart`."""
    return {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: timestamp}}}}}


def rollout_status(workload):
    """(done, what it reports): the conditions `kubectl rollout status` waits for, per kind."""
    meta = workload.get("metadata") or {}
    spec = workload.get("spec") or {}
    status = workload.get("status") or {}
    if status.get("observedGeneration", 0) < meta.get("generation", 0):
        return False, "its controller has not yet seen the restart"
    kind = workload.get("kind")
    if kind == "DaemonSet":
        desired = status.get("desiredNumberScheduled", 0)
        updated = status.get("updatedNumberScheduled", 0)
        available = status.get("numberAvailable", 0)
        return (updated >= desired and available >= desired,
                "{0} of {1} pods updated, {2} available".format(updated, desired, available))
    wanted = spec.get("replicas", 1)
    updated = status.get("updatedReplicas", 0)
    ready = status.get("readyReplicas", 0)
    if kind == "Deployment":
        total = status.get("replicas", 0)
        available = status.get("availableReplicas", 0)
        return (updated >= wanted and total <= updated and available >= updated,
                "{0} of {1} replicas updated, {2} available, {3} in all".format(updated, wanted, available, total))
    same_revision = status.get("updateRevision") == status.get("currentRevision")
    return (ready >= wanted and updated >= wanted and same_revision,
            "{0} of {1} replicas updated, {2} ready".format(updated, wanted, ready))


class Restarter(object):
    """Restart workloads in one namespace and wait for their rollouts, through a KubeApi."""

    def __init__(self, api, namespace, clock=time.monotonic, sleep=time.sleep):
        self.api = api
        self.namespace = namespace
        self.clock = clock
        self.sleep = sleep
        self._types = {}

    def _type(self, kind):
        if kind not in self._types:
            self._types[kind] = self.api.resource_type("apps/v1", kind)
        return self._types[kind]

    def workloads(self):
        found = []
        for kind in WORKLOAD_KINDS:
            found.extend(self.api.list_items(self._type(kind), namespace=self.namespace))
        return found

    def pods(self):
        return self.api.list_pods(self.namespace)

    def written(self, config_keys):
        """{Kind/name: last_written} of Secrets and ConfigMaps; None for one gone meanwhile.

        Only metadata is kept: a Secret's data never leaves this method.
        """
        times = {}
        for config_key in config_keys:
            kind, name = config_key.split("/", 1)
            path = self.api.resource_type("v1", kind).object_path(name, self.namespace)
            try:
                obj = self.api.request("GET", path, location=dict(namespace=self.namespace, kind=kind, name=name))
            except ObjectNotFound:
                times[config_key] = None
                continue
            times[config_key] = last_written({"metadata": obj.get("metadata") or {}})
        return times

    def _path(self, workload_key):
        kind, name = workload_key.split("/", 1)
        return self._type(kind).object_path(name, self.namespace), dict(namespace=self.namespace, kind=kind, name=name)

    def restart(self, workload_key, timestamp):
        path, location = self._path(workload_key)
        self.api.request("PATCH", path, body=restart_patch(timestamp), location=location,
                         content_type="application/merge-patch+json")

    def wait(self, workload_keys, timeout, poll_interval):
        """Seconds each rollout took; RolloutNotDone naming every workload not done at the deadline."""
        started = self.clock()
        waiting = list(workload_keys)
        seconds = {}
        while True:
            reports = {}
            for workload_key in list(waiting):
                path, location = self._path(workload_key)
                done, report = rollout_status(self.api.request("GET", path, location=location))
                if done:
                    seconds[workload_key] = round(self.clock() - started, 1)
                    waiting.remove(workload_key)
                else:
                    reports[workload_key] = report
            if not waiting:
                return seconds
            if self.clock() - started >= timeout:
                raise RolloutNotDone(
                    "the restarted workloads did not finish their rollout within {0} s: {1}".format(
                        timeout, "; ".join("{0}: {1}".format(k, reports[k]) for k in sorted(reports))),
                    namespace=self.namespace, done=sorted(seconds), not_done=sorted(reports))
            self.sleep(poll_interval)


def utc_timestamp():
    """The restartedAt value kubectl writes: RFC 3339, UTC, seconds."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def run(restarter, params, check_mode=False, timestamp=None):
    """Restart the users of what the plan changed; the module's result.

    params: the module's plan_objects, plan_data, wait, timeout and poll_interval.
    """
    plan_objects, plan_data = params["plan_objects"], params.get("plan_data") or []
    changed = changed_config(plan_objects)
    report = {"changed_config": changed, "restarted": [], "left_alone": []}
    if not changed:
        return report
    workloads = restarter.workloads()
    exclude = restarted_by_restore(plan_objects, plan_data)
    # The pods and write times are read only for readers the plan does not already account for: a
    # disaster-recovery restore, where the restore made every reader, costs no further request.
    open_uses = set()
    for workload in workloads:
        if key(workload["kind"], workload["metadata"]["name"]) not in exclude:
            open_uses |= config_references(_template_spec(workload)) & set(changed)
    if open_uses:
        pods, written = restarter.pods(), restarter.written(sorted(open_uses))
    else:
        pods, written = [], {}
    restart, left = users_of(workloads, changed, exclude, pods=pods, written=written)
    report.update(restarted=restart, left_alone=left)
    if check_mode or not restart:
        return report
    stamp = timestamp or utc_timestamp()
    for entry in restart:
        restarter.restart(entry["workload"], stamp)
    if params.get("wait", True):
        seconds = restarter.wait([entry["workload"] for entry in restart], params.get("timeout", 600),
                                 params.get("poll_interval", 5))
        for entry in restart:
            entry["seconds"] = seconds[entry["workload"]]
    return report
