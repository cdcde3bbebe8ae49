"""Benchmark bup_save's sha256 read-back of a new archive against reading the same chunks with git alone.

After every save the backup reads the archive's files back from the repository and checks their sha256 against the
manifest (`validate: sha256`, the backup role's default). A dump is saved as one blob per bup chunk (about 8 KiB),
tens of thousands per file, so how the chunks are asked for decides what the check costs. No cluster is needed.

A text file of --size MB (lines like pgbench_accounts' rows, the same bytes each time) is saved with `bup index` +
`bup save` into a fresh repository, then, --runs times each, back to back:

1. baseline: `git cat-file --batch --buffer` of every chunk of the file, in the file's order, into /dev/null (what
   reading the chunks out of the repository costs, without hashing them);
2. one chunk at a time: what bup_save did before commit 394fa87, each chunk asked for and waited for in turn
   (written out below, for the comparison);
3. ours: the read-back bup_save does (`LocalRepository.digests`, plugins/module_utils/bup/repository.py), which must
   give the file's own sha256;
4. for the restore: `bup restore` of the archive into an empty directory, against writing the file from one
   `git cat-file --batch --buffer` stream of its chunks and hashing it on the way (a measurement for a proposal in
   docs/performance.md, not code the collection runs).

Markdown on stdout, progress on stderr, every raw figure with --json.
"""

import hashlib
import os
import subprocess
import sys
import threading
import time

import _common as common

LINE = "{0}\t{1}\t{2}\t" + " " * 84 + "\n"


def write_rows(path, size):
    """size bytes of rows like pgbench_accounts' in a plain dump (one in ten balances not zero); their sha256."""
    digest = hashlib.sha256()
    written, row = 0, 0
    with open(path, "w", encoding="ascii") as handle:
        while written < size:
            lines = []
            for _ in range(10000):
                row += 1
                lines.append(LINE.format(row, row // 100000 + 1, (row * 7919) % 10001 - 5000 if row % 10 == 0 else 0))
            block = "".join(lines)[:size - written]
            handle.write(block)
            digest.update(block.encode("ascii"))
            written += len(block)
    return digest.hexdigest()


def one_chunk_at_a_time(repo, blobs):
    """The read-back as bup_save did it before commit 394fa87: write one id, wait for its answer, and so on."""
    git = subprocess.Popen(["git", "--git-dir=" + repo, "cat-file", "--batch"], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE)
    digest = hashlib.sha256()
    for oid in blobs:
        git.stdin.write(oid.encode("ascii") + b"\n")
        git.stdin.flush()
        remaining = int(git.stdout.readline().split()[2])
        while remaining:
            chunk = git.stdout.read(min(remaining, 1 << 20))
            digest.update(chunk)
            remaining -= len(chunk)
        git.stdout.read(1)
    git.stdin.close()
    git.wait(timeout=3600)
    return digest.hexdigest()


def write_from_chunks(repo, blobs, path):
    """The file written from one git cat-file stream of its chunks, hashed on the way; its sha256."""
    git = subprocess.Popen(["git", "--git-dir=" + repo, "cat-file", "--batch", "--buffer"], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE)
    feeder = threading.Thread(target=lambda: (git.stdin.write("".join(oid + "\n" for oid in blobs).encode("ascii")),
                                              git.stdin.close()))
    feeder.start()
    digest = hashlib.sha256()
    with open(path, "wb") as handle:
        for _oid in blobs:
            data = git.stdout.read(int(git.stdout.readline().split()[2]))
            git.stdout.read(1)
            digest.update(data)
            handle.write(data)
    feeder.join()
    git.wait(timeout=3600)
    return digest.hexdigest()


def collection_import_path(workdir):
    """A directory from which `ansible_collections.statesafe.backup` is this checkout."""
    path = os.path.join(workdir, "collections")
    os.makedirs(os.path.join(path, "ansible_collections", "statesafe"))
    os.symlink(common.COLLECTION_ROOT, os.path.join(path, "ansible_collections", "statesafe", "backup"))
    return path


def main():
    parser = common.argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=537, help="MB of the saved file (default: %(default)s)")
    args = parser.parse_args()
    raw = {"size_mb": args.size, "baseline_s": [], "one_at_a_time_s": [], "ours_s": [], "bup_restore_s": [],
           "from_chunks_s": []}
    with common.workdir("statesafe-bench-readback-", args.workdir) as workdir:
        sys.path.insert(0, collection_import_path(workdir))
        from ansible_collections.statesafe.backup.plugins.module_utils.bup import repository  # noqa: E402

        staging, repo = os.path.join(workdir, "staging"), os.path.join(workdir, "repo")
        os.makedirs(os.path.join(staging, "dumps"))
        common.log("writing {0} MB of rows".format(args.size))
        expected = write_rows(os.path.join(staging, "dumps", "rows.dump"), args.size * 1000 * 1000)
        env = dict(os.environ, BUP_DIR=repo)
        subprocess.run(["bup", "init"], env=env, check=True, capture_output=True, timeout=60)
        started = time.monotonic()
        subprocess.run(["bup", "index", staging], env=env, check=True, capture_output=True, timeout=3600)
        subprocess.run(["bup", "save", "-q", "-n", "bench", "--strip-path=" + staging, staging], env=env, check=True,
                       capture_output=True, timeout=3600)
        raw["save_s"] = round(time.monotonic() - started, 3)
        local = repository.repository_from_params({"repository": repo})
        heads, _markers = local.refs()
        files = local.tree_files(heads["bench"])
        blobs = files["dumps/rows.dump"]["blobs"]
        raw["chunks"] = len(blobs)
        ids = "".join(oid + "\n" for oid in blobs).encode("ascii")
        common.log("saved in {0:.1f} s: {1} chunks".format(raw["save_s"], len(blobs)))
        for index in range(args.runs):
            started = time.monotonic()
            git = subprocess.run(["git", "--git-dir=" + repo, "cat-file", "--batch", "--buffer"], input=ids,
                                 stdout=subprocess.DEVNULL, check=False, timeout=3600)
            if git.returncode != 0:
                raise SystemExit("baseline failed: git cat-file exited {0}".format(git.returncode))
            raw["baseline_s"].append(round(time.monotonic() - started, 3))
            started = time.monotonic()
            if one_chunk_at_a_time(repo, blobs) != expected:
                raise SystemExit("the read-back one chunk at a time did not give the file's sha256")
            raw["one_at_a_time_s"].append(round(time.monotonic() - started, 3))
            started = time.monotonic()
            digests = local.digests(files, ["dumps/rows.dump"])
            raw["ours_s"].append(round(time.monotonic() - started, 3))
            if digests["dumps/rows.dump"] != expected:
                raise SystemExit("the read-back gave {0}, the file's sha256 is {1}".format(digests, expected))
            target = common.fresh_path(os.path.join(workdir, "restored"))
            started = time.monotonic()
            subprocess.run(["bup", "restore", "-q", "-C", target, "/bench/latest/."], env=env, check=True,
                           capture_output=True, timeout=3600)
            raw["bup_restore_s"].append(round(time.monotonic() - started, 3))
            target = common.fresh_path(os.path.join(workdir, "restored"))
            os.makedirs(target)
            started = time.monotonic()
            if write_from_chunks(repo, blobs, os.path.join(target, "rows.dump")) != expected:
                raise SystemExit("the file written from its chunks does not have the file's sha256")
            raw["from_chunks_s"].append(round(time.monotonic() - started, 3))
            common.fresh_path(target)
            common.log("run {0}: baseline {1:.2f} s, one at a time {2:.2f} s, ours {3:.2f} s; bup restore {4:.2f} s, "
                       "from chunks {5:.2f} s".format(index + 1, *(raw[key][-1] for key in (
                           "baseline_s", "one_at_a_time_s", "ours_s", "bup_restore_s", "from_chunks_s"))))
    common.write_json(args.json, raw)
    baseline, ours = common.median(raw["baseline_s"]), common.median(raw["ours_s"])

    def row(what, key, ratio=""):
        return [what, ", ".join("{0:.2f}".format(s) for s in raw[key]) + " s",
                "{0:.2f} s".format(common.median(raw[key])), ratio]

    rows = [
        ["`bup index` + `bup save` of the file (context)", "{0:.2f} s".format(raw["save_s"]), "", ""],
        row("baseline: `git cat-file --batch --buffer` of every chunk, into /dev/null", "baseline_s"),
        row("the read-back one chunk at a time (bup_save before 394fa87)", "one_at_a_time_s",
            "{0:.2f}x baseline".format(common.median(raw["one_at_a_time_s"]) / baseline)),
        row("ours: bup_save's read-back (`LocalRepository.digests`), the file's sha256", "ours_s",
            "**{0:.2f}x** baseline".format(ours / baseline)),
        row("restore: `bup restore` of the archive into an empty directory", "bup_restore_s"),
        row("restore: the file written from one `git cat-file` stream of its chunks, hashed", "from_chunks_s",
            "{0:.2f}x `bup restore`".format(common.median(raw["from_chunks_s"]) / common.median(raw["bup_restore_s"]))),
    ]
    print("{0} MB in {1} chunks; medians of {2} runs\n\n{3}".format(
        args.size, raw["chunks"], args.runs, common.markdown_table(["measurement", "per run", "median", "ratio"],
                                                                   rows)))


if __name__ == "__main__":
    main()
