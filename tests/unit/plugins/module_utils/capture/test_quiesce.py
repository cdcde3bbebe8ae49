from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64

import pytest

from ansible_collections.statesafe.backup.plugins.module_utils.capture import quiesce
from ansible_collections.statesafe.backup.plugins.module_utils.errors import InvalidInput


@pytest.mark.parametrize("kwargs, argv", [
    (dict(argv=["mysql", "-e", "FLUSH TABLES"]), ["mysql", "-e", "FLUSH TABLES"]),
    (dict(command="echo a | wc -c"), ["/bin/sh", "-c", "echo a | wc -c"]),
    (dict(command="x", shell="/bin/bash"), ["/bin/bash", "-c", "x"]),
    (dict(argv=["run"], env={"B": "2", "A": "1 2"}), ["env", "A=1 2", "B=2", "run"]),
    (dict(argv=["run"], timeout=30), ["timeout", "-k", "10", "30", "run"]),
    (dict(command="sleep 9", timeout=5, kill_after=2, env={"X": "y"}),
     ["timeout", "-k", "2", "5", "env", "X=y", "/bin/sh", "-c", "sleep 9"]),
    (dict(argv=[1, 2]), ["1", "2"]),
])
def test_build_argv(kwargs, argv):
    assert quiesce.build_argv(**kwargs) == argv


@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(argv=["a"], command="b"),
    dict(argv=["a"], env={"1BAD": "x"}),
    dict(argv=["a"], env={"A-B": "x"}),
    dict(argv=["A=B"], env={"X": "1"}),
])
def test_build_argv_refuses(kwargs):
    with pytest.raises(InvalidInput):
        quiesce.build_argv(**kwargs)


@pytest.mark.parametrize("data, text", [
    (b"plain", "plain"),
    ("héllo".encode(), "héllo"),
    (b"\xff\x00binary\x80", "\\xff\x00binary\\x80"),
    (b"", ""),
])
def test_decode_output(data, text):
    decoded = quiesce.decode_output(data, "text")
    assert decoded == text
    decoded.encode("utf-8")  # always valid UTF-8: ansible-core refuses lone surrogates
    assert base64.b64decode(quiesce.decode_output(data, "base64")) == data


@pytest.mark.parametrize("rc, elapsed, timeout, expected", [
    (124, 1.0, 5, True),
    (143, 5.1, 5, True),
    (137, 15.0, 5, True),
    (143, 1.0, 5, False),
    (0, 9.0, 5, False),
    (124, 1.0, None, False),
    (None, 9.0, 5, False),
])
def test_is_timeout(rc, elapsed, timeout, expected):
    assert quiesce.is_timeout(rc, elapsed, timeout) is expected


def test_summarize_failures():
    base = dict(namespace="ns", container="c")
    results = [dict(base, pod="a", rc=0, timed_out=False), dict(base, pod="b", rc=2, timed_out=False),
               dict(base, pod="c", rc=124, timed_out=True)]
    assert quiesce.summarize_failures(results) == ["ns/b container c: rc 2", "ns/c container c: timed out (rc 124)"]


def test_a_failure_names_the_last_line_the_hook_wrote_to_stderr():
    result = dict(namespace="ns", pod="db-0", container="db", rc=3, timed_out=False,
                  stderr="warming up\ncannot freeze: read lock refused\n\n")
    assert quiesce.summarize_failures([result]) == ["ns/db-0 container db: rc 3: cannot freeze: read lock refused"]
    long = dict(result, stderr="x" * 1000)
    assert quiesce.summarize_failures([long])[0].endswith(": " + "x" * 300 + "...")
    assert quiesce.summarize_failures([dict(result, stderr="Y2Fubm90")], "base64") == ["ns/db-0 container db: rc 3"]


@pytest.mark.parametrize("option, value", [("timeout", 0), ("output_limit", 0), ("kill_after", -1)])
def test_run_hook_validates_numbers_before_any_request(option, value):
    params = dict(argv=["x"], command=None, env=None, timeout=None, kill_after=10, shell="/bin/sh",
                  output_limit=10, output_encoding="text", namespace="ns", pod="p")
    params[option] = value
    with pytest.raises(InvalidInput, match=option):
        quiesce.run_hook(None, None, params)
