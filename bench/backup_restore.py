"""Benchmark the backup and restore playbooks on the seeded sample Software Factory stack.

In namespace sf-bench (the sample stack deployed and seeded there, the namespace
deleted at the end), --runs times:

1. a first backup (playbooks/backup.yml) into a fresh repository and staging tree;
2. `bup index` + `bup save` of a copy of the same staging tree into a fresh
   repository, run directly (the baseline for the orchestration overhead);
3. a second backup with nothing changed: time as a ratio of the first (goal <= 0.15)
   and repository growth (goal < 1%);
4. 1% of the MariaDB rows changed at random, backed up again: repository growth;
5. the namespace deleted and restored with playbooks/restore.yml (fingerprint checked);
6. the floors of any playbook on this machine, in the same run: ansible-playbook of one
   `debug` task (start-up), a task that runs a module (`ansible.builtin.command: true`),
   and a task of one of our kubernetes modules (`statesafe.backup.access_check` of one
   verb); and the least a backup run does (`skip_unchanged=true` with nothing changed:
   lease, probes, release, report, no archive). They say how far the task count, rather
   than the data, sets the wall time.

Then, --runs times, the dump layout alone: the old layout (multi-row INSERTs) and the
profile's layout dumped with `kubectl exec`, saved with bup into fresh repositories,
1% of rows changed, dumped and saved again: growth before and after.

Times come from ansible-playbook's JSON callback (each task's duration) and the roles'
summaries; the share spent in Ansible itself is the wall time minus the modules' own
`duration` (pod_dump, k8s_pv_copy) and `seconds` (bup_save). Markdown on stdout.
"""

import json
import os
import shutil
import subprocess
import sys
import time

import yaml

import _common as common

NAMESPACE = "sf-bench"
SAMPLE = os.path.join(common.COLLECTION_ROOT, "tests", "cluster", "sample", "sample.sh")
PLAYBOOKS = os.path.join(common.COLLECTION_ROOT, "playbooks")
PROFILE = os.path.join(common.COLLECTION_ROOT, "profiles", "softwarefactory.yml")
GOAL_OVERHEAD = 0.3
GOAL_SECOND_RATIO = 0.15
GOAL_SECOND_GROWTH = 0.01
# The layout before issue 4: one mariadb-dump of both databases with multi-row INSERTs.
OLD_DUMP = ('MYSQL_PWD="$MARIADB_ROOT_PASSWORD" exec mariadb-dump -uroot --single-transaction --skip-dump-date '
            '--routines --events --databases zuul sfmanager')
# 1% of the rows of each table, chosen at random, get a new value.
CHANGE_SQL = """
UPDATE zuul.zuul_buildset SET result = CONCAT('R', FLOOR(RAND() * 1000)) WHERE RAND() < 0.01;
SELECT ROW_COUNT();
UPDATE zuul.zuul_build SET result = CONCAT('R', FLOOR(RAND() * 1000)) WHERE RAND() < 0.01;
SELECT ROW_COUNT();
UPDATE sfmanager.artifacts SET name = CONCAT('changed-', id, '-', FLOOR(RAND() * 1000)) WHERE RAND() < 0.01;
SELECT ROW_COUNT();
"""
# Module results that report the module's own time.
WORK_KEYS = ("duration", "seconds")
# Actions that run in the controller's worker process: no module is shipped or started for them.
CONTROLLER_ACTIONS = frozenset(
    "ansible.builtin." + name for name in (
        "assert", "debug", "fail", "set_fact", "set_stats", "include_vars", "include_tasks", "import_tasks",
        "include_role", "import_role", "validate_argument_spec", "meta", "pause"))
# Tasks per floor playbook (the per-task figure is (wall - start-up wall) / FLOOR_TASKS).
FLOOR_TASKS = 10


class Stack(object):
    """The sample stack in one namespace, driven through sample.sh and kubectl."""

    def __init__(self, kubeconfig, namespace):
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.kubectl = os.path.join(os.path.dirname(kubeconfig), "bin", "kubectl")
        self.env = dict(os.environ, KUBECONFIG=kubeconfig, SAMPLE_NAMESPACE=namespace, KUBECTL=self.kubectl)

    def sample(self, *args):
        run = subprocess.run([SAMPLE] + list(args), env=self.env, capture_output=True, text=True, check=False)
        if run.returncode != 0:
            raise RuntimeError("sample.sh {0} failed: {1}".format(" ".join(args), run.stderr[-2000:]))
        return run.stdout.strip()

    def mariadb_sh(self, script, stdin=None):
        run = subprocess.run([self.kubectl, "--kubeconfig", self.kubeconfig, "exec", "-i", "-n", self.namespace,
                              "mariadb-0", "-c", "mariadb", "--", "sh", "-c", script],
                             input=stdin, capture_output=True, check=False)
        if run.returncode != 0:
            raise RuntimeError("in mariadb-0: {0}".format(run.stderr.decode(errors="replace")[-2000:]))
        return run.stdout

    def change_one_percent(self):
        out = self.mariadb_sh('MYSQL_PWD="$MARIADB_ROOT_PASSWORD" exec mariadb -uroot -N -B', CHANGE_SQL.encode())
        return sum(int(line) for line in out.decode().split())

    def rows(self):
        out = self.mariadb_sh('MYSQL_PWD="$MARIADB_ROOT_PASSWORD" exec mariadb -uroot -N -B', (
            "SELECT (SELECT COUNT(*) FROM zuul.zuul_buildset) + (SELECT COUNT(*) FROM zuul.zuul_build)"
            " + (SELECT COUNT(*) FROM sfmanager.artifacts);").encode())
        return int(out.decode().strip())


class Playbooks(object):
    """ansible-playbook playbooks/<name> with the JSON callback; the collection from this checkout."""

    def __init__(self, workdir, kubeconfig, namespace, without=()):
        self.ansible = common.Ansible(workdir)  # its environment: the collection symlinked, the JSON callback
        self.env = dict(self.ansible.env, ANSIBLE_SHOW_CUSTOM_STATS="1")
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        with open(PROFILE, encoding="utf-8") as handle:
            profile = yaml.safe_load(handle)
        self.without = [c for c in without if c]
        profile["components"] = [c for c in profile["components"] if c["name"] not in self.without]
        self.profile = profile
        self.components = [c["name"] for c in profile["components"]]
        self.progress = lambda record: None  # called with the current run's record after each playbook

    def run(self, name, **variables):
        variables.update(kubeconfig=self.kubeconfig, app_namespace=self.namespace,
                         ansible_python_interpreter=sys.executable)
        if self.without:  # the profile minus some components: given as data to backup, as a subset to restore
            variables.update({"profile_data": self.profile} if name == "backup.yml" else
                             {"components": ",".join(self.components)})
        command = [self.ansible.playbook_bin, os.path.join(PLAYBOOKS, name), "-e", json.dumps(variables)]
        started = time.monotonic()
        done = subprocess.run(command, capture_output=True, text=True, env=self.env, check=False)
        wall = time.monotonic() - started
        try:
            document = json.loads(done.stdout)
        except ValueError as exc:
            raise RuntimeError("{0}: no JSON from ansible-playbook (rc {1}):\n{2}\n{3}".format(
                name, done.returncode, done.stdout[-3000:], done.stderr[-3000:])) from exc
        return split(document, wall, done.returncode)

    def floors(self):
        """Seconds of ansible-playbook with one `debug` task, and per task of a builtin and of one of our k8s modules."""
        def play(name, tasks):
            path = os.path.join(self.ansible.workdir, "floor-{0}.yml".format(name))
            with open(path, "w", encoding="utf-8") as handle:
                json.dump([{"hosts": "localhost", "connection": "local", "gather_facts": False,
                            "vars": {"ansible_python_interpreter": sys.executable}, "tasks": tasks}], handle)
            started = time.monotonic()
            done = subprocess.run([self.ansible.playbook_bin, path], capture_output=True, text=True, env=self.env,
                                  check=False)
            if done.returncode != 0:
                raise RuntimeError("floor playbook {0} failed:\n{1}".format(name, done.stdout[-2000:]))
            return time.monotonic() - started

        start = play("start", [{"name": "one debug task", "ansible.builtin.debug": {"msg": "floor"}}])
        builtin = play("builtin", [{"name": "command", "ansible.builtin.command": "true", "changed_when": False}
                                   for _ in range(FLOOR_TASKS)])
        check = {"kubeconfig": self.kubeconfig, "namespace": self.namespace,
                 "checks": [{"verb": "get", "kind": "ConfigMap"}]}
        k8s = play("k8s", [{"name": "access_check", "statesafe.backup.access_check": check}
                           for _ in range(FLOOR_TASKS)])
        return {"start": start, "builtin_task": (builtin - start) / FLOOR_TASKS,
                "k8s_task": (k8s - start) / FLOOR_TASKS}


def split(document, wall, rc):
    """Where a playbook's wall time went: per phase (task name prefix), modules' own time, Ansible's."""
    phases, work, tasks, by_kind, failures, module_tasks = {}, 0.0, 0, {}, [], 0
    for play in document.get("plays", []):
        for task in play.get("tasks", []):
            name = task["task"]["name"]
            seconds = common.duration_seconds(task["task"]["duration"])
            result = task["hosts"].get("localhost", {})
            phase = name.split(" | ")[0] if " | " in name else name
            entry = phases.setdefault(phase, {"seconds": 0.0, "tasks": 0, "work": 0.0})
            entry["seconds"] += seconds
            entry["tasks"] += 1
            tasks += 1
            own = sum(float(r.get(key) or 0) for r in [result] + list(result.get("results") or [])
                      if isinstance(r, dict) for key in WORK_KEYS if isinstance(r.get(key), (int, float)))
            own = min(own, seconds)
            entry["work"] += own
            work += own
            kind = task_kind(result, name)
            by_kind[kind] = by_kind.get(kind, 0.0) + seconds
            module_tasks += runs_module(task, result)
            if result.get("failed"):
                failures.append("{0}: {1}".format(name, result.get("msg")))
    stats = document.get("global_custom_stats", {})
    return {"rc": rc, "wall": wall, "phases": phases, "work": work, "tasks": tasks, "by_kind": by_kind,
            "module_tasks": module_tasks,
            "in_tasks": sum(p["seconds"] for p in phases.values()), "failures": failures,
            "summary": stats.get("statesafe_backup") or stats.get("statesafe_restore") or {}}


def runs_module(task, result):
    """How many module processes a task started: one per loop item that was not skipped, none for controller actions."""
    action = str(task["task"].get("action") or result.get("action") or "")
    if not action.startswith("ansible.builtin.") and "." not in action:
        action = "ansible.builtin." + action
    if action in CONTROLLER_ACTIONS or result.get("skipped"):
        return 0
    items = result.get("results")
    if isinstance(items, list):
        return sum(1 for item in items if isinstance(item, dict) and not item.get("skipped"))
    return 1


def task_kind(result, name):
    action = str(result.get("action") or (result.get("invocation") or {}).get("module_name") or "")
    if action.startswith("statesafe.backup.") or action in ("pod_dump", "k8s_pv_copy", "resource_export"):
        return "statesafe.backup modules"
    if action.startswith("kubernetes.core.") or action in ("k8s", "k8s_info"):
        return "kubernetes.core"
    if "include" in action or name.startswith(("Capture | components", "Save | repository")):
        return "includes"
    return "ansible.builtin"


def directory_bytes(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def bup_save_directly(staging, repo):
    """bup init + index + save of `staging` into a fresh `repo`; the seconds of index + save."""
    env = dict(os.environ, BUP_DIR=repo)
    subprocess.run(["bup", "init"], env=env, check=True, capture_output=True)
    started = time.monotonic()
    subprocess.run(["bup", "index", staging], env=env, check=True, capture_output=True)
    subprocess.run(["bup", "save", "-n", "baseline", staging], env=env, check=True, capture_output=True)
    return time.monotonic() - started


def profile_dump_command():
    with open(PROFILE, encoding="utf-8") as handle:
        profile = yaml.safe_load(handle)
    return next(c for c in profile["components"] if c["name"] == "mariadb")["command"]


def layout_run(stack, workdir, index, layouts):
    """Each layout dumped, saved, 1% of rows changed, dumped and saved again: bytes and growth per layout."""
    out = {}
    base = os.path.join(workdir, "layout-{0}".format(index))
    dumps = {}
    for phase in ("first", "changed"):
        if phase == "changed":
            out["rows_changed"] = stack.change_one_percent()
        for name, command in layouts.items():
            staging = os.path.join(base, name, "staging")
            repo = os.path.join(base, name, "repo")
            os.makedirs(os.path.join(staging, "dumps"), exist_ok=True)
            data = stack.mariadb_sh(command)
            if not data.rstrip().endswith(b"-- Dump completed"):
                raise RuntimeError("{0}: the dump has no completion trailer".format(name))
            with open(os.path.join(staging, "dumps", "mariadb.sql"), "wb") as handle:
                handle.write(data)
            dumps[name] = len(data)
            if phase == "first":
                os.makedirs(repo)
                subprocess.run(["bup", "init"], env=dict(os.environ, BUP_DIR=repo), check=True, capture_output=True)
            before = directory_bytes(repo)
            env = dict(os.environ, BUP_DIR=repo)
            subprocess.run(["bup", "index", staging], env=env, check=True, capture_output=True)
            subprocess.run(["bup", "save", "-n", "layout", staging], env=env, check=True, capture_output=True)
            entry = out.setdefault(name, {"dump_bytes": len(data)})
            entry[phase + "_added"] = directory_bytes(repo) - before
    shutil.rmtree(base, ignore_errors=True)
    for name in layouts:
        out[name]["growth"] = out[name]["changed_added"] / max(1, out[name]["first_added"])
    common.log("layout run {0}: {1}".format(index + 1, json.dumps(out)))
    return out


def main():
    parser = common.argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--namespace", default=NAMESPACE, help="where the sample stack runs (default: %(default)s)")
    parser.add_argument("--skip-layout", action="store_true", help="do not measure the dump layouts alone")
    parser.add_argument("--layout-only", action="store_true", help="measure only the dump layouts")
    parser.add_argument("--no-deploy", action="store_true",
                        help="use the sample stack already deployed and seeded in the namespace")
    parser.add_argument("--without", metavar="COMPONENT", action="append", default=[],
                        help="leave this component of the profile out of backup and restore (repeatable)")
    args = parser.parse_args()
    started = time.monotonic()
    stack = Stack(args.kubeconfig, args.namespace)
    raw = {"runs": [], "layouts": []}
    try:
        with common.workdir("statesafe-bench-br-", args.workdir) as workdir:
            if not args.no_deploy:
                common.log("deploying and seeding the sample stack in {0}".format(args.namespace))
                stack.sample("deploy")
                stack.sample("seed")
            raw["rows"] = stack.rows()
            books = Playbooks(workdir, args.kubeconfig, args.namespace, args.without)
            raw["components"] = books.components
            books.progress = lambda record: common.write_json(args.json, dict(raw, current=record))
            raw["failures"] = []
            for index in range(0 if args.layout_only else args.runs):
                record = {}
                try:
                    raw["runs"].append(one_run(stack, books, workdir, index, record))
                except RuntimeError as exc:  # recorded, left out of the medians; the stack is redeployed
                    common.log("run {0} FAILED: {1}".format(index + 1, exc))
                    raw["failures"].append({"run": index + 1, "error": str(exc)[-3000:], "partial": record})
                    stack.sample("deploy")
                common.write_json(args.json, raw)
            if not args.skip_layout:
                layouts = {"before": OLD_DUMP, "after": profile_dump_command()}
                for index in range(args.runs):
                    raw["layouts"].append(layout_run(stack, workdir, index, layouts))
                    common.write_json(args.json, raw)
    finally:
        common.log("deleting namespace {0}".format(args.namespace))
        try:
            stack.sample("destroy")
        except RuntimeError as exc:  # the figures are still worth printing
            common.log(str(exc))
    raw["total_minutes"] = round((time.monotonic() - started) / 60, 1)
    common.write_json(args.json, raw)
    print(render(raw))


def one_run(stack, books, workdir, index, record):
    """One series of measurements, recorded into `record` as they come (a failed run keeps what it measured)."""
    run_dir = os.path.join(workdir, "run-{0}".format(index))
    repo, staging = os.path.join(run_dir, "repo"), os.path.join(run_dir, "staging")

    def backup(label, **variables):
        before = directory_bytes(repo) if os.path.isdir(repo) else 0
        result = books.run("backup.yml", repository=repo, staging=staging, **variables)
        if result["rc"] != 0:
            raise RuntimeError("{0} backup failed: {1}".format(label, result["failures"]))
        result["repo_bytes_before"] = before
        result["repo_bytes_after"] = directory_bytes(repo)
        record[label] = result
        books.progress(record)
        common.log("run {0} {1}: wall {2:.1f}s, modules' own {3:.1f}s, repository +{4} bytes".format(
            index + 1, label, result["wall"], result["work"], result["repo_bytes_after"] - before))

    backup("first")
    # The baseline: bup save of the same staging tree, directly.
    copy = os.path.join(run_dir, "staging-copy")
    shutil.copytree(staging, copy, symlinks=True)
    record["bup_save_direct"] = bup_save_directly(copy, os.path.join(run_dir, "baseline-repo"))
    shutil.rmtree(copy)
    common.log("run {0}: bup index + save directly: {1:.2f}s".format(index + 1, record["bup_save_direct"]))
    backup("unchanged")
    # The least a run does: nothing changed since the archive just made, so skip_unchanged ends it after the probes.
    backup("skipped", skip_unchanged=True)
    if not record["skipped"]["summary"].get("skipped"):  # left out of the floor figures, not fatal to the run
        common.log("run {0}: the skip_unchanged run backed up: {1}".format(
            index + 1, record["skipped"]["summary"].get("changed")))
    record["floors"] = books.floors()
    common.log("run {0} floors: {1}".format(index + 1, json.dumps(record["floors"])))
    record["rows_changed"] = stack.change_one_percent()
    backup("one_percent")
    fingerprint = stack.sample("fingerprint")
    stack.sample("destroy")
    restore = books.run("restore.yml", repository=repo, staging=os.path.join(run_dir, "restore"))
    record["restore"] = restore
    books.progress(record)
    if restore["rc"] != 0:
        raise RuntimeError("restore failed: {0}".format(restore["failures"]))
    restore["fingerprint_ok"] = stack.sample("fingerprint") == fingerprint
    common.log("run {0} restore: wall {1:.1f}s, fingerprint {2}".format(
        index + 1, restore["wall"], "equal" if restore["fingerprint_ok"] else "DIFFERENT"))
    shutil.rmtree(run_dir, ignore_errors=True)
    return record


def med(values):
    return common.median([v for v in values if v is not None])


def render(raw):
    runs = raw["runs"]
    lines = ["sample stack: {0} MariaDB rows; components {1}; medians of {2} runs".format(
        raw.get("rows"), ", ".join(raw.get("components", [])), len(runs)), ""]
    if runs:
        lines += [backup_table(runs), "", restore_table(runs), ""]
    if raw["layouts"]:
        lines += [layout_table(raw["layouts"]), ""]
    lines += ["failed runs: {0}".format("; ".join("run {0}: {1}".format(f["run"], f["error"][-300:])
                                                  for f in raw.get("failures") or []) or "none"),
              "total benchmark time: {0} min".format(raw["total_minutes"])]
    return "\n".join(lines)


def phase_rows(results):
    names = []
    for result in results:
        names += [name for name in result["phases"] if name not in names]
    rows = []
    for name in names:
        entries = [r["phases"].get(name, {"seconds": 0.0, "tasks": 0, "work": 0.0}) for r in results]
        rows.append([name, "{0:.0f}".format(med([e["tasks"] for e in entries])),
                     "{0:.2f} s".format(med([e["seconds"] for e in entries])),
                     "{0:.2f} s".format(med([e["work"] for e in entries]))])
    rows.append(["(outside any task: start-up, parsing, includes)", "—",
                 "{0:.2f} s".format(med([r["wall"] - r["in_tasks"] for r in results])), "—"])
    return rows


def backup_table(runs):
    first = [r["first"] for r in runs]
    unchanged = [r["unchanged"] for r in runs]
    changed = [r["one_percent"] for r in runs]
    direct = med([r["bup_save_direct"] for r in runs])
    wall = med([r["wall"] for r in first])
    work = med([r["work"] for r in first])
    overhead = med([r["wall"] - r["work"] for r in first])
    ratio2 = med([u["wall"] / f["wall"] for u, f in zip(unchanged, first)])

    def growth(result):
        return (result["repo_bytes_after"] - result["repo_bytes_before"]) / max(1, result["repo_bytes_before"])

    kinds = sorted({kind for r in first for kind in r["by_kind"]})
    lines = [
        "### Backup, first run into an empty repository, by phase (task name prefix)",
        "",
        common.markdown_table(["phase", "tasks", "task time", "modules' own `duration`/`seconds`"],
                              phase_rows(first)),
        "",
        common.markdown_table(["task time by kind", "seconds"],
                              [[k, "{0:.2f} s".format(med([r["by_kind"].get(k, 0.0) for r in first]))]
                               for k in kinds]),
        "",
        common.markdown_table(["measurement (median)", "value", "goal"], [
            ["ansible-playbook wall time, first backup", "{0:.1f} s ({1:.0f} tasks)".format(
                wall, med([r["tasks"] for r in first])), "—"],
            ["modules' own time (pod_dump, k8s_pv_copy `duration`, bup_save `seconds`)", "{0:.1f} s".format(work),
             "—"],
            ["Ansible itself (wall minus the modules' own time)", "{0:.1f} s ({1:.0%} of wall)".format(
                overhead, overhead / wall), "—"],
            ["bup index + save of the same staging tree, directly", "{0:.2f} s".format(direct), "—"],
            ["orchestration overhead / direct bup save", "{0:.1f}x".format(overhead / direct),
             "≤ {0}x: {1}".format(GOAL_OVERHEAD, "met" if overhead / direct <= GOAL_OVERHEAD else "MISSED")],
            ["bup_save in the playbook (`save_seconds`)", "{0:.2f} s".format(
                med([float(r["summary"].get("save_seconds") or 0) for r in first])), "—"],
            ["staged bytes / repository after the first backup", "{0} / {1} bytes".format(
                med([int(r["summary"].get("bytes") or 0) for r in first]),
                med([r["repo_bytes_after"] for r in first])), "—"],
            ["second backup, unchanged: wall time", "{0:.1f} s = {1:.2f} of the first".format(
                med([r["wall"] for r in unchanged]), ratio2),
             "≤ {0}: {1}".format(GOAL_SECOND_RATIO, "met" if ratio2 <= GOAL_SECOND_RATIO else "MISSED")],
            ["second backup, unchanged: repository growth", "{0:.0f} bytes = {1:.2%}".format(
                med([r["repo_bytes_after"] - r["repo_bytes_before"] for r in unchanged]),
                med([growth(r) for r in unchanged])),
             "< 1%: {0}".format("met" if med([growth(r) for r in unchanged]) < GOAL_SECOND_GROWTH else "MISSED")],
            ["1% of MariaDB rows changed ({0:.0f} rows), backup: wall time".format(
                med([r["rows_changed"] for r in runs])), "{0:.1f} s".format(med([r["wall"] for r in changed])),
             "—"],
            ["1% of MariaDB rows changed: repository growth", "{0:.0f} bytes = {1:.2%}".format(
                med([r["repo_bytes_after"] - r["repo_bytes_before"] for r in changed]),
                med([growth(r) for r in changed])), "—"],
        ]),
    ]
    floors = [r["floors"] for r in runs if r.get("floors")]
    if floors:
        lines += ["", floor_table(runs, floors, first, direct)]
    return "\n".join(lines)


def floor_table(runs, floors, first, direct):
    """What any playbook costs here, against the overhead budget of the goal."""
    start = med([f["start"] for f in floors])
    builtin = med([f["builtin_task"] for f in floors])
    k8s = med([f["k8s_task"] for f in floors])
    modules = med([r["module_tasks"] for r in first])
    lower = start + modules * builtin
    skipped = [(r["skipped"], r["first"]) for r in runs if r.get("skipped", {}).get("summary", {}).get("skipped")]
    rows = [
        ["ansible-playbook of one `debug` task (start-up, parsing, one controller action)", "{0:.2f} s".format(start)],
        ["one more task that runs a module (`ansible.builtin.command: true`)", "{0:.2f} s".format(builtin)],
        ["one more task of our kubernetes module (`access_check`, one verb; imports the kubernetes client)",
         "{0:.2f} s".format(k8s)],
        ["the goal's budget for orchestration: {0} x direct bup save".format(GOAL_OVERHEAD),
         "{0:.2f} s".format(GOAL_OVERHEAD * direct)],
        ["module processes started by the first backup", "{0:.0f}".format(modules)],
        ["lower bound of their orchestration: start-up + each at the price of `command: true`",
         "{0:.1f} s = {1:.1f}x direct bup save".format(lower, lower / direct)],
    ]
    if skipped:
        wall = med([s["wall"] for s, _ in skipped])
        rows.append(["the least a backup run does: `skip_unchanged=true`, nothing changed (lease, probes, release, "
                     "report; no archive)", "{0:.1f} s = {1:.2f} of the first backup ({2:.0f} tasks)".format(
                         wall, med([s["wall"] / f["wall"] for s, f in skipped]), med([s["tasks"] for s, _ in skipped]))])
    return "\n".join([
        "### Floors, measured in the same runs",
        "",
        common.markdown_table(["measurement (median)", "seconds"], rows),
    ])


def restore_table(runs):
    restores = [r["restore"] for r in runs]
    wall = med([r["wall"] for r in restores])
    work = med([r["work"] for r in restores])
    return "\n".join([
        "### Restore into a deleted namespace, by phase",
        "",
        common.markdown_table(["phase", "tasks", "task time", "modules' own `duration`/`seconds`"],
                              phase_rows(restores)),
        "",
        "restore wall {0:.1f} s ({1:.0f} tasks); modules' own time {2:.1f} s; Ansible itself {3:.1f} s; "
        "fingerprint equal after every restore: {4}".format(
            wall, med([r["tasks"] for r in restores]), work, wall - work,
            all(r["fingerprint_ok"] for r in restores)),
    ])


def layout_table(layouts):
    rows = []
    for name, label in (("before", "before: one mariadb-dump, multi-row INSERTs"),
                        ("after", "after: one INSERT per row, a bup chunk boundary every 16 rows")):
        rows.append([label, "{0:.0f}".format(med([x[name]["dump_bytes"] for x in layouts])),
                     "{0:.0f}".format(med([x[name]["first_added"] for x in layouts])),
                     "{0:.0f}".format(med([x[name]["changed_added"] for x in layouts])),
                     "{0:.1%}".format(med([x[name]["growth"] for x in layouts]))])
    ratio = med([x["after"]["changed_added"] / max(1, x["before"]["changed_added"]) for x in layouts])
    return "\n".join([
        "### MariaDB dump layout alone: repository growth after 1% of rows changed at random "
        "({0:.0f} rows)".format(med([x["rows_changed"] for x in layouts])),
        "",
        common.markdown_table(["layout", "dump bytes", "first save adds", "save after the change adds",
                               "growth / first save"], rows),
        "",
        "after / before, bytes added by the change: {0:.2f}".format(ratio),
    ])


if __name__ == "__main__":
    main()
