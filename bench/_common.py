"""What both benchmarks share: options, the cluster, a scratch namespace, running one task through ansible.

The benchmarks run with the Python of the project's virtualenv (the one with
ansible, kubernetes.core and the kubernetes client), set up objects with the
kubernetes client, and run the modules only through ansible-playbook, as a
user runs them.
"""

import argparse
import contextlib
import datetime
import json
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

from kubernetes import client, config
from kubernetes.client.rest import ApiException

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
COLLECTION_ROOT = os.path.dirname(BENCH_DIR)
CLUSTER_CACHE = os.path.expanduser("~/.cache/statesafe/cluster")
DEFAULT_IMAGE = "localhost/toolbox:bookworm-1"
MIB = 1024 * 1024


def argument_parser(description):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--kubeconfig", default=os.environ.get("STATESAFE_KUBECONFIG")
                        or os.path.join(CLUSTER_CACHE, "kubeconfig"))
    parser.add_argument("--runs", type=int, default=3, help="repetitions of each measurement (medians are reported)")
    parser.add_argument("--json", metavar="FILE", help="also write every raw figure to FILE")
    parser.add_argument("--workdir", metavar="DIR", default=tempfile.gettempdir(),
                        help="where the local files are written (default: %(default)s); e.g. /dev/shm to take "
                             "the disk out of the measurement")
    return parser


def log(message):
    print("[{0}] {1}".format(time.strftime("%H:%M:%S"), message), file=sys.stderr, flush=True)


def median(values):
    return statistics.median(values) if values else float("nan")


def mb_per_s(size, seconds):
    """Decimal megabytes (10^6) per second, as the issue's goals are stated."""
    return size / 1e6 / seconds if seconds > 0 else float("nan")


def write_json(path, data):
    if path:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=True, default=str)
        log("raw figures written to {0}".format(path))


def scalars(report):
    """The report without its lists of TaskRun (their figures are in the raw records)."""
    return {key: value for key, value in report.items()
            if not (isinstance(value, list) and value and isinstance(value[0], TaskRun))}


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


# -- cluster ---------------------------------------------------------------------------

def core_api(kubeconfig, pool_size=8):
    configuration = client.Configuration()
    config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    configuration.connection_pool_maxsize = pool_size
    return client.CoreV1Api(client.ApiClient(configuration))


def wait_for(predicate, timeout, what, interval=0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError("timed out after {0}s waiting for {1}".format(timeout, what))
        time.sleep(interval)


def _terminate(signum, _frame):
    # SIGTERM/SIGHUP unwind the stack like Ctrl-C, so the namespace is deleted.
    raise KeyboardInterrupt("signal {0}".format(signum))


@contextlib.contextmanager
def scratch_namespace(core, prefix):
    """A fresh namespace, deleted at the end whatever happened (waits until it is gone)."""
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _terminate)
    name = "{0}-{1}".format(prefix, uuid.uuid4().hex[:6])
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    log("namespace {0} created".format(name))
    try:
        wait_for(lambda: _exists(lambda: core.read_namespaced_service_account("default", name)), 60,
                 "the default ServiceAccount of {0}".format(name))
        yield name
    finally:
        log("deleting namespace {0}".format(name))
        try:
            core.delete_namespace(name, grace_period_seconds=0)
            wait_for(lambda: not _exists(lambda: core.read_namespace(name)), 300, "namespace {0} to go".format(name),
                     interval=1)
            log("namespace {0} deleted".format(name))
        except ApiException as exc:
            if exc.status != 404:
                log("could not delete namespace {0}: {1}".format(name, exc))
        except RuntimeError as exc:
            log("{0} (deletion still in progress)".format(exc))
        except Exception as exc:  # pylint: disable=broad-except
            # The API server went away (the cluster was stopped): say so, keep the figures.
            log("could not delete namespace {0}: {1}".format(name, exc))


def _exists(read):
    try:
        read()
        return True
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise


# -- ansible -----------------------------------------------------------------------------

class TaskRun(object):
    """One task run by ansible-playbook.

    wall: the whole ansible-playbook process; task: the task's own duration as
    the JSON callback reports it (what the task adds to a playbook);
    usage: peak RSS and CPU of the module process when measured.
    """

    def __init__(self, result, wall, task, usage, rc):
        self.result = result
        self.wall = wall
        self.task = task
        self.usage = usage
        self.rc = rc

    @property
    def failed(self):
        return bool(self.result.get("failed")) or self.rc != 0

    def summary(self, keys=()):
        data = {"wall_s": round(self.wall, 3), "task_s": round(self.task, 3), "rc": self.rc}
        if self.usage:
            data.update(self.usage)
        for key in keys:
            data[key] = self.result.get(key)
        if self.failed:
            data.update(self.failure())
        return data

    def failure(self):
        """What a failed run said: its message and the end of the module's traceback."""
        exception = str(self.result.get("exception") or self.result.get("module_stderr") or "")
        return {"failed": True, "msg": self.result.get("msg"),
                "exception_tail": exception.strip().splitlines()[-12:]}

    def brief(self, keys=()):
        text = "task {0:.2f}s wall {1:.2f}s rss {2} KiB changed={3}".format(
            self.task, self.wall, (self.usage or {}).get("max_rss_kib"), self.result.get("changed"))
        return " ".join([text] + ["{0}={1}".format(key, self.result.get(key)) for key in keys if key != "changed"])


class Recorder(object):
    """Repeats measurements and keeps every raw figure; a failed task is recorded and left out of the medians."""

    def __init__(self, runs):
        self.runs = runs
        self.raw = {}
        self.failures = []

    def repeat(self, step, measure, keys=(), runs=None):
        """[what measure(index) returned] for the runs that did not fail; floats are seconds."""
        good, raw = [], []
        for index in range(self.runs if runs is None else runs):
            try:
                result = measure(index)
            except RuntimeError as exc:
                # A baseline (kubectl exec, tar) that failed: recorded like a failed task, left out of the medians.
                # kubectl exec itself loses a stream's tail at times (kubernetes/kubernetes#124571).
                raw.append({"failed": True, "msg": str(exc)})
                self.failures.append(dict(step=step, run=index + 1, msg=str(exc), exception_tail=[]))
                log("{0} run {1}: FAILED: {2}".format(step, index + 1, exc))
                continue
            if isinstance(result, TaskRun):
                raw.append(result.summary(keys))
                if result.failed:
                    self.failures.append(dict(step=step, run=index + 1, **result.failure()))
                    log("{0} run {1}: FAILED: {2}".format(step, index + 1, result.result.get("msg")))
                    continue
                log("{0} run {1}: {2}".format(step, index + 1, result.brief(keys)))
            else:
                raw.append(result)
                log("{0} run {1}: {2:.2f}s".format(step, index + 1, result))
            good.append(result)
        self.raw[step] = raw
        return good

    def failures_markdown(self):
        if not self.failures:
            return "failed runs: none"
        lines = ["failed runs (left out of the medians):", ""]
        for failure in self.failures:
            lines.append("- {0}, run {1}: {2}".format(failure["step"], failure["run"], failure["msg"]))
            if failure["exception_tail"]:
                lines += ["", "  ```"] + ["  " + line for line in failure["exception_tail"]] + ["  ```"]
        return "\n".join(lines)


class Ansible(object):
    """Runs single tasks with ansible-playbook from this checkout (collection symlinked into a temp tree)."""

    def __init__(self, directory):
        self.workdir = directory
        collections = os.path.join(directory, "collections")
        os.makedirs(os.path.join(collections, "ansible_collections", "statesafe"))
        os.symlink(COLLECTION_ROOT, os.path.join(collections, "ansible_collections", "statesafe", "backup"))
        self.env = dict(os.environ)
        for var in list(self.env):
            if var.startswith("K8S_AUTH_") or var == "KUBECONFIG":
                del self.env[var]
        self.env.update(
            ANSIBLE_COLLECTIONS_PATH=collections,
            ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
            ANSIBLE_LOCALHOST_WARNING="false",
            ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_DISPLAY_TRACEBACK="error",  # a failed module's traceback lands in its result
        )
        self.playbook_bin = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
        self._count = 0

    def run(self, module, args, measure_usage=True, profile=None, timeout=3600, loop=None):
        """Run `module` with `args` as the only task of a play on localhost (over `loop` if given); a TaskRun.

        With a loop, usage is that of the last item's module process.
        """
        self._count += 1
        stem = os.path.join(self.workdir, "task-{0:03d}".format(self._count))
        task = {"name": "bench", module: args}
        if loop is not None:
            task["loop"] = loop
        play = {"hosts": "localhost", "gather_facts": False, "tasks": [task]}
        with open(stem + ".yml", "w", encoding="utf-8") as handle:
            json.dump([play], handle)  # JSON is YAML
        interpreter = sys.executable
        usage_file = stem + ".usage.json"
        if measure_usage or profile:
            interpreter = stem + ".python"
            wrapper = [sys.executable, os.path.join(BENCH_DIR, "_rusage.py"), usage_file]
            if profile:
                wrapper += ["--profile", profile]
            wrapper += ["--", sys.executable]
            with open(interpreter, "w", encoding="utf-8") as handle:
                handle.write("#!/bin/sh\nexec {0} \"$@\"\n".format(" ".join(shlex.quote(a) for a in wrapper)))
            os.chmod(interpreter, 0o755)
        command = [self.playbook_bin, stem + ".yml", "-e", "ansible_python_interpreter=" + interpreter]
        started = time.monotonic()
        done = subprocess.run(command, capture_output=True, text=True, env=self.env, timeout=timeout, check=False)
        wall = time.monotonic() - started
        try:
            task = json.loads(done.stdout)["plays"][0]["tasks"][0]
            result = task["hosts"]["localhost"]
            task_seconds = duration_seconds(task["task"]["duration"])
        except (ValueError, KeyError, IndexError) as exc:
            raise RuntimeError("no JSON result from ansible-playbook ({0}):\n{1}\n{2}".format(
                exc, done.stdout[-4000:], done.stderr[-4000:])) from exc
        usage = None
        if os.path.exists(usage_file):
            with open(usage_file, encoding="utf-8") as handle:
                usage = json.load(handle)
        return TaskRun(result, wall, task_seconds, usage, done.returncode)


def duration_seconds(duration):
    """Seconds between a JSON callback duration's start and end."""
    start = datetime.datetime.fromisoformat(duration["start"].replace("Z", "+00:00"))
    end = datetime.datetime.fromisoformat(duration["end"].replace("Z", "+00:00"))
    return (end - start).total_seconds()


@contextlib.contextmanager
def workdir(prefix, parent=None):
    path = tempfile.mkdtemp(prefix=prefix, dir=parent)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def fresh_path(path):
    """Remove path if present and write back the page cache, so the next run starts from the same state."""
    shutil.rmtree(path, ignore_errors=True)
    os.sync()
    return path


def print_profile(path, limit=25):
    """A cProfile dump as text: the collection's functions by cumulative time (where the phases go),
    then the top functions by own time (what the time is spent on)."""
    import io
    import pstats

    out = io.StringIO()
    stats = pstats.Stats(path, stream=out)
    stats.sort_stats("cumulative").print_stats(r"statesafe/backup/plugins/module_utils", limit)
    stats.sort_stats("tottime").print_stats(limit)
    text = re.sub(r"/tmp/ansible_[^/ ]*_payload_[^/ ]*/[^/ ]*\.zip/", "", out.getvalue())
    text = re.sub(r"/root/\.ansible/tmp/ansible-tmp-[^/ ]*/", "", text)
    return re.sub(r"\n{3,}", "\n\n", text)
