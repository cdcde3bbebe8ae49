"""k8s_wait: which objects end each kind of wait, and how a timeout names what it waited for."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.statesafe.backup.plugins.modules import k8s_wait


def params(**given):
    base = dict(namespace="sf", kind="StatefulSet", name=None, label_selectors=[], names=[], ready={})
    base.update(given)
    return base


def sts(name, ready=1, replicas=1, generation=1, observed=1):
    return {"kind": "StatefulSet", "metadata": {"name": name, "generation": generation},
            "spec": {"replicas": replicas},
            "status": {"observedGeneration": observed, "readyReplicas": ready, "updatedReplicas": ready}}


def test_absent_is_an_empty_list():
    done = k8s_wait.condition(params(until="absent", kind="Pod"))
    assert done([]) and not done([{"kind": "Pod"}])


def test_statefulsets_ready_needs_every_name_present_and_ready():
    done = k8s_wait.condition(params(until="statefulsets_ready", names=["a", "b"]))
    assert done([sts("a"), sts("b"), sts("other", ready=0)])
    assert not done([sts("a")])
    assert not done([sts("a"), sts("b", ready=0)])
    assert not done([sts("a"), sts("b", observed=0)])


def test_statefulsets_ready_defaults_to_the_name():
    done = k8s_wait.condition(params(until="statefulsets_ready", name="a"))
    assert done([sts("a")]) and not done([])


def test_workload_ready_needs_exactly_one_rolled_out():
    done = k8s_wait.condition(params(until="workload_ready", name="a"))
    assert done([sts("a")])
    assert not done([]) and not done([sts("a"), sts("a")]) and not done([sts("a", ready=0)])


def test_ready_follows_the_profiles_description():
    by_path = k8s_wait.condition(params(until="ready", ready={"path": "status.ready", "value": True}))
    assert by_path([{"status": {"ready": True}}]) and not by_path([{"status": {"ready": False}}])
    by_condition = k8s_wait.condition(params(until="ready", ready={"condition": "Ready", "timeout": 60}))
    assert by_condition([{"status": {"conditions": [{"type": "Ready", "status": "True"}]}}])
    assert not by_condition([])


def test_the_message_names_the_objects_and_the_namespace():
    assert k8s_wait.described(params(name="mariadb")) == "StatefulSet mariadb in namespace sf"
    assert k8s_wait.described(params(kind="Pod", label_selectors=["app=op"], namespace="op")) == \
        "Pod objects with labels app=op in namespace op"
    assert k8s_wait.described(params(names=["a", "b"])) == "StatefulSet a, b in namespace sf"


def test_job_finished_ends_on_success_or_failure():
    done = k8s_wait.condition(params(until="job_finished", kind="Job", name="j"))
    assert done([{"status": {"succeeded": 1}}]) and done([{"status": {"failed": 2}}])
    assert not done([{"status": {"active": 1}}]) and not done([])
