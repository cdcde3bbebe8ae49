"""Polling inside one process: the loop's timing, and the LIST request each poll makes."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.statesafe.backup.plugins.module_utils.k8s.wait import Lister, job_finished, wait_until


class Clock(object):
    """A clock that only moves when the loop sleeps."""

    def __init__(self):
        self.now = 100.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def answers(*lists):
    """fetch() returning each list in turn, then the last one forever."""
    state = {"calls": 0}

    def fetch():
        state["calls"] += 1
        return lists[min(state["calls"], len(lists)) - 1]
    return fetch


def test_returns_at_the_first_poll_that_satisfies():
    clock = Clock()
    result = wait_until(answers([1], [1, 2], [1, 2, 3]), lambda found: len(found) == 3, 60, 2, clock, clock.sleep)
    assert result == {"done": True, "resources": [1, 2, 3], "attempts": 3, "seconds": 4.0}
    assert clock.sleeps == [2.0, 2.0]


def test_gives_up_before_a_poll_would_come_after_the_timeout():
    clock = Clock()
    result = wait_until(answers([]), bool, 10, 3, clock, clock.sleep)
    # Polls at 0, 3, 6 and 9 s; one at 12 s would be past the timeout.
    assert result == {"done": False, "resources": [], "attempts": 4, "seconds": 9.0}


def test_polls_once_even_with_no_time_to_wait():
    clock = Clock()
    result = wait_until(answers([]), bool, 0, 5, clock, clock.sleep)
    assert result["attempts"] == 1 and not result["done"] and clock.sleeps == []


def test_a_zero_interval_does_not_spin():
    clock = Clock()
    wait_until(answers([], [], [1]), bool, 60, 0, clock, clock.sleep)
    assert clock.sleeps == [0.1, 0.1]


class FakeApi(object):
    def __init__(self):
        self.requests = []

    def resource_type(self, api_version, kind):
        return (api_version, kind)

    def list_items(self, rtype, namespace=None, label_selector=None, field_selector=None):
        self.requests.append((rtype, namespace, label_selector, field_selector))
        return [{"kind": rtype[1]}]


def test_lister_selects_by_name_with_a_field_selector():
    api = FakeApi()
    assert Lister(api, "apps/v1", "StatefulSet", "sf", name="mariadb")() == [{"kind": "StatefulSet"}]
    assert api.requests == [(("apps/v1", "StatefulSet"), "sf", None, "metadata.name=mariadb")]


def test_lister_selects_by_labels_or_lists_all():
    api = FakeApi()
    Lister(api, "v1", "Pod", "op", label_selector="app=op,tier=x")()
    Lister(api, "apps/v1", "StatefulSet", "sf")()
    assert api.requests == [(("v1", "Pod"), "op", "app=op,tier=x", None),
                            (("apps/v1", "StatefulSet"), "sf", None, None)]


def test_a_job_is_finished_when_it_succeeded_or_failed():
    assert job_finished([{"status": {"succeeded": 1}}])
    assert job_finished([{"status": {"failed": 1, "active": 1}}])
    assert not job_finished([{"status": {"active": 1}}])
    assert not job_finished([{}])
    assert not job_finished([])
