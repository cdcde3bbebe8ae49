# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Encrypted offsite copies of a bup repository: the decisions, as functions from data to data.

bup writes packs once and never changes them (gc writes new packs and deletes
old ones), and a pack's name is the hash of what it holds. So a repository is
copied offsite pack by pack: each pack file (.pack, .idx, and par2 data when
present) becomes one encrypted object, uploaded once, and an encrypted index
object records the refs (branches and completeness markers) and every file
with its size and sha256. The layout under the prefix:

    <prefix>/index.json.age                         the index (JSON, encrypted)
    <prefix>/packs/<recipients>/pack-<sha1>.pack.age one object per pack file

<recipients> is a fingerprint of the age recipients the objects are encrypted
to, so objects encrypted to different keys never mix. Nothing here does I/O:
offsite_ops lists, reads, encrypts, uploads and deletes by these plans.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import re

from ansible_collections.statesafe.backup.plugins.module_utils.errors import (
    StatesafeError,
)

INDEX_FORMAT = "statesafe.backup/offsite-index"
INDEX_VERSION = 1
INDEX_KEY = "index.json.age"
PACKS_DIR = "packs"
ENCRYPTED_SUFFIX = ".age"
# The object metadata of the index (S3 user metadata, x-amz-meta-*): lets a push see whether the index
# changed, and which recipients the copy is encrypted to, without the identity.
META_INDEX_SHA256 = "statesafe-index-sha256"
META_RECIPIENTS = "statesafe-recipients"

# Files of objects/pack that are the repository's data. bup's midx and bloom files are caches it rebuilds;
# pack-tmp-* directories and .keep/.rev files are not copied.
PACK_FILE_RE = re.compile(r"^pack-[0-9a-f]{40}\.(pack|idx|par2|vol[0-9]+\+[0-9]+\.par2)$")
PACK_KEY_RE = re.compile(r"^" + PACKS_DIR + r"/[0-9a-f]{16}/(pack-[0-9a-f]{40}\.[a-z0-9+.]+)" +
                         re.escape(ENCRYPTED_SUFFIX) + r"$")
# age1 + bech32: X25519 keys (62 characters), and the longer post-quantum and plugin recipients.
AGE_RECIPIENT_RE = re.compile(r"^age1[0-9a-z]{50,}$")
SSH_RECIPIENT_RE = re.compile(r"^(ssh-ed25519|ssh-rsa) [A-Za-z0-9+/=]+( .*)?$")
REF_RE = re.compile(r"^refs/[A-Za-z0-9._/+-]+$")
SHA1_RE = re.compile(r"^[0-9a-f]{40}$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class OffsiteError(StatesafeError):
    """An error of an offsite copy; names the repository, endpoint, bucket and object it is about."""

    LOCATION_KEYS = ("repository", "endpoint", "bucket", "key", "path")


# ---- names ---------------------------------------------------------------------------------------------------

def normalise_prefix(prefix):
    """'a/b/' and '/a/b' -> 'a/b'; refuses '..' and empty segments, which S3 would keep literally."""
    prefix = (prefix or "").strip("/")
    if not prefix:
        return ""
    segments = prefix.split("/")
    if any(s in ("", ".", "..") for s in segments):
        raise OffsiteError("prefix {0!r} has an empty, '.' or '..' segment".format(prefix))
    return prefix


def full_key(prefix, relative):
    return "{0}/{1}".format(prefix, relative) if prefix else relative


def relative_key(prefix, key):
    """The key below the prefix, or None when the key is not under it."""
    if not prefix:
        return key
    head = prefix + "/"
    return key[len(head):] if key.startswith(head) else None


def is_pack_file(name):
    return bool(PACK_FILE_RE.match(name))


def pack_of(name):
    """'pack-<sha1>.idx' -> 'pack-<sha1>'."""
    return name.split(".", 1)[0]


def normalise_recipients(recipients):
    """Stripped, deduplicated, sorted recipients; refuses anything age would not take as a public key."""
    found = []
    for raw in recipients or ():
        for line in str(raw).splitlines():
            item = line.strip()
            if not item or item.startswith("#"):
                continue
            if item.startswith("AGE-SECRET-KEY-"):
                raise OffsiteError("a recipient is an age *identity* (AGE-SECRET-KEY-...), a secret key: give the "
                                   "public key (age1...) that age-keygen -y prints from it, and keep the identity "
                                   "off this machine")
            if not (AGE_RECIPIENT_RE.match(item) or SSH_RECIPIENT_RE.match(item)):
                raise OffsiteError("{0!r} is not an age recipient (age1... or an ssh-ed25519/ssh-rsa public key)"
                                   .format(item[:80]))
            if item not in found:
                found.append(item)
    return sorted(found)


def recipients_fingerprint(recipients):
    """16 hex digits naming a set of recipients (order and duplicates do not matter)."""
    return hashlib.sha256("\n".join(normalise_recipients(recipients)).encode("utf-8")).hexdigest()[:16]


def pack_key(fingerprint, name):
    return "{0}/{1}/{2}{3}".format(PACKS_DIR, fingerprint, name, ENCRYPTED_SUFFIX)


# ---- the index -----------------------------------------------------------------------------------------------

def build_index(refs, files, fingerprint):
    """The index document. refs {refname: sha1}; files {name: {"size", "sha256"}} of objects/pack."""
    bad_refs = sorted(r for r, sha in refs.items() if not REF_RE.match(r) or not SHA1_RE.match(sha or ""))
    if bad_refs:
        raise OffsiteError("cannot record refs {0}: not refs/... names with a 40-hex id".format(", ".join(bad_refs)))
    entries = {}
    for name, info in files.items():
        if not is_pack_file(name):
            raise OffsiteError("{0} is not a pack file name".format(name))
        entries[name] = {"size": int(info["size"]), "sha256": info["sha256"], "key": pack_key(fingerprint, name)}
    return {"format": INDEX_FORMAT, "version": INDEX_VERSION, "recipients": fingerprint,
            "refs": dict(refs), "files": entries}


def encode_index(index):
    """Canonical bytes: the same repository state always gives the same bytes (and digest)."""
    return (json.dumps(index, sort_keys=True, indent=1, separators=(",", ": ")) + "\n").encode("utf-8")


def index_digest(index):
    return hashlib.sha256(encode_index(index)).hexdigest()


def parse_index(data):
    """Bytes of a decrypted index -> the index, checked; OffsiteError naming what is wrong."""
    try:
        index = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise OffsiteError("the offsite index is not JSON ({0}); was it written by statesafe.backup?".format(exc)) from exc
    if not isinstance(index, dict) or index.get("format") != INDEX_FORMAT:
        raise OffsiteError("the offsite index is not a {0} document".format(INDEX_FORMAT))
    if index.get("version") != INDEX_VERSION:
        raise OffsiteError("the offsite index has version {0!r}; this collection reads version {1}".format(
            index.get("version"), INDEX_VERSION))
    refs, files = index.get("refs"), index.get("files")
    if not isinstance(refs, dict) or not isinstance(files, dict):
        raise OffsiteError("the offsite index has no refs or files mapping")
    problems = []
    for ref, sha in sorted(refs.items()):
        if not REF_RE.match(ref) or not isinstance(sha, str) or not SHA1_RE.match(sha):
            problems.append("ref {0!r}".format(ref))
    for name, info in sorted(files.items()):
        if (not is_pack_file(name) or not isinstance(info, dict) or not isinstance(info.get("size"), int)
                or not SHA256_RE.match(str(info.get("sha256", ""))) or not isinstance(info.get("key"), str)
                or PACK_KEY_RE.match(info["key"]) is None or PACK_KEY_RE.match(info["key"]).group(1) != name):
            problems.append("file {0!r}".format(name))
    packs = set(pack_of(n) for n in files)
    for pack in sorted(packs):
        for ext in (".pack", ".idx"):
            if pack + ext not in files:
                problems.append("{0} without its {1}".format(pack, ext))
    if problems:
        raise OffsiteError("the offsite index has malformed entries: {0}".format(", ".join(problems[:10])))
    return index


def summarise_index(index):
    """What list shows: branches with their tips, completeness markers per branch, pack and byte counts."""
    branches, markers = {}, {}
    for ref, sha in sorted(index["refs"].items()):
        if ref.startswith("refs/heads/"):
            branches[ref[len("refs/heads/"):]] = sha
        elif ref.startswith("refs/tags/complete/"):
            branch = ref[len("refs/tags/complete/"):].rsplit("/", 1)[0]
            markers.setdefault(branch, []).append(sha)
    return {"branches": branches, "complete_markers": markers,
            "packs": len(set(pack_of(n) for n in index["files"])),
            "files": len(index["files"]), "bytes": sum(f["size"] for f in index["files"].values())}


# ---- plans ---------------------------------------------------------------------------------------------------

def push_plan(index, remote, remote_index_meta, allow_recipient_change=False):
    """What a push does, from the new index and the remote listing.

    remote: {relative key: size} of the objects under the prefix; remote_index_meta: the index object's
    metadata ({} when there is none). Returns {"upload": [names], "upload_index": bool,
    "delete": [relative keys], "keep": [names]}. Deletes are only pack objects no longer in the index, and
    only run after the new index is uploaded (offsite_ops keeps that order).
    """
    old_recipients = remote_index_meta.get(META_RECIPIENTS)
    if old_recipients and old_recipients != index["recipients"] and not allow_recipient_change:
        raise OffsiteError(
            "the offsite copy is encrypted to other recipients (fingerprint {0}) than the ones given now ({1}). "
            "A push would re-upload every pack for the new recipients and then delete the copy the old identity "
            "can read. If the new recipients are right, set allow_recipient_change; otherwise fix the recipients "
            "or use another prefix".format(old_recipients, index["recipients"]))
    wanted = dict((info["key"], name) for name, info in index["files"].items())
    upload = sorted(name for key, name in wanted.items() if key not in remote)
    keep = sorted(name for key, name in wanted.items() if key in remote)
    delete = sorted(key for key in remote if PACK_KEY_RE.match(key) and key not in wanted)
    upload_index = (remote_index_meta.get(META_INDEX_SHA256) != index_digest(index)
                    or INDEX_KEY not in remote or old_recipients != index["recipients"])
    return {"upload": upload, "upload_index": bool(upload_index), "delete": delete, "keep": keep}


def pull_plan(index):
    """Files to download, .idx and par2 after their .pack, in a stable order; the refs to write."""
    def order(name):
        return (pack_of(name), 0 if name.endswith(".pack") else 1, name)
    return {"download": sorted(index["files"], key=order), "refs": sorted(index["refs"].items())}


def check_download(name, expected, size, sha256):
    """None when a decrypted file is what the index recorded, else the reason."""
    if size != expected["size"]:
        return "{0}: {1} bytes after decryption, the index recorded {2}".format(name, size, expected["size"])
    if sha256 != expected["sha256"]:
        return "{0}: sha256 {1} after decryption, the index recorded {2}".format(name, sha256, expected["sha256"])
    return None


def missing_objects(index, remote):
    """Index entries whose object is not in the remote listing (a damaged or half-deleted copy)."""
    return sorted(name for name, info in index["files"].items() if info["key"] not in remote)
