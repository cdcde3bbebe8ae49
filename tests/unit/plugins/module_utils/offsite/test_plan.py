"""The decisions of offsite copies: names, index format, push and pull plans, verification."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.statesafe.backup.plugins.module_utils.offsite import plan as o

KEY_A = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
KEY_B = "age1lggyhqrw2nlhcxprm67z43rta597azn8gknawjehu9d9dl0jq3yqqvfafg"
P1 = "pack-" + "1" * 40
P2 = "pack-" + "2" * 40
P3 = "pack-" + "3" * 40
SHA = "ab" * 32
C1 = "c" * 40
C2 = "d" * 40


def files(*packs, par2=()):
    found = {}
    for pack in packs:
        for ext in (".pack", ".idx"):
            found[pack + ext] = {"size": 100 if ext == ".pack" else 10, "sha256": SHA}
    for pack in par2:
        found[pack + ".par2"] = {"size": 5, "sha256": SHA}
        found[pack + ".vol000+200.par2"] = {"size": 50, "sha256": SHA}
    return found


REFS = {"refs/heads/sf": C2, "refs/tags/complete/sf/" + C1: C1, "refs/tags/complete/sf/" + C2: C2}


def fp():
    return o.recipients_fingerprint([KEY_A])


def remote_of(index, extra=()):
    remote = dict((info["key"], info["size"] + 200) for info in index["files"].values())
    remote[o.INDEX_KEY] = 300
    for key in extra:
        remote[key] = 1
    return remote


def meta_of(index):
    return {o.META_INDEX_SHA256: o.index_digest(index), o.META_RECIPIENTS: index["recipients"]}


@pytest.mark.parametrize("given, expected", [
    ("", ""), ("/", ""), ("a", "a"), ("/a/b/", "a/b"), ("backups/sf", "backups/sf")])
def test_prefix_normalised(given, expected):
    assert o.normalise_prefix(given) == expected
    assert o.full_key(expected, "index.json.age") == (expected + "/" if expected else "") + "index.json.age"


@pytest.mark.parametrize("bad", ["a//b", "a/../b", "./a"])
def test_prefix_with_odd_segments_is_refused(bad):
    with pytest.raises(o.OffsiteError, match="segment"):
        o.normalise_prefix(bad)


def test_relative_key_only_under_the_prefix():
    assert o.relative_key("a/b", "a/b/index.json.age") == "index.json.age"
    assert o.relative_key("a/b", "a/bc/index.json.age") is None
    assert o.relative_key("", "x") == "x"


@pytest.mark.parametrize("name, ok", [
    (P1 + ".pack", True), (P1 + ".idx", True), (P1 + ".par2", True), (P1 + ".vol000+200.par2", True),
    ("midx-" + "1" * 40 + ".midx", False), ("bup.bloom", False), (P1 + ".keep", False), (P1 + ".rev", False),
    ("pack-123.pack", False), ("tmp_pack_x", False)])
def test_which_files_are_copied(name, ok):
    assert o.is_pack_file(name) is ok


def test_recipients_normalised_and_fingerprint_order_free():
    got = o.normalise_recipients(["# restore key\n" + KEY_B + "\n\n" + KEY_A, KEY_A + "  "])
    assert got == sorted([KEY_A, KEY_B])
    assert o.recipients_fingerprint([KEY_A, KEY_B]) == o.recipients_fingerprint([KEY_B, KEY_A, KEY_A])
    assert o.recipients_fingerprint([KEY_A]) != o.recipients_fingerprint([KEY_B])
    assert len(o.recipients_fingerprint([KEY_A])) == 16
    assert o.normalise_recipients(["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHt0 me@host"])


def test_a_secret_key_given_as_recipient_is_refused_without_echoing_it():
    secret = "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQSSSSSS"
    with pytest.raises(o.OffsiteError) as info:
        o.normalise_recipients([secret])
    assert "identity" in str(info.value) and secret not in str(info.value)


@pytest.mark.parametrize("bad", ["age1short", "hello", "-----BEGIN AGE ENCRYPTED FILE-----"])
def test_garbage_recipients_are_refused(bad):
    with pytest.raises(o.OffsiteError, match="not an age recipient"):
        o.normalise_recipients([bad])


def test_index_is_canonical_and_round_trips():
    index = o.build_index(REFS, files(P1, P2, par2=[P1]), fp())
    again = o.build_index(dict(reversed(list(REFS.items()))), dict(reversed(list(files(P1, P2, par2=[P1]).items()))),
                          fp())
    assert o.encode_index(index) == o.encode_index(again)
    assert o.parse_index(o.encode_index(index)) == index
    assert index["files"][P1 + ".pack"]["key"] == "packs/{0}/{1}.pack.age".format(fp(), P1)


@pytest.mark.parametrize("mutate, message", [
    (lambda i: i.update(format="other"), "not a statesafe"),
    (lambda i: i.update(version=2), "version 2"),
    (lambda i: i.pop("refs"), "no refs"),
    (lambda i: i["refs"].update({"refs/heads/x": "nothex"}), "ref 'refs/heads/x'"),
    (lambda i: i["files"].pop(P1 + ".idx"), "without its .idx"),
    (lambda i: i["files"][P1 + ".pack"].update(sha256="zz"), "file 'pack-1"),
    (lambda i: i["files"][P1 + ".pack"].update(key="packs/" + "0" * 16 + "/" + P2 + ".pack.age"), "file 'pack-1"),
    (lambda i: i["files"][P1 + ".pack"].update(key="../../etc/passwd"), "file 'pack-1"),
])
def test_malformed_index_is_refused_naming_what(mutate, message):
    index = o.build_index(REFS, files(P1), fp())
    mutate(index)
    with pytest.raises(o.OffsiteError, match=message):
        o.parse_index(o.encode_index(index))


def test_index_that_is_not_json_is_refused():
    with pytest.raises(o.OffsiteError, match="not JSON"):
        o.parse_index(b"\x00PACK")


def test_build_index_refuses_bad_names():
    with pytest.raises(o.OffsiteError, match="not a pack file"):
        o.build_index({}, {"bup.bloom": {"size": 1, "sha256": SHA}}, fp())
    with pytest.raises(o.OffsiteError, match="cannot record refs"):
        o.build_index({"HEAD": C1}, {}, fp())


def test_first_push_uploads_everything_and_the_index():
    index = o.build_index(REFS, files(P1, P2), fp())
    plan = o.push_plan(index, {}, {})
    assert plan["upload"] == sorted(index["files"]) and plan["upload_index"] and plan["delete"] == []


def test_unchanged_push_uploads_nothing():
    index = o.build_index(REFS, files(P1, P2), fp())
    plan = o.push_plan(index, remote_of(index), meta_of(index))
    assert plan == {"upload": [], "upload_index": False, "delete": [], "keep": sorted(index["files"])}


def test_new_save_uploads_its_pack_and_a_new_index_only():
    old = o.build_index(REFS, files(P1), fp())
    new = o.build_index(dict(REFS, **{"refs/heads/sf": C1}), files(P1, P2), fp())
    plan = o.push_plan(new, remote_of(old), meta_of(old))
    assert plan["upload"] == [P2 + ".idx", P2 + ".pack"] and plan["upload_index"] and not plan["delete"]


def test_refs_change_alone_uploads_only_the_index():
    old = o.build_index(REFS, files(P1), fp())
    new = o.build_index({"refs/heads/sf": C1}, files(P1), fp())
    plan = o.push_plan(new, remote_of(old), meta_of(old))
    assert plan["upload"] == [] and plan["upload_index"] and plan["delete"] == []


def test_after_gc_the_packs_gone_locally_are_deleted_remotely():
    old = o.build_index(REFS, files(P1, P2, par2=[P1]), fp())
    new = o.build_index(REFS, files(P2, P3), fp())
    foreign = ["notes.txt", "packs/readme", "other/" + P1 + ".pack.age"]
    plan = o.push_plan(new, remote_of(old, foreign), meta_of(old))
    assert plan["upload"] == [P3 + ".idx", P3 + ".pack"]
    assert plan["delete"] == sorted(old["files"][n]["key"] for n in old["files"] if n.startswith(P1))
    assert not set(plan["delete"]) & set(foreign), "only our pack objects are ever deleted"


def test_a_half_uploaded_first_push_is_completed():
    index = o.build_index(REFS, files(P1, P2), fp())
    remote = {index["files"][P1 + ".pack"]["key"]: 1}
    plan = o.push_plan(index, remote, {})
    assert P1 + ".pack" not in plan["upload"] and P1 + ".idx" in plan["upload"] and plan["upload_index"]


def test_other_recipients_are_refused_unless_allowed():
    old = o.build_index(REFS, files(P1), fp())
    new = o.build_index(REFS, files(P1), o.recipients_fingerprint([KEY_B]))
    with pytest.raises(o.OffsiteError, match="other recipients"):
        o.push_plan(new, remote_of(old), meta_of(old))
    plan = o.push_plan(new, remote_of(old), meta_of(old), allow_recipient_change=True)
    assert plan["upload"] == sorted(new["files"]) and plan["upload_index"]
    assert plan["delete"] == sorted(info["key"] for info in old["files"].values())


def test_pull_plan_orders_pack_before_its_idx():
    index = o.build_index(REFS, files(P2, P1, par2=[P1]), fp())
    plan = o.pull_plan(index)
    assert plan["download"][:4] == [P1 + ".pack", P1 + ".idx", P1 + ".par2", P1 + ".vol000+200.par2"]
    assert plan["refs"] == sorted(REFS.items())


def test_check_download():
    expected = {"size": 3, "sha256": SHA}
    assert o.check_download("x", expected, 3, SHA) is None
    assert "2 bytes" in o.check_download("x", expected, 2, SHA)
    assert "sha256" in o.check_download("x", expected, 3, "cd" * 32)


def test_missing_objects_and_summary():
    index = o.build_index(REFS, files(P1, P2), fp())
    remote = remote_of(index)
    del remote[index["files"][P2 + ".idx"]["key"]]
    assert o.missing_objects(index, remote) == [P2 + ".idx"]
    summary = o.summarise_index(index)
    assert summary["branches"] == {"sf": C2}
    assert sorted(summary["complete_markers"]["sf"]) == [C1, C2]
    assert summary["packs"] == 2 and summary["files"] == 4 and summary["bytes"] == 220


def test_error_names_bucket_and_key():
    error = o.OffsiteError("downloading failed", endpoint="http://x", bucket="b", key="p/index.json.age")
    assert str(error) == "downloading failed (endpoint=http://x bucket=b key=p/index.json.age)"
