"""Offsite push benchmark: time and bytes of pushing a first archive and a second, unchanged one.

Needs no cluster: builds (or reuses) MinIO and age from tests/offsite/minio/build.sh, starts MinIO on a free
localhost port with its data in a temporary directory, makes a bup repository with real saves, and runs
statesafe.backup.bup_offsite through `ansible localhost -m` as a user does. Each run uses a fresh repository
and bucket; medians are printed as a markdown table (progress on stderr).

    "$(tests/venv.sh)/bin/python" bench/offsite.py [--runs 3] [--sql-mb 80] [--binary-mb 40] [--json out.json]
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH_DIR)
MB = 1000 * 1000


def log(message):
    print("[{0}] {1}".format(time.strftime("%H:%M:%S"), message), file=sys.stderr, flush=True)


def collections_root(tmp):
    root = os.path.join(tmp, "collections")
    os.makedirs(os.path.join(root, "ansible_collections", "statesafe"))
    os.symlink(ROOT, os.path.join(root, "ansible_collections", "statesafe", "backup"))
    return root


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_minio(bin_dir, data, access, secret):
    port, console = free_port(), free_port()
    env = dict(os.environ, MINIO_ROOT_USER=access, MINIO_ROOT_PASSWORD=secret, MINIO_BROWSER="off",
               MINIO_UPDATE="off", HOME=data)
    process = subprocess.Popen([os.path.join(bin_dir, "minio"), "server", "--quiet", "--address",
                                "127.0.0.1:{0}".format(port), "--console-address", "127.0.0.1:{0}".format(console),
                                os.path.join(data, "export")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env=env, start_new_session=True)
    endpoint = "http://127.0.0.1:{0}".format(port)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(endpoint + "/minio/health/ready", timeout=2) as answer:
                if answer.status == 200:
                    return process, endpoint
        except OSError:
            time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    raise SystemExit("MinIO did not come up")


def run_module(name, args, env):
    argv = [os.path.join(os.path.dirname(sys.executable), "ansible"), "localhost", "-m",
            "statesafe.backup." + name, "-a", json.dumps(args), "-e",
            "ansible_python_interpreter=" + sys.executable]
    start = time.time()
    done = subprocess.run(argv, capture_output=True, text=True, env=env)
    wall = time.time() - start
    result = json.loads(done.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    if result.get("failed"):
        raise SystemExit("{0} failed: {1}".format(name, result.get("msg")))
    return result, wall


def make_staging(path, sql_mb, binary_mb):
    """A staging tree like a backup's: a SQL text dump, random 'volume' data, small YAML files, a manifest."""
    import hashlib  # pylint: disable=import-outside-toplevel

    files = {}
    row = "INSERT INTO `changes` VALUES ({0},'refs/changes/{0}/1','Fix the {0}th thing',NOW(),'{1}');\n"
    lines, size, i = [], 0, 0
    while size < sql_mb * MB:
        line = row.format(i, uuid.UUID(int=i * 7919).hex)
        lines.append(line)
        size += len(line)
        i += 1
    files["dumps/mariadb.sql"] = "".join(lines).encode()
    files["volumes/zookeeper-data/blob.bin"] = os.urandom(binary_mb * MB)
    for n in range(200):
        files["resources/ConfigMap/cm-{0:03d}.yaml".format(n)] = "kind: ConfigMap\ndata: {{n: '{0}'}}\n".format(
            n).encode()
    for rel, data in files.items():
        full = os.path.join(path, rel)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as handle:
            handle.write(data)
    manifest = {"artifacts": [{"path": rel, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                              for rel, data in sorted(files.items())]}
    with open(os.path.join(path, "MANIFEST.json"), "w") as handle:
        json.dump(manifest, handle)
    return sum(len(d) for d in files.values())


def repo_bytes(repo):
    return sum(os.path.getsize(os.path.join(r, f)) for r, _d, fs in os.walk(os.path.join(repo, "objects"))
               for f in fs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sql-mb", type=int, default=80)
    parser.add_argument("--binary-mb", type=int, default=40)
    parser.add_argument("--json", metavar="FILE")
    options = parser.parse_args()

    bin_dir = subprocess.run([os.path.join(ROOT, "tests", "offsite", "minio", "build.sh")], check=True,
                             capture_output=True, text=True).stdout.strip().splitlines()[-1]
    tmp = tempfile.mkdtemp(prefix="statesafe-bench-offsite-")
    access, secret = "bench-" + uuid.uuid4().hex[:8], uuid.uuid4().hex
    minio, endpoint = start_minio(bin_dir, os.path.join(tmp, "minio"), access, secret)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_root(tmp), ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_LOCALHOST_WARNING="0",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="0", TZ="UTC")
    try:
        import boto3  # pylint: disable=import-outside-toplevel

        s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=access, aws_secret_access_key=secret,
                          region_name="us-east-1")
        identity = os.path.join(tmp, "offsite.key")
        subprocess.run([os.path.join(bin_dir, "age-keygen"), "-o", identity], check=True, capture_output=True)
        recipient = subprocess.run([os.path.join(bin_dir, "age-keygen"), "-y", identity], check=True,
                                   capture_output=True, text=True).stdout.strip()
        staging = os.path.join(tmp, "staging")
        plain = make_staging(staging, options.sql_mb, options.binary_mb)
        log("staging tree: {0:.1f} MB".format(plain / MB))
        rows = {"first": [], "second": [], "noop": []}
        for run in range(options.runs):
            repo = os.path.join(tmp, "repo-{0}".format(run))
            bucket = "bench-{0}-{1}".format(run, uuid.uuid4().hex[:6])
            s3.create_bucket(Bucket=bucket)
            run_module("bup_repo", {"repository": repo}, env)
            common = {"repository": repo, "bucket": bucket, "prefix": "sf", "endpoint_url": endpoint,
                      "access_key": access, "secret_key": secret, "addressing_style": "path",
                      "region": "us-east-1", "recipients": [recipient],
                      "age_command": os.path.join(bin_dir, "age")}
            for label, date in (("first", 1717236000), ("second", 1717322400), ("noop", None)):
                if date:
                    run_module("bup_save", {"repository": repo, "branch": "sf", "staging": staging, "date": date,
                                             "manifest": "MANIFEST.json"},
                               env)
                result, wall = run_module("bup_offsite", common, env)
                rows[label].append({"wall": wall, "module": result["seconds"], "sent": result["uploaded_bytes"],
                                    "plain": result["plain_bytes"], "files": len(result["uploaded"]),
                                    "repo": repo_bytes(repo)})
                log("run {0} {1}: {2:.2f}s wall, {3:.2f}s module, {4} bytes sent".format(
                    run + 1, label, wall, result["seconds"], result["uploaded_bytes"]))
            shutil.rmtree(repo)
        print("| offsite push (median of {0}) | ansible wall | module | bytes sent (encrypted) | pack bytes "
              "(plain) | files | repository |".format(options.runs))
        print("|---|---|---|---|---|---|---|")
        names = {"first": "first archive", "second": "second archive, data unchanged",
                 "noop": "again, nothing new"}
        for label in ("first", "second", "noop"):
            got = rows[label]

            def med(key, got=got):
                return statistics.median(r[key] for r in got)
            print("| {0} | {1:.2f} s | {2:.2f} s | {3:,} | {4:,} | {5:.0f} | {6:,} |".format(
                names[label], med("wall"), med("module"), int(med("sent")), int(med("plain")), med("files"),
                int(med("repo"))))
        if options.json:
            with open(options.json, "w") as handle:
                json.dump({"plain_staging_bytes": plain, "rows": rows}, handle, indent=1)
    finally:
        os.killpg(minio.pid, signal.SIGTERM)
        minio.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
