"""Unit tests for oci.py (stdlib unittest; pytest collects them too)."""

import contextlib
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oci  # noqa: E402

IS_ROOT = os.geteuid() == 0
CREATED = "2024-01-01T00:00:00Z"
KWARGS = dict(entrypoint=["/bin/x", "-P"], cmd=None, env=["PATH=/usr/bin"],
              workdir="/", user="", ports=["3306"], labels={"a": "b"}, arch="amd64")


def make_rootfs(root):
    os.makedirs(os.path.join(root, "usr/bin"))
    os.makedirs(os.path.join(root, "empty"))
    with open(os.path.join(root, "usr/bin/tool"), "w") as f:
        f.write("#!/bin/sh\necho hi\n")
    os.chmod(os.path.join(root, "usr/bin/tool"), 0o4755)
    # "a-link" sorts before "usr/...", so the tar path must move the data.
    os.link(os.path.join(root, "usr/bin/tool"), os.path.join(root, "a-link"))
    os.symlink("usr/bin", os.path.join(root, "bin"))
    os.mkfifo(os.path.join(root, "fifo"))
    os.makedirs(os.path.join(root, "dev"))
    if IS_ROOT:
        os.mknod(os.path.join(root, "dev/null"), 0o666 | 0o20000, os.makedev(1, 3))
        os.chown(os.path.join(root, "empty"), 1234, 5678)


def layer_of(archive):
    index, manifest, config = oci.read_archive(archive)
    with tarfile.open(archive) as outer:
        digest = manifest["layers"][0]["digest"].split(":")[1]
        blob = outer.extractfile("blobs/sha256/" + digest).read()
    return index, manifest, config, blob


class PureParts(unittest.TestCase):
    def test_refs(self):
        oci.check_ref("localhost/pause:0.1.7")
        for bad in ("localhost/pause:latest", "localhost/pause", "pause:1", "Localhost/x:1"):
            with self.assertRaises(ValueError, msg=bad):
                oci.check_ref(bad)

    def test_config(self):
        cfg = oci.image_config("sha256:ab", created=CREATED, **KWARGS)
        self.assertEqual(cfg["rootfs"], {"type": "layers", "diff_ids": ["sha256:ab"]})
        self.assertEqual(cfg["config"]["Entrypoint"], ["/bin/x", "-P"])
        self.assertNotIn("Cmd", cfg["config"])
        self.assertEqual(cfg["config"]["ExposedPorts"], {"3306/tcp": {}})
        self.assertEqual((cfg["os"], cfg["architecture"]), ("linux", "amd64"))

    def test_index_names_the_image_for_containerd(self):
        desc = oci.descriptor(oci.MEDIA_MANIFEST, "sha256:cd", 10)
        ann = oci.image_index(desc, "localhost/x:1")["manifests"][0]["annotations"]
        self.assertEqual(ann[oci.ANNOTATION_CONTAINERD_NAME], "localhost/x:1")
        self.assertEqual(ann[oci.ANNOTATION_REF_NAME], "localhost/x:1")

    def test_layer_name(self):
        self.assertEqual(oci.layer_name("./usr/bin/"), "usr/bin")
        self.assertEqual(oci.layer_name("./"), "")
        self.assertEqual(oci.layer_name("/etc/passwd"), "etc/passwd")


class Build(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = os.path.join(self.tmp.name, "rootfs")
        make_rootfs(self.root)

    def tearDown(self):
        self.tmp.cleanup()

    def build(self, source, name="out.tar"):
        out = os.path.join(self.tmp.name, name)
        oci.build(source, "localhost/t:1", out, dict(KWARGS), created=CREATED)
        return out

    def test_digests_and_layout(self):
        archive = self.build(self.root)
        index, manifest, config, blob = layer_of(archive)
        with tarfile.open(archive) as outer:
            names = outer.getnames()
            self.assertIn("oci-layout", names)
            for name in names:
                if name.startswith("blobs/sha256/") and name.count("/") == 2:
                    data = outer.extractfile(name).read()
                    self.assertEqual(hashlib.sha256(data).hexdigest(), name.split("/")[-1])
        self.assertEqual(manifest["layers"][0]["size"], len(blob))
        diff_id = "sha256:" + hashlib.sha256(gzip.decompress(blob)).hexdigest()
        self.assertEqual(config["rootfs"]["diff_ids"], [diff_id])
        self.assertEqual(oci.config_digest(archive), manifest["config"]["digest"])
        self.assertEqual(index["manifests"][0]["platform"], {"architecture": "amd64", "os": "linux"})

    def test_layer_entries(self):
        _, _, _, blob = layer_of(self.build(self.root))
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as layer:
            members = layer.getmembers()
        names = [m.name for m in members]
        self.assertEqual(names, ["a-link", "bin", "dev", "empty", "fifo", "usr", "usr/bin",
                                 "usr/bin/tool"])
        by = {m.name: m for m in members}
        self.assertTrue(by["a-link"].isreg())
        self.assertTrue(by["usr/bin/tool"].islnk())
        self.assertEqual(by["usr/bin/tool"].linkname, "a-link")
        self.assertEqual(by["a-link"].mode & 0o7777, 0o4755)
        self.assertEqual(by["bin"].linkname, "usr/bin")
        self.assertTrue(by["fifo"].isfifo())
        self.assertTrue(all(m.uname == "" and m.gname == "" for m in members))
        if IS_ROOT:
            self.assertEqual((by["empty"].uid, by["empty"].gid), (1234, 5678))

    def test_tar_input_matches_directory_input(self):
        src = os.path.join(self.tmp.name, "rootfs.tar")
        with tarfile.open(src, "w") as t:
            t.add(self.root, arcname=".")
        _, _, _, from_dir = layer_of(self.build(self.root, "a.tar"))
        _, _, _, from_tar = layer_of(self.build(src, "b.tar"))

        def entries(blob):
            with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as t:
                return [(m.name, m.type, m.linkname, m.mode, m.size) for m in t.getmembers()]
        self.assertEqual(entries(from_dir), entries(from_tar))

    def test_reproducible(self):
        a = self.build(self.root, "a.tar")
        b = self.build(self.root, "b.tar")
        with open(a, "rb") as fa, open(b, "rb") as fb:
            self.assertEqual(fa.read(), fb.read())

    def test_refuses_latest(self):
        with self.assertRaises(ValueError):
            oci.build(self.root, "localhost/t:latest", os.path.join(self.tmp.name, "x"), {})

    def test_archive_ref(self):
        self.assertEqual(oci.archive_ref(self.build(self.root)), "localhost/t:1")


def layer_entries(outer_path, digest):
    with tarfile.open(outer_path) as outer:
        blob = outer.extractfile(oci.blob_member(digest)).read()
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as layer:
        return blob, {m.name: m for m in layer.getmembers()}


class Layered(unittest.TestCase):
    """build(base=...): the base's layers untouched, one layer more on top."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        root = os.path.join(self.tmp.name, "rootfs")
        make_rootfs(root)
        self.base = os.path.join(self.tmp.name, "base.tar")
        oci.build(root, "localhost/base:1", self.base, dict(KWARGS), created=CREATED)
        self.top = os.path.join(self.tmp.name, "top")
        os.makedirs(os.path.join(self.top, "usr/share/things"))
        with open(os.path.join(self.top, "usr/share/things/a.txt"), "w") as f:
            f.write("a\n")

    def tearDown(self):
        self.tmp.cleanup()

    def layered(self, name="layered.tar", **kwargs):
        out = os.path.join(self.tmp.name, name)
        options = dict(env=["PATH=/opt/bin:/usr/bin", "NEW=1"], labels={"c": "d"})
        options.update(kwargs)
        oci.build(self.top, "localhost/top:2", out, options, created="2024-02-02T00:00:00Z",
                  base=self.base, owner=(0, 0))
        return out

    def test_base_layers_are_kept_and_one_is_added(self):
        out = self.layered()
        _, base_manifest, base_config = oci.read_archive(self.base)
        index, manifest, config = oci.read_archive(out)
        self.assertEqual(manifest["layers"][:1], base_manifest["layers"])
        self.assertEqual(len(manifest["layers"]), 2)
        self.assertEqual(config["rootfs"]["diff_ids"][:1], base_config["rootfs"]["diff_ids"])
        # Every layer blob is in the archive and matches its digest and diff_id.
        for layer, diff_id in zip(manifest["layers"], config["rootfs"]["diff_ids"]):
            blob, _ = layer_entries(out, layer["digest"])
            self.assertEqual(oci.sha256_digest(blob), layer["digest"])
            self.assertEqual(len(blob), layer["size"])
            self.assertEqual(oci.sha256_digest(gzip.decompress(blob)), diff_id)
        self.assertEqual(oci.archive_ref(out), "localhost/top:2")
        self.assertEqual(index["manifests"][0]["platform"], {"architecture": "amd64", "os": "linux"})
        self.assertEqual(len(config["history"]), 2)

    def test_top_layer_holds_only_the_new_tree(self):
        out = self.layered()
        _, manifest, _ = oci.read_archive(out)
        _, entries = layer_entries(out, manifest["layers"][1]["digest"])
        self.assertEqual(sorted(entries), ["usr", "usr/share", "usr/share/things",
                                           "usr/share/things/a.txt"])
        self.assertTrue(all((m.uid, m.gid) == (0, 0) for m in entries.values()))

    def test_config_is_inherited_and_overridden(self):
        _, _, config = oci.read_archive(self.layered())
        cfg = config["config"]
        self.assertEqual(cfg["Env"], ["PATH=/opt/bin:/usr/bin", "NEW=1"])
        self.assertEqual(cfg["Entrypoint"], ["/bin/x", "-P"])
        self.assertEqual(cfg["ExposedPorts"], {"3306/tcp": {}})
        self.assertEqual(cfg["Labels"], {"a": "b", "c": "d"})
        self.assertEqual(cfg["WorkingDir"], "/")
        _, _, config = oci.read_archive(self.layered("b.tar", workdir="/w", user="1000",
                                                     cmd=["sleep", "1"]))
        self.assertEqual((config["config"]["WorkingDir"], config["config"]["User"]), ("/w", "1000"))
        self.assertEqual(config["config"]["Cmd"], ["sleep", "1"])

    def test_layering_twice_gives_the_same_bytes(self):
        with open(self.layered("a.tar"), "rb") as a, open(self.layered("b.tar"), "rb") as b:
            self.assertEqual(a.read(), b.read())

    def test_refuses_another_architecture(self):
        with self.assertRaisesRegex(ValueError, "arm64"):
            self.layered(arch="arm64")

    def test_cli(self):
        out = os.path.join(self.tmp.name, "cli.tar")
        with contextlib.redirect_stdout(io.StringIO()) as stdout:
            oci.main(["build", "--base", self.base, "--rootfs", self.top, "--ref", "localhost/top:3",
                      "--out", out, "--chown=0:0", "--env=EXTRA=yes"])
        self.assertEqual(json.loads(stdout.getvalue())["layers"], 2)
        _, _, config = oci.read_archive(out)
        self.assertEqual(config["config"]["Env"], ["PATH=/usr/bin", "EXTRA=yes"])
        self.assertEqual(config["config"]["Entrypoint"], ["/bin/x", "-P"])
        with contextlib.redirect_stdout(io.StringIO()) as stdout:
            oci.main(["ref", out])
        self.assertEqual(stdout.getvalue(), "localhost/top:3\n")


class LayeredPureParts(unittest.TestCase):
    def test_merge_env(self):
        self.assertEqual(oci.merge_env(["A=1", "B=2"], ["B=3", "C=4", "A=5"]),
                         ["A=5", "B=3", "C=4"])
        self.assertEqual(oci.merge_env(["A=1"], []), ["A=1"])

    def test_parse_owner(self):
        self.assertEqual(oci.parse_owner("1000:0"), (1000, 0))
        for bad in ("root:root", "1000", "", ":0"):
            with self.assertRaises(ValueError, msg=bad):
                oci.parse_owner(bad)

    def test_blob_member(self):
        digest = "sha256:" + "a" * 64
        self.assertEqual(oci.blob_member(digest), "blobs/sha256/" + "a" * 64)
        for bad in ("sha256:../../etc/passwd", "md5:" + "a" * 32, "a" * 64):
            with self.assertRaises(ValueError, msg=bad):
                oci.blob_member(bad)

    def test_layered_config_needs_a_layered_base(self):
        with self.assertRaises(ValueError):
            oci.layered_config({"architecture": "amd64", "rootfs": {}}, "sha256:1", created=CREATED)


if __name__ == "__main__":
    unittest.main()
