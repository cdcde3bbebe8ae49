"""The collection's one error boundary, as the bup and report modules use it."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno

import pytest

from ansible_collections.statesafe.backup.plugins.module_utils import boundary
from ansible_collections.statesafe.backup.plugins.module_utils.bup.errors import RepositoryMissing


class Failed(Exception):
    pass


class FakeModule:
    def __init__(self):
        self.failed = None

    def fail_json(self, **kwargs):
        self.failed = kwargs
        raise Failed()


def run(work, **kwargs):
    module = FakeModule()
    try:
        return boundary.run_module(module, work, **kwargs), module.failed
    except Failed:
        return None, module.failed


def raising(exc):
    def work():
        raise exc
    return work


def test_the_result_of_the_work():
    assert run(lambda: {"ok": True}) == ({"ok": True}, None)


def test_a_statesafe_error_brings_its_message_and_location():
    _result, failed = run(raising(RepositoryMissing("no repository", repository="/r")),
                          describe=boundary.repository_error({"repository": "/r"}))
    assert failed["msg"] == str(RepositoryMissing("no repository", repository="/r"))
    assert failed["error_location"] == {"repository": "/r"}
    assert "Traceback" in failed["exception"]


def test_a_bup_module_names_the_repository_of_an_os_error():
    _result, failed = run(raising(OSError(errno.EACCES, "Permission denied")),
                          describe=boundary.repository_error({"remote": "host:/r", "repository": None}))
    assert failed["msg"] == "[Errno 13] Permission denied (repository=host:/r)"
    assert failed["error_location"] == {"repository": "host:/r"}


def test_plain_error_reports_the_message_alone():
    _result, failed = run(raising(OSError(errno.ENOENT, "No such file")), describe=boundary.plain_error)
    assert failed["msg"] == "[Errno 2] No such file"
    assert set(failed) == {"msg", "exception"}


def test_an_exception_outside_catch_is_a_bug_and_not_hidden():
    with pytest.raises(ValueError):
        run(raising(ValueError("bug")), describe=boundary.plain_error)


def test_an_error_nothing_describes_is_a_bug_and_not_hidden():
    with pytest.raises(OSError):
        run(raising(OSError(errno.ENOSPC, "full")))


def test_catch_widens_what_describe_reports():
    _result, failed = run(raising(ValueError("bad json")), catch=(OSError, ValueError),
                          describe=lambda exc: {"msg": "reporting failed: {0}".format(exc)})
    assert failed["msg"] == "reporting failed: bad json"


def test_local_file_error_names_the_path_and_the_file():
    describe = boundary.local_file_error("/local")
    assert describe(OSError(errno.ENOSPC, "No space left on device", "/local/x")) == {
        "msg": "local file error at /local: [Errno 28] No space left on device: '/local/x'",
        "error_location": {"path": "/local/x"}}
    assert boundary.local_file_error(None) is None


def test_local_file_error_names_the_other_end_in_the_cluster():
    location = {"namespace": "db", "pod": "pg-0", "container": "pg", "kind": None}
    describe = boundary.local_file_error("/staging/dumps/db.tar", location)
    assert describe(OSError(errno.ENOSPC, "No space left on device", "/staging/dumps/db.tar")) == {
        "msg": "local file error at /staging/dumps/db.tar: [Errno 28] No space left on device: "
               "'/staging/dumps/db.tar' (namespace=db pod=pg-0 container=pg)",
        "error_location": {"namespace": "db", "pod": "pg-0", "container": "pg", "path": "/staging/dumps/db.tar"}}
