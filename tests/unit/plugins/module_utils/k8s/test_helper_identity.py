from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.statesafe.backup.plugins.module_utils.k8s import helper_identity as hi
from ansible_collections.statesafe.backup.plugins.module_utils.k8s import helper_pod
from ansible_collections.statesafe.backup.plugins.module_utils.errors import HelperPodError, InvalidInput


@pytest.mark.parametrize("value, expected", [
    ("1000680000/10000", (1000680000, 10000)),
    (" 1000680000 / 10000 ", (1000680000, 10000)),
    ("1000680000/10000,1000700000/10000", (1000680000, 10000)),
    ("5000-5009", (5000, 10)),
    ("7000", (7000, 1)),
])
def test_parse_uid_range(value, expected):
    assert hi.parse_uid_range(value) == expected


@pytest.mark.parametrize("value", ["", "abc", "1000/", "/10", "1000/0", "20-10"])
def test_parse_uid_range_refuses(value):
    with pytest.raises(InvalidInput):
        hi.parse_uid_range(value)


def pod_spec(pod_sc=None, containers=None, claim="data"):
    return {
        "securityContext": pod_sc or {},
        "containers": containers if containers is not None else [
            {"name": "app", "volumeMounts": [{"name": "vol", "mountPath": "/d"}]}],
        "volumes": [{"name": "vol", "persistentVolumeClaim": {"claimName": claim}}],
    }


def pod(name, spec):
    return {"metadata": {"name": name}, "spec": spec}


def test_pod_security_context_is_used():
    ident = hi.spec_identity(pod_spec({"runAsUser": 1000, "runAsGroup": 1001, "fsGroup": 2000,
                                       "supplementalGroups": [3000]}), "data", "pod p")
    assert (ident.uid, ident.gid, ident.fs_group, ident.groups) == (1000, 1001, 2000, [3000])
    assert ident.source == "pod p, container app" and ident.uid_origin == "declared"
    assert not ident.root


def test_container_overrides_pod_and_only_mounting_containers_count():
    containers = [
        {"name": "sidecar", "securityContext": {"runAsUser": 5}},  # does not mount the claim
        {"name": "db", "securityContext": {"runAsUser": 999, "runAsGroup": 0},
         "volumeMounts": [{"name": "vol", "mountPath": "/d"}]},
    ]
    ident = hi.spec_identity(pod_spec({"runAsUser": 1000, "runAsGroup": 1000, "fsGroup": 2000}, containers),
                             "data", "pod p")
    assert (ident.uid, ident.gid, ident.fs_group) == (999, 0, 2000)
    assert ident.source == "pod p, container db"


def test_init_container_counts_when_no_container_mounts():
    spec = pod_spec({"fsGroup": 7}, containers=[{"name": "c"}])
    spec["initContainers"] = [{"name": "init", "securityContext": {"runAsUser": 42},
                               "volumeMounts": [{"name": "vol", "mountPath": "/d"}]}]
    assert hi.spec_identity(spec, "data", "pod p").uid == 42


def test_spec_not_mounting_the_claim_gives_none():
    assert hi.spec_identity(pod_spec({"runAsUser": 1}), "other", "pod p") is None


def test_statefulset_claim_template():
    sts = {"kind": "StatefulSet", "metadata": {"name": "mariadb"},
           "spec": {"template": {"spec": {"securityContext": {"runAsUser": 999, "fsGroup": 999},
                                          "containers": [{"name": "db", "volumeMounts": [
                                              {"name": "mysql-data", "mountPath": "/var/lib/mysql"}]}]}},
                    "volumeClaimTemplates": [{"metadata": {"name": "mysql-data"}}]}}
    assert hi.workload_pod_spec(sts, "mysql-data-mariadb-0") is not None
    assert hi.workload_pod_spec(sts, "mysql-data-mariadb-x") is None
    assert hi.workload_pod_spec(sts, "mysql-data-other-0") is None
    ident = hi.claim_identity([], [sts], "mysql-data-mariadb-1")
    assert (ident.uid, ident.fs_group) == (999, 999)
    assert ident.source == "StatefulSet mariadb (pod template), container db"


def test_running_pod_wins_over_template():
    deploy = {"kind": "Deployment", "metadata": {"name": "d"},
              "spec": {"template": {"spec": pod_spec({"runAsUser": 5})}}}
    ident = hi.claim_identity([pod("p", pod_spec({"runAsUser": 1000}))], [deploy], "data")
    assert ident.uid == 1000
    assert hi.claim_identity([], [deploy], "data").uid == 5


def namespace(labels=None, annotations=None):
    return {"metadata": {"name": "ns", "labels": labels or {}, "annotations": annotations or {}}}


def test_openshift_range_fills_an_undeclared_uid_only():
    ns = namespace(annotations={hi.UID_RANGE_ANNOTATION: "1000680000/10000",
                                hi.GROUPS_ANNOTATION: "1000680000/10000"})
    ident = hi.claim_identity([pod("p", pod_spec())], [], "data", ns)
    assert (ident.uid, ident.fs_group) == (1000680000, 1000680000)
    assert ident.uid_origin == "namespace annotation openshift.io/sa.scc.uid-range"
    declared = hi.claim_identity([pod("p", pod_spec({"runAsUser": 1000680005, "fsGroup": 1}))], [], "data", ns)
    assert (declared.uid, declared.fs_group) == (1000680005, 1)
    assert hi.claim_identity([], [], "data", ns).uid == 1000680000


def test_nothing_declared_is_root():
    ident = hi.claim_identity([pod("p", pod_spec())], [], "data", namespace())
    assert ident.uid is None and ident.root
    assert hi.security_contexts(ident) == (None, None)


def test_security_contexts_pass_restricted():
    pod_sc, container_sc = hi.security_contexts(hi.Identity(uid=1000, gid=1000, fs_group=2000, groups=[3]))
    assert pod_sc == {"runAsNonRoot": True, "runAsUser": 1000, "runAsGroup": 1000, "fsGroup": 2000,
                      "supplementalGroups": [3], "seccompProfile": {"type": "RuntimeDefault"}}
    assert container_sc["allowPrivilegeEscalation"] is False
    assert container_sc["capabilities"] == {"drop": ["ALL"]}
    assert container_sc["runAsNonRoot"] is True
    assert container_sc["seccompProfile"] == {"type": "RuntimeDefault"}
    only_uid = hi.security_contexts(hi.Identity(uid=7))[0]
    assert "runAsGroup" not in only_uid and "fsGroup" not in only_uid


def test_manifest_carries_the_security_contexts():
    body = helper_pod.helper_manifest("h", "data", "img", True, 60, identity=hi.Identity(uid=1000, fs_group=2000))
    assert body["spec"]["securityContext"]["runAsUser"] == 1000
    assert body["spec"]["securityContext"]["fsGroup"] == 2000
    assert body["spec"]["containers"][0]["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    root = helper_pod.helper_manifest("h", "data", "img", True, 60)
    assert "securityContext" not in root["spec"] and "securityContext" not in root["spec"]["containers"][0]


def test_enforces_restricted():
    assert hi.enforces_restricted(namespace({hi.ENFORCE_LABEL: "restricted"}))
    assert not hi.enforces_restricted(namespace({hi.ENFORCE_LABEL: "baseline"}))
    assert not hi.enforces_restricted(namespace())
    assert not hi.enforces_restricted({})


@pytest.mark.parametrize("ident, reason", [
    (hi.Identity(uid=0, source="pod app-0, container db"), "pod app-0, container db runs as root (runAsUser 0)"),
    (hi.Identity(source="pod app-0, container db"), "pod app-0, container db declares no runAsUser"),
    (hi.Identity(), "no pod and no StatefulSet, Deployment or DaemonSet template mounts the claim"),
])
def test_root_helper_refused_in_restricted_namespace_with_the_reason(ident, reason):
    with pytest.raises(HelperPodError) as caught:
        hi.check_allowed(ident, "shop", "data", restricted=True)
    text = str(caught.value)
    assert "namespace shop enforces PodSecurity restricted" in text
    assert "claim data" in text and reason in text
    assert "Set runAsUser (non-zero)" in text and hi.UID_RANGE_ANNOTATION in text


def test_root_helper_allowed_elsewhere_and_non_root_everywhere():
    hi.check_allowed(hi.Identity(uid=0), "ns", "data", restricted=False)
    hi.check_allowed(hi.Identity(uid=1000), "ns", "data", restricted=True)
