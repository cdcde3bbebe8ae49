"""Make this checkout importable as ansible_collections.statesafe.backup.

ansible-test runs from <root>/ansible_collections/statesafe/backup already; a
plain checkout gets a temporary ansible_collections tree holding a symlink to
it. kubernetes.core comes from the installed 'ansible' package (or from the
tree ansible-test prepared).
"""

import atexit
import fnmatch
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _collections_root():
    parts = REPO.split(os.sep)
    if len(parts) >= 3 and parts[-3] == "ansible_collections" and parts[-2:] == ["statesafe", "backup"]:
        return os.sep.join(parts[:-3])
    root = tempfile.mkdtemp(prefix="statesafe-collections-")
    atexit.register(shutil.rmtree, root, True)
    os.makedirs(os.path.join(root, "ansible_collections", "statesafe"))
    os.symlink(REPO, os.path.join(root, "ansible_collections", "statesafe", "backup"))
    return root


COLLECTIONS_ROOT = _collections_root()
if COLLECTIONS_ROOT not in sys.path:
    sys.path.insert(0, COLLECTIONS_ROOT)
os.environ.setdefault("STATESAFE_COLLECTIONS_ROOT", COLLECTIONS_ROOT)


# Rules for the whole suite. A skipped test proves nothing, and a directory that collected fewer tests
# than it has (an import error, a renamed file, pytest's "no tests ran") would pass unnoticed. Under CI
# (CI set) or when asked (STATESAFE_STRICT=1, as `make test` does), a skip not listed in
# tests/skip-allowlist.txt, and a directory of tests/test-floors.txt that the run covered whole but that
# ran fewer tests than its floor, fail the run. A developer running one file or a -k selection is not
# held to the floors.

TESTS = Path(REPO) / "tests"


def _strict() -> bool:
    return bool(os.environ.get("CI")) or os.environ.get("STATESAFE_STRICT") == "1"


def _entries(name: str) -> list[list[str]]:
    """The non-comment lines of a list file under tests/, split into (first field, rest)."""
    lines = (TESTS / name).read_text().splitlines()
    return [line.split(None, 1) for line in lines if line.strip() and not line.lstrip().startswith("#")]


class _Outcomes:
    """What this process saw reported: in pytest-xdist's controller, the reports of every worker."""

    skips: list[tuple[str, str]] = []
    ran: set[str] = set()


def pytest_runtest_logreport(report):
    if report.skipped and report.when in ("setup", "call"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _Outcomes.skips.append((report.nodeid, reason))
    if report.when == "call" or report.outcome != "passed":
        _Outcomes.ran.add(report.nodeid)


def floor_failures(rootpath: Path, args: list[str], ran: set[str], floors: list[list[str]]) -> list[str]:
    """Each floor directory that the run covered whole (it, or a parent of it, was named) and that ran too few."""
    named = [(rootpath / arg).resolve() for arg in args if "::" not in arg]
    failures = []
    for directory, rest in floors:
        target, minimum = (rootpath / directory).resolve(), int(rest.split()[0])
        if not any(path == target or path in target.parents for path in named):
            continue
        count = sum(1 for nodeid in ran if (rootpath / nodeid.split("::", 1)[0]).resolve().is_relative_to(target))
        if count < minimum:
            failures.append(f"{directory}: {count} tests ran, its floor is {minimum} (tests/test-floors.txt)")
    return failures


def unlisted_skips(skips: list[tuple[str, str]], allowed: list[str]) -> list[str]:
    return [f"{nodeid} skipped ({reason}), and it is not on tests/skip-allowlist.txt" for nodeid, reason in skips
            if not any(fnmatch.fnmatch(nodeid, pattern) for pattern in allowed)]


def pytest_sessionfinish(session):
    config = session.config
    if not _strict() or hasattr(config, "workerinput") or config.option.collectonly:
        return
    problems = unlisted_skips(_Outcomes.skips, [entry[0] for entry in _entries("skip-allowlist.txt")])
    selected = config.getoption("keyword") or config.getoption("markexpr") or config.getoption("lf", default=False)
    if not selected:
        problems += floor_failures(config.rootpath, config.args, _Outcomes.ran, _entries("test-floors.txt"))
    if problems:
        config.stash[_PROBLEMS] = problems
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_PROBLEMS = pytest.StashKey[list]()


def pytest_terminal_summary(terminalreporter, config):
    for problem in config.stash.get(_PROBLEMS, []):
        terminalreporter.write_line(f"FAILED (suite rule) {problem}", red=True)
