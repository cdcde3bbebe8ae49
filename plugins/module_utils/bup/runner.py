# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place that starts bup and git processes.

Everything else in the bup layer builds argument lists and reads results, so
it can be tested by handing it a different runner.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess
import tempfile
import time

from ansible_collections.statesafe.backup.plugins.module_utils.bup.errors import (
    BupCommandFailed,
)


class Result(object):
    def __init__(self, argv, rc, stdout, stderr, seconds):
        self.argv = argv
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.seconds = seconds

    def stderr_text(self, limit=4000):
        text = self.stderr.decode("utf-8", "replace").replace("\r", "\n")
        lines = [line for line in text.splitlines() if line.strip()]
        text = "\n".join(lines)
        return text if len(text) <= limit else "..." + text[-limit:]


class Runner(object):
    """Runs commands with a fixed environment (BUP_DIR and friends)."""

    def __init__(self, bup_dir, bup_bin="bup", git_bin="git", extra_env=None):
        self.bup_dir = bup_dir
        self.bup_bin = bup_bin
        self.git_bin = git_bin
        env = dict(os.environ)
        env.update(extra_env or {})
        env["BUP_DIR"] = bup_dir
        # Messages are parsed; progress meters are for terminals.
        env["LC_ALL"] = "C.UTF-8"
        env.pop("BUP_FORCE_TTY", None)
        self.env = env

    def bup_argv(self, args):
        return [self.bup_bin] + list(args)

    def git_argv(self, git_dir, args):
        return [self.git_bin, "--git-dir=" + git_dir] + list(args)

    def run(self, argv, input_data=None, cwd=None):
        start = time.time()
        try:
            process = subprocess.Popen(argv, stdin=subprocess.PIPE if input_data is not None else subprocess.DEVNULL,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env, cwd=cwd)
        except OSError as exc:
            raise BupCommandFailed("cannot run {0}: {1}".format(argv[0], exc), argv=argv) from exc
        stdout, stderr = process.communicate(input_data)
        return Result(argv, process.returncode, stdout, stderr, time.time() - start)

    def check(self, argv, what, input_data=None, cwd=None, ok_codes=(0,), **location):
        """Run and raise BupCommandFailed (naming what failed and where) on an unexpected exit code."""
        result = self.run(argv, input_data=input_data, cwd=cwd)
        if result.rc not in ok_codes:
            raise BupCommandFailed("{0} failed: {1} exited {2}: {3}".format(
                what, " ".join(argv[:3]), describe_rc(result.rc), result.stderr_text(1000) or "(no output)"),
                argv=argv, rc=result.rc, stderr=result.stderr_text(), **location)
        return result

    def bup(self, args, what, **kwargs):
        return self.check(self.bup_argv(args), what, **kwargs)

    def git(self, git_dir, args, what, **kwargs):
        return self.check(self.git_argv(git_dir, args), what, **kwargs)

    def spawn(self, argv):
        """A process with pipes to talk to (git cat-file --batch, bup server).

        Its stderr goes to a temporary file (process.stderr_file), so a chatty
        process can never block on a full pipe nobody reads.
        """
        stderr_file = tempfile.TemporaryFile()
        try:
            process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr_file,
                                       env=self.env)
        except OSError as exc:
            stderr_file.close()
            raise BupCommandFailed("cannot run {0}: {1}".format(argv[0], exc), argv=argv) from exc
        process.stderr_file = stderr_file
        return process


def finish(process):
    """Close a spawned process's pipes, wait for it; (rc, stderr text)."""
    for stream in (process.stdin, process.stdout):
        try:
            stream.close()
        except (IOError, OSError):
            pass
    rc = process.wait()
    process.stderr_file.seek(0)
    text = process.stderr_file.read().decode("utf-8", "replace").strip()
    process.stderr_file.close()
    return rc, text


def describe_rc(rc):
    if rc is not None and rc < 0:
        return "on signal {0}".format(-rc)
    return str(rc)
