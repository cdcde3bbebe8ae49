"""Fixtures of the offsite tests: a real MinIO server and real age, both built from the Go module proxy.

MinIO listens on a free localhost port with its data in a temporary directory and is stopped after the
module's tests. No Kubernetes: real bup repositories are enough.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bup"))

# pylint: disable=wrong-import-position
from bup_helpers import finish_module, start_module  # noqa: E402

from ansible_collections.statesafe.backup.plugins.module_utils.bup import operations as bup_ops  # noqa: E402
from ansible_collections.statesafe.backup.plugins.module_utils.bup import repository as bup_repository  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
BUILD = ROOT / "tests" / "offsite" / "minio" / "build.sh"


@pytest.fixture(scope="session")
def offsite_bin() -> Path:
    """The bin directory holding minio, age and age-keygen (built once, then cached)."""
    for tool in ("bup", "git"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is not installed: run tests/cluster/install-deps.sh")
    built = subprocess.run([str(BUILD)], capture_output=True, text=True, check=False, timeout=3600)
    if built.returncode != 0:
        pytest.fail(f"building MinIO and age failed:\n{built.stderr[-3000:]}")
    return Path(built.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Minio:
    def __init__(self, endpoint: str, access_key: str, secret_key: str, data: Path):
        self.endpoint = endpoint
        self.access_key = access_key
        self.secret_key = secret_key
        self.data = data

    def client(self):
        import boto3  # pylint: disable=import-outside-toplevel
        from botocore.config import Config  # pylint: disable=import-outside-toplevel

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key, region_name="us-east-1",
                            config=Config(s3={"addressing_style": "path"}))

    def new_bucket(self) -> str:
        name = f"offsite-{uuid.uuid4().hex[:10]}"
        self.client().create_bucket(Bucket=name)
        return name

    def objects(self, bucket: str) -> dict[str, dict]:
        """{key: {"size", "etag", "modified"}} of every object in the bucket."""
        found = {}
        for page in self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", ()):
                found[item["Key"]] = {"size": item["Size"], "etag": item["ETag"], "modified": item["LastModified"]}
        return found

    def read(self, bucket: str, key: str) -> bytes:
        return self.client().get_object(Bucket=bucket, Key=key)["Body"].read()


@pytest.fixture(scope="module")
def minio(offsite_bin, tmp_path_factory):
    data = tmp_path_factory.mktemp("minio-data")
    port, console = free_port(), free_port()
    access, secret = "statesafe-" + uuid.uuid4().hex[:8], uuid.uuid4().hex
    env = dict(os.environ, MINIO_ROOT_USER=access, MINIO_ROOT_PASSWORD=secret, MINIO_BROWSER="off",
               MINIO_UPDATE="off", HOME=str(data))
    log = open(data.parent / f"minio-{port}.log", "wb")  # pylint: disable=consider-using-with
    process = subprocess.Popen([str(offsite_bin / "minio"), "server", "--quiet", "--address", f"127.0.0.1:{port}",
                                "--console-address", f"127.0.0.1:{console}", str(data / "export")],
                               stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            with urllib.request.urlopen(endpoint + "/minio/health/ready", timeout=2) as answer:
                if answer.status == 200:
                    break
        except OSError:
            pass
        if process.poll() is not None or time.time() > deadline:
            process.kill()
            log.close()
            pytest.fail(f"MinIO did not come up on {endpoint}:\n"
                        f"{(data.parent / f'minio-{port}.log').read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)
    yield Minio(endpoint, access, secret, data)
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    log.close()


@pytest.fixture(scope="module")
def age_key(offsite_bin, tmp_path_factory) -> tuple[Path, str]:
    """(identity file, recipient) of a fresh age key pair."""
    directory = tmp_path_factory.mktemp("age")
    identity = directory / "offsite.key"
    subprocess.run([str(offsite_bin / "age-keygen"), "-o", str(identity)], check=True, capture_output=True, timeout=120)
    recipient = subprocess.run([str(offsite_bin / "age-keygen"), "-y", str(identity)], check=True,
                               capture_output=True, text=True, timeout=120).stdout.strip()
    return identity, recipient


@pytest.fixture
def run_module():
    """run_module(name, check=False, env=None, **module_args) -> AnsibleRun."""
    def run(name: str, check: bool = False, env: dict | None = None, **args):
        return finish_module(start_module(name, args, check=check, env=env))
    return run


@pytest.fixture
def repo_path(tmp_path) -> Path:
    path = tmp_path / "repo"
    params = {"repository": str(path)}
    bup_ops.run_init(bup_repository.repository_from_params(params), params)
    return path
