"""Benchmark k8s_pv_copy against `kubectl exec -- tar cf -` and kubernetes.core.k8s_cp.

In a fresh namespace (always deleted at the end), a toolbox pod mounts a claim
that the pod itself fills with a mixed tree (a few large random files and
50,000 small ones in nested directories) plus two single files for the
scaling test. Then, each measurement repeated --runs times (medians):

  a. baseline: kubectl exec <pod> -- tar cf - <tree> > /dev/null
     (and, for reference, the same piped into `tar xf -` in an empty local directory)
  b. k8s_pv_copy from_pod into an empty local directory, each run right after a baseline run of its own
     (the paired ratio: the load on a shared machine changes between a's runs and b's)
  c. k8s_pv_copy again, nothing changed
  d. 1% of the files changed in the pod, k8s_pv_copy again
  e. kubernetes.core.k8s_cp on a subset of the small files (k8s_pv_copy on the same subset)
  f. k8s_pv_copy of one 100 MiB file and of one 1 GiB file: time ratio, peak RSS

Modules run through ansible-playbook; peak RSS and CPU time are those of the
module process (see _rusage.py). Prints a markdown table on stdout.
"""

import json
import os
import shutil
import subprocess
import time

from kubernetes import client

import _common as common

POD = "data"
MOUNT = "/data"
TREE = MOUNT + "/tree"
SMALL_PER_TOP_DIR = 2000  # 20 directories of 100 files under each small/dNN

# Runs in the pod (python3 of the toolbox image). Small files sit in
# small/dNN/eNN/fNNN.bin, 100 per leaf directory, 20 leaves per top directory.
GENERATE = r"""
import json, os, random, sys, time
root, scale = sys.argv[1], sys.argv[5:]
large_count, large_mib, small_count = (int(value) for value in sys.argv[2:5])
rng = random.Random(20261121)
chunk = 4 * 1024 * 1024

def big(path, mib):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as out:
        for _ in range(mib * 1024 * 1024 // chunk):
            out.write(os.urandom(chunk))
    return mib * 1024 * 1024

started = time.time()
report = {"large_files": large_count, "large_bytes": 0, "small_files": small_count, "small_bytes": 0, "scale": {}}
for index in range(large_count):
    report["large_bytes"] += big("%s/tree/large/big-%d.bin" % (root, index), large_mib)
for index in range(small_count):
    top, rest = divmod(index, 2000)
    leaf, name = divmod(rest, 100)
    directory = "%s/tree/small/d%02d/e%02d" % (root, top, leaf)
    if name == 0:
        os.makedirs(directory, exist_ok=True)
    size = rng.randint(1024, 8192)
    with open("%s/f%03d.bin" % (directory, name), "wb") as out:
        out.write(os.urandom(size))
    report["small_bytes"] += size
for spec in scale:
    label, mib = spec.split("=")
    report["scale"][label] = big("%s/scale/%s/blob.bin" % (root, label), int(mib))
os.sync()
report["seconds"] = round(time.time() - started, 1)
print(json.dumps(report))
"""

# Rewrites `count` small files chosen at random (seeded) with new random content and size.
CHANGE = r"""
import json, os, random, sys
root, small_count, count, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(seed)
changed = 0
for index in rng.sample(range(small_count), count):
    top, rest = divmod(index, 2000)
    leaf, name = divmod(rest, 100)
    size = rng.randint(1024, 8192)
    with open("%s/small/d%02d/e%02d/f%03d.bin" % (root, top, leaf, name), "wb") as out:
        out.write(os.urandom(size))
    changed += size
os.sync()
print(json.dumps({"files": count, "bytes": changed}))
"""


class Pod(object):
    def __init__(self, kubectl, kubeconfig, namespace):
        self.base = [kubectl, "--kubeconfig", kubeconfig, "-n", namespace, "exec", POD]

    def python(self, script, *args):
        done = subprocess.run(self.base + ["-i", "--", "python3", "-"] + [str(a) for a in args],
                              input=script.encode(), capture_output=True, check=False)
        if done.returncode:
            raise RuntimeError("script in the pod failed: {0}".format(done.stderr.decode(errors="replace")))
        return json.loads(done.stdout)

    def tar_to_devnull(self, path):
        """Seconds for `kubectl exec -- tar cf - <path>` into /dev/null."""
        parent, name = os.path.split(path)
        with open(os.devnull, "wb") as sink:
            started = time.monotonic()
            done = subprocess.run(self.base + ["--", "tar", "cf", "-", "-C", parent, name], stdout=sink,
                                  stderr=subprocess.PIPE, check=False)
            seconds = time.monotonic() - started
        if done.returncode:
            raise RuntimeError("baseline tar failed: {0}".format(done.stderr.decode(errors="replace")))
        return seconds

    def tar_extract(self, path, local):
        """Seconds for `kubectl exec -- tar cf - <path> | tar xf - -C <local>`: the same stream, written to disk."""
        parent, name = os.path.split(path)
        os.makedirs(local)
        started = time.monotonic()
        source = subprocess.Popen(self.base + ["--", "tar", "cf", "-", "-C", parent, name], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        sink = subprocess.run(["tar", "xf", "-", "-C", local], stdin=source.stdout, capture_output=True, check=False)
        source.stdout.close()
        source.wait()
        seconds = time.monotonic() - started
        if source.returncode or sink.returncode:
            raise RuntimeError("tar | tar failed: {0} {1}".format(source.stderr.read().decode(errors="replace"),
                                                                   sink.stderr.decode(errors="replace")))
        return seconds

    def tar_stream_size(self, path):
        parent, name = os.path.split(path)
        done = subprocess.run(self.base + ["--", "sh", "-c", 'tar cf - -C "$1" "$2" | wc -c', "sh", parent, name],
                              capture_output=True, check=True)
        return int(done.stdout)


def start_pod(core, namespace, image):
    core.create_namespaced_persistent_volume_claim(namespace, client.V1PersistentVolumeClaim(
        metadata=client.V1ObjectMeta(name="data"),
        spec=client.V1PersistentVolumeClaimSpec(
            access_modes=["ReadWriteOnce"],
            resources=client.V1VolumeResourceRequirements(requests={"storage": "8Gi"}))))
    core.create_namespaced_pod(namespace, client.V1Pod(
        metadata=client.V1ObjectMeta(name=POD),
        spec=client.V1PodSpec(
            termination_grace_period_seconds=0,
            volumes=[client.V1Volume(name="data", persistent_volume_claim=client.V1PersistentVolumeClaimVolumeSource(
                claim_name="data"))],
            containers=[client.V1Container(name="main", image=image, image_pull_policy="Never",
                                           command=["sleep", "infinity"],
                                           volume_mounts=[client.V1VolumeMount(name="data", mount_path=MOUNT)])])))

    def running():
        pod = core.read_namespaced_pod(POD, namespace)
        return pod.status.phase == "Running"

    common.wait_for(running, 180, "pod {0}/{1} to run".format(namespace, POD))


COPY_KEYS = ("changed", "duration", "throughput", "files_transferred", "bytes_transferred", "files_skipped",
             "files_removed")


class Bench(common.Recorder):
    def __init__(self, args, namespace, ansible, workdir):
        super(Bench, self).__init__(args.runs)
        self.args = args
        self.namespace = namespace
        self.ansible = ansible
        self.workdir = workdir
        self.pod = Pod(args.kubectl, args.kubeconfig, namespace)

    def copy(self, remote, local, profile=None):
        return self.ansible.run("statesafe.backup.k8s_pv_copy", {
            "kubeconfig": self.args.kubeconfig, "namespace": self.namespace, "pod": POD,
            "remote_path": remote, "local_path": local}, profile=profile)

    def fresh(self, name):
        """An empty local path (removed if present), with the page cache written back first."""
        return common.fresh_path(os.path.join(self.workdir, name))

    def repeat_copy(self, step, measure, runs=None):
        return self.repeat(step, measure, keys=COPY_KEYS, runs=runs)


def med(runs, attr):
    """Median of a figure over runs (nan when every run failed)."""
    values = []
    for run in runs:
        if attr in ("task", "wall"):
            values.append(getattr(run, attr))
        elif attr in ("max_rss_kib", "user_s", "sys_s"):
            values.append(run.usage[attr])
        else:
            values.append(run.result[attr])
    return common.median(values)


def main():
    parser = common.argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--kubectl", default=shutil.which("kubectl") or os.path.join(common.CLUSTER_CACHE, "bin",
                                                                                      "kubectl"))
    parser.add_argument("--image", default=common.DEFAULT_IMAGE)
    parser.add_argument("--large-files", type=int, default=4)
    parser.add_argument("--large-mib", type=int, default=200)
    parser.add_argument("--small-files", type=int, default=50000)
    parser.add_argument("--change-percent", type=float, default=1.0)
    parser.add_argument("--scale-mib", type=int, nargs=2, default=(100, 1024), metavar=("SMALL", "LARGE"))
    parser.add_argument("--k8s-cp-runs", type=int, default=1,
                        help="runs of kubernetes.core.k8s_cp (slow: one exec per file) on one small/dNN directory")
    parser.add_argument("--profile", action="store_true",
                        help="also run one first copy of the tree under cProfile and print where the time goes")
    args = parser.parse_args()
    started = time.monotonic()
    core = common.core_api(args.kubeconfig)
    with common.workdir("statesafe-bench-pv-", args.workdir) as workdir, \
            common.scratch_namespace(core, "bench-pv") as namespace:
        start_pod(core, namespace, args.image)
        bench = Bench(args, namespace, common.Ansible(workdir), workdir)
        report = run_all(bench, args)
    report["total_minutes"] = round((time.monotonic() - started) / 60, 1)
    common.write_json(args.json, dict(common.scalars(report), raw=bench.raw, failures=bench.failures))
    print(render(report, bench))


def run_all(bench, args):
    small, large = args.scale_mib
    common.log("generating the data in the pod")
    data = bench.pod.python(GENERATE, MOUNT, args.large_files, args.large_mib, args.small_files,
                            "small={0}".format(small), "large={0}".format(large))
    tree_bytes = data["large_bytes"] + data["small_bytes"]
    tree_files = data["large_files"] + data["small_files"]
    common.log("data: {0}".format(data))
    report = {"data": data, "tree_bytes": tree_bytes, "tree_files": tree_files, "runs": args.runs,
              "tar_stream_bytes": bench.pod.tar_stream_size(TREE)}

    # a. baseline
    baseline = bench.repeat("a_baseline_tar", lambda i: bench.pod.tar_to_devnull(TREE))
    report["a_seconds"] = common.median(baseline)
    extract = bench.repeat("a2_tar_extract", lambda i: bench.pod.tar_extract(TREE, bench.fresh("extract")))
    report["a2_seconds"] = common.median(extract)
    shutil.rmtree(os.path.join(bench.workdir, "extract"))

    # b. first copy, each run into an empty directory; the last one stays for c and d.
    mirror = os.path.join(bench.workdir, "mirror")
    # Each first copy right after its own baseline: on a shared machine the load changes within minutes, and the
    # ratio of a pair measured back to back says more about the code than a ratio of medians taken apart.
    def first_copy(_index):
        baseline = bench.pod.tar_to_devnull(TREE)
        run = bench.copy(TREE, bench.fresh("mirror"))
        run.paired_baseline = baseline
        return run

    report["b"] = bench.repeat_copy("b_first_copy", first_copy)
    bench.raw["b_paired_baseline"] = [run.paired_baseline for run in report["b"]]

    # c. unchanged
    report["c"] = bench.repeat_copy("c_unchanged", lambda i: bench.copy(TREE, mirror))

    # d. 1% of the files changed, different ones each run
    count = max(1, int(round(tree_files * args.change_percent / 100)))
    changes = []

    def changed_copy(index):
        changes.append(bench.pod.python(CHANGE, TREE, args.small_files, count, 1000 + index))
        os.sync()
        return bench.copy(TREE, mirror)

    report["d"] = bench.repeat_copy("d_one_percent", changed_copy)
    report["d_changes"] = changes
    bench.raw["d_changes"] = changes

    # e. kubernetes.core.k8s_cp on one top directory of small files, and k8s_pv_copy on the same.
    # k8s_cp cannot copy that directory in one task: it splits its `find` output on newlines chunk
    # by chunk, so a name that straddles two WebSocket frames becomes two wrong names and the task
    # fails ("cat: .../f048.bi: No such file or directory"). It runs over the 100-file leaf
    # directories instead (one task with a loop), whose listing fits in one frame.
    subset_files = min(SMALL_PER_TOP_DIR, args.small_files)
    subset = TREE + "/small/d00"
    leaves = ["{0}/e{1:02d}".format(subset, leaf) for leaf in range((subset_files + 99) // 100)]
    report["e_subset_files"] = subset_files
    report["e_subset_bytes"] = int(bench.pod.python(
        "import json,os,sys\nprint(json.dumps(sum(os.path.getsize(os.path.join(d, f)) "
        "for d, _, fs in os.walk(sys.argv[1]) for f in fs)))", subset))
    def k8s_cp(_index):
        target = bench.fresh("k8s-cp")
        run = bench.ansible.run("kubernetes.core.k8s_cp", {
            "kubeconfig": args.kubeconfig, "namespace": bench.namespace, "pod": POD, "state": "from_pod",
            "remote_path": "{{ item }}", "local_path": target + "/{{ item | basename }}"}, loop=leaves)
        copied = sum(len(files) for _, _, files in os.walk(target))
        if copied != subset_files and not run.failed:
            run.result.update(failed=True, msg="k8s_cp copied {0} files, expected {1}".format(copied, subset_files))
        return run

    report["e_k8s_cp"] = bench.repeat("e_k8s_cp", k8s_cp, runs=args.k8s_cp_runs)
    report["e_pv_copy"] = bench.repeat_copy("e_pv_copy_subset", lambda i: bench.copy(subset, bench.fresh("subset")))

    # f. scaling: one file of each size; baseline tar for each as well.
    for label in ("small", "large"):
        path = "{0}/scale/{1}".format(MOUNT, label)
        report["f_tar_" + label] = common.median(bench.repeat("f_baseline_" + label,
                                                              lambda i, path=path: bench.pod.tar_to_devnull(path)))
        report["f_" + label] = bench.repeat_copy("f_copy_" + label,
                                                 lambda i, path=path: bench.copy(path, bench.fresh("scale")))

    if args.profile:
        profile = os.path.join(bench.workdir, "first-copy.prof")
        runs = bench.repeat_copy("profiled_first_copy",
                                 lambda i: bench.copy(TREE, bench.fresh("profiled"), profile=profile), runs=1)
        if runs:
            report["profile"] = {"task_s": runs[0].task, "duration": runs[0].result.get("duration"),
                                 "text": common.print_profile(profile)}
            bench.raw["profile"] = report["profile"]
            common.log("profile of one first copy:\n" + report["profile"]["text"])
    return report


def e_row(report, data, b_task):
    files, size, runs = report["e_subset_files"], report["e_subset_bytes"], report["e_k8s_cp"]
    label = "e. kubernetes.core.k8s_cp, {0} small files ({1:.1f} MB) as {2} directories of 100, {3} run(s)".format(
        files, size / 1e6, (files + 99) // 100, len(runs))
    pv_task = med(report["e_pv_copy"], "task")
    if not runs:
        return [label, "skipped", "—", "—", "—", "k8s_pv_copy on the same files: {0:.2f} s".format(pv_task)]
    cp_task = med(runs, "task")
    return [label, "{0:.2f} s".format(cp_task), "—", "{0:.1f} files/s".format(files / cp_task),
            "{0:.0f}x the time of k8s_pv_copy on the same files ({1:.2f} s)".format(cp_task / pv_task, pv_task),
            "extrapolated to {0} small files: ~{1:.0f} min (k8s_pv_copy: whole tree in {2:.2f} s)".format(
                data["small_files"], cp_task * data["small_files"] / files / 60, b_task)]


def f_row(report, label, runs, smaller):
    size = report["data"]["scale"][label]
    tar, task, module = report["f_tar_" + label], med(runs, "task"), med(runs, "duration")
    ratio = "{0:.2f} of tar (module: {1:.2f})".format(tar / task, tar / module)
    notes = "peak RSS {0:.0f} MiB".format(med(runs, "max_rss_kib") / 1024)
    if smaller is not None:
        small = report["data"]["scale"]["small"]
        ratio = "{0:.1f}x the time of {1:.0f} MiB for {2:.1f}x the bytes (module: {3:.1f}x), goal ≤ ~10x; {4}".format(
            task / med(smaller, "task"), small / common.MIB, size / small, module / med(smaller, "duration"), ratio)
        notes += " (vs {0:.0f} MiB for {1:.0f} MiB)".format(med(smaller, "max_rss_kib") / 1024, small / common.MIB)
    return ["f. k8s_pv_copy, one {0:.0f} MiB file".format(size / common.MIB), "{0:.2f} s".format(task),
            "{0:.2f} s".format(module),
            "{0:.0f} MB/s (module: {1:.0f} MB/s); tar: {2:.0f} MB/s".format(
                common.mb_per_s(size, task), common.mb_per_s(size, module), common.mb_per_s(size, tar)),
            ratio, notes]


def paired_ratio(runs):
    """Median over the first copies of (baseline tar run just before it) / (the copy's task time)."""
    return common.median([run.paired_baseline / run.task for run in runs])


def render(report, recorder):
    mib = common.MIB
    tree_bytes = report["tree_bytes"]
    data = report["data"]
    a, a2 = report["a_seconds"], report["a2_seconds"]
    b, c, d = report["b"], report["c"], report["d"]
    b_task, b_mod = med(b, "task"), med(b, "duration")
    c_task, c_mod = med(c, "task"), med(c, "duration")
    fs, fl = report["f_small"], report["f_large"]
    d_files = common.median([x["files"] for x in report["d_changes"]])
    d_bytes = common.median([x["bytes"] for x in report["d_changes"]])

    def rate(size, seconds):
        return "{0:.0f} MB/s".format(common.mb_per_s(size, seconds))

    def secs(value):
        return "{0:.2f} s".format(value)

    def rss(runs):
        return "{0:.0f} MiB".format(med(runs, "max_rss_kib") / 1024)

    rows = [
        ["a. `kubectl exec -- tar cf -` > /dev/null (baseline)", secs(a), "—", rate(tree_bytes, a), "—",
         "tar stream {0:.0f} MB".format(report["tar_stream_bytes"] / 1e6)],
        ["a2. same, piped into `tar xf -` in an empty local dir (reference)", secs(a2), "—", rate(tree_bytes, a2),
         "{0:.2f} of a".format(a / a2), "the same stream written as files in the work directory"],
        ["b. k8s_pv_copy, first copy into an empty dir", secs(b_task), secs(b_mod),
         "{0} (module: {1})".format(rate(tree_bytes, b_task), rate(tree_bytes, b_mod)),
         "{0:.2f} of a (module: {1:.2f}); goal ≥ 0.7; {2:.2f} of a2; paired with a baseline run just before "
         "each copy: {3:.2f} (median of {4})".format(a / b_task, a / b_mod, a2 / b_task, paired_ratio(b), len(b)),
         "peak RSS {0}; module CPU {1:.1f} s user + {2:.1f} s sys".format(rss(b), med(b, "user_s"), med(b, "sys_s"))],
        ["c. k8s_pv_copy again, unchanged (changed={0})".format(
            "/".join(sorted(set(str(r.result.get("changed")) for r in c)))), secs(c_task), secs(c_mod),
         "—", "{0:.3f} of b (module: {1:.3f}); goal ≤ 0.1".format(c_task / b_task, c_mod / b_mod),
         "peak RSS {0}".format(rss(c))],
        ["d. {0:.0f} files (1%) changed, copy again".format(d_files), secs(med(d, "task")), secs(med(d, "duration")),
         "—", "{0:.3f} of b".format(med(d, "task") / b_task),
         "{0:.0f} files, {1:.1f} MB transferred (changed in the pod: {2:.1f} MB)".format(
             med(d, "files_transferred"), med(d, "bytes_transferred") / 1e6, d_bytes / 1e6)],
        e_row(report, data, b_task),
        f_row(report, "small", fs, None),
        f_row(report, "large", fl, fs),
    ]
    header = ["measurement (median of {0})".format(report["runs"]), "task time", "module `duration`", "throughput",
              "ratio", "notes"]
    lines = [
        "tree: {0} files, {1:.0f} MiB ({2} x {3} MiB random + {4} files of 1–8 KiB in {5:.1f} MiB)".format(
            report["tree_files"], tree_bytes / mib, data["large_files"], report["data"]["large_bytes"] //
            max(1, data["large_files"]) // mib, data["small_files"], data["small_bytes"] / mib),
        "MB/s = 10^6 bytes of file content per second; task time = the task's duration in ansible-playbook "
        "(module start-up included); module `duration` = what the module returns.",
        "",
        common.markdown_table(header, rows),
        "",
        recorder.failures_markdown(),
        "",
        "total benchmark time: {0} min".format(report.get("total_minutes")),
    ]
    if "profile" in report:
        lines += ["", "```", report["profile"]["text"], "```"]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
