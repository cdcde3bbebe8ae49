# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A restore with an operator in the loop: what the restore role derives from a profile's ``operator``.

An operator reconciles a custom resource into workloads it owns, generates a Secret that is missing and puts a
workload's replicas back to what the resource says. The restore therefore applies the Secrets and ConfigMaps first
(nothing is generated), then the custom resource (phase ``operator``), waits until the operator's workloads exist and
are Ready, stops the operator while the data is written (its Deployment scaled to 0, so it cannot fight the
scale-down of a claim's users), starts it again, and after it has reconciled checks that every Secret it restored
still holds the archived value.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# The phase of the objects of operator.resources: after the early objects, before the data.
OPERATOR_PHASE = "operator"
DEFAULT_SETTLE = 10


def settings(profile, namespace):
    """The profile's operator with its defaults: deployment, namespace (the restore's when not given), resources,
    workloads and settle (seconds to let the operator reconcile after it is started again); {} without one."""
    operator = (profile or {}).get("operator") or {}
    if not operator:
        return {}
    return {"deployment": operator["deployment"], "namespace": operator.get("namespace") or namespace,
            "resources": list(operator.get("resources") or []),
            "workloads": [{"kind": w["kind"], "name": w["name"]} for w in operator.get("workloads") or []],
            "settle": operator.get("settle", DEFAULT_SETTLE)}


def phase_of(component, operator_resources):
    """When the restore applies a resources component: ``operator`` for the operator's resources, else its own
    restore_phase (``early`` by default)."""
    if component.get("name") in (operator_resources or ()):
        return OPERATOR_PHASE
    return component.get("restore_phase", "early")


def workload_ready(obj):
    """A StatefulSet or Deployment the operator created is rolled out: its controller saw the current generation
    and every replica is ready (a StatefulSet) or available (a Deployment)."""
    metadata, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    replicas = spec.get("replicas", 1)
    if (status.get("observedGeneration") or 0) < metadata.get("generation", 0):
        return False
    counted = "availableReplicas" if obj.get("kind") == "Deployment" else "readyReplicas"
    return (status.get(counted) or 0) == replicas


def found_ready(resources):
    """Whether k8s_info found exactly one workload and it is ready."""
    return len(resources or []) == 1 and workload_ready(resources[0])


def pod_selector(deployment):
    """The label selector (``k=v,...``) of a Deployment's pods, from its spec.selector.matchLabels."""
    labels = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return ",".join("{0}={1}".format(key, labels[key]) for key in sorted(labels))


# Written on the operator's Deployment together with replicas 0, removed together with the replicas given back: a
# restore killed while the operator is stopped leaves it, and the next run starts the operator at that count before
# it waits for the operator's workloads (which a stopped operator would never bring back).
STOPPED_ANNOTATION = "statesafe.backup/operator-replicas"


def _stopped_count(deployment):
    value = ((deployment.get("metadata") or {}).get("annotations") or {}).get(STOPPED_ANNOTATION)
    try:
        count = int(value)
    except (TypeError, ValueError):
        return None
    return count if count > 0 else None


def replicas_to_restore(deployment):
    """The replica count to give the operator back: the count an interrupted restore recorded when it stopped it,
    else what it has now (at least 1, since an operator at 0 replicas reconciles nothing and the check after it
    would prove nothing)."""
    recorded = _stopped_count(deployment)
    if recorded is not None:
        return recorded
    return max(int((deployment.get("spec") or {}).get("replicas", 1) or 0), 1)


def pause(deployment):
    """What stopping and starting the operator's Deployment needs: its pods' selector, the replicas to give back,
    and whether it is stopped now (replicas 0: left so by a killed restore, or by hand), in which case the restore
    starts it before it waits for the operator's workloads."""
    stopped = int((deployment.get("spec") or {}).get("replicas", 1) or 0) == 0
    return {"selector": pod_selector(deployment), "replicas": replicas_to_restore(deployment),
            "stopped": stopped, "interrupted": _stopped_count(deployment) is not None}


def stop_patch(replicas):
    """The merge patch that stops the operator and records the count to give back, in one request."""
    return {"metadata": {"annotations": {STOPPED_ANNOTATION: str(int(replicas))}}, "spec": {"replicas": 0}}


def start_patch(replicas):
    """The merge patch that starts the operator at `replicas` and removes the record of its stop, in one request."""
    return {"metadata": {"annotations": {STOPPED_ANNOTATION: None}}, "spec": {"replicas": int(replicas)}}


def changed_secrets(archived, live):
    """The names of the restored Secrets whose live data is not the archived data (or that are gone), sorted.

    archived: {name: data} of the Secrets the restore applied (data as the archive holds it, base64 strings);
    live: the namespace's Secrets as k8s_info returns them. Only names leave this function, never a value.
    """
    live_data = dict(((s.get("metadata") or {}).get("name"), s.get("data") or {}) for s in live or [])
    return sorted(name for name, data in (archived or {}).items()
                  if name not in live_data or live_data[name] != (data or {}))


def regenerated_message(names, namespace, operator):
    """Why a restore with an operator fails when a restored Secret changed after the operator reconciled."""
    where = ", ".join("{0}/Secret/{1}".format(namespace, name) for name in names)
    return ("After the operator (Deployment {0}/{1}) reconciled, {2} restored Secret(s) no longer hold the archived "
            "value: {3}. The operator regenerated or rewrote them, so the data restored with the old values (database "
            "passwords, encryption keys) no longer matches. The restore is not complete: its marks stay on what it "
            "applied, so running it again with the same archive writes the archived values back (look for what deletes "
            "or rewrites the Secret first, for example a component left out of the restore).").format(
        operator["namespace"], operator["deployment"], len(names), where)
