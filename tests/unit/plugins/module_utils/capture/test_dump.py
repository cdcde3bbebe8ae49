from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import shutil
import subprocess

import pytest

from ansible_collections.statesafe.backup.plugins.module_utils.capture import dump
from ansible_collections.statesafe.backup.plugins.module_utils.capture import dump_checks
from ansible_collections.statesafe.backup.plugins.module_utils.errors import (
    ExecFailed,
    ExecTimeout,
    InvalidInput,
    StreamError,
    VerificationFailed,
)
from ansible_collections.statesafe.backup.plugins.module_utils.k8s.exec_protocol import ExitStatus

MARKER = "STATESAFE-DUMP-REPORT-0123456789abcdef01234567"
SHA_A = hashlib.sha256(b"a").hexdigest()
SHA_B = hashlib.sha256(b"b").hexdigest()
WHERE = dict(namespace="sf", pod="mariadb-0", container="mariadb", path="/tmp/x.sql")
OK = ExitStatus(0, "")


def report_line(rc="0", tee="0", size="1", sha=SHA_A, marker=MARKER):
    return "\n{0} rc={1} tee={2} size={3} sha256={4}\n".format(marker, rc, tee, size, sha)


# -- argv and marker --------------------------------------------------------------

def test_marker_is_random_and_recognisable():
    first, second = dump_checks.new_marker(), dump_checks.new_marker()
    assert first != second and first.startswith("STATESAFE-DUMP-REPORT-") and " " not in first


def test_from_pod_argv_passes_words_as_arguments():
    argv = dump_checks.from_pod_argv(MARKER, ["timeout", "-k", "10", "60", "sh", "-c", "echo '$x'"], 4096)
    assert argv[:2] == ["/bin/sh", "-c"] and argv[2] == dump_checks.FROM_POD
    assert argv[3:] == ["sh", MARKER, "4096", "timeout", "-k", "10", "60", "sh", "-c", "echo '$x'"]


def test_to_pod_argv_carries_the_exact_size_before_the_words():
    argv = dump_checks.to_pod_argv(MARKER, ["mariadb", "-uroot"], 100, 12345)
    assert argv[2] == dump_checks.TO_POD and argv[3:] == ["sh", MARKER, "100", "12345", "mariadb", "-uroot"]


# -- the report on stderr ----------------------------------------------------------

@pytest.mark.parametrize("stderr, rc, tee, size, sha, before", [
    ("warning: x\n" + report_line(), 0, 0, 1, SHA_A, "warning: x\n"),
    (report_line().lstrip("\n"), 0, 0, 1, SHA_A, ""),
    (report_line(rc="none", size="none", sha="none"), None, 0, None, None, ""),
    (report_line(rc="3", tee="141", size="  42"), 3, 141, None, SHA_A, ""),
    (report_line(sha="zz"), 0, 0, 1, None, ""),
    # The command printed something that looks like a report with the right marker: the last one wins.
    (report_line(rc="0", size="9") + "later\n" + report_line(rc="2"), 2, 0, 1, SHA_A,
     report_line(rc="0", size="9") + "later\n"),
])
def test_parse_report(stderr, rc, tee, size, sha, before):
    report, text = dump_checks.parse_report(stderr.encode(), MARKER)
    assert (report.rc, report.tee_rc, report.size, report.sha256) == (rc, tee, size, sha)
    assert text == before


@pytest.mark.parametrize("stderr", [
    "",
    "plain error output\n",
    report_line(marker="STATESAFE-DUMP-REPORT-other"),
    report_line() + "written after the report\n",
    MARKER + "rc=0\n",
])
def test_parse_report_absent(stderr):
    report, text = dump_checks.parse_report(stderr.encode(), MARKER)
    assert report is None and text == stderr


def test_parse_report_keeps_undecodable_bytes_visible():
    report, text = dump_checks.parse_report(b"bad \xff byte" + report_line().encode(), MARKER)
    assert report.rc == 0 and text == "bad \\xff byte"


# -- trailer and tails ------------------------------------------------------------

@pytest.mark.parametrize("tail, pattern, found", [
    (b"...;\n\n-- Dump completed on 2026-11-21 14:00:00\n", "-- Dump completed", True),
    (b"...;\n\n-- Dump completed\n", r"-- Dump completed( on [0-9: -]+)?\n$", True),
    (b"INSERT INTO t VALUES (1),(2", "-- Dump completed", False),
    (b"-- Dump completed\nmore after it\n", r"-- Dump completed\s*$", False),
    (b"", "x", False),
])
def test_trailer_present(tail, pattern, found):
    assert dump_checks.trailer_present(tail, pattern) is found


def test_tail_buffer_keeps_the_last_bytes():
    buffer = dump_checks.TailBuffer(5)
    for piece in (b"abc", b"defg", memoryview(b"hi")):
        buffer.write(piece)
    assert buffer.getvalue() == b"efghi"


def test_stderr_tail():
    assert dump_checks.stderr_tail("  a\nb\n", 100) == "a\nb"
    assert dump_checks.stderr_tail("0123456789", 3) == "789"


# -- verification decisions -----------------------------------------------------------

DEFAULT_REPORT = dump_checks.Report(0, 0, 1, SHA_A)


def judge_dump(status=OK, report=DEFAULT_REPORT, stderr="", size=1, sha=SHA_A, tail=b"-- Dump completed\n",
               trailer="-- Dump completed", timeout=60, elapsed=1.0):
    dump_checks.judge_dump(status, report, stderr, size, sha, tail, trailer, timeout, elapsed, WHERE)


def test_judge_dump_accepts_a_complete_verified_dump():
    judge_dump()
    judge_dump(trailer=None, tail=b"anything")


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(status=ExitStatus(None, "exec: no such file", started=False)), ExecFailed, "could not start"),
    (dict(status=ExitStatus(137, ""), report=None), StreamError, "without reporting what it sent"),
    (dict(status=ExitStatus(125, ""), report=None, stderr="cannot create a temporary directory"), ExecFailed,
     "wrapper could not be set up"),
    (dict(report=dump_checks.Report(None, 0, 1, SHA_A), status=ExitStatus(1, "")), ExecFailed, "killed before"),
    (dict(report=dump_checks.Report(3, 0, 1, SHA_A), stderr="mariadb-dump: Got error"), ExecFailed,
     "failed with rc 3: mariadb-dump: Got error"),
    (dict(report=dump_checks.Report(124, 0, 1, SHA_A)), ExecTimeout, "timed out after 60 s"),
    (dict(report=dump_checks.Report(124, 0, 1, SHA_A), stderr="pg_dump of database appdb"), ExecTimeout,
     "timed out after 60 s and was ended in the container; its last output: pg_dump of database appdb"),
    (dict(report=dump_checks.Report(143, 0, 1, SHA_A), elapsed=61.0), ExecTimeout, "timed out"),
    (dict(report=dump_checks.Report(143, 0, 1, SHA_A), elapsed=2.0), ExecFailed, "failed with rc 143"),
    (dict(report=dump_checks.Report(0, 141, 1, SHA_A)), StreamError, "tee rc 141"),
    (dict(report=dump_checks.Report(0, 0, 2, SHA_A)), VerificationFailed, "cut or corrupted"),
    (dict(report=dump_checks.Report(0, 0, 1, SHA_B)), VerificationFailed, "cut or corrupted"),
    (dict(report=dump_checks.Report(0, 0, 1, None)), VerificationFailed, "cut or corrupted"),
    (dict(tail=b"INSERT INTO t VALUES (1"), VerificationFailed, "ended early"),
    (dict(status=ExitStatus(1, "")), ExecFailed, "wrapper in the pod ended with rc 1"),
])
def test_judge_dump_refuses(kwargs, error, words):
    with pytest.raises(error) as caught:
        judge_dump(**kwargs)
    assert words in str(caught.value)
    assert "namespace=sf pod=mariadb-0 container=mariadb path=/tmp/x.sql" in str(caught.value)
    assert caught.type is error


def test_judge_dump_timeout_is_not_assumed_without_a_timeout():
    with pytest.raises(ExecFailed) as caught:
        judge_dump(report=dump_checks.Report(124, 0, 1, SHA_A), timeout=None)
    assert caught.type is ExecFailed


@pytest.mark.parametrize("report, status, error, words", [
    (dump_checks.Report(0, 0, 10, SHA_A), OK, None, None),
    (dump_checks.Report(1, 0, 3, SHA_B), ExitStatus(1, ""), ExecFailed, "load: the command failed with rc 1"),
    (dump_checks.Report(0, 0, 9, SHA_A), OK, VerificationFailed, "was given 9 bytes"),
    (dump_checks.Report(0, 0, 10, SHA_B), OK, VerificationFailed, "sha256 " + SHA_B),
    (None, ExitStatus(137, ""), StreamError, "without reporting"),
])
def test_judge_load(report, status, error, words):
    def call():
        dump_checks.judge_load(status, report, "ERROR 1146: Table 'x.y' doesn't exist", 10, SHA_A, 60, 1.0, WHERE)
    if error is None:
        call()
        return
    with pytest.raises(error) as caught:
        call()
    assert words in str(caught.value)


@pytest.mark.parametrize("size, sha, want_sha, want_size, words", [
    (10, SHA_A, SHA_A, None, None),
    (10, SHA_A, SHA_A, 10, None),
    (10, SHA_B, SHA_A, None, "src sha256 is " + SHA_B),
    (10, SHA_A, SHA_A, 11, "src has 10 bytes, the manifest says 11"),
])
def test_check_source(size, sha, want_sha, want_size, words):
    if words is None:
        dump_checks.check_source("/x", size, sha, want_sha, want_size)
        return
    with pytest.raises(VerificationFailed) as caught:
        dump_checks.check_source("/x", size, sha, want_sha, want_size)
    assert words in str(caught.value) and "refusing to load" in str(caught.value)
    assert "nothing was run in the pod" in str(caught.value) and "path=/x" in str(caught.value)


@pytest.mark.parametrize("value, result", [
    (SHA_A, SHA_A),
    ("  " + SHA_A.upper() + "\n", SHA_A),
    ("", None),
    (None, None),
    (SHA_A[:-1], None),
    ("sha256:" + SHA_A, None),
])
def test_check_expected_sha256(value, result):
    if result is None:
        with pytest.raises(InvalidInput):
            dump_checks.check_expected_sha256(value)
    else:
        assert dump_checks.check_expected_sha256(value) == result


@pytest.mark.parametrize("old, new, replace", [
    ((None, None), (1, SHA_A), True),
    ((1, SHA_A), (1, SHA_A), False),
    ((1, SHA_A), (1, SHA_B), True),
    ((2, SHA_A), (1, SHA_A), True),
])
def test_decide_replace(old, new, replace):
    assert dump_checks.decide_replace(old[0], old[1], new[0], new[1]) is replace


def test_file_digest(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * (dump.COPY_CHUNK + 3))
    assert dump.file_digest(str(path)) == (dump.COPY_CHUNK + 3, hashlib.sha256(path.read_bytes()).hexdigest())
    assert dump.file_digest(str(tmp_path / "missing")) == (None, None)
    assert dump.file_digest(str(tmp_path)) == (None, None)


# -- parameters -----------------------------------------------------------------------

def params(**kwargs):
    base = dict(state="from_pod", argv=None, command="mariadb-dump x", env=None, timeout=60, kill_after=5,
                shell="/bin/sh", output_limit=100, trailer_bytes=100, expect_trailer=None, dest="/d", src=None,
                sha256=None, size=None)
    base.update(kwargs)
    return base


def test_check_params_builds_the_command_words():
    assert dump.check_params(params(env={"MYSQL_PWD": "pw"})) == [
        "timeout", "-k", "5", "60", "env", "MYSQL_PWD=pw", "/bin/sh", "-c", "mariadb-dump x"]


@pytest.mark.parametrize("kwargs, words", [
    (dict(timeout=0), "timeout must be at least 1"),
    (dict(trailer_bytes=0), "trailer_bytes must be at least 1"),
    (dict(expect_trailer="(unclosed"), "not a valid regular expression"),
    (dict(sha256=SHA_A), "sha256 applies to state=to_pod only"),
    (dict(state="to_pod", dest=None, src="/s", sha256=SHA_A, expect_trailer="x"), "expect_trailer applies"),
    (dict(state="to_pod", dest=None, src="/s", sha256=SHA_A, size=-1), "size must not be negative"),
])
def test_check_params_refuses(kwargs, words):
    with pytest.raises(InvalidInput) as caught:
        dump.check_params(params(**kwargs))
    assert words in str(caught.value)


# -- the wrappers, run locally with the same POSIX tools a container has -----------------

needs_tools = pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in ("sh", "mkfifo", "tee", "sha256sum", "wc", "mktemp", "tail")),
    reason="needs sh and coreutils")


def run_wrapper(argv, stdin=b""):
    done = subprocess.run(argv, input=stdin, capture_output=True, check=False, timeout=60)
    report, before = dump_checks.parse_report(done.stderr, MARKER)
    return done, report, before


@needs_tools
@pytest.mark.parametrize("script, rc, out", [
    ("printf 'a\\0b\\377'; echo -- Dump completed", 0, b"a\x00b\xff-- Dump completed\n"),
    ("head -c 300000 /dev/zero", 0, b"\x00" * 300000),
    ("echo partial; echo oops >&2; exit 3", 3, b"partial\n"),
    ("printf x; false | true", 0, b"x"),
])
def test_from_pod_wrapper_reports_what_it_sent(script, rc, out):
    done, report, before = run_wrapper(dump_checks.from_pod_argv(MARKER, ["sh", "-c", script], 1000))
    assert done.stdout == out and done.returncode == rc
    assert (report.rc, report.tee_rc, report.size) == (rc, 0, len(out))
    assert report.sha256 == hashlib.sha256(out).hexdigest()
    assert before == ("oops\n" if rc == 3 else "")


@needs_tools
def test_from_pod_wrapper_keeps_only_the_stderr_tail():
    script = "i=0; while [ $i -lt 200 ]; do echo line-$i >&2; i=$((i+1)); done"
    _done, report, before = run_wrapper(dump_checks.from_pod_argv(MARKER, ["sh", "-c", script], 20))
    assert report.rc == 0 and len(before) <= 20 and before.endswith("line-199\n")


@needs_tools
def test_from_pod_wrapper_reports_a_missing_program():
    done, report, before = run_wrapper(dump_checks.from_pod_argv(MARKER, ["/no/such/dump"], 1000))
    assert report.rc == 127 and done.returncode == 127 and "/no/such/dump" in before


@needs_tools
def test_from_pod_wrapper_cleans_up(tmp_path):
    env = dict(os.environ, TMPDIR=str(tmp_path))
    subprocess.run(dump_checks.from_pod_argv(MARKER, ["echo", "x"], 10), env=env, capture_output=True, check=True,
                   timeout=120)
    assert os.listdir(str(tmp_path)) == []


@needs_tools
def test_to_pod_wrapper_passes_exactly_size_bytes():
    data = os.urandom(200000)
    done, report, _before = run_wrapper(dump_checks.to_pod_argv(MARKER, ["sha256sum"], 1000, len(data) - 7), data)
    assert done.returncode == 0
    assert done.stdout.split()[0].decode() == hashlib.sha256(data[:-7]).hexdigest()
    assert (report.rc, report.size, report.sha256) == (0, len(data) - 7, hashlib.sha256(data[:-7]).hexdigest())


@needs_tools
def test_to_pod_wrapper_reports_a_failing_load_and_drains_input():
    data = b"x" * 500000
    done, report, before = run_wrapper(
        dump_checks.to_pod_argv(MARKER, ["sh", "-c", "head -c 10 >/dev/null; echo ERROR 1064 >&2; exit 1"], 1000,
                                len(data)), data)
    assert done.returncode == 1 and report.rc == 1 and before == "ERROR 1064\n"
    assert report.size < len(data)
    with pytest.raises(ExecFailed) as caught:
        dump_checks.judge_load(ExitStatus(1, ""), report, before, len(data), hashlib.sha256(data).hexdigest(), 60,
                               1.0, WHERE)
    assert "rc 1: ERROR 1064" in str(caught.value)
