from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

import pytest
import yaml

from ansible_collections.statesafe.backup.plugins.module_utils.capture import manifest
from ansible_collections.statesafe.backup.plugins.module_utils.capture import manifest_yaml


def secret(**data):
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": "db",
            "namespace": "sf",
            "uid": "1234",
            "resourceVersion": "99",
            "generation": 3,
            "creationTimestamp": "2024-01-01T00:00:00Z",
            "selfLink": "/api/v1/namespaces/sf/secrets/db",
            "managedFields": [{"manager": "kubectl"}],
            "ownerReferences": [{"kind": "SoftwareFactory", "name": "sf", "uid": "abcd"}],
            "labels": {"app": "sf"},
            "annotations": {manifest.LAST_APPLIED: "{...}", "keep": "me"},
        },
        "data": dict(data or {"password": "c2VjcmV0"}),
        "status": {"whatever": True},
    }


class TestParsePath:
    @pytest.mark.parametrize("path, tokens", [
        ("spec", ["spec"]),
        ("spec.a.b", ["spec", "a", "b"]),
        ("spec.list[*].name", ["spec", "list", "*", "name"]),
        ("spec.list[2]", ["spec", "list", 2]),
        ("spec.list[-1].x", ["spec", "list", -1, "x"]),
        ("metadata.annotations['a.b/c']", ["metadata", "annotations", "a.b/c"]),
        ('metadata.labels["x.y"]', ["metadata", "labels", "x.y"]),
        ("spec.m[*][*]", ["spec", "m", "*", "*"]),
    ])
    def test_valid(self, path, tokens):
        assert manifest.parse_path(path) == tokens

    @pytest.mark.parametrize("path", ["", ".spec", "spec.", "spec..a", "spec[x]", "spec['a'b", "a[*]b"])
    def test_invalid(self, path):
        with pytest.raises(ValueError):
            manifest.parse_path(path)


class TestPathValuesAndDelete:
    OBJ = {"spec": {"conns": [{"secret": "a"}, {"secret": "b"}, {"other": 1}],
                    "map": {"x": {"secret": "c"}, "y": {"secret": "d"}}}}

    @pytest.mark.parametrize("path, values", [
        ("spec.conns[*].secret", ["a", "b"]),
        ("spec.conns[0].secret", ["a"]),
        ("spec.conns[-2].secret", ["b"]),
        ("spec.conns[7].secret", []),
        ("spec.map[*].secret", ["c", "d"]),
        ("spec.missing.secret", []),
        ("spec.conns.secret", []),
    ])
    def test_path_values(self, path, values):
        assert manifest.path_values(self.OBJ, path) == values

    def test_delete_path_fans_out_and_ignores_missing(self):
        obj = copy.deepcopy(self.OBJ)
        manifest.delete_path(obj, "spec.conns[*].secret")
        manifest.delete_path(obj, "spec.nothing.here")
        manifest.delete_path(obj, "spec.conns[9]")
        assert obj["spec"]["conns"] == [{}, {}, {"other": 1}]
        manifest.delete_path(obj, "spec.conns[0]")
        assert len(obj["spec"]["conns"]) == 2
        manifest.delete_path(obj, "spec.map[*]")
        assert obj["spec"]["map"] == {}


class TestStrip:
    def test_secret_stripped_for_reapply(self):
        original = secret()
        before = copy.deepcopy(original)
        clean = manifest.strip_object(original)
        assert original == before, "input must not be modified"
        assert "status" not in clean
        meta = clean["metadata"]
        for field in ("uid", "resourceVersion", "generation", "creationTimestamp", "selfLink", "managedFields",
                      "ownerReferences"):
            assert field not in meta
        assert meta["annotations"] == {"keep": "me"}
        assert meta["labels"] == {"app": "sf"}
        assert meta["namespace"] == "sf"
        assert clean["type"] == "Opaque" and clean["data"] == {"password": "c2VjcmV0"}

    def test_owner_references_and_namespace_optional(self):
        clean = manifest.strip_object(secret(), strip_owner_references=False, strip_namespace=True)
        assert clean["metadata"]["ownerReferences"][0]["name"] == "sf"
        assert "namespace" not in clean["metadata"]

    def test_empty_annotations_and_labels_dropped(self):
        obj = {"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "c", "labels": {}, "annotations": {manifest.LAST_APPLIED: "x"}}}
        assert manifest.strip_object(obj)["metadata"] == {"name": "c"}

    def test_headless_service_keeps_cluster_ip_none(self):
        obj = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db"},
               "spec": {"clusterIP": "None", "clusterIPs": ["None"], "ports": [{"port": 3306}]}}
        assert manifest.strip_object(obj)["spec"] == obj["spec"]

    @pytest.mark.parametrize("kind, spec, annotations, gone", [
        ("Service", {"clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1"], "ports": [{"port": 80}]}, {},
         ["clusterIP", "clusterIPs"]),
        ("PersistentVolumeClaim", {"volumeName": "pv-1", "resources": {}},
         {"pv.kubernetes.io/bind-completed": "yes", "volume.kubernetes.io/selected-node": "n1", "mine": "x"},
         ["volumeName"]),
        ("PersistentVolumeClaim", {"dataSource": {"kind": "VolumeSnapshot", "name": "s"},
                                   "dataSourceRef": {"kind": "VolumeSnapshot", "name": "s"}, "resources": {}}, {},
         ["dataSource", "dataSourceRef"]),
        ("Pod", {"nodeName": "n1", "containers": []}, {}, ["nodeName"]),
    ])
    def test_kind_specific_fields(self, kind, spec, annotations, gone):
        obj = {"apiVersion": "v1", "kind": kind, "metadata": {"name": "x", "annotations": dict(annotations)},
               "spec": dict(spec)}
        clean = manifest.strip_object(obj)
        for field in gone:
            assert field not in clean["spec"]
        assert set(clean["spec"]) == set(spec) - set(gone)
        kept = clean["metadata"].get("annotations", {})
        assert all(not k.startswith(("pv.kubernetes.io", "volume.")) for k in kept)
        if "mine" in annotations:
            assert kept == {"mine": "x"}

    def test_a_job_loses_the_selector_and_labels_made_for_its_uid(self):
        """Created with them the Job is refused (its selector is generated); without them the API makes new ones."""
        uid_labels = {"controller-uid": "u1", "batch.kubernetes.io/controller-uid": "u1", "job-name": "migrate"}
        obj = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate", "labels": dict(uid_labels)},
               "spec": {"selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}}, "backoffLimit": 2,
                        "template": {"metadata": {"labels": dict(uid_labels, app="db")},
                                     "spec": {"restartPolicy": "Never"}}}}
        clean = manifest.strip_object(obj)
        assert clean["metadata"]["labels"] == {"job-name": "migrate"}
        assert clean["spec"] == {"backoffLimit": 2, "template": {"metadata": {"labels": {"job-name": "migrate",
                                                                                         "app": "db"}},
                                                                 "spec": {"restartPolicy": "Never"}}}
        assert obj["spec"]["selector"], "the input is not modified"

    def test_extra_paths(self):
        obj = {"kind": "Deployment", "metadata": {"name": "d"},
               "spec": {"replicas": 0, "template": {"metadata": {"annotations": {"restartedAt": "now"}}}}}
        clean = manifest.strip_object(obj, extra_paths=["spec.template.metadata.annotations", "spec.replicas"])
        assert clean["spec"] == {"template": {"metadata": {}}}


class TestReferencedNames:
    CR = {
        "kind": "SoftwareFactory",
        "metadata": {"name": "sf", "annotations": {"ex.com/secret": "from-annotation"}},
        "spec": {
            "zuul": {"gerritconns": [{"name": "g1", "secret": "gerrit-1"}, {"name": "g2", "secret": "gerrit-2"}],
                     "keystore": {"secretRef": {"name": "keystore"}}},
            "logs": {"secretName": "logs-secret", "more": [{"secretName": "gerrit-1"}]},
            "config": {"secret": ""},
        },
        "status": {"secretName": "not-from-status"},
    }

    def test_paths(self):
        names = manifest.referenced_names(self.CR, paths=[
            "spec.zuul.gerritconns[*].secret", "spec.zuul.keystore.secretRef",
            "metadata.annotations['ex.com/secret']"])
        assert names == ["from-annotation", "gerrit-1", "gerrit-2", "keystore"]

    def test_field_names_search_spec_only_sorted_unique(self):
        names = manifest.referenced_names(self.CR, field_names=["secretName", "secret", "secretRef"])
        assert names == ["gerrit-1", "gerrit-2", "keystore", "logs-secret"]

    def test_nothing(self):
        assert manifest.referenced_names({"spec": {}}, paths=["spec.a"], field_names=["b"]) == []

    def test_bad_path(self):
        with pytest.raises(ValueError):
            manifest.referenced_names(self.CR, paths=["spec..x"])


class TestRelpath:
    @pytest.mark.parametrize("kind, name, path", [
        ("Secret", "db", "Secret/db.yaml"),
        ("SoftwareFactory", "my-sf.v1", "SoftwareFactory/my-sf.v1.yaml"),
        ("Role", "system:thing", "Role/system:thing.yaml"),
    ])
    def test_ok(self, kind, name, path):
        assert manifest.object_relpath(kind, name) == path

    @pytest.mark.parametrize("kind, name", [("Secret", "../etc"), ("Secret", "a/b"), ("Secret", ".."),
                                            ("Secret", ""), ("../x", "a"), ("Secret", ".hidden")])
    def test_refused(self, kind, name):
        with pytest.raises(ValueError):
            manifest.object_relpath(kind, name)


class TestRenderYaml:
    def test_deterministic_regardless_of_key_order(self):
        a = {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "x", "labels": {"b": "1", "a": "2"}},
             "data": {"z": "1", "a": "2"}}
        b = {"data": {"a": "2", "z": "1"}, "metadata": {"labels": {"a": "2", "b": "1"}, "name": "x"},
             "apiVersion": "v1", "kind": "ConfigMap"}
        assert manifest_yaml.render_yaml(a) == manifest_yaml.render_yaml(b)
        text = manifest_yaml.render_yaml(a).decode()
        assert text.startswith("---\napiVersion: v1\ndata:\n  a: '2'\n")
        assert text == manifest_yaml.render_yaml(a).decode(), "same bytes every time"

    def test_multiline_literal_and_roundtrip(self):
        obj = {"data": {"script": "line1\nline2\n", "long": "x" * 500, "unicode": "héllo"}}
        data = manifest_yaml.render_yaml(obj)
        assert b"script: |\n    line1\n    line2\n" in data
        assert b"\n" not in data.split(b"long: ")[1].split(b"\n")[0][:-1]
        assert yaml.safe_load(data) == obj
        assert "héllo".encode() in data

    def test_load(self):
        assert manifest_yaml.load_yaml(manifest_yaml.render_yaml({"a": [1, 2]})) == {"a": [1, 2]}


class TestRedaction:
    def test_values_hidden_changes_marked(self):
        before = {"kind": "Secret", "data": {"same": "AAA", "changed": "BBB", "gone": "CCC"}}
        after = {"kind": "Secret", "data": {"same": "AAA", "changed": "DDD", "new": "EEE"}, "stringData": {"s": "x"}}
        red_before, red_after = manifest.redact_pair(before, after)
        assert red_before["data"] == {"same": "<hidden>", "changed": "<hidden>", "gone": "<hidden>"}
        assert red_after["data"] == {"same": "<hidden>", "changed": "<hidden, changed>", "new": "<hidden, changed>"}
        assert red_after["stringData"] == {"s": "<hidden, changed>"}
        assert before["data"]["changed"] == "BBB", "inputs untouched"

    def test_diff_entry_never_contains_secret_values(self):
        old = manifest_yaml.render_yaml(manifest.strip_object(secret(password="T0xEU0VDUkVU")))
        new_obj = manifest.strip_object(secret(password="TkVXU0VDUkVU", token="VE9LRU4="))
        new = manifest_yaml.render_yaml(new_obj)
        entry = manifest.diff_entry("Secret/db.yaml", old, new_obj, new)
        text = entry["before"] + entry["after"]
        for value in ("T0xEU0VDUkVU", "TkVXU0VDUkVU", "VE9LRU4="):
            assert value not in text
        assert "password: '<hidden>'" in entry["before"]
        assert "password: '<hidden, changed>'" in entry["after"]
        assert "token: '<hidden, changed>'" in entry["after"]

    def test_diff_entry_new_secret_file(self):
        obj = manifest.strip_object(secret(password="UEFTUw=="))
        entry = manifest.diff_entry("Secret/db.yaml", None, obj, manifest_yaml.render_yaml(obj))
        assert entry["before"] == "" and "UEFTUw==" not in entry["after"]

    def test_diff_entry_plain_object_shows_content(self):
        obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "visible"}}
        entry = manifest.diff_entry("ConfigMap/c.yaml", b"old\n", obj, manifest_yaml.render_yaml(obj))
        assert entry["before"] == "old\n" and "visible" in entry["after"]

    def test_removal_entry(self):
        assert "content hidden" in manifest.removal_diff_entry("Secret/x.yaml", True)["before"]


TRICKY_STRINGS = [
    "", " ", "plain", "with space", " leading", "trailing ", "yes", "no", "on", "off", "true", "False", "null", "~",
    "=", "<<", "123", "0o17", "0x1F", "1e3", "1.5", ".inf", "-", "--- ", "...", "#comment", "a #b", "a: b", "key:",
    "- item", "[x]", "{y}", "*alias", "&anchor", "!tag", "%directive", "@at", "`tick", "'single'", '"double"',
    "back\\slash", "tab\there", "line\nbreak", "ends with newline\n", "two newlines\n\n", "\nleading newline",
    "trailing space \nline", "crlf\r\nline", "bell\x07", "nul\x00", "del\x7f", "c1\x85next", "ls\u2028ps\u2029",
    "bom\ufeff", "nbsp\xa0", "héllo wörld", "emoji \U0001F600", "日本語", "2001-12-14", "2001-12-14t21:59:43.10-05:00",
    "c2VjcmV0", "YWJj+/==", "app.kubernetes.io/name", "[mysqld]\nskip-name-resolve\n", "indented\n  block\n",
    "  indented first\nline", "\t tab first\n", "a\n\n\nb", "-1", "+1", "0", "01", "1_000", "12:30:00",
]


@pytest.mark.parametrize("value", TRICKY_STRINGS)
def test_fast_emitter_round_trips_tricky_strings(value):
    data = {"k": value, "l": [value, {"n": value}], value or "empty": [value]}
    text = manifest_yaml.render_yaml(data)
    assert yaml.safe_load(text) == data, text


def test_fast_emitter_round_trips_random_structures():
    import random
    rng = random.Random(42)
    alphabet = "ab :-#'\"\n\t\\é日\x00\x85/=.+_{}[]&*!|>%@`,?" + "0123456789"

    def text():
        return "".join(rng.choice(alphabet) for _index in range(rng.randint(0, 12)))

    def value(depth):
        roll = rng.random()
        if depth > 3 or roll < 0.4:
            return rng.choice([text(), text(), rng.randint(-5, 10 ** 12), True, False, None, rng.choice(TRICKY_STRINGS)])
        if roll < 0.7:
            return {text(): value(depth + 1) for _index in range(rng.randint(0, 4))}
        return [value(depth + 1) for _index in range(rng.randint(0, 4))]

    for _round in range(500):
        data = {"root": value(0), "list": [value(1) for _index in range(3)]}
        text_out = manifest_yaml.render_yaml(data)
        assert yaml.safe_load(text_out) == data, text_out


@pytest.mark.parametrize("data", [{"f": 1.5}, {1: "int key"}, {"b": b"bytes"}])
def test_other_data_falls_back_to_pyyaml(data):
    assert yaml.safe_load(manifest_yaml.render_yaml(data)) == data


def test_nested_layout_is_block_style():
    data = {"spec": {"containers": [{"name": "a", "args": ["x", "y"], "env": []}], "empty": {}},
            "list_of_lists": [[1, 2], []]}
    assert manifest_yaml.render_yaml(data).decode() == (
        "---\n"
        "list_of_lists:\n"
        "-\n"
        "  - 1\n"
        "  - 2\n"
        "- []\n"
        "spec:\n"
        "  containers:\n"
        "  - args:\n"
        "    - x\n"
        "    - y\n"
        "    env: []\n"
        "    name: a\n"
        "  empty: {}\n"
    )
    assert yaml.safe_load(manifest_yaml.render_yaml(data)) == data
