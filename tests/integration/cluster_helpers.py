"""Helpers shared by the integration tests (importable as `cluster_helpers`).

They live here, not in a conftest.py: several conftest modules share that
name, so `from conftest import ...` would depend on collection order.
"""

from __future__ import annotations

import time
from pathlib import Path

from kubernetes.client.rest import ApiException

REPO = Path(__file__).resolve().parents[2]
CLUSTER_SH = REPO / "tests" / "cluster" / "cluster.sh"


def wait_until(what: str, predicate, timeout: float = 180, interval: float = 1.0,
               explain=None):
    """Poll predicate until truthy; on timeout fail with `explain()` (e.g. the events)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            detail = f"\n{explain()}" if explain else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{detail}")
        time.sleep(interval)


def namespace_events(core, namespace: str) -> str:
    events = sorted(core.list_namespaced_event(namespace).items,
                    key=lambda e: e.last_timestamp or e.event_time or e.metadata.creation_timestamp)
    return "\n".join(f"{e.type} {e.reason} {e.involved_object.kind}/{e.involved_object.name}: "
                     f"{e.message}" for e in events[-10:])


def exists(read) -> bool:
    try:
        read()
        return True
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
