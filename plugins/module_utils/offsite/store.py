# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The object store of an offsite copy: S3-compatible storage through boto3.

Store lists, reads, uploads and deletes objects under the prefix, and turns
boto3's errors into OffsiteErrors that name the endpoint, bucket and key.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


from ansible_collections.statesafe.backup.plugins.module_utils.offsite import plan as plan_mod
from ansible_collections.statesafe.backup.plugins.module_utils.offsite.plan import OffsiteError

try:
    import boto3
    import boto3.exceptions
    import boto3.s3.transfer
    import boto3.session
    import botocore.config
    import botocore.exceptions
    HAS_BOTO3 = True
    BOTO3_IMPORT_ERROR = None
except ImportError as _exc:  # pragma: no cover - reported by the module
    HAS_BOTO3 = False
    BOTO3_IMPORT_ERROR = _exc

CHUNK = 1024 * 1024


class Store(object):
    """The bucket and prefix of an offsite copy; every S3 error becomes an OffsiteError that says what failed."""

    def __init__(self, params):
        if not HAS_BOTO3:
            raise OffsiteError("boto3 is needed for offsite copies and is not importable by {0}: {1}".format(
                "this Python", BOTO3_IMPORT_ERROR))
        self.bucket = params["bucket"]
        self.prefix = plan_mod.normalise_prefix(params.get("prefix"))
        self.endpoint = params.get("endpoint_url") or "AWS S3 ({0})".format(params.get("region") or "default region")
        config = botocore.config.Config(
            connect_timeout=params.get("connect_timeout") or 10, read_timeout=60,
            retries={"max_attempts": params.get("retries") or 3, "mode": "standard"},
            s3={"addressing_style": params.get("addressing_style") or "auto"})
        session = boto3.session.Session(
            aws_access_key_id=params.get("access_key") or None,
            aws_secret_access_key=params.get("secret_key") or None,
            aws_session_token=params.get("session_token") or None,
            region_name=params.get("region") or None)
        self.client = session.client("s3", endpoint_url=params.get("endpoint_url") or None, config=config,
                                     verify=params.get("validate_certs", True))
        self.transfer = boto3.s3.transfer.TransferConfig(multipart_chunksize=64 * CHUNK,
                                                         multipart_threshold=64 * CHUNK, max_concurrency=4)

    def where(self, relative=None):
        location = {"endpoint": self.endpoint, "bucket": self.bucket}
        if relative is not None:
            location["key"] = plan_mod.full_key(self.prefix, relative)
        return location

    def _fail(self, what, exc, relative=None):
        if isinstance(exc, botocore.exceptions.ClientError):
            error = exc.response.get("Error", {})
            code = error.get("Code", "?")
            hint = {
                "InvalidAccessKeyId": "the access key is not known to the server: check the credentials",
                "SignatureDoesNotMatch": "the secret key does not match the access key: check the credentials",
                "AccessDenied": "these credentials may not do this on this bucket and prefix",
                "NoSuchBucket": "the bucket does not exist: create it, or set create_bucket",
                "403": "the server refused the credentials (403)",
                "404": "not found (404)",
            }.get(code, error.get("Message") or "")
            message = "{0} failed: S3 said {1}{2}".format(what, code, ": " + hint if hint else "")
        elif isinstance(exc, (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectTimeoutError,
                              botocore.exceptions.ConnectionClosedError, botocore.exceptions.ReadTimeoutError)):
            message = "{0} failed: cannot reach the endpoint: {1}".format(what, exc)
        elif isinstance(exc, botocore.exceptions.NoCredentialsError):
            message = ("{0} failed: no credentials: set access_key and secret_key (or AWS_ACCESS_KEY_ID and "
                       "AWS_SECRET_ACCESS_KEY)".format(what))
        else:
            message = "{0} failed: {1}: {2}".format(what, type(exc).__name__, exc)
        raise OffsiteError(message, **self.where(relative))

    def _errors(self):
        return (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError,
                boto3.exceptions.S3UploadFailedError)

    def create_bucket(self):
        try:
            self.client.create_bucket(Bucket=self.bucket)
        except self._errors() as exc:
            self._fail("creating the bucket", exc)

    def listing(self, create_bucket=False):
        """{relative key: size} of every object under the prefix (the first request of every operation: it
        names S3's error code, where a HEAD request could only say 403 or 404)."""
        found = {}
        try:
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + "/" if self.prefix else ""):
                for item in page.get("Contents", ()):
                    relative = plan_mod.relative_key(self.prefix, item["Key"])
                    if relative is not None:
                        found[relative] = item["Size"]
        except botocore.exceptions.ClientError as exc:
            if create_bucket and exc.response.get("Error", {}).get("Code") == "NoSuchBucket":
                self.create_bucket()
                return {}
            self._fail("listing the offsite copy", exc)
        except self._errors() as exc:
            self._fail("listing the offsite copy", exc)
        return found

    def metadata(self, relative):
        """The object's user metadata, {} when there is no such object."""
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=plan_mod.full_key(self.prefix, relative))
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return {}
            self._fail("reading the metadata of an object", exc, relative)
        except self._errors() as exc:
            self._fail("reading the metadata of an object", exc, relative)
        return dict(head.get("Metadata") or {})

    def upload(self, path, relative, metadata=None):
        try:
            self.client.upload_file(path, self.bucket, plan_mod.full_key(self.prefix, relative),
                                    ExtraArgs={"Metadata": dict(metadata or {})}, Config=self.transfer)
        except self._errors() as exc:
            self._fail("uploading", exc, relative)

    def download(self, relative, path):
        try:
            self.client.download_file(self.bucket, plan_mod.full_key(self.prefix, relative), path,
                                      Config=self.transfer)
        except self._errors() as exc:
            self._fail("downloading", exc, relative)

    def delete(self, relatives):
        for start in range(0, len(relatives), 1000):
            batch = relatives[start:start + 1000]
            try:
                answer = self.client.delete_objects(Bucket=self.bucket, Delete={
                    "Objects": [{"Key": plan_mod.full_key(self.prefix, r)} for r in batch], "Quiet": True})
            except self._errors() as exc:
                self._fail("deleting {0} objects".format(len(batch)), exc, batch[0])
            errors = answer.get("Errors") or []
            if errors:
                raise OffsiteError("deleting objects failed for {0} of {1}: {2}".format(
                    len(errors), len(batch), "; ".join("{0}: {1}".format(e.get("Key"), e.get("Code"))
                                                       for e in errors[:5])), **self.where())
