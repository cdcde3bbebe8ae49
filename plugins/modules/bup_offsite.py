#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: bup_offsite
short_description: Encrypted offsite copies of a bup repository in S3-compatible object storage
version_added: 0.1.0
author:
  - statesafe maintainers (@statesafe)
description:
  - V(push) copies a local bup repository to a bucket, pack by pack, each file encrypted with C(age) to the given
    recipients (public keys) before it leaves the machine. Packs already there are not sent again. An encrypted
    index records the refs (branches, completeness markers) and every file's size and sha256. Packs the local
    repository no longer has (after retention and C(bup gc)) are deleted remotely, only after the new index is
    uploaded. The local repository is only read.
  - V(pull) rebuilds a bup repository in a new directory from the copy, with the age identity (secret key). Every
    file is decrypted and checked against the sha256 the index recorded, every ref's object must be found,
    and only then is the repository moved into place. Restore from it with M(statesafe.backup.bup_restore).
  - V(list) shows what the copy holds; with O(identity_file), also its branches and completeness markers.
  - A push without recipients is refused. Archives hold Secrets and are never sent in plain text.
  - See docs/offsite.md for keys, layout and restoring on a bare machine.
extends_documentation_fragment:
  - statesafe.backup.bup_repository
options:
  operation:
    description: What to do.
    type: str
    choices: [push, pull, list]
    default: push
  bucket:
    description: The bucket.
    type: str
    required: true
  prefix:
    description: Key prefix of this copy inside the bucket (one repository per prefix).
    type: str
    default: ""
  endpoint_url:
    description:
      - URL of an S3-compatible server (MinIO, Ceph RGW, Garage...); AWS S3 when unset. Also taken from
        E(AWS_ENDPOINT_URL).
    type: str
  region:
    description: Region name; also from E(AWS_REGION) or E(AWS_DEFAULT_REGION).
    type: str
  access_key:
    description:
      - Access key id; also from E(AWS_ACCESS_KEY_ID). When unset, boto3's usual chain applies (profile, instance role).
    type: str
    aliases: [aws_access_key_id]
  secret_key:
    description: Secret access key; also from E(AWS_SECRET_ACCESS_KEY). Never logged.
    type: str
    aliases: [aws_secret_access_key]
  session_token:
    description: Session token of temporary credentials; also from E(AWS_SESSION_TOKEN). Never logged.
    type: str
  addressing_style:
    description: Bucket in the path (V(path), what most self-hosted servers want) or the host name (V(virtual)).
    type: str
    choices: [auto, path, virtual]
    default: auto
  validate_certs:
    description: Verify the endpoint's TLS certificate.
    type: bool
    default: true
  connect_timeout:
    description: Seconds to wait for a connection to the endpoint.
    type: int
    default: 10
  retries:
    description: Attempts per S3 request (boto3's standard retry mode) before failing.
    type: int
    default: 3
  create_bucket:
    description: With V(push), create the bucket when it does not exist.
    type: bool
    default: false
  recipients:
    description:
      - With V(push), the age recipients (public keys V(age1...), or ssh-ed25519 / ssh-rsa public keys) to encrypt to.
        One of this and O(recipients_file) is required for a push.
    type: list
    elements: str
    default: []
  recipients_file:
    description: With V(push), a file of recipients, one per line (C(age -R) format, C(#) comments).
    type: path
  allow_recipient_change:
    description:
      - With V(push), allow pushing to a copy that was encrypted to other recipients. Every pack is then uploaded
        again for the new recipients and the old objects are deleted, so the old identity can no longer restore.
    type: bool
    default: false
  identity_file:
    description:
      - With V(pull), and with V(list) to read the index, the age identity file (C(AGE-SECRET-KEY-...)) whose public key
        the copy was pushed to. Keep it off the backed-up cluster and off the pushing machine.
    type: path
  age_command:
    description: The age executable.
    type: str
    default: age
attributes:
  check_mode:
    description: V(push) reports what it would upload and delete; V(pull) what it would download. Nothing is written.
    support: full
  diff_mode:
    description: Nothing to show a difference of.
    support: none
  idempotent:
    description: A second push of an unchanged repository uploads and deletes nothing.
    support: full
notes:
  - O(repository) is the local repository to push from, or with V(pull) the new directory to build (it must not exist
    or be empty). O(remote) (bup -r) is not supported.
  - age ciphertext is authenticated; a pulled file is also checked against its sha256, so damage and tampering are
    detected. A push cannot check that the recipients match an identity you hold. Run a pull now and then
    (playbooks/offsite_pull.yml) to prove the copy restores.
requirements:
  - boto3 on the host the task runs on
  - age (1.1 or later) on the host the task runs on
seealso:
  - module: statesafe.backup.bup_restore
  - module: statesafe.backup.bup_retention
"""

EXAMPLES = r"""
- name: Push the repository offsite, encrypted to the restore key's public half
  statesafe.backup.bup_offsite:
    repository: /srv/backup/bup
    bucket: backups
    prefix: sf/bup
    endpoint_url: https://s3.example.org
    recipients:
      - age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
  environment:
    AWS_ACCESS_KEY_ID: "{{ vault_s3_access_key }}"
    AWS_SECRET_ACCESS_KEY: "{{ vault_s3_secret_key }}"

- name: Rebuild the repository on a new machine from the copy
  statesafe.backup.bup_offsite:
    operation: pull
    repository: /srv/restore/bup
    bucket: backups
    prefix: sf/bup
    endpoint_url: https://s3.example.org
    identity_file: /root/statesafe-offsite.key
"""

RETURN = r"""
repository:
  description: The local repository pushed from or pulled into.
  returned: push, pull
  type: str
bucket:
  description: The bucket.
  returned: always
  type: str
prefix:
  description: The key prefix, normalised (no leading or trailing slash).
  returned: always
  type: str
recipients_fingerprint:
  description: 16 hex digits naming the recipients the copy is encrypted to (also part of the pack objects' keys).
  returned: push, and list when there is a copy
  type: str
uploaded:
  description: Pack files uploaded (or to upload, in check mode).
  returned: push
  type: list
  elements: str
uploaded_bytes:
  description: Bytes sent (ciphertext, index included).
  returned: push
  type: int
plain_bytes:
  description: Bytes of the pack files uploaded, before encryption.
  returned: push
  type: int
deleted:
  description: Object keys (below the prefix) deleted because the local repository no longer has their pack.
  returned: push
  type: list
  elements: str
index_uploaded:
  description: Whether a new index was uploaded (false when refs and packs are unchanged).
  returned: push
  type: bool
remote_objects:
  description: Objects under the prefix after the push.
  returned: push
  type: int
refs:
  description: Number of refs (branches and completeness markers) the index records.
  returned: push, pull
  type: int
summary:
  description: Branches with their tips, completeness markers per branch, packs, files and plain bytes.
  returned: push, pull
  type: dict
downloaded:
  description: Pack files downloaded, decrypted and verified.
  returned: pull
  type: list
  elements: str
downloaded_bytes:
  description: Bytes downloaded (ciphertext).
  returned: pull
  type: int
objects:
  description: Objects under the prefix.
  returned: list
  type: int
bytes:
  description: Bytes of the objects under the prefix.
  returned: list
  type: int
exists:
  description: Whether there is a copy (an index) under the prefix.
  returned: list
  type: bool
pushed_at:
  description: When the index was last uploaded.
  returned: list, when there is a copy
  type: str
index:
  description: With O(identity_file), the summary of the decrypted index; else null.
  returned: list
  type: dict
missing:
  description: With O(identity_file), pack files the index names whose objects are missing.
  returned: list, when the index was read
  type: list
  elements: str
seconds:
  description: Wall time of the transfer.
  returned: push, pull
  type: float
lock_waited:
  description: Seconds spent waiting for the local repository's run lock.
  returned: push
  type: float
error_location:
  description: On failure, the repository, endpoint, bucket and key the error is about.
  returned: failure
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule, env_fallback
from ansible_collections.statesafe.backup.plugins.module_utils.offsite import ops as offsite_ops
from ansible_collections.statesafe.backup.plugins.module_utils.bup.args import (
    module_kwargs,
)
from ansible_collections.statesafe.backup.plugins.module_utils.boundary import (
    repository_error,
    run_module,
)

ARGUMENT_SPEC = dict(
    operation=dict(type="str", choices=["push", "pull", "list"], default="push"),
    bucket=dict(type="str", required=True),
    prefix=dict(type="str", default=""),
    endpoint_url=dict(type="str", fallback=(env_fallback, ["AWS_ENDPOINT_URL"])),
    region=dict(type="str", fallback=(env_fallback, ["AWS_REGION", "AWS_DEFAULT_REGION"])),
    access_key=dict(type="str", aliases=["aws_access_key_id"], no_log=True,
                    fallback=(env_fallback, ["AWS_ACCESS_KEY_ID"])),
    secret_key=dict(type="str", aliases=["aws_secret_access_key"], no_log=True,
                    fallback=(env_fallback, ["AWS_SECRET_ACCESS_KEY"])),
    session_token=dict(type="str", no_log=True, fallback=(env_fallback, ["AWS_SESSION_TOKEN"])),
    addressing_style=dict(type="str", choices=["auto", "path", "virtual"], default="auto"),
    validate_certs=dict(type="bool", default=True),
    connect_timeout=dict(type="int", default=10),
    retries=dict(type="int", default=3),
    create_bucket=dict(type="bool", default=False),
    recipients=dict(type="list", elements="str", default=[]),
    recipients_file=dict(type="path"),
    allow_recipient_change=dict(type="bool", default=False),
    identity_file=dict(type="path"),
    age_command=dict(type="str", default="age"),
)


def main():
    kwargs = module_kwargs(ARGUMENT_SPEC, supports_check_mode=True,
                           required_if=[("operation", "pull", ("identity_file",))])
    kwargs["required_one_of"] = []  # list needs no local repository; push and pull check it themselves
    module = AnsibleModule(**kwargs)
    result = run_module(module, lambda: offsite_ops.run_operation(module.params, module.check_mode),
                        describe=repository_error(module.params))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
