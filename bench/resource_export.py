"""Benchmark resource_export: 5,000 Secrets exported in one task.

In a fresh namespace (always deleted at the end), creates --secrets Secrets
with parallel API calls, then runs resource_export through ansible-playbook,
--runs times into a new, empty directory (first export) and --runs times again
into the first one (nothing changed: changed=false). Reports medians of the
task time (goal: at most 5 s) and prints a markdown table on stdout.

FRESH_INODES: no run deletes the files of the run before it; all are removed
with the work directory at the end. On an ext4 without a journal (this
project's CI machine) the inode allocator steps over every inode freed in the
last ~30 s (`recently_deleted()` in fs/ext4/ialloc.c, seen with perf), so
creating 5,000 files right after deleting 5,000 costs up to ten times the
kernel time of creating them on a quiet disk: deleting between runs measured
the previous run's clean-up, not the export. docs/performance.md has the figures.
"""

import base64
import concurrent.futures
import os
import tempfile
import time

from kubernetes import client

import _common as common

GOAL_SECONDS = 5.0
KEYS = ("changed", "list_requests")


def make_secrets(core, namespace, count, workers):
    """Create `count` Secrets of a few hundred bytes each, `workers` requests in flight."""

    def create(index):
        data = {
            "username": "user-{0}".format(index).encode(),
            "password": os.urandom(24).hex().encode(),
            "config.yaml": ("endpoint: https://db-{0}.example.test:5432\npool: {1}\n".format(index, index % 17)
                            + "# padding\n" * 8).encode(),
        }
        core.create_namespaced_secret(namespace, client.V1Secret(
            metadata=client.V1ObjectMeta(name="bench-{0:05d}".format(index),
                                         labels={"app": "bench", "group": "g{0}".format(index % 10)},
                                         annotations={"bench.statesafe.test/index": str(index)}),
            type="Opaque",
            data={key: base64.b64encode(value).decode() for key, value in data.items()}))

    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        for future in concurrent.futures.as_completed([pool.submit(create, i) for i in range(count)]):
            future.result()


def file_creation_floor(directory, sizes):
    """Seconds to write files of these sizes the way an atomic writer does (mkstemp, write, rename), in plain Python.

    Creating files is expensive on some disks; this is the floor any exporter writing one file per object pays here.
    directory must not exist; it is left in place (see FRESH_INODES).
    """
    os.makedirs(directory)
    started = time.monotonic()
    for index, size in enumerate(sizes):
        fd, temp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
        os.write(fd, b"x" * size)
        os.close(fd)
        os.replace(temp, os.path.join(directory, "{0}.yaml".format(index)))
    return time.monotonic() - started


def main():
    parser = common.argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--secrets", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=16, help="parallel create requests")
    parser.add_argument("--profile", action="store_true",
                        help="also run one first export under cProfile and print where the time goes")
    args = parser.parse_args()
    started = time.monotonic()
    core = common.core_api(args.kubeconfig, pool_size=args.workers)
    recorder = common.Recorder(args.runs)
    raw = recorder.raw
    with common.workdir("statesafe-bench-export-", args.workdir) as workdir, \
            common.scratch_namespace(core, "bench-export") as namespace:
        setup = time.monotonic()
        make_secrets(core, namespace, args.secrets, args.workers)
        raw["create_seconds"] = round(time.monotonic() - setup, 2)
        common.log("{0} Secrets created in {1} s".format(args.secrets, raw["create_seconds"]))
        ansible = common.Ansible(workdir)

        def export(dest, profile=None):
            run = ansible.run("statesafe.backup.resource_export", {
                "kubeconfig": args.kubeconfig, "namespace": namespace, "dest": dest,
                "resources": [{"kind": "Secret"}]}, profile=profile)
            objects = len(run.result.get("objects", []))
            if objects != args.secrets and not run.failed:
                run.result.update(failed=True, msg="resource_export returned {0} objects, expected {1}".format(
                    objects, args.secrets))
            return run

        def first_export(index, profile=None):
            # A new directory each run, the old ones kept until the end: see FRESH_INODES.
            dest = os.path.join(workdir, "export-{0}".format(index))
            return export(dest, profile)

        first = recorder.repeat("first", first_export, keys=KEYS)
        again = recorder.repeat("unchanged", lambda i: export(os.path.join(workdir, "export-0")), keys=KEYS)
        if first:
            sizes = [obj["size"] for obj in first[-1].result["objects"]]
            recorder.repeat("floor_seconds", lambda i: file_creation_floor(os.path.join(workdir, "floor-{0}".format(i)), sizes))
        profile_text = None
        if args.profile:
            profile = os.path.join(workdir, "export.prof")
            if recorder.repeat("profiled", lambda i: first_export("profiled", profile), keys=KEYS, runs=1):
                profile_text = recorder.raw["profile"] = common.print_profile(profile)
                common.log("profile of one first export:\n" + profile_text)
    raw["total_minutes"] = round((time.monotonic() - started) / 60, 1)
    common.write_json(args.json, dict(raw, failures=recorder.failures))
    print(render(args, recorder, first, again, profile_text))


def render(args, recorder, first, again, profile_text):
    raw = recorder.raw

    def row(label, runs):
        if not runs:
            return [label, "failed"] + ["—"] * 6
        task = common.median([r.task for r in runs])
        return [label, "{0:.2f} s".format(task), "{0:.2f} s".format(common.median([r.wall for r in runs])),
                "{0}".format(runs[0].result.get("changed")), "{0}".format(runs[0].result.get("list_requests")),
                "{0:.0f} MiB".format(common.median([r.usage["max_rss_kib"] for r in runs]) / 1024),
                "{0:.1f} s + {1:.1f} s".format(common.median([r.usage["user_s"] for r in runs]),
                                              common.median([r.usage["sys_s"] for r in runs])),
                "{0} (goal ≤ {1:.0f} s)".format("met" if task <= GOAL_SECONDS else "MISSED", GOAL_SECONDS)]

    header = ["resource_export, {0} Secrets, one task (median of {1})".format(args.secrets, args.runs),
              "task time", "ansible-playbook wall", "changed", "LIST requests", "peak RSS", "module CPU user + sys",
              "goal"]
    lines = [
        "setup: {0} Secrets created in {1} s ({2} parallel requests)".format(args.secrets, raw["create_seconds"],
                                                                            args.workers),
        "",
        common.markdown_table(header, [row("first export, empty dest", first),
                                       row("again, nothing changed", again)]),
        "",
        "reference: writing {0} files of the same sizes with mkstemp + write + rename in plain Python in the work "
        "directory ({1}) takes {2:.2f} s (median of {3}).".format(args.secrets, args.workdir,
                                                                  common.median(raw.get("floor_seconds", [])),
                                                                  args.runs),
        "",
        recorder.failures_markdown(),
        "",
        "total benchmark time: {0} min".format(raw["total_minutes"]),
    ]
    if profile_text:
        lines += ["", "```", profile_text, "```"]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
