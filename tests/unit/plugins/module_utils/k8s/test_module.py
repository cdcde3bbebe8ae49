"""The modules' one error boundary: each kind of error becomes the same fail_json."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno

import pytest

from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import CoreException
from ansible_collections.statesafe.backup.plugins.module_utils.k8s import module as k8s_module
from ansible_collections.statesafe.backup.plugins.module_utils.errors import ExecFailed, StreamError


class Failed(Exception):
    pass


class FakeModule:
    def __init__(self):
        self.failed = None

    def fail_json(self, **kwargs):
        self.failed = kwargs
        raise Failed()


@pytest.fixture
def boundary(monkeypatch):
    monkeypatch.setattr(k8s_module, "get_client", lambda module: "client")
    monkeypatch.setattr(k8s_module, "KubeApi", lambda client: ("api", client))
    module = FakeModule()

    def run(work, local_path=None):
        try:
            return k8s_module.run_k8s_module(module, work, local_path=local_path), module.failed
        except Failed:
            return None, module.failed
    return run


def test_result_of_the_work_with_client_and_api(boundary):
    result, failed = boundary(lambda client, api: {"client": client, "api": api})
    assert failed is None
    assert result == {"client": "client", "api": ("api", "client")}


def test_statesafe_error_keeps_its_location_and_fields(boundary):
    def work(client, api):
        raise ExecFailed("tar failed", rc=2, stderr="boom", namespace="ns", pod="p", container="c", path="/d")

    _result, failed = boundary(work, local_path="/local")
    assert failed["msg"] == "tar failed (namespace=ns pod=p container=c path=/d)"
    assert failed["rc"] == 2 and failed["stderr"] == "boom"
    assert failed["error_location"] == {"namespace": "ns", "pod": "p", "container": "c", "path": "/d"}
    assert "Traceback" in failed["exception"]


def test_stream_error_returns_what_the_stream_carried(boundary):
    def work(client, api):
        raise StreamError("cut", details={"stdout_bytes": 5}, pod="p")

    _result, failed = boundary(work)
    assert failed["stream"] == {"stdout_bytes": 5}


def test_connection_error(boundary):
    def work(client, api):
        raise CoreException("no kubeconfig")

    _result, failed = boundary(work)
    assert failed["msg"] == "cannot connect to the API server: no kubeconfig"


def test_local_file_error_names_the_path(boundary):
    def work(client, api):
        raise OSError(errno.ENOSPC, "No space left on device", "/local/x/y")

    _result, failed = boundary(work, local_path="/local")
    assert failed["msg"].startswith("local file error at /local: ")
    assert failed["error_location"] == {"path": "/local/x/y"}


def test_local_file_error_without_a_local_path_is_a_bug_and_not_hidden(boundary):
    def work(client, api):
        raise OSError(errno.EIO, "I/O error")

    with pytest.raises(OSError):
        boundary(work)


def test_client_creation_failure_is_reported(monkeypatch):
    def no_client(module):
        raise CoreException("cannot load kubeconfig")

    monkeypatch.setattr(k8s_module, "get_client", no_client)
    module = FakeModule()
    with pytest.raises(Failed):
        k8s_module.run_k8s_module(module, lambda client, api: None)
    assert module.failed["msg"] == "cannot connect to the API server: cannot load kubeconfig"
