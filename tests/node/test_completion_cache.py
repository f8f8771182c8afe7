"""What Tab may offer at the console, as the node hears it: filled from listings and the node's own changes, one
user's at a time, and asked for again when missing or stale (waited for a moment only when Tab has nothing else)."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from peer_node.commands import COMMANDS, Scope
from peer_node.completion_cache import (
    FIRST_TAB_WAIT_S,
    STALE_S,
    WAIT_STEP_S,
    Ask,
    CompletionCache,
    Known,
    KnownValues,
    Want,
    values,
    wanted,
)
from peer_node.views import GroupRole

OWNER, MEMBER, PENDING, NONE = GroupRole.OWNER, GroupRole.MEMBER, GroupRole.PENDING, GroupRole.NONE


def filled() -> CompletionCache:
    cache = CompletionCache()
    cache.groups_listed("alice", {"lab": OWNER, "art": MEMBER, "zoo": NONE}, 100.0)
    cache.files_listed("alice", "lab", ["b.bin", "a.bin"], 100.0)
    cache.files_listed("alice", "art", ["paint.png"], 100.0)
    cache.requests_listed("alice", "lab", ["bob"], 100.0)
    cache.local("alice", [("lab", "a.bin")], [("art", "paint.png")])
    return cache


def test_listings_fill_what_each_argument_offers() -> None:
    k = filled().known
    assert values(k, Scope.MEMBER, "group_id", None) == ["art", "lab"]
    assert values(k, Scope.MEMBER, "file_name", "lab") == ["a.bin", "b.bin"]
    assert values(k, Scope.OWNER, "user_id", "lab") == ["bob"]
    assert values(k, Scope.SHARES, "file_name", "lab") == ["a.bin"]
    assert values(k, Scope.DOWNLOADS, "group_id", None) == ["art"]


def test_a_logout_empties_it_and_another_users_fill_starts_from_nothing() -> None:
    cache = filled()
    cache.clear()
    assert cache.known == Known()
    cache = filled()
    cache.files_listed("bob", "gym", ["shoes.txt"], 200.0)  # bob logged in (a fill for him, however it came)
    k = cache.known
    assert k.user == "bob"
    assert values(k, Scope.MEMBER, "file_name", "lab") == []  # nothing of alice's
    assert values(k, Scope.OUTSIDE, "group_id", None) == [] and k.groups == {} and k.shares == {}
    assert values(k, Scope.MEMBER, "file_name", "gym") == ["shoes.txt"]
    cache = filled()
    cache.local("carol", [], [])  # carol's node shares and downloads nothing: still nothing of alice's
    assert cache.known == Known(user="carol")


def test_a_group_left_takes_its_files_and_requests_with_it() -> None:
    cache = filled()
    cache.role_changed("alice", "art", NONE)
    cache.groups_listed("alice", {"lab": MEMBER, "art": NONE, "zoo": NONE}, 150.0)  # lab passed on to another
    k = cache.known
    assert values(k, Scope.MEMBER, "file_name", "art") == []
    assert values(k, Scope.OWNER, "user_id", "lab") == []
    assert values(k, Scope.MEMBER, "file_name", "lab") == ["a.bin", "b.bin"]  # still in it
    assert values(k, Scope.OUTSIDE, "group_id", None) == ["art", "zoo"]
    cache.role_changed("alice", "zoo", None)  # deleted: its last member left
    assert "zoo" not in cache.known.groups


def test_changes_made_from_this_node_show_before_the_next_listing() -> None:
    cache = filled()
    cache.role_changed("alice", "new", OWNER)
    cache.role_changed("alice", "zoo", PENDING)
    cache.file_shared("alice", "lab", "c.bin")
    cache.file_shared("alice", "unlisted", "x.bin")  # its files never listed: nothing to add to
    cache.request_answered("alice", "lab", "bob")
    k = cache.known
    assert values(k, Scope.OWNER, "group_id", None) == ["lab", "new"]
    assert values(k, Scope.JOINED, "group_id", None) == ["art", "lab", "new", "zoo"]
    assert values(k, Scope.MEMBER, "file_name", "lab") == ["a.bin", "b.bin", "c.bin"]
    assert "unlisted" not in k.files
    assert values(k, Scope.OWNER, "user_id", "lab") == []


def test_each_change_is_a_new_snapshot_and_an_old_one_stays_as_it_was() -> None:
    """The console thread reads a snapshot while the event loop changes the cache: what it holds never moves."""
    cache = filled()
    before = cache.known
    cache.files_listed("alice", "lab", ["z.bin"], 120.0)
    assert values(before, Scope.MEMBER, "file_name", "lab") == ["a.bin", "b.bin"]
    cache.local("alice", [("lab", "a.bin")], [("art", "paint.png")])  # no change: the same snapshot
    same = cache.known
    cache.local("alice", [("lab", "a.bin")], [("art", "paint.png")])
    assert cache.known is same


def test_what_is_missing_or_stale_is_wanted_and_what_is_fresh_or_local_is_not() -> None:
    k = filled().known
    assert wanted(k, Scope.MEMBER, "group_id", None, 100.0 + STALE_S / 2) is None
    assert wanted(k, Scope.MEMBER, "group_id", None, 100.0 + STALE_S) == (Ask.GROUPS, None)
    assert wanted(Known(), Scope.OUTSIDE, "group_id", None, 0.0) == (Ask.GROUPS, None)
    assert wanted(k, Scope.MEMBER, "file_name", "lab", 101.0) is None
    joined = replace(k, groups={**k.groups, "new": MEMBER})
    assert wanted(joined, Scope.MEMBER, "file_name", "new", 101.0) == (Ask.FILES, "new")  # its files not listed yet
    assert wanted(k, Scope.MEMBER, "file_name", "zoo", 101.0) is None  # not in it: the tracker would refuse
    assert wanted(k, Scope.MEMBER, "file_name", "lba", 101.0) is None  # no such group listed: a typo
    assert wanted(Known(), Scope.MEMBER, "file_name", "lab", 0.0) == (Ask.FILES, "lab")  # groups not listed yet
    assert wanted(Known(), Scope.MEMBER, "file_name", "la b", 0.0) is None  # not an id: nothing to ask (nor wait)
    assert wanted(k, Scope.OWNER, "user_id", "art", 1e9) is None  # a member's: the tracker would refuse
    assert wanted(k, Scope.OWNER, "user_id", "lab", 100.0 + STALE_S) == (Ask.REQUESTS, "lab")
    assert wanted(k, Scope.SHARES, "file_name", "lab", 1e9) is None  # this node's own: kept fresh by the loop
    assert wanted(k, Scope.NONE, "group_id", None, 1e9) is None


def test_tab_on_a_group_asks_for_what_is_missing_and_for_the_files_of_the_one_group_it_completes() -> None:
    cache = CompletionCache()
    asked: list[Want] = []
    now = [0.0]
    naps: list[float] = []
    tab = KnownValues(lambda: cache.known, asked.append, lambda: now[0], naps.append)
    download = COMMANDS["download_file"]
    assert tab(download, 0, None, "") == []  # nothing known, and no answer: nothing, after a bounded wait
    assert asked == [(Ask.GROUPS, None)]
    assert len(naps) == math.ceil(FIRST_TAB_WAIT_S / WAIT_STEP_S)
    cache.groups_listed("alice", {"lab": OWNER, "art": MEMBER}, 0.0)
    asked.clear()
    assert tab(download, 0, None, "") == ["art", "lab"]
    assert asked == []  # two groups: no guess which one's files
    assert tab(download, 0, None, "la") == ["lab"]
    assert asked == [(Ask.FILES, "lab")]  # ready for the next Tab, at the file name
    asked.clear()
    assert tab(COMMANDS["list_files"], 0, None, "la") == ["lab"]
    assert asked == []  # no file name comes after


def test_a_first_tab_with_nothing_to_offer_waits_a_moment_for_the_listing_it_asked_for() -> None:
    cache = CompletionCache()
    cache.groups_listed("alice", {"lab": MEMBER}, 0.0)
    now = [1.0]

    def nap(seconds: float) -> None:  # the event loop's listing comes in during the third look
        now[0] += seconds
        if now[0] > 1.0 + 2.5 * WAIT_STEP_S:
            cache.files_listed("alice", "lab", ["notes.txt", "data.bin"], 1.0)

    tab = KnownValues(lambda: cache.known, lambda want: None, lambda: now[0], nap)
    assert tab(COMMANDS["download_file"], 1, "lab", "no") == ["notes.txt"]  # at the first Tab, not the next
    assert now[0] == pytest.approx(1.0 + 3 * WAIT_STEP_S)  # not a moment longer than it took
    waited = now[0]
    assert tab(COMMANDS["download_file"], 1, "lab", "zz") == []  # listed and fresh: nothing matches, no wait
    assert tab(COMMANDS["download_file"], 0, None, "la") == ["lab"]
    assert now[0] == waited


def test_a_tab_while_logged_out_does_not_wait_for_a_listing_nobody_makes() -> None:
    """Logged out, the node lists nothing (``refresh_known``): a Tab at a group id or a file name has nothing to wait
    for, and must not hold the prompt for ``FIRST_TAB_WAIT_S`` at every press."""
    cache = CompletionCache()  # as a logout leaves it
    asked: list[Want] = []
    naps: list[float] = []
    tab = KnownValues(lambda: cache.known, asked.append, lambda: 0.0, naps.append, logged_in=lambda: False)
    assert tab(COMMANDS["join_group"], 0, None, "") == []
    assert tab(COMMANDS["download_file"], 1, "lab", "") == []
    assert naps == []
    assert asked == [(Ask.GROUPS, None), (Ask.FILES, "lab")]  # handed on all the same: the loop decides


def test_a_group_id_found_only_after_the_wait_still_has_its_files_asked_for() -> None:
    cache = CompletionCache()
    asked: list[Want] = []

    def nap(seconds: float) -> None:  # the groups listing comes in during the wait
        cache.groups_listed("alice", {"lab": MEMBER, "art": MEMBER}, 0.0)

    tab = KnownValues(lambda: cache.known, asked.append, lambda: 0.0, nap)
    assert tab(COMMANDS["download_file"], 0, None, "la") == ["lab"]
    assert asked == [(Ask.GROUPS, None), (Ask.FILES, "lab")]  # ready for the file name, as without a wait


def test_a_listing_the_tracker_refused_ends_the_wait_and_is_not_asked_again_until_stale() -> None:
    cache = CompletionCache()  # the groups not listed yet: a group's files are asked for (it may be the user's)
    asked: list[Want] = []
    naps: list[float] = []

    def nap(seconds: float) -> None:  # the refusal comes in during the first look (``refresh_known``)
        naps.append(seconds)
        cache.files_listed("alice", "art", (), 1.0)

    tab = KnownValues(lambda: cache.known, asked.append, lambda: 1.0, nap)
    assert tab(COMMANDS["download_file"], 1, "art", "") == []
    assert asked == [(Ask.FILES, "art")] and len(naps) == 1  # not the whole wait
    assert tab(COMMANDS["download_file"], 1, "art", "") == []
    assert asked == [(Ask.FILES, "art")] and len(naps) == 1  # the next Tab neither asks nor waits


def test_a_listing_kept_from_before_the_user_was_in_the_group_goes_when_a_listing_shows_them_in() -> None:
    cache = CompletionCache()
    cache.groups_listed("alice", {"lab": NONE, "art": MEMBER, "own": NONE}, 0.0)
    cache.files_listed("alice", "lab", (), 0.5)  # refused: not a member yet (kept empty, not asked again)
    cache.files_listed("alice", "art", ("a.txt",), 0.5)
    cache.requests_listed("alice", "own", (), 0.5)  # refused: not the owner yet
    cache.groups_listed("alice", {"lab": MEMBER, "art": MEMBER, "own": OWNER}, 1.0)  # let in, made the owner
    k = cache.known
    assert list(k.files) == ["art"] and k.requests == {}  # lab's and own's listings are another time's
    assert wanted(k, Scope.MEMBER, "file_name", "lab", 1.0) == (Ask.FILES, "lab")
    assert wanted(k, Scope.OWNER, "user_id", "own", 1.0) == (Ask.REQUESTS, "own")


def test_a_name_the_console_could_not_take_back_is_not_kept() -> None:
    """Readline writes its matches to the terminal as they are: a name with an escape sequence would command it."""
    cache = CompletionCache()
    cache.groups_listed("alice", {"lab": MEMBER, "\x1b]0;pwned\x07": MEMBER, "..": MEMBER}, 0.0)
    cache.files_listed("alice", "lab", ["ok.bin", "evil\x1b[2J.bin", "a/b"], 0.0)
    cache.requests_listed("alice", "lab", ["bob", "bob\x1b[A"], 0.0)
    k = cache.known
    assert list(k.groups) == ["lab"]
    assert k.files["lab"].names == ("ok.bin",)
    assert k.requests["lab"].names == ("bob",)
