"""CPU the controller spends on a backup and a restore of the sample stack, with and without ansible.cfg.

The plays run with Ansible's free strategy, whose loop checks on its workers every
`internal_poll_interval` seconds (Ansible's default 0.001); the collection's ansible.cfg sets 0.02.
In namespace sf-cpu (the sample stack deployed and seeded there, deleted at the end), --runs times,
each pair back to back and in alternating order so that load drifting over the run falls on both:

1. playbooks/backup.yml into a fresh repository, under Ansible's defaults (an empty ansible.cfg)
   and under the collection's ansible.cfg;
2. playbooks/restore.yml of that archive into namespace sf-cpu-restore (deleted before each).

For each run: the CPU seconds of the ansible-playbook process itself, and of its whole process
tree (its workers, the modules they ran and everything those waited for: kubectl, bup; not what
ran inside pods), from getrusage in a launcher around ansible-playbook; and the wall time.
Markdown on stdout: medians, and the ratio collection/defaults of each pair's medians.
"""

import json
import os
import subprocess
import sys
import time

import _common as common
from backup_restore import Stack

NAMESPACE = "sf-cpu"
RESTORE_NAMESPACE = "sf-cpu-restore"
PLAYBOOKS = os.path.join(common.COLLECTION_ROOT, "playbooks")
COLLECTION_CONFIG = os.path.join(common.COLLECTION_ROOT, "ansible.cfg")
LABELS = ("defaults", "collection")
# Runs ansible-playbook in this process and writes, at exit, its own CPU and that of the children it waited for.
LAUNCHER = """
import atexit, json, os, resource, sys
out, sys.argv = sys.argv[1], ["ansible-playbook"] + sys.argv[2:]
pid = os.getpid()
def record():
    if os.getpid() != pid:  # a forked worker exiting
        return
    own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    with open(out, "w") as handle:
        json.dump({"main": own.ru_utime + own.ru_stime, "children": children.ru_utime + children.ru_stime}, handle)
atexit.register(record)
from ansible.cli.playbook import main
sys.exit(main())
"""


def playbook(name, config_file, workdir, env, kubeconfig, namespace, label):
    """One run of playbooks/<name> with ANSIBLE_CONFIG=config_file: {"main", "tree", "wall"} CPU and wall seconds."""
    variables = {"kubeconfig": kubeconfig, "repository": os.path.join(workdir, "repo"),
                 "staging": os.path.join(workdir, "staging"), "app_namespace": namespace,
                 "ansible_python_interpreter": sys.executable}
    if name == "restore.yml":
        variables["staging"] = os.path.join(workdir, "restore-staging")
    env = dict(env, ANSIBLE_CONFIG=config_file)
    out = os.path.join(workdir, "usage.json")
    started = time.monotonic()
    run = subprocess.run([sys.executable, "-c", LAUNCHER, out, os.path.join(PLAYBOOKS, name), "-e",
                          json.dumps(variables)], env=env, capture_output=True, text=True, check=False, timeout=1800)
    wall = time.monotonic() - started
    if run.returncode != 0:
        raise RuntimeError("{0} ({1}) failed: {2}".format(name, label, (run.stdout + run.stderr)[-3000:]))
    with open(out, encoding="utf-8") as handle:
        usage = json.load(handle)
    return {"main": usage["main"], "tree": usage["main"] + usage["children"], "wall": wall}


def one_run(kubeconfig, index, workdir, configs, env, restored):
    order = list(configs) if index % 2 == 0 else list(reversed(configs))
    record = {}
    for label in order:
        here = os.path.join(workdir, "{0}-{1}".format(label, index))
        os.makedirs(here)
        backup = playbook("backup.yml", configs[label], here, env, kubeconfig, NAMESPACE, label)
        restored.sample("destroy")  # returns once the namespace is gone
        restore = playbook("restore.yml", configs[label], here, env, kubeconfig, RESTORE_NAMESPACE, label)
        record[label] = {"backup": backup, "restore": restore}
        common.log("run {0} {1}: backup {2:.1f}/{3:.1f} CPU-s, restore {4:.1f}/{5:.1f} CPU-s (main/tree)".format(
            index + 1, label, backup["main"], backup["tree"], restore["main"], restore["tree"]))
    return record


def render(runs):
    rows = []
    for name in ("backup", "restore"):
        for figure, what in (("main", "ansible-playbook process CPU-s"), ("tree", "process tree CPU-s"),
                             ("wall", "wall s")):
            medians = {label: common.median([run[label][name][figure] for run in runs]) for label in LABELS}
            rows.append([name, what, "{0:.2f}".format(medians["defaults"]), "{0:.2f}".format(medians["collection"]),
                         "{0:.2f}".format(medians["collection"] / medians["defaults"])])
    return common.markdown_table(["playbook", "figure", "Ansible defaults", "collection ansible.cfg",
                                  "ratio"], rows) + "\n\nmedians of {0} runs".format(len(runs))


def main():
    args = common.argument_parser(__doc__.splitlines()[0]).parse_args()
    stacks = [Stack(args.kubeconfig, NAMESPACE), Stack(args.kubeconfig, RESTORE_NAMESPACE)]
    runs = []
    try:
        with common.workdir("statesafe-bench-cpu-", args.workdir) as workdir:
            common.log("deploying and seeding the sample stack in {0}".format(NAMESPACE))
            stacks[0].sample("deploy")
            stacks[0].sample("seed")
            env = common.Ansible(workdir).env  # this checkout as the collection, no KUBECONFIG from outside
            # Ansible's defaults: a config file with nothing in it (not none: Ansible would look for one elsewhere)
            configs = dict(zip(LABELS, (os.path.join(workdir, "empty.cfg"), COLLECTION_CONFIG)))
            open(configs["defaults"], "w", encoding="utf-8").close()
            for index in range(args.runs):
                runs.append(one_run(args.kubeconfig, index, workdir, configs, env, stacks[1]))
                common.write_json(args.json, runs)
    finally:
        for stack in stacks:
            try:
                stack.sample("destroy")
            except RuntimeError as exc:  # the figures are still worth printing
                common.log(str(exc))
    print(render(runs))


if __name__ == "__main__":
    main()
