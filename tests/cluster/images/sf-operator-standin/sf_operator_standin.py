#!/usr/bin/python3
"""TEST STAND-IN for sf-operator: the sample stack's operator, for the backup and restore tests only.

sf-operator (softwarefactory-project/sf-operator) cannot be built on the test machines (the Go module proxy
refuses its module), so this small controller does what sf-operator does where a backup tool must care, modelled
on its controllers (controllers/utils.go: CreateR, ensureSecretFromFunc, ensureStatefulset; the Reconcile of
softwarefactory_controller.go):

- it reconciles every SoftwareFactory resource of its own namespace into the Services and StatefulSets it owns
  (ownerReferences with controller: true, so deleting the resource deletes them), from templates mounted at
  $STANDIN_TEMPLATES (the sample's own manifests, rendered by tests/cluster/sample/sample.py);
- it re-creates a deleted child;
- it generates a Secret that is missing with a new random value (EnsureSecretUUID): the trap a restore must
  avoid, by restoring the Secrets before the resource;
- it puts a StatefulSet's replicas back to what the resource says (spec.<name>.replicas, default the template's),
  as ensureStatefulset forces desiredReplicaCount: a restore that scales a workload to 0 while the operator runs
  is fought;
- it sets status.ready (every owned StatefulSet ready) and status.observedGeneration.

It polls every $STANDIN_INTERVAL seconds (2 by default) instead of watching. Its readiness probe passes once it
has finished one whole reconcile pass after starting ($STANDIN_READY_FILE), so "the operator is Ready" means it has
looked at everything at least once. It needs rights in its namespace only (a Role). Anything else sf-operator does
(Zuul, Nodepool, certificates, config jobs, updates of a child's template) is left out.
"""

import base64
import copy
import os
import secrets
import sys
import time

GROUP, VERSION, PLURAL = "sf.softwarefactory-project.io", "v1", "softwarefactories"
PART_OF = {"app.kubernetes.io/part-of": "softwarefactory"}
# The Secrets sf-operator generates when they are missing (name -> (type, labels, keys)), with the layout of the
# sample's own: EnsureSecretUUID names the key after the Secret; zuul-db as the sample lays it out.
GENERATED_SECRETS = {
    "mariadb-root-password": ("Opaque", {"app.kubernetes.io/name": "mariadb"}, ("mariadb-root-password",)),
    "zuul-keystore-password": ("Opaque", {"app.kubernetes.io/name": "zuul"}, ("zuul-keystore-password",)),
    "zuul-db": ("kubernetes.io/basic-auth", {"app.kubernetes.io/name": "zuul"}, ("password",)),
}
FIXED_VALUES = {"zuul-db": {"username": "zuul"}}


def log(message):
    print("sf-operator-standin: " + message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- desired state (data in, data out)


def owner_reference(resource):
    """The controller ownerReference a child of `resource` carries (controllerutil.SetControllerReference)."""
    meta = resource["metadata"]
    return {"apiVersion": resource["apiVersion"], "kind": resource["kind"], "name": meta["name"],
            "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}


def generated_secret(name, resource, token=secrets.token_urlsafe):
    """A new Secret `name` with fresh random values, owned by `resource`."""
    type_, labels, random_keys = GENERATED_SECRETS[name]
    values = dict(FIXED_VALUES.get(name, {}))
    values.update((key, token(24)) for key in random_keys)
    return {"apiVersion": "v1", "kind": "Secret", "type": type_,
            "metadata": {"name": name, "namespace": resource["metadata"]["namespace"],
                         "labels": dict(PART_OF, **labels), "ownerReferences": [owner_reference(resource)]},
            "data": {key: base64.b64encode(value.encode()).decode() for key, value in values.items()}}


def desired_replicas(resource, template):
    """What the resource says a StatefulSet's replicas are: spec.<name>.replicas, else the template's (1)."""
    section = (resource.get("spec") or {}).get(template["metadata"]["name"]) or {}
    replicas = section.get("replicas") if isinstance(section, dict) else None
    return int(replicas if replicas is not None else template["spec"].get("replicas", 1))


def desired_children(resource, templates):
    """The Services and StatefulSets the resource owns: each template in the resource's namespace, owned by it,
    a StatefulSet with the replicas the resource asks for."""
    children = []
    for template in templates:
        child = copy.deepcopy(template)
        child["metadata"]["namespace"] = resource["metadata"]["namespace"]
        child["metadata"]["ownerReferences"] = [owner_reference(resource)]
        if child["kind"] == "StatefulSet":
            child["spec"]["replicas"] = desired_replicas(resource, template)
        children.append(child)
    return children


def replicas_drift(live, desired):
    """The replicas to put back on a live StatefulSet, or None when it has what the resource says."""
    want = desired["spec"]["replicas"]
    have = (live.get("spec") or {}).get("replicas")
    return None if have == want else want


def statefulset_ready(live):
    status, spec = live.get("status") or {}, live.get("spec") or {}
    replicas = spec.get("replicas", 1)
    return ((status.get("observedGeneration") or 0) >= (live.get("metadata") or {}).get("generation", 0)
            and (status.get("readyReplicas") or 0) == replicas)


def status_of(resource, live_statefulsets):
    return {"ready": bool(live_statefulsets) and all(statefulset_ready(s) for s in live_statefulsets),
            "observedGeneration": resource["metadata"].get("generation", 0)}


# ---------------------------------------------------------------- the cluster


class Controller(object):
    def __init__(self, namespace, templates):
        from kubernetes import client, config  # pylint: disable=import-outside-toplevel
        from kubernetes.client.rest import ApiException  # pylint: disable=import-outside-toplevel
        config.load_incluster_config()
        api = client.ApiClient()
        self.core, self.apps, self.custom = client.CoreV1Api(api), client.AppsV1Api(api), client.CustomObjectsApi(api)
        self.api = api
        self.not_found = lambda exc: isinstance(exc, ApiException) and exc.status == 404
        self.ApiException = ApiException
        self.namespace = namespace
        self.templates = templates

    def read(self, kind, name):
        """The live object as a dict, or None."""
        reader = {"Secret": self.core.read_namespaced_secret, "Service": self.core.read_namespaced_service,
                  "StatefulSet": self.apps.read_namespaced_stateful_set}[kind]
        try:
            return self.api.sanitize_for_serialization(reader(name, self.namespace))
        except self.ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def create(self, obj):
        creator = {"Secret": self.core.create_namespaced_secret, "Service": self.core.create_namespaced_service,
                   "StatefulSet": self.apps.create_namespaced_stateful_set}[obj["kind"]]
        try:
            creator(self.namespace, obj)
        except self.ApiException as exc:
            if exc.status != 409:  # created meanwhile: the next pass sees it
                raise

    def reconcile(self, resource):
        name = resource["metadata"]["name"]
        if resource["metadata"].get("deletionTimestamp"):
            return
        for secret in GENERATED_SECRETS:
            if self.read("Secret", secret) is None:
                self.create(generated_secret(secret, resource))
                log("generated Secret {0}/{1} (a new random value): it was missing".format(self.namespace, secret))
        statefulsets = []
        for child in desired_children(resource, self.templates):
            kind, child_name = child["kind"], child["metadata"]["name"]
            live = self.read(kind, child_name)
            if live is None:
                self.create(child)
                log("created {0} {1}/{2} for SoftwareFactory {3}".format(kind, self.namespace, child_name, name))
                live = self.read(kind, child_name) or child
            elif kind == "StatefulSet":
                replicas = replicas_drift(live, child)
                if replicas is not None:
                    # A JSON patch: Debian's client (22.6) sends a StatefulSet patch as application/json-patch+json.
                    self.apps.patch_namespaced_stateful_set(
                        child_name, self.namespace, [{"op": "replace", "path": "/spec/replicas", "value": replicas}])
                    log("put StatefulSet {0}/{1} back to {2} replicas (SoftwareFactory {3} says so; it had {4})".format(
                        self.namespace, child_name, replicas, name, live["spec"].get("replicas")))
                    live = self.read(kind, child_name) or live
            if kind == "StatefulSet":
                statefulsets.append(live)
        status = status_of(resource, statefulsets)
        if {k: (resource.get("status") or {}).get(k) for k in status} != status:
            self.custom.patch_namespaced_custom_object_status(GROUP, VERSION, self.namespace, PLURAL, name,
                                                              {"status": status})

    def reconcile_all(self):
        listed = self.custom.list_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL)
        for resource in listed.get("items", []):
            self.reconcile(resource)


def main():
    import yaml  # pylint: disable=import-outside-toplevel
    namespace = os.environ["POD_NAMESPACE"]
    interval = float(os.environ.get("STANDIN_INTERVAL", "2"))
    ready_file = os.environ.get("STANDIN_READY_FILE", "/tmp/reconciled")
    with open(os.environ.get("STANDIN_TEMPLATES", "/etc/sf-operator-standin/templates.yaml")) as handle:
        templates = [d for d in yaml.safe_load_all(handle) if d and d.get("kind") in ("Service", "StatefulSet")]
    controller = Controller(namespace, templates)
    log("TEST STAND-IN for sf-operator, reconciling namespace {0} every {1} s ({2} templates)".format(
        namespace, interval, len(templates)))
    while True:
        try:
            controller.reconcile_all()
        except Exception as exc:  # pylint: disable=broad-except  # a controller keeps going; the next pass retries
            log("reconcile failed, retrying: {0}: {1}".format(type(exc).__name__, str(exc)[:500]))
        else:
            if not os.path.exists(ready_file):
                with open(ready_file, "w") as handle:
                    handle.write("reconciled once\n")
        time.sleep(interval)


if __name__ == "__main__":
    main()
