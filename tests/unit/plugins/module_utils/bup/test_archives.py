from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import time

import pytest

from ansible_collections.statesafe.backup.plugins.module_utils.bup import archives
from ansible_collections.statesafe.backup.plugins.module_utils.bup.errors import (
    ArchiveIncomplete,
    ArchiveNotFound,
    BadInput,
)

DAY = 86400


def utc(text):
    return calendar.timegm(time.strptime(text, "%Y-%m-%d %H:%M"))


def archive(commit, when, complete=True, tree=None):
    stamp = utc(when) if isinstance(when, str) else when
    return {"branch": "sf", "name": time.strftime("%Y-%m-%d-%H%M%S", time.gmtime(stamp)), "commit": commit,
            "tree": tree or "t" + commit, "timestamp": stamp, "date": archives.iso_utc(stamp), "complete": complete}


def commit(cid, tree, at, ct=None):
    return {"commit": cid, "tree": tree, "time": at, "commit_time": at if ct is None else ct}


# ---- markers ---------------------------------------------------------------------------------------------------


def test_carry_markers_keeps_markers_of_commits_on_the_branch():
    commits = [commit("c2", "t2", 20), commit("c1", "t1", 10)]
    markers = [{"ref": "r1", "branch": "sf", "commit": "c1", "target": "c1"}]
    complete, moves, stale = archives.carry_markers(commits, markers)
    assert (complete, moves, stale) == ({"c1"}, [], [])


def test_carry_markers_follows_a_commit_rewritten_by_bup_rm():
    # bup rm rewrote c2 as n2: same tree and dates, new id; the old marker still names c2.
    commits = [commit("n2", "t2", 20, 21)]
    old = {"ref": "r2", "branch": "sf", "commit": "c2", "target": "c2", "record": commit("c2", "t2", 20, 21)}
    complete, moves, stale = archives.carry_markers(commits, [old])
    assert complete == {"n2"} and moves == [(old, "n2")] and stale == []


def test_carry_markers_does_not_follow_a_different_date_or_tree():
    commits = [commit("n2", "t2", 20, 21)]
    other_time = {"ref": "a", "branch": "sf", "commit": "c2", "target": "c2", "record": commit("c2", "t2", 19, 21)}
    other_tree = {"ref": "b", "branch": "sf", "commit": "c3", "target": "c3", "record": commit("c3", "tX", 20, 21)}
    gone = {"ref": "c", "branch": "sf", "commit": "c4", "target": "c4", "record": None}
    complete, moves, stale = archives.carry_markers(commits, [other_time, other_tree, gone])
    assert complete == set() and moves == [] and stale == [other_time, other_tree, gone]


def test_a_marker_pointing_elsewhere_than_its_name_is_not_trusted_as_is():
    commits = [commit("c1", "t1", 10)]
    forged = {"ref": "r", "branch": "sf", "commit": "c1", "target": "c9", "record": commit("c1", "t1", 10)}
    complete, moves, _stale = archives.carry_markers(commits, [forged])
    assert complete == {"c1"} and moves == [(forged, "c1")], "rewritten to point at what it names"


def test_build_archives_names_and_flags():
    listed = archives.build_archives("sf", [commit("c2", "t", 1700000000), commit("c1", "t", 1700000000)], {"c1"},
                                     time.gmtime)
    assert [(a["name"], a["complete"]) for a in listed] == [("2023-11-14-221320-1", False),
                                                            ("2023-11-14-221320-0", True)]
    assert listed[0]["date"] == "2023-11-14T22:13:20Z"


def test_build_archives_sorts_by_date_when_saves_were_dated_out_of_order():
    # bup save -d can date a later commit earlier; names still follow branch order, as bup's do.
    listed = archives.build_archives("sf", [commit("tip", "t", 1500000000), commit("first", "t", 1700000000)],
                                     {"tip", "first"}, time.gmtime)
    assert [(a["commit"], a["name"]) for a in listed] == [("first", "2023-11-14-221320"),
                                                          ("tip", "2017-07-14-024000")]


# ---- selection -------------------------------------------------------------------------------------------------

ARCHIVES = [
    archive("d" * 40, "2024-05-03 10:00", complete=False),
    archive("c" * 39 + "1", "2024-05-02 23:00"),
    archive("c" * 39 + "2", "2024-05-02 08:00", complete=False),
    archive("b" * 40, "2024-05-01 02:15"),
    archive("a" * 40, "2024-04-20 12:00"),
]


@pytest.mark.parametrize("selector, allow, expected", [
    ("latest", False, "c" * 39 + "1"),
    (None, False, "c" * 39 + "1"),
    ("latest", True, "d" * 40),
    ("2024-05-02", False, "c" * 39 + "1"),
    ("2024-05-01", False, "b" * 40),
    ("2024-05-02T12:00:00Z", False, "b" * 40),
    ("2024-05-02T12:00:00Z", True, "c" * 39 + "2"),
    ("2024-05-02T10:00+02:00", False, "b" * 40),
    ("2024-05-02 08:00", True, "c" * 39 + "2"),
    ("bbbbbbb", False, "b" * 40),
    ("a" * 40, False, "a" * 40),
    ("2024-05-01-021500", False, "b" * 40),
])
def test_select_archive(selector, allow, expected):
    assert archives.select_archive(ARCHIVES, selector, allow, time.gmtime)["commit"] == expected


def test_select_refuses_an_incomplete_commit_unless_allowed():
    with pytest.raises(ArchiveIncomplete, match="not marked complete") as info:
        archives.select_archive(ARCHIVES, "ddddddd", False, time.gmtime)
    assert "commit=" + "d" * 40 in str(info.value) and "branch=sf" in str(info.value)
    assert archives.select_archive(ARCHIVES, "ddddddd", True, time.gmtime)["commit"] == "d" * 40


@pytest.mark.parametrize("selector, message", [
    ("ccccccc", "matches 2 archives"),
    ("eeeeeee", "no archive has commit"),
    ("2024-05-03", r"no complete archive matches 2024-05-03 \(2 incomplete"),
    ("2020-01-01T00:00Z", "no complete archive matches"),
    ("2024-05-09-000000", "no archive has name"),
])
def test_select_explains_what_did_not_match(selector, message):
    with pytest.raises(ArchiveNotFound, match=message):
        archives.select_archive(ARCHIVES, selector, False, time.gmtime)


def test_select_on_an_empty_list_says_so():
    with pytest.raises(ArchiveNotFound, match="no complete archive matches latest"):
        archives.select_archive([], "latest")


@pytest.mark.parametrize("selector", ["yesterday", "2024-13", "xyz", "abc12", "../etc"])
def test_selector_kind_rejects_nonsense(selector):
    with pytest.raises(BadInput, match="is not 'latest'"):
        archives.selector_kind(selector)


# ---- retention -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, seconds", [
    ("30s", 30), ("5min", 300), ("12h", 43200), ("7d", 7 * DAY), ("2w", 14 * DAY), ("1m", 31 * DAY),
    ("1y", 366 * DAY), ("forever", float("inf")), (None, None),
])
def test_period_seconds_uses_bups_units(text, seconds):
    assert archives.period_seconds(text, "x") == seconds


@pytest.mark.parametrize("text", ["7", "7 d", "-1d", "1.5d", "d", "7days"])
def test_period_seconds_rejects(text):
    with pytest.raises(BadInput, match="keep_x_for"):
        archives.period_seconds(text, "keep_x_for")


def test_policy_needs_one_period_and_growing_periods():
    with pytest.raises(BadInput, match="at least one"):
        archives.retention_policy()
    with pytest.raises(BadInput, match=r"keep_weeklies_for \(1w\) is shorter than keep_dailies_for \(30d\)"):
        archives.retention_policy(keep_dailies_for="30d", keep_weeklies_for="1w")
    assert archives.retention_policy(keep_all_for="1d", keep_monthlies_for="forever") == {
        "all": DAY, "dailies": None, "weeklies": None, "monthlies": float("inf"), "yearlies": None}


def plan_of(listed, now, keep_incomplete=False, **policy):
    plan = archives.retention_plan(listed, archives.retention_policy(**policy), now, keep_incomplete, time.gmtime)
    return [a["commit"] for a, keep, _r in plan if keep], dict((a["commit"], r) for a, _k, r in plan)


NOW = utc("2024-06-30 12:00")


def test_keep_all_then_dailies():
    listed = [archive("a", "2024-06-30 11:00"), archive("b", "2024-06-30 01:00"), archive("c", "2024-06-28 20:00"),
              archive("d", "2024-06-28 03:00"), archive("e", "2024-06-27 03:00"), archive("f", "2024-06-01 03:00")]
    kept, reasons = plan_of(listed, NOW, keep_all_for="1d", keep_dailies_for="7d")
    assert kept == ["a", "b", "c", "e"]
    assert reasons["d"] == "not the newest of its day (dailies)"
    assert reasons["f"] == "older than every retention period"


def test_weeklies_keep_the_newest_of_each_iso_week():
    # 2024-06-17 is a Monday; ISO weeks 25 (17-23 June), 24 (10-16), 23 (3-9).
    listed = [archive("w25b", "2024-06-23 22:00"), archive("w25a", "2024-06-17 01:00"),
              archive("w24b", "2024-06-16 23:00"), archive("w24a", "2024-06-10 00:30"),
              archive("w23", "2024-06-05 12:00"), archive("old", "2024-03-01 12:00")]
    kept, _reasons = plan_of(listed, utc("2024-06-24 12:00"), keep_weeklies_for="4w")
    assert kept == ["w25b", "w24b", "w23"]


def test_monthlies_and_yearlies_regions_start_where_shorter_ones_end():
    listed = [archive("jun", "2024-06-29 00:00"), archive("may2", "2024-05-30 00:00"), archive("may1", "2024-05-02 00:00"),
              archive("jan", "2024-01-10 00:00"), archive("y23b", "2023-12-31 00:00"), archive("y23a", "2023-02-01 00:00"),
              archive("y21", "2021-06-01 00:00")]
    kept, reasons = plan_of(listed, NOW, keep_dailies_for="2d", keep_monthlies_for="6m", keep_yearlies_for="2y")
    # monthlies (6m = 186 days) reach back to 2023-12-26: y23b is December's monthly, so the yearly
    # region (from 2022-06-29) holds only y23a, which becomes 2023's yearly, as in bup prune-older.
    assert kept == ["jun", "may2", "jan", "y23b", "y23a"]
    assert reasons["y23b"] == "newest of its month (monthlies)"
    assert reasons["y23a"] == "newest of its year (yearlies)"
    assert reasons["jun"] == "newest of its day (dailies)"
    assert reasons["may1"] == "not the newest of its month (monthlies)"
    assert reasons["y21"] == "older than every retention period"


def test_incomplete_archives_never_take_a_slot_and_go_by_default():
    listed = [archive("late-broken", "2024-06-29 23:00", complete=False), archive("good", "2024-06-29 01:00"),
              archive("older", "2024-06-28 01:00")]
    kept, reasons = plan_of(listed, NOW, keep_dailies_for="7d")
    assert kept == ["good", "older"], "the complete save of 29 June is the day's newest that counts"
    assert reasons["late-broken"] == "incomplete (never validated and marked)"
    kept, reasons = plan_of(listed, NOW, keep_incomplete=True, keep_dailies_for="7d")
    assert kept == ["late-broken", "good", "older"]


def test_the_newest_complete_archive_is_always_kept():
    listed = [archive("broken", "2024-06-29 00:00", complete=False), archive("last-good", "2023-01-01 00:00"),
              archive("older", "2022-01-01 00:00")]
    kept, reasons = plan_of(listed, NOW, keep_all_for="1d")
    assert kept == ["last-good"]
    assert reasons["last-good"] == "newest complete archive (always kept)"


def test_forever_keeps_everything_complete():
    listed = [archive("a", "2024-06-29 00:00"), archive("b", "1999-01-01 00:00")]
    assert plan_of(listed, NOW, keep_all_for="forever")[0] == ["a", "b"]


def test_listing_lines_newest_first_with_completeness():
    listed = [{"name": "2026-01-01-000000", "commit": "a" * 40, "timestamp": 1, "size": 10, "complete": True},
              {"name": "2026-01-02-000000", "commit": "b" * 40, "timestamp": 2, "size": 20, "complete": False}]
    assert archives.listing_lines(listed) == ["2026-01-02-000000  bbbbbbbbbbbb  20  INCOMPLETE",
                                              "2026-01-01-000000  aaaaaaaaaaaa  10  complete"]
    assert archives.listing_lines([]) == []
