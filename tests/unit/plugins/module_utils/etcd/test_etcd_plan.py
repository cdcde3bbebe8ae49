"""module_utils/etcd/plan.py: the restore's steps, its refusals and the swapped directories' names."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.statesafe.backup.plugins.module_utils.etcd import plan

STATUS = {"revision": 197, "total_keys": 183, "hash": 2533265558}
T = 1_800_000_000


def test_swap_paths_sit_beside_the_data_directory():
    assert plan.swap_paths("/var/lib/etcd/", T) == ("/var/lib/etcd.restore-20270115T080000Z",
                                                    "/var/lib/etcd.before-restore-20270115T080000Z")


@pytest.mark.parametrize("serving, allow, status, control_plane, why", [
    (True, False, STATUS, "static-pods", "the cluster is serving"),
    (False, False, {}, "static-pods", "no checked snapshot"),
    (False, False, STATUS, "docker", "must be one of"),
])
def test_refusals(serving, allow, status, control_plane, why):
    assert why in plan.refusal(serving, allow, status, control_plane)


@pytest.mark.parametrize("serving, allow", [(False, False), (True, True), (False, True)])
def test_allowed(serving, allow):
    assert plan.refusal(serving, allow, STATUS, "commands") is None


def test_the_plan_stops_restores_swaps_puts_back_starts_and_waits_in_that_order():
    steps = plan.restore_plan("/var/lib/etcd", T, "static-pods", ["/etc/kubernetes/pki"], "2027-01-15-080000",
                              STATUS, "https://10.0.0.1:6443/", True)
    assert [s.split()[0] for s in steps] == ["archive", "stop", "restore", "rename", "put", "start", "wait"]
    assert "revision 197, 183 keys" in steps[0] and "(they are serving now)" in steps[1]
    assert "moving the manifests back into" in steps[5]
    assert steps[6] == "wait until https://10.0.0.1:6443/readyz answers"


def test_a_plan_without_files_or_api():
    steps = plan.restore_plan("/d", T, "commands", [], "a", STATUS, "", False)
    assert not any(s.startswith(("put", "wait")) for s in steps) and "given start commands" in steps[-1]


@pytest.mark.parametrize("path, rel", [("/etc/kubernetes/pki", "etc/kubernetes/pki"), ("/etc//k8s/", "etc/k8s")])
def test_saved_paths_below_files(path, rel):
    assert plan.relative_to_root(path) == rel


@pytest.mark.parametrize("path", ["/", "etc/kubernetes", "//"])
def test_saved_paths_must_be_absolute_and_not_root(path):
    with pytest.raises(ValueError):
        plan.relative_to_root(path)
