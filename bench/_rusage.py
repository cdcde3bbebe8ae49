"""Run a command and record its peak RSS and CPU time; used as ansible_python_interpreter.

    _rusage.py OUT.json [--profile OUT.prof] -- PYTHON SCRIPT ARGS...

Ansible runs a module as `<interpreter> AnsiballZ_<module>.py`, and AnsiballZ
runs the module in that same process, so the child waited for here is the
module process. wait4() gives its peak RSS exactly (no polling).

With --profile the child runs SCRIPT under cProfile (through this file's
--profiled mode: `python -m cProfile` cannot be used, AnsiballZ drops the
directory of __main__.__file__, which is then the standard library's, from
sys.path).
"""

import json
import os
import subprocess
import sys
import time


def profiled(out, script, args):
    import cProfile
    import runpy

    sys.argv = [script] + args
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        runpy.run_path(script, run_name="__main__")
    finally:
        profiler.disable()
        profiler.dump_stats(out)


def main(argv):
    if argv[0] == "--profiled":
        return profiled(argv[1], argv[2], argv[3:])
    out = argv[0]
    rest = argv[1:]
    profile = None
    if rest[0] == "--profile":
        profile, rest = rest[1], rest[2:]
    if rest[0] != "--":
        raise SystemExit("usage: _rusage.py OUT.json [--profile OUT.prof] -- PYTHON SCRIPT ARGS...")
    command = rest[1:]
    if profile:
        command = [command[0], os.path.abspath(__file__), "--profiled", profile] + command[1:]
    started = time.monotonic()
    child = subprocess.Popen(command)
    _pid, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    with open(out, "w", encoding="utf-8") as handle:
        json.dump({"max_rss_kib": usage.ru_maxrss, "user_s": usage.ru_utime, "sys_s": usage.ru_stime,
                   "wall_s": time.monotonic() - started}, handle)
    return child.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
