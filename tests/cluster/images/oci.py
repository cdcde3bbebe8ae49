#!/usr/bin/env python3
"""Write an OCI image-layout archive from a root filesystem.

Standard library only: this machine has no docker, buildah or skopeo, and the
archive must be importable with `ctr images import`.

  oci.py build --rootfs DIR|TAR --ref localhost/NAME:TAG --out FILE
               [--base ARCHIVE] [--chown=UID:GID]
               [--entrypoint=ARG ...] [--cmd=ARG ...] [--env=K=V ...]
               [--workdir=DIR] [--user=USER] [--port=3306/tcp ...]
               [--label=K=V ...] [--arch=amd64]
  oci.py config-digest ARCHIVE    # prints the image config digest (image ID)
  oci.py ref ARCHIVE              # prints the ref the archive imports as

Without --base the image has one layer, the rootfs. With --base it is the
base archive's layers (copied as they are) plus the rootfs as one more layer
on top; the config starts from the base's, and only the options given here
change it (--env replaces a variable of the same name, --label adds).
--chown gives every entry of the new layer that owner (for a layer built by
an unprivileged user, say).

Pass list items as --entrypoint=-P (with "="), so values that start with a
dash are not taken for options.
"""

import argparse
import datetime
import gzip
import hashlib
import io
import json
import os
import platform
import re
import stat
import sys
import tarfile
import tempfile

MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
# ctr reads this one first and uses it verbatim as the image name; the OCI
# ref.name alone would get an "import-<date>" prefix unless --base-name is set.
ANNOTATION_CONTAINERD_NAME = "io.containerd.image.name"

CHUNK = 1 << 20
# Every file inside the outer archive gets this fixed metadata, so the
# archive's bytes depend only on its blobs.
ARCHIVE_MTIME = 0

_REF_RE = re.compile(
    r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?"  # registry host
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+"  # repository path
    r":[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"  # tag (required)
)


# ---------------------------------------------------------------- pure parts


def canonical_json(obj):
    """Bytes whose digest is stable for equal objects."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def sha256_digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def descriptor(media_type, digest, size, **extra):
    desc = {"mediaType": media_type, "digest": digest, "size": size}
    desc.update({k: v for k, v in extra.items() if v})
    return desc


def check_ref(ref):
    """Refuse refs the cluster cannot use: no tag, or ':latest' (which makes
    kubelet default to imagePullPolicy Always and try to pull)."""
    if not _REF_RE.match(ref):
        raise ValueError(f"not a full image reference with a tag: {ref!r}")
    if ref.rsplit(":", 1)[1] == "latest":
        raise ValueError(f"refusing ':latest' tag: {ref!r}")
    return ref


def go_arch(machine=None):
    machine = machine or platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def image_config(diff_id, *, entrypoint=None, cmd=None, env=(), workdir="/",
                 user="", ports=(), labels=None, created, arch="amd64"):
    """The image config blob (OCI image-spec config.md) of a one-layer image."""
    config = {"Env": list(env), "WorkingDir": workdir}
    if user:
        config["User"] = user
    if entrypoint is not None:
        config["Entrypoint"] = list(entrypoint)
    if cmd is not None:
        config["Cmd"] = list(cmd)
    if ports:
        config["ExposedPorts"] = {p if "/" in p else p + "/tcp": {} for p in ports}
    if labels:
        config["Labels"] = dict(labels)
    return {
        "created": created,
        "architecture": arch,
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": created, "created_by": "tests/cluster/images/build.sh"}],
    }


def merge_env(base, overrides):
    """base's K=V entries with overrides applied: same name replaces in
    place, a new name is appended (the order a Dockerfile ENV gives)."""
    merged = list(base)
    names = [item.split("=", 1)[0] for item in merged]
    for item in overrides:
        name = item.split("=", 1)[0]
        if name in names:
            merged[names.index(name)] = item
        else:
            merged.append(item)
            names.append(name)
    return merged


def layered_config(base, diff_id, *, created, entrypoint=None, cmd=None, env=(),
                   workdir=None, user=None, ports=(), labels=None, arch=None,
                   created_by="tests/cluster/images/oci.py build --base"):
    """The config of `base` (a parsed config blob) with one more layer on
    top. Options left at None (or empty) keep the base's value."""
    if arch is not None and arch != base.get("architecture"):
        raise ValueError(f"base image is {base.get('architecture')}, not {arch}")
    config = dict(base.get("config") or {})
    if env:
        config["Env"] = merge_env(config.get("Env") or [], env)
    if workdir is not None:
        config["WorkingDir"] = workdir
    if user is not None:
        config["User"] = user
    if entrypoint is not None:
        config["Entrypoint"] = list(entrypoint)
    if cmd is not None:
        config["Cmd"] = list(cmd)
    if ports:
        exposed = dict(config.get("ExposedPorts") or {})
        exposed.update({p if "/" in p else p + "/tcp": {} for p in ports})
        config["ExposedPorts"] = exposed
    if labels:
        config["Labels"] = {**(config.get("Labels") or {}), **labels}
    rootfs = base.get("rootfs") or {}
    if rootfs.get("type") != "layers":
        raise ValueError("base image config has no layered rootfs")
    history = list(base.get("history") or [])
    history.append({"created": created, "created_by": created_by})
    return {
        "created": created,
        "architecture": base["architecture"],
        "os": base.get("os", "linux"),
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": list(rootfs["diff_ids"]) + [diff_id]},
        "history": history,
    }


def image_manifest(config_desc, layer_descs):
    return {
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": config_desc,
        "layers": list(layer_descs),
    }


def image_index(manifest_desc, ref):
    desc = dict(manifest_desc)
    desc["annotations"] = {ANNOTATION_REF_NAME: ref, ANNOTATION_CONTAINERD_NAME: ref}
    return {"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": [desc]}


def rfc3339(epoch):
    dt = datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def normalise_member(info, owner=None):
    """Make a layer entry independent of the build host: numeric ids only
    (names would be resolved against the host's passwd, not the image's),
    whole-second mtimes (floats would add a PAX record to every entry).
    owner: (uid, gid) to give the entry instead of its own."""
    info.uname = info.gname = ""
    info.mtime = int(info.mtime)
    info.pax_headers = {}
    if owner is not None:
        info.uid, info.gid = owner
    return info


def parse_owner(text):
    """'UID:GID' -> (uid, gid), numeric only."""
    uid, sep, gid = (text or "").partition(":")
    if not (sep and uid.isdigit() and gid.isdigit()):
        raise ValueError(f"owner must be numeric UID:GID, not {text!r}")
    return int(uid), int(gid)


def layer_name(path):
    """Entry name inside a layer: relative, no './' prefix; '' for the root."""
    path = path.replace(os.sep, "/")
    while path.startswith("./"):
        path = path[2:]
    return path.strip("/") if path not in (".", "/") else ""


# ------------------------------------------------------------- streaming I/O


class HashingWriter(io.RawIOBase):
    """Pass-through writer that digests and counts what goes through it."""

    def __init__(self, sink):
        super().__init__()
        self.sink = sink
        self.sha = hashlib.sha256()
        self.size = 0

    def writable(self):
        return True

    def write(self, data):
        self.sha.update(data)
        self.size += len(data)
        self.sink.write(data)
        return len(data)

    @property
    def digest(self):
        return "sha256:" + self.sha.hexdigest()


def _is_device(mode):
    return stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISSOCK(mode)


def add_tree(tar, root, owner=None):
    """Add a directory tree in sorted order. Device nodes and sockets are
    skipped (the runtime provides /dev); mount points below root are not
    descended into, so a forgotten /proc mount cannot leak into a layer.
    Hard links are kept: TarFile.gettarinfo turns the second and later
    paths of an inode into LNKTYPE entries pointing at the first."""
    root_dev = os.lstat(root).st_dev

    def visit(rel):
        full = os.path.join(root, rel) if rel else root
        st = os.lstat(full)
        if _is_device(st.st_mode):
            return
        if rel:
            info = normalise_member(tar.gettarinfo(full, arcname=rel), owner)
            if info.isreg():
                with open(full, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
        if stat.S_ISDIR(st.st_mode) and (st.st_dev == root_dev or not rel):
            for name in sorted(os.listdir(full)):
                visit(os.path.join(rel, name) if rel else name)

    visit("")


def add_tar(tar, src_path, owner=None):
    """Copy a tar of a root filesystem, in sorted name order. Sorting can put
    a hard link before the file that holds its data, so each link group is
    rewritten: whichever of its names sorts first carries the data."""
    with tarfile.open(src_path, "r:*") as src:
        members = {}
        for m in src.getmembers():
            name = layer_name(m.name)
            if name and not (m.ischr() or m.isblk()):
                members[name] = m
        holder = {}  # every name of a hard-link group -> member with the data
        for name, m in members.items():
            if m.islnk():
                target = members.get(layer_name(m.linkname))
                while target is not None and target.islnk():
                    target = members.get(layer_name(target.linkname))
                if target is not None:
                    holder[name] = holder[layer_name(target.name)] = target
        written_as = {}  # id(data member) -> name its data was written under
        for name in sorted(members):
            data = holder.get(name)
            if data is None:
                m = members[name]
                tar.addfile(normalise_member(_copy_info(m, name), owner),
                            src.extractfile(m) if m.isreg() else None)
            elif id(data) in written_as:
                info = normalise_member(_copy_info(data, name), owner)
                info.type, info.size, info.linkname = tarfile.LNKTYPE, 0, written_as[id(data)]
                tar.addfile(info)
            else:
                written_as[id(data)] = name
                tar.addfile(normalise_member(_copy_info(data, name), owner), src.extractfile(data))


def _copy_info(m, name):
    info = tarfile.TarInfo(name)
    for attr in ("mode", "uid", "gid", "size", "mtime", "type", "linkname",
                 "devmajor", "devminor"):
        setattr(info, attr, getattr(m, attr))
    if not info.isreg():
        info.size = 0
    return info


def write_layer(rootfs, blob_path, level=6, owner=None):
    """Stream rootfs into a gzip layer file. Returns (diff_id, digest, size):
    diff_id hashes the uncompressed tar, digest/size the compressed blob."""
    with open(blob_path, "wb") as out:
        blob = HashingWriter(out)
        # mtime=0 and no file name keep the gzip header reproducible.
        with gzip.GzipFile(filename="", mode="wb", fileobj=blob,
                           compresslevel=level, mtime=0) as gz:
            diff = HashingWriter(gz)
            with tarfile.open(fileobj=diff, mode="w|", format=tarfile.PAX_FORMAT,
                              bufsize=CHUNK) as tar:
                if os.path.isdir(rootfs):
                    add_tree(tar, rootfs, owner)
                else:
                    add_tar(tar, rootfs, owner)
    return diff.digest, blob.digest, blob.size


# ---------------------------------------------------------- archive writing


def _archive_info(name, size=0, isdir=False):
    info = tarfile.TarInfo(name)
    info.mtime = ARCHIVE_MTIME
    info.uid = info.gid = 0
    if isdir:
        info.type, info.mode = tarfile.DIRTYPE, 0o755
    else:
        info.size, info.mode = size, 0o644
    return info


def write_archive(out_path, blobs, files):
    """files: [(name, bytes)] at the top; blobs: [(digest, content)], content
    being bytes, a file path, or (archive path, member name) to copy a blob
    out of another archive without unpacking it first."""
    with tarfile.open(out_path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files:
            tar.addfile(_archive_info(name, len(data)), io.BytesIO(data))
        tar.addfile(_archive_info("blobs", isdir=True))
        tar.addfile(_archive_info("blobs/sha256", isdir=True))
        for digest, content in blobs:
            name = "blobs/sha256/" + digest.split(":", 1)[1]
            if isinstance(content, bytes):
                tar.addfile(_archive_info(name, len(content)), io.BytesIO(content))
            elif isinstance(content, tuple):
                src_path, member = content
                with tarfile.open(src_path, "r:") as src:
                    info = src.getmember(member)
                    tar.addfile(_archive_info(name, info.size), src.extractfile(info))
            else:
                with open(content, "rb") as f:
                    tar.addfile(_archive_info(name, os.fstat(f.fileno()).st_size), f)


def build(rootfs, ref, out, config_kwargs, created=None, level=6, base=None, owner=None):
    """Write the archive atomically: a temp file next to `out`, then rename.
    base: an archive written by build() whose layers go below this rootfs's
    (config_kwargs as for layered_config then, else as for image_config)."""
    check_ref(ref)
    created = created or rfc3339(os.environ.get("SOURCE_DATE_EPOCH") or
                                 datetime.datetime.now().timestamp())
    out_dir = os.path.dirname(os.path.abspath(out))
    base_layers, base_blobs = [], []
    if base is not None:
        _, base_manifest, base_config = read_archive(base)
        base_layers = list(base_manifest["layers"])
        if len(base_layers) != len(base_config["rootfs"]["diff_ids"]):
            raise ValueError(f"{base}: manifest and config disagree on the layers")
        base_blobs = [(layer["digest"], (base, blob_member(layer["digest"])))
                      for layer in base_layers]
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".oci-") as tmp:
        layer_path = os.path.join(tmp, "layer")
        diff_id, layer_digest, layer_size = write_layer(rootfs, layer_path, level, owner)

        if base is None:
            config_doc = image_config(diff_id, created=created, **config_kwargs)
        else:
            config_doc = layered_config(base_config, diff_id, created=created, **config_kwargs)
        config = canonical_json(config_doc)
        config_desc = descriptor(MEDIA_CONFIG, sha256_digest(config), len(config))
        layer_desc = descriptor(MEDIA_LAYER_GZIP, layer_digest, layer_size)
        manifest = canonical_json(image_manifest(config_desc, base_layers + [layer_desc]))
        manifest_desc = descriptor(
            MEDIA_MANIFEST, sha256_digest(manifest), len(manifest),
            platform={"architecture": config_doc["architecture"], "os": "linux"})
        index = canonical_json(image_index(manifest_desc, ref))

        tmp_out = os.path.join(tmp, "archive")
        # A layer already in the base (an empty one, say) is stored once.
        blobs = {digest: content for digest, content in base_blobs}
        blobs.setdefault(layer_digest, layer_path)
        write_archive(
            tmp_out,
            blobs=[(config_desc["digest"], config), (manifest_desc["digest"], manifest),
                   *blobs.items()],
            files=[("oci-layout", canonical_json({"imageLayoutVersion": "1.0.0"})),
                   ("index.json", index)])
        os.chmod(tmp_out, 0o644)
        os.replace(tmp_out, out)
    return {"ref": ref, "config": config_desc["digest"], "manifest": manifest_desc["digest"],
            "layer": layer_digest, "layer_size": layer_size, "diff_id": diff_id,
            "layers": len(base_layers) + 1}


# ------------------------------------------------------------------ reading


def blob_member(digest):
    """Name of a blob inside an image-layout archive."""
    algorithm, _, hexdigest = digest.partition(":")
    if algorithm != "sha256" or not re.fullmatch(r"[0-9a-f]{64}", hexdigest):
        raise ValueError(f"not a sha256 digest: {digest!r}")
    return "blobs/sha256/" + hexdigest


def read_archive(path):
    """(index, manifest, config) parsed from an archive written by build()."""
    with tarfile.open(path, "r:") as tar:
        def blob(digest):
            return json.load(tar.extractfile(blob_member(digest)))
        index = json.load(tar.extractfile("index.json"))
        manifest = blob(index["manifests"][0]["digest"])
        config = blob(manifest["config"]["digest"])
    return index, manifest, config


def config_digest(path):
    return read_archive(path)[1]["config"]["digest"]


def archive_ref(path):
    """The ref `ctr images import` gives the image (see image_index)."""
    annotations = read_archive(path)[0]["manifests"][0].get("annotations") or {}
    return check_ref(annotations[ANNOTATION_CONTAINERD_NAME])


# ---------------------------------------------------------------------- CLI


def _pairs(items):
    return dict(item.split("=", 1) for item in items)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="write an OCI archive from a rootfs")
    b.add_argument("--rootfs", required=True, help="directory or tar of the root filesystem")
    b.add_argument("--ref", required=True, help="localhost/NAME:TAG")
    b.add_argument("--out", required=True)
    b.add_argument("--base", help="archive whose layers go below the rootfs (config inherited)")
    b.add_argument("--chown", help="UID:GID for every entry of the new layer")
    b.add_argument("--entrypoint", action="append", help="one argv item; repeat")
    b.add_argument("--cmd", action="append", help="one argv item; repeat")
    b.add_argument("--env", action="append", default=[], help="K=V; repeat")
    # None = not given: "/" and "" without --base, the base's value with it.
    b.add_argument("--workdir")
    b.add_argument("--user")
    b.add_argument("--port", action="append", default=[], help="e.g. 3306/tcp; repeat")
    b.add_argument("--label", action="append", default=[], help="K=V; repeat")
    b.add_argument("--arch", help="default: this machine's (checked against --base's)")
    b.add_argument("--level", type=int, default=6, help="gzip level")

    c = sub.add_parser("config-digest", help="print an archive's config digest")
    c.add_argument("archive")
    r = sub.add_parser("ref", help="print the ref an archive imports as")
    r.add_argument("archive")

    args = parser.parse_args(argv)
    if args.command == "config-digest":
        print(config_digest(args.archive))
        return 0
    if args.command == "ref":
        print(archive_ref(args.archive))
        return 0

    config_kwargs = dict(entrypoint=args.entrypoint, cmd=args.cmd, env=args.env,
                         workdir=args.workdir, user=args.user, ports=args.port,
                         labels=_pairs(args.label), arch=args.arch)
    if args.base is None:
        config_kwargs.update(workdir=args.workdir or "/", user=args.user or "",
                             arch=args.arch or go_arch())
    owner = parse_owner(args.chown) if args.chown else None
    result = build(args.rootfs, args.ref, args.out, level=args.level, base=args.base,
                   owner=owner, config_kwargs=config_kwargs)
    json.dump(result, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
