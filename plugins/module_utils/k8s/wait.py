# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Waiting for objects of the API to reach a state, polled inside one process.

A wait written as an Ansible `until` loop over kubernetes.core.k8s_info starts an Ansible worker
and a module process for every poll: about a CPU-second each on a small controller, most of it
spent importing the Kubernetes client, so a restore waiting on pods spent more CPU polling than
the pods spent starting. Here one process polls, each poll one LIST request.

`wait_until` is the loop with the clock and sleep passed in, so it is tested without waiting;
`Lister` is the one request.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time


class Lister(object):
    """The objects of one kind in a namespace, by name or by label selector (one LIST request each time)."""

    def __init__(self, api, api_version, kind, namespace, name=None, label_selector=None):
        self._api = api
        self._rtype = api.resource_type(api_version, kind)
        self._namespace = namespace
        self._name = name
        self._label_selector = label_selector

    def __call__(self):
        field_selector = "metadata.name={0}".format(self._name) if self._name else None
        return self._api.list_items(self._rtype, namespace=self._namespace, label_selector=self._label_selector,
                                    field_selector=field_selector)


def job_finished(resources):
    """Whether the one Job found has succeeded or failed (a pod of it did, as its status counts them)."""
    if len(resources or []) != 1:
        return False
    status = resources[0].get("status") or {}
    return (status.get("succeeded") or 0) > 0 or (status.get("failed") or 0) > 0


def wait_until(fetch, satisfied, timeout, interval, clock=time.monotonic, sleep=time.sleep):
    """Call fetch() until satisfied(what it returned), at least once, polls `interval` seconds apart, giving up when
    the next poll would come later than `timeout` seconds after the first.

    Returns {"done": bool, "resources": the last fetch's result, "attempts": polls made, "seconds": time taken}.
    """
    interval = max(float(interval), 0.1)
    started = clock()
    attempts = 0
    while True:
        resources = fetch()
        attempts += 1
        done = bool(satisfied(resources))
        elapsed = clock() - started
        if done or elapsed + interval > timeout:
            return {"done": done, "resources": resources, "attempts": attempts, "seconds": round(elapsed, 1)}
        sleep(interval)
