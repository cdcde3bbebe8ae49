"""Dynamic provisioner of `local` PersistentVolumes for the test cluster's `local` StorageClass.

Why it exists: the built-in host-path provisioner makes `hostPath` volumes, and the kubelet never applies a
pod's `fsGroup` to those, so an application running as a non-root user (what PodSecurity `restricted`
demands) cannot write to its own claim. On the CSI and cloud storage users have, `fsGroup` is applied. The
kubelet does apply it to `local` volumes, so this provisioner makes one directory per claim under ROOT and a
`local` PersistentVolume for it, pinned to the node, and deletes both when the claim is gone (reclaim policy
Delete). It polls the API once a second: a test cluster makes a few claims a minute.

    local_provisioner.py --kubeconfig FILE --root DIR --node NAME
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import time
from pathlib import Path

from kubernetes import client, config
from kubernetes.client.rest import ApiException

CLASS = "local"
PROVISIONER = "statesafe.test/local-volume"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"


def volume_for(claim: client.V1PersistentVolumeClaim, root: Path, node: str) -> client.V1PersistentVolume:
    """The PersistentVolume that serves CLAIM: a directory named after the claim's uid, bound to it."""
    name = f"pvc-{claim.metadata.uid}"
    return client.V1PersistentVolume(
        metadata=client.V1ObjectMeta(name=name, annotations={PROVISIONED_BY: PROVISIONER}),
        spec=client.V1PersistentVolumeSpec(
            capacity={"storage": claim.spec.resources.requests["storage"]},
            access_modes=claim.spec.access_modes,
            persistent_volume_reclaim_policy="Delete",
            storage_class_name=CLASS,
            volume_mode=claim.spec.volume_mode or "Filesystem",
            local=client.V1LocalVolumeSource(path=str(root / name)),
            claim_ref=client.V1ObjectReference(
                kind="PersistentVolumeClaim", api_version="v1", namespace=claim.metadata.namespace,
                name=claim.metadata.name, uid=claim.metadata.uid),
            node_affinity=client.V1VolumeNodeAffinity(required=client.V1NodeSelector(node_selector_terms=[
                client.V1NodeSelectorTerm(match_expressions=[client.V1NodeSelectorRequirement(
                    key="kubernetes.io/hostname", operator="In", values=[node])])]))))


def wanted(claim: client.V1PersistentVolumeClaim) -> bool:
    return (claim.spec.storage_class_name == CLASS and not claim.spec.volume_name
            and claim.status.phase == "Pending" and claim.metadata.deletion_timestamp is None)


def ours_released(volume: client.V1PersistentVolume) -> bool:
    return ((volume.metadata.annotations or {}).get(PROVISIONED_BY) == PROVISIONER
            and volume.status.phase in ("Released", "Failed"))


class Provisioner:
    def __init__(self, core: client.CoreV1Api, root: Path, node: str):
        self.core, self.root, self.node = core, root, node

    def provision(self, claim: client.V1PersistentVolumeClaim) -> None:
        volume = volume_for(claim, self.root, self.node)
        (self.root / volume.metadata.name).mkdir(mode=0o755, parents=True, exist_ok=True)
        try:
            self.core.create_persistent_volume(volume)
        except ApiException as exc:
            if exc.status != 409:  # made on an earlier pass, not bound yet
                raise
            return
        logging.info("provisioned %s for %s/%s", volume.metadata.name, claim.metadata.namespace,
                     claim.metadata.name)

    def reclaim(self, volume: client.V1PersistentVolume) -> None:
        path = Path(volume.spec.local.path)
        if path.parent != self.root:  # never delete outside our own directory
            logging.error("%s points outside %s (%s): left alone", volume.metadata.name, self.root, path)
            return
        shutil.rmtree(path, ignore_errors=True)
        try:
            self.core.delete_persistent_volume(volume.metadata.name)
        except ApiException as exc:
            if exc.status != 404:
                raise
        logging.info("deleted %s and %s", volume.metadata.name, path)

    def once(self) -> None:
        for claim in self.core.list_persistent_volume_claim_for_all_namespaces().items:
            if wanted(claim):
                self.provision(claim)
        for volume in self.core.list_persistent_volume().items:
            if ours_released(volume):
                self.reclaim(volume)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--root", required=True, type=Path)
    parser.add_argument("--node", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args.root.mkdir(parents=True, exist_ok=True)
    provisioner = Provisioner(client.CoreV1Api(config.new_client_from_config(config_file=args.kubeconfig)),
                              args.root.resolve(), args.node)
    while True:
        try:
            provisioner.once()
        except Exception:  # the API server restarting must not end the provisioner
            logging.exception("pass failed; retrying")
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
