"""A real MinIO server for the offsite tests, built with age from the Go module proxy (tests/offsite/minio/build.sh).

The offsite tests serve it on 127.0.0.1; a test whose pods push offsite serves it on an address of this machine that
pods reach (the node address, as the API server), never off the machine.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import yaml

BUILD = Path(__file__).resolve().parents[2] / "tests" / "offsite" / "minio" / "build.sh"


def build_offsite_tools() -> Path:
    """The bin directory holding minio, age and age-keygen (built once, then cached); raises with the build's
    stderr when it fails."""
    built = subprocess.run([str(BUILD)], capture_output=True, text=True, check=False, timeout=3600)
    if built.returncode != 0:
        raise RuntimeError(f"building MinIO and age failed:\n{built.stderr[-3000:]}")
    return Path(built.stdout.strip().splitlines()[-1])


def free_port(address: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
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


@contextmanager
def serve_minio(offsite_bin: Path, data: Path, address: str = "127.0.0.1"):
    """A MinIO server on a free port of `address` with its data under `data`, stopped on leaving."""
    port, console = free_port(address), free_port(address)
    access, secret = "statesafe-" + uuid.uuid4().hex[:8], uuid.uuid4().hex
    env = dict(os.environ, MINIO_ROOT_USER=access, MINIO_ROOT_PASSWORD=secret, MINIO_BROWSER="off",
               MINIO_UPDATE="off", HOME=str(data))
    log_path = data.parent / f"minio-{port}.log"
    log = open(log_path, "wb")  # pylint: disable=consider-using-with
    process = subprocess.Popen([str(offsite_bin / "minio"), "server", "--quiet", "--address", f"{address}:{port}",
                                "--console-address", f"{address}:{console}", str(data / "export")],
                               stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    endpoint = f"http://{address}:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(endpoint + "/minio/health/ready", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"MinIO did not come up on {endpoint}:\n"
                                   f"{log_path.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)
        yield Minio(endpoint, access, secret, data)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
        log.close()


@contextmanager
def offsite_for_pods(kubeconfig: str, tmp_path_factory):
    """For a test whose pods push offsite: MinIO served on the node address (pods reach it as they reach the API
    server), a new bucket and an age key pair: {minio, bucket, identity, recipient, age}."""
    tools = build_offsite_tools()
    node = urlparse(yaml.safe_load(Path(kubeconfig).read_text())["clusters"][0]["cluster"]["server"]).hostname
    identity = tmp_path_factory.mktemp("age") / "offsite.key"
    subprocess.run([str(tools / "age-keygen"), "-o", str(identity)], check=True, capture_output=True, timeout=120)
    recipient = subprocess.run([str(tools / "age-keygen"), "-y", str(identity)], check=True, capture_output=True,
                               text=True, timeout=120).stdout.strip()
    with serve_minio(tools, tmp_path_factory.mktemp("minio-data"), address=node) as minio:
        yield {"minio": minio, "bucket": minio.new_bucket(), "identity": identity, "recipient": recipient,
               "age": tools / "age"}
