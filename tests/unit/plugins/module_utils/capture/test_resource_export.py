from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat

import pytest

from ansible_collections.statesafe.backup.plugins.module_utils.capture import resource_export as rx
from ansible_collections.statesafe.backup.plugins.module_utils.errors import InvalidInput


def obj(kind, name, api_version="v1", namespace="sf", **extra):
    item = {"apiVersion": api_version, "kind": kind,
            "metadata": {"name": name, "namespace": namespace, "uid": "u-" + name, "resourceVersion": "1"}}
    item.update(extra)
    return item


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def objects():
    return [
        obj("Secret", "db", type="Opaque", data={"password": "c2VjcmV0"}),
        obj("ConfigMap", "cfg", data={"a": "1"}),
    ]


def render(objects, **kwargs):
    return rx.render_objects(objects, kwargs.get("owner", True), kwargs.get("ns", False), kwargs.get("paths", ()))


class TestSelectByName:
    ITEMS = [obj("Secret", n) for n in ("a", "b", "c")]

    @pytest.mark.parametrize("names, chosen, missing", [
        (None, ["a", "b", "c"], []),
        ([], ["a", "b", "c"], []),
        (["b"], ["b"], []),
        (["c", "x", "a", "y"], ["a", "c"], ["x", "y"]),
    ])
    def test_select(self, names, chosen, missing):
        got, absent = rx.select_by_name(self.ITEMS, names)
        assert [i["metadata"]["name"] for i in got] == chosen
        assert absent == missing


class TestRender:
    def test_paths_and_secret_flag(self, objects):
        rendered = render(objects)
        assert [(r[0], r[3]) for r in rendered] == [("Secret/db.yaml", True), ("ConfigMap/cfg.yaml", False)]
        assert b"uid" not in rendered[0][2]

    def test_same_kind_name_in_two_groups_refused(self):
        with pytest.raises(InvalidInput, match="both be written"):
            render([obj("Event", "e1"), obj("Event", "e1", api_version="events.k8s.io/v1")])

    def test_unsafe_name_refused(self):
        with pytest.raises(InvalidInput):
            render([obj("Secret", "../../etc/passwd")])


class TestWriteFiles:
    def test_apply_then_idempotent(self, tmp_path, objects):
        dest = str(tmp_path / "res")
        first = rx.write_files(dest, render(objects))
        assert first["changed"] and all(o["changed"] for o in first["objects"])
        secret_path = os.path.join(dest, "Secret", "db.yaml")
        assert mode(secret_path) == 0o600
        assert mode(os.path.dirname(secret_path)) == 0o700
        assert mode(os.path.join(dest, "ConfigMap", "cfg.yaml")) == 0o644
        assert mode(dest) == 0o700
        listed = first["objects"][0]
        with open(secret_path, "rb") as handle:
            data = handle.read()
        assert listed["size"] == len(data)
        import hashlib
        assert listed["sha256"] == hashlib.sha256(data).hexdigest()
        mtime = os.stat(secret_path).st_mtime_ns
        second = rx.write_files(dest, render(objects))
        assert not second["changed"] and not any(o["changed"] for o in second["objects"])
        assert os.stat(secret_path).st_mtime_ns == mtime, "unchanged file must not be rewritten"

    def test_many_files_written_by_the_pool_are_byte_identical(self, tmp_path):
        many = [obj("ConfigMap", "c-%03d" % i, data={"i": str(i) * (i % 50)}) for i in range(300)]
        rendered = render(many)
        dest = str(tmp_path / "res")
        result = rx.write_files(dest, rendered)
        assert [o["name"] for o in result["objects"]] == ["c-%03d" % i for i in range(300)], "order kept"
        for relpath, _obj, data, _secret in rendered:
            with open(os.path.join(dest, relpath), "rb") as handle:
                assert handle.read() == data
        assert sorted(os.listdir(os.path.join(dest, "ConfigMap"))) == sorted(
            "c-%03d.yaml" % i for i in range(300)), "no temporary file left"

    @pytest.mark.parametrize("existing", [False, True])
    def test_a_write_error_in_the_pool_fails_the_export(self, tmp_path, objects, monkeypatch, existing):
        dest = str(tmp_path / "res")
        if existing:
            rx.write_files(dest, render(objects))
            objects[1]["data"]["a"] = "changed"
        before = {p: open(os.path.join(dest, p), "rb").read() for p in ("Secret/db.yaml", "ConfigMap/cfg.yaml")} \
            if existing else {}

        def failing(real):
            def write(path, data, file_mode):
                if path.endswith("cfg.yaml"):
                    raise OSError(28, "No space left on device", path)
                return real(path, data, file_mode)
            return write

        monkeypatch.setattr(rx.local_files, "atomic_write", failing(rx.local_files.atomic_write))
        monkeypatch.setattr(rx.local_files, "create_file", failing(rx.local_files.create_file))
        with pytest.raises(OSError, match="No space"):
            rx.write_files(dest, render(objects))
        monkeypatch.undo()
        leftovers = [n for n in os.listdir(dest) if n.startswith(".")]
        assert leftovers == [], "no hidden directory or temporary file left"
        if existing:
            assert {p: open(os.path.join(dest, p), "rb").read() for p in before} == before, "old files intact"
        else:
            assert not os.path.exists(os.path.join(dest, "ConfigMap")), "a new kind appears whole or not at all"

    def test_directories_are_fsynced_once_at_the_end(self, tmp_path, objects, monkeypatch):
        synced = []
        monkeypatch.setattr(rx.local_files, "fsync_dir", synced.append)
        dest = str(tmp_path / "res")
        rx.write_files(dest, render(objects))
        new_dirs = [p for p in synced if os.path.basename(p).startswith(rx.NEW_DIR_PREFIX)]
        assert len(new_dirs) == 2 and synced[-1] == dest, synced
        synced.clear()
        rx.write_files(dest, render(objects))
        assert synced == [], "nothing written, nothing to sync"
        objects[1]["data"]["a"] = "2"
        rx.write_files(dest, render(objects))
        assert synced == [dest, os.path.join(dest, "ConfigMap")]

    def test_check_mode_writes_nothing_but_reports(self, tmp_path, objects):
        dest = str(tmp_path / "res")
        result = rx.write_files(dest, render(objects), check_mode=True)
        assert result["changed"] and not os.path.exists(dest)
        assert result["objects"][0]["path"] == os.path.join(dest, "Secret", "db.yaml")

    def test_changed_bytes_and_mode(self, tmp_path, objects):
        dest = str(tmp_path)
        rx.write_files(dest, render(objects))
        objects[1]["data"]["a"] = "2"
        result = rx.write_files(dest, render(objects))
        assert [o["changed"] for o in result["objects"]] == [False, True]
        os.chmod(os.path.join(dest, "Secret", "db.yaml"), 0o644)
        result = rx.write_files(dest, render(objects))
        assert [o["changed"] for o in result["objects"]] == [True, False]
        assert mode(os.path.join(dest, "Secret", "db.yaml")) == 0o600

    def test_diff_hides_secret_values(self, tmp_path, objects):
        dest = str(tmp_path)
        rx.write_files(dest, render(objects))
        objects[0]["data"]["password"] = "bmV3LXNlY3JldA=="
        objects[1]["data"]["a"] = "visible-change"
        result = rx.write_files(dest, render(objects), want_diff=True, check_mode=True)
        text = repr(result["diff"])
        assert "bmV3LXNlY3JldA==" not in text and "c2VjcmV0" not in text
        assert "visible-change" in text
        assert len(result["diff"]) == 2

    def test_prune_only_in_exported_kind_dirs(self, tmp_path, objects):
        dest = str(tmp_path)
        rx.write_files(dest, render(objects + [obj("Secret", "old")]))
        os.makedirs(os.path.join(dest, "Other"))
        with open(os.path.join(dest, "Other", "x.yaml"), "w") as handle:
            handle.write("x")
        with open(os.path.join(dest, "Secret", "notes.txt"), "w") as handle:
            handle.write("x")
        check = rx.write_files(dest, render(objects), prune=True, check_mode=True, want_diff=True)
        assert check["removed"] == [os.path.join(dest, "Secret", "old.yaml")] and check["changed"]
        assert os.path.exists(check["removed"][0])
        result = rx.write_files(dest, render(objects), prune=True)
        assert not os.path.exists(result["removed"][0])
        assert os.path.exists(os.path.join(dest, "Other", "x.yaml"))
        assert os.path.exists(os.path.join(dest, "Secret", "notes.txt"))
        assert not rx.write_files(dest, render(objects), prune=True)["changed"]

    def test_symlink_in_place_of_file_is_replaced_not_followed(self, tmp_path, objects):
        dest = str(tmp_path / "res")
        os.makedirs(os.path.join(dest, "ConfigMap"))
        outside = tmp_path / "outside.txt"
        outside.write_text("do not touch")
        os.symlink(str(outside), os.path.join(dest, "ConfigMap", "cfg.yaml"))
        rx.write_files(dest, render(objects))
        assert outside.read_text() == "do not touch"
        assert not os.path.islink(os.path.join(dest, "ConfigMap", "cfg.yaml"))

    def test_5000_secrets_strip_and_render_fast(self, tmp_path):
        """The CPU part of exporting 5000 Secrets; file creation is timed by the integration test."""
        import time
        many = [obj("Secret", "s-%05d" % i, type="Opaque", data={"k": "dmFsdWU=" * 8},
                    status={"phase": "x"}) for i in range(5000)]
        for item in many:
            item["metadata"]["managedFields"] = [{"manager": "kubectl", "fieldsV1": {"f:data": {"f:k": {}}}}]
        started = time.process_time()
        rendered = render(many)
        elapsed = time.process_time() - started
        assert len(rendered) == 5000 and all(b"managedFields" not in r[2] and b"status" not in r[2] for r in rendered)
        assert elapsed < 2.0, "stripping and rendering 5000 Secrets took %.2f s of CPU" % elapsed
        result = rx.write_files(str(tmp_path), rendered)
        assert len(os.listdir(str(tmp_path / "Secret"))) == 5000 and result["changed"]


class TestStaleExports:
    """Several exports into one tree, then one prune: only files none of them wrote, of their kinds."""

    ROOT = "/staging/sf/resources"

    def test_a_file_another_export_wrote_is_kept(self):
        found = [self.ROOT + "/Service/db.yaml", self.ROOT + "/Service/app.yaml"]
        # Two components exported one Service each: neither is stale.
        assert rx.stale_exports(found, [self.ROOT + "/Service/db.yaml", self.ROOT + "/Service/app.yaml"],
                                ["Service"], self.ROOT) == []

    def test_a_deleted_object_is_stale_even_when_no_object_of_its_kind_is_left(self):
        found = [self.ROOT + "/Secret/gone.yaml", self.ROOT + "/Service/app.yaml"]
        assert rx.stale_exports(found, [self.ROOT + "/Service/app.yaml"], ["Secret", "Service"],
                                self.ROOT) == [self.ROOT + "/Secret/gone.yaml"]

    def test_other_kinds_deeper_files_and_non_yaml_files_are_never_named(self):
        found = [self.ROOT + "/ConfigMap/x.yaml", self.ROOT + "/Service/x.txt", self.ROOT + "/Service/a/b.yaml",
                 self.ROOT + "/top.yaml", "/elsewhere/Service/x.yaml"]
        assert rx.stale_exports(found, [], ["Service"], self.ROOT) == []

    def test_spellings_of_the_root_do_not_make_a_fresh_file_stale(self):
        found = ["/staging/sf/resources/Service/app.yaml"]
        assert rx.stale_exports(found, ["/staging/sf/./resources/Service/app.yaml"], ["Service"],
                                "/staging/sf/resources/") == []

    def test_the_filter_takes_find_results(self):
        from ansible_collections.statesafe.backup.plugins.filter.backup_resources import stale_exports

        found = [{"path": self.ROOT + "/Service/old.yaml"}, {"path": self.ROOT + "/Service/app.yaml"}]
        assert stale_exports(found, [self.ROOT + "/Service/app.yaml"], ["Service"], self.ROOT) == [
            self.ROOT + "/Service/old.yaml"]
