"""Benchmark profiles/postgresql.yml against the raw pipeline, on a real PostgreSQL server of >= 500 MB.

In namespace pg-bench (enforcing PodSecurity `restricted`; deleted at the end), the server of
tests/cluster/apps/postgresql.yaml is deployed and pgbench initialises database `bench` at --scale
(55: about 530 MB of `pg_dumpall`); --runs times, each measurement next to its baseline.

Each run starts from the server as an idle one is between two scheduled backups (vacuumed and analysed). Then:

1. raw backup: `kubectl exec pg_dumpall | bup split` into a fresh repository;
2. our backup: playbooks/backup.yml with the postgresql profile into a fresh repository and staging;
3. our unchanged second backup with `skip_unchanged=true` (the profile's revision probe): its time
   as a ratio of the first;
4. 1 % of pgbench_accounts' rows changed, then our backup and the raw split again: how much each
   repository grew;
5. the namespace deleted and playbooks/restore.yml run into it (the server comes back from the
   archive), the data checked;
6. the namespace deleted, an empty server deployed (not timed), and the raw restore
   `bup join | kubectl exec psql` timed, the data checked.

Markdown on stdout, progress on stderr, every raw figure with --json.
"""

import json
import os
import subprocess
import sys
import time

import yaml

import _common as common

NAMESPACE = "pg-bench"
MANIFEST = os.path.join(common.COLLECTION_ROOT, "tests", "cluster", "apps", "postgresql.yaml")
PLAYBOOKS = os.path.join(common.COLLECTION_ROOT, "playbooks")
DATABASE = "bench"
CHANGE_SQL = "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE random() < 0.01"
# What the data must be after a restore: row count and the sum of the balances (a change moves it).
CHECK_SQL = "SELECT count(*) || ':' || sum(abalance) FROM pgbench_accounts"


class Server(object):
    """The PostgreSQL StatefulSet in the bench namespace, through kubectl."""

    def __init__(self, kubeconfig, namespace):
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.kubectl_bin = os.path.join(os.path.dirname(kubeconfig), "bin", "kubectl")
        with open(os.path.join(os.path.dirname(kubeconfig), "images.txt"), encoding="utf-8") as handle:
            refs = [ref for ref in handle.read().split() if ref.startswith("localhost/postgres:")]
        if not refs:
            raise SystemExit("no postgres image in the cluster's images.txt: rebuild the cluster (make cluster)")
        self.image = refs[0]

    def kubectl(self, *args, stdin=None, timeout=900, check=True):
        run = subprocess.run([self.kubectl_bin, "--kubeconfig", self.kubeconfig] + list(args), input=stdin,
                             capture_output=True, timeout=timeout, check=False)
        if check and run.returncode != 0:
            raise RuntimeError("kubectl {0}: {1}".format(" ".join(args[:4]), run.stderr.decode(errors="replace")[-2000:]))
        return run

    def sql(self, statement, database="postgres"):
        return self.kubectl("-n", self.namespace, "exec", "postgresql-0", "-c", "postgresql", "--", "psql", "-X",
                            "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-d", database, "-c",
                            statement).stdout.decode().strip()

    def exists(self):
        return self.kubectl("get", "namespace", self.namespace, check=False).returncode == 0

    def delete(self):
        self.kubectl("delete", "namespace", self.namespace, "--ignore-not-found", "--wait=true", "--timeout=300s")

    def deploy(self):
        with open(MANIFEST, encoding="utf-8") as handle:
            text = handle.read().replace("NAMESPACE", self.namespace).replace("IMAGE", self.image)
        objects = [o for o in yaml.safe_load_all(text.replace("SUPERUSER_PASSWORD", "bench-password")) if o]
        for obj in objects:
            for template in obj.get("spec", {}).get("volumeClaimTemplates", []):
                template["spec"]["storageClassName"] = "local"
        self.kubectl("create", "namespace", self.namespace)
        self.kubectl("label", "namespace", self.namespace, "pod-security.kubernetes.io/enforce=restricted")
        self.kubectl("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List",
                                                           "items": objects}).encode())
        self.wait_ready()

    def wait_ready(self):
        self.kubectl("-n", self.namespace, "rollout", "status", "statefulset/postgresql", "--timeout=300s",
                     timeout=320)
        common.wait_for(lambda: self.kubectl("-n", self.namespace, "exec", "postgresql-0", "-c", "postgresql", "--",
                                             "psql", "-X", "-c", "SELECT 1", check=False).returncode == 0,
                        120, "postgresql-0 to accept connections")

    def settle(self):
        """The server as an idle one is between two scheduled backups: vacuumed and analysed, so that no autoanalyze
        (which takes a transaction id, and so moves the profile's revision) starts during the run; the seconds it
        took."""
        started = time.monotonic()
        self.sql("VACUUM ANALYZE", DATABASE)
        return time.monotonic() - started

    def exec_argv(self, *command, stdin=False):
        return [self.kubectl_bin, "--kubeconfig", self.kubeconfig, "-n", self.namespace, "exec"] + \
            (["-i"] if stdin else []) + ["postgresql-0", "-c", "postgresql", "--"] + list(command)


def pipeline(left, right, env=None):
    """left | right, both argv lists; the seconds it took. RuntimeError naming the side that failed."""
    started = time.monotonic()
    producer = subprocess.Popen(left, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    consumer = subprocess.run(right, stdin=producer.stdout, capture_output=True, env=env, check=False)
    producer.stdout.close()
    producer_err = producer.stderr.read()
    producer.wait()
    seconds = time.monotonic() - started
    for argv, rc, err in ((left, producer.returncode, producer_err), (right, consumer.returncode, consumer.stderr)):
        if rc != 0:
            raise RuntimeError("{0} ended with rc {1}: {2}".format(" ".join(argv[:6]), rc,
                                                                  err.decode(errors="replace")[-1500:]))
    return seconds, consumer


def directory_bytes(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


class Playbooks(object):
    """ansible-playbook playbooks/<name> for the bench namespace, with the JSON callback."""

    def __init__(self, workdir, kubeconfig, namespace):
        self.ansible = common.Ansible(workdir)
        self.env = dict(self.ansible.env, ANSIBLE_SHOW_CUSTOM_STATS="1")
        self.kubeconfig = kubeconfig
        self.namespace = namespace

    def run(self, name, **variables):
        variables.update(kubeconfig=self.kubeconfig, app_namespace=self.namespace, profile="postgresql",
                         ansible_python_interpreter=sys.executable)
        command = [self.ansible.playbook_bin, os.path.join(PLAYBOOKS, name), "-e", json.dumps(variables)]
        started = time.monotonic()
        done = subprocess.run(command, capture_output=True, text=True, env=self.env, check=False, timeout=3600)
        wall = time.monotonic() - started
        try:
            document = json.loads(done.stdout)
        except ValueError as exc:
            raise RuntimeError("{0}: no JSON from ansible-playbook (rc {1}): {2}".format(
                name, done.returncode, done.stderr[-2000:])) from exc
        failures = ["{0}: {1}".format(task["task"]["name"], result.get("msg"))
                    for play in document.get("plays", []) for task in play.get("tasks", [])
                    for result in task["hosts"].values() if result.get("failed")]
        if done.returncode != 0:
            raise RuntimeError("{0} failed: {1}".format(name, failures))
        stats = document.get("global_custom_stats", {})
        summary = dict(stats.get("statesafe_backup") or stats.get("statesafe_restore") or {})
        # Why a backup ran or was skipped, as the role says it.
        summary.setdefault("reason", next((result.get("msg") for play in document.get("plays", [])
                                           for task in play.get("tasks", [])
                                           if task["task"]["name"].endswith("why this run backs up or is skipped")
                                           for result in task["hosts"].values()), None))
        summary["task_seconds"] = task_seconds(document)
        return wall, summary


def task_seconds(document):
    """{task name: seconds} summed over a playbook's tasks (the JSON callback's start and end of each)."""
    totals = {}
    for play in document.get("plays", []):
        for task in play.get("tasks", []):
            if (task["task"].get("duration") or {}).get("end"):
                name = task["task"]["name"]
                totals[name] = round(totals.get(name, 0) + common.duration_seconds(task["task"]["duration"]), 3)
    return totals


def one_run(server, books, workdir, index, record):
    """One series of measurements into `record` (a failed run keeps what it measured)."""
    run_dir = os.path.join(workdir, "run-{0}".format(index))
    raw_repo, repo, staging = (os.path.join(run_dir, name) for name in ("raw-repo", "repo", "staging"))
    os.makedirs(raw_repo)
    raw_env = dict(os.environ, BUP_DIR=raw_repo)
    subprocess.run(["bup", "init"], env=raw_env, check=True, capture_output=True, timeout=60)
    dumpall = server.exec_argv("pg_dumpall")
    record["settle_s"] = server.settle()

    os.sync()
    record["raw_backup_s"], _ = pipeline(dumpall, ["bup", "split", "-n", "raw"], env=raw_env)
    record["raw_repo_bytes"] = directory_bytes(raw_repo)
    common.log("run {0}: raw backup {1:.1f}s".format(index + 1, record["raw_backup_s"]))

    os.sync()
    record["backup_s"], summary = books.run("backup.yml", repository=repo, staging=staging)
    record["repo_bytes"] = directory_bytes(repo)
    record["steps"] = {s["component"]: s.get("duration") for s in summary.get("steps", []) if "component" in s}
    record["backup_tasks"] = summary["task_seconds"]
    common.log("run {0}: our backup {1:.1f}s".format(index + 1, record["backup_s"]))

    record["unchanged_s"], summary = books.run("backup.yml", repository=repo, staging=staging, skip_unchanged=True)
    record["unchanged_skipped"], record["unchanged_reason"] = bool(summary.get("skipped")), summary.get("reason")
    common.log("run {0}: unchanged backup {1:.1f}s: {2}".format(index + 1, record["unchanged_s"],
                                                               record["unchanged_reason"]))

    server.sql(CHANGE_SQL, DATABASE)
    expected = server.sql(CHECK_SQL, DATABASE)
    record["changed_backup_s"], _ = books.run("backup.yml", repository=repo, staging=staging)
    record["repo_growth_bytes"] = directory_bytes(repo) - record["repo_bytes"]
    pipeline(dumpall, ["bup", "split", "-n", "raw"], env=raw_env)
    record["raw_repo_growth_bytes"] = directory_bytes(raw_repo) - record["raw_repo_bytes"]
    common.log("run {0}: 1% changed: repository +{1} B (raw +{2} B)".format(
        index + 1, record["repo_growth_bytes"], record["raw_repo_growth_bytes"]))

    server.delete()
    record["restore_s"], summary = books.run("restore.yml", repository=repo, staging=os.path.join(run_dir, "restore"),
                                       wait_ready=True)
    record["restore_tasks"] = summary["task_seconds"]
    if server.sql(CHECK_SQL, DATABASE) != expected:
        raise RuntimeError("our restore: pgbench_accounts is not what was backed up")
    common.log("run {0}: our restore {1:.1f}s, data equal".format(index + 1, record["restore_s"]))

    server.delete()
    server.deploy()
    os.sync()
    record["raw_restore_s"], _ = pipeline(["bup", "join", "raw"],
                                          server.exec_argv("psql", "-X", "-q", "-d", "postgres", stdin=True),
                                          env=raw_env)
    if server.sql(CHECK_SQL, DATABASE) != expected:
        raise RuntimeError("raw restore: pgbench_accounts is not what was backed up")
    common.log("run {0}: raw restore {1:.1f}s, data equal".format(index + 1, record["raw_restore_s"]))
    subprocess.run(["rm", "-rf", run_dir], check=True, timeout=300)
    return record


def render(raw):
    runs = raw["runs"]

    def figures(key, digits=1):
        return ", ".join("{0:.{1}f}".format(r[key], digits) for r in runs)

    def ratio(key, base):
        return common.median([r[key] / r[base] for r in runs])

    rows = [
        ["raw backup: `kubectl exec pg_dumpall \\| bup split`", figures("raw_backup_s") + " s",
         "{0:.1f} s".format(common.median([r["raw_backup_s"] for r in runs])), ""],
        ["our backup: `playbooks/backup.yml`, profile postgresql", figures("backup_s") + " s",
         "{0:.1f} s".format(common.median([r["backup_s"] for r in runs])),
         "**{0:.2f}x** raw".format(ratio("backup_s", "raw_backup_s"))],
        ["unchanged second backup (`skip_unchanged=true`)", figures("unchanged_s") + " s",
         "{0:.1f} s".format(common.median([r["unchanged_s"] for r in runs])),
         "**{0:.2f}x** our first".format(ratio("unchanged_s", "backup_s"))],
        ["raw restore: `bup join \\| kubectl exec psql` into an empty server", figures("raw_restore_s") + " s",
         "{0:.1f} s".format(common.median([r["raw_restore_s"] for r in runs])), ""],
        ["our restore: `playbooks/restore.yml` into the deleted namespace", figures("restore_s") + " s",
         "{0:.1f} s".format(common.median([r["restore_s"] for r in runs])),
         "**{0:.2f}x** raw".format(ratio("restore_s", "raw_restore_s"))],
        ["repository after the first backup (raw split / ours)",
         ", ".join("{0:.1f} / {1:.1f}".format(r["raw_repo_bytes"] / 1e6, r["repo_bytes"] / 1e6) for r in runs) + " MB",
         "", "{0:.2f}x raw".format(ratio("repo_bytes", "raw_repo_bytes"))],
        ["growth after 1 % of the rows changed (raw split / ours)",
         ", ".join("{0:.1f} / {1:.1f}".format(r["raw_repo_growth_bytes"] / 1e6, r["repo_growth_bytes"] / 1e6)
                   for r in runs) + " MB",
         "", "ours {0:.1%} of its first backup".format(common.median(
             [r["repo_growth_bytes"] / r["repo_bytes"] for r in runs]))],
    ]
    lines = ["pgbench scale {0}: {1} rows in pgbench_accounts, `pg_dumpall` {2:.0f} MB; medians of {3} runs "
             "({4} min in all)".format(raw["scale"], raw["rows"], raw["dumpall_bytes"] / 1e6, len(runs),
                                       raw["total_minutes"]), "",
             common.markdown_table(["measurement", "per run", "median", "ratio"], rows), ""]
    steps = {}
    for run in runs:
        for name, seconds in (run.get("steps") or {}).items():
            steps.setdefault(name, []).append(seconds or 0)
    lines.append("our first backup's steps (module time, median): " + ", ".join(
        "{0} {1:.1f} s".format(name, common.median(values)) for name, values in sorted(steps.items())))
    for key, what in (("backup_tasks", "our first backup"), ("restore_tasks", "our restore")):
        lines.append("")
        lines.append(slowest_tasks(runs, key, what))
    lines.append("")
    lines.append("failed runs: " + (json.dumps(raw["failures"]) if raw["failures"] else "none"))
    return "\n".join(lines)


def slowest_tasks(runs, key, what, limit=12):
    """The tasks that took longest in `what` (median over the runs), and the rest summed: where the time goes."""
    names = {}
    for run in runs:
        for name, seconds in (run.get(key) or {}).items():
            names.setdefault(name, []).append(seconds)
    medians = sorted(((common.median(values), name) for name, values in names.items()), reverse=True)
    rows = [["{0:.1f} s".format(seconds), name.replace("|", "\\|")] for seconds, name in medians[:limit]]
    rows.append(["{0:.1f} s".format(sum(seconds for seconds, _ in medians[limit:])),
                 "the other {0} tasks".format(max(len(medians) - limit, 0))])
    return "{0}, the slowest tasks (median over the runs):\n\n{1}".format(
        what, common.markdown_table(["time", "task"], rows))


def main():
    parser = common.argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=55, help="pgbench scale factor (default: %(default)s)")
    parser.add_argument("--namespace", default=NAMESPACE, help="where the server runs (default: %(default)s)")
    args = parser.parse_args()
    started = time.monotonic()
    server = Server(args.kubeconfig, args.namespace)
    raw = {"scale": args.scale, "runs": [], "failures": []}
    try:
        with common.workdir("statesafe-bench-pg-", args.workdir) as workdir:
            if server.exists():
                server.delete()
            common.log("deploying PostgreSQL in {0}, pgbench scale {1}".format(args.namespace, args.scale))
            server.deploy()
            server.sql("CREATE DATABASE {0}".format(DATABASE))
            server.kubectl("-n", args.namespace, "exec", "postgresql-0", "-c", "postgresql", "--", "pgbench", "-i",
                           "-q", "-s", str(args.scale), DATABASE, timeout=1800)
            raw["rows"] = int(server.sql("SELECT count(*) FROM pgbench_accounts", DATABASE))
            size = server.kubectl("-n", args.namespace, "exec", "postgresql-0", "-c", "postgresql", "--", "sh", "-c",
                                  "pg_dumpall | wc -c")
            raw["dumpall_bytes"] = int(size.stdout.decode().strip())
            common.log("{0} rows, pg_dumpall {1:.0f} MB".format(raw["rows"], raw["dumpall_bytes"] / 1e6))
            books = Playbooks(workdir, args.kubeconfig, args.namespace)
            for index in range(args.runs):
                record = {}
                try:
                    raw["runs"].append(one_run(server, books, workdir, index, record))
                except RuntimeError as exc:
                    # The next run needs the server with its data, which a failed run may have left deleted: the
                    # bench ends here, with what the run measured in --json.
                    common.log("run {0} FAILED: {1}".format(index + 1, exc))
                    raw["failures"].append({"run": index + 1, "error": str(exc)[-3000:], "partial": record})
                    common.write_json(args.json, raw)
                    raise
                common.write_json(args.json, raw)
    finally:
        common.log("deleting namespace {0}".format(args.namespace))
        try:
            server.delete()
        except RuntimeError as exc:
            common.log(str(exc))
    raw["total_minutes"] = round((time.monotonic() - started) / 60, 1)
    common.write_json(args.json, raw)
    print(render(raw))


if __name__ == "__main__":
    main()
