"""A group's creation number (``created``): the same in every answer that names the group, kept across a restart
and a snapshot, and another one for a group made again under a name deleted, which is how a node waiting on a
request to join tells the new group from the one it asked (``peer_node/join_answers.py``)."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

from .helpers import Api, AppFactory
from .snapshot_pair import source_and_other


async def _created_everywhere(api: Api, owner: str, asker: str, gid: str) -> int:
    """The group's number as the listing, its page and a request to join all give it (one number)."""
    listed = {g["group_id"]: g for g in (await api.ok("GET", "/api/v1/groups", None, asker))["groups"]}
    page = await api.ok("GET", f"/api/v1/groups/{gid}", None, owner)
    joined = await api.ok("POST", f"/api/v1/groups/{gid}/join", {}, asker, want=202)
    numbers: set[Any] = {listed[gid]["created"], page["created"], joined["created"]}
    assert len(numbers) == 1, numbers
    number = numbers.pop()
    assert isinstance(number, int) and number > 0
    return number


async def test_a_group_made_again_under_a_deleted_name_has_another_number_and_restarts_keep_it(
        start_tracker: AppFactory) -> None:
    api = await start_tracker()
    alice, carol = await api.user("alice"), await api.user("carol")
    await api.ok("POST", "/api/v1/groups", {"group_id": "lab"}, alice, want=201)
    first = await _created_everywhere(api, alice, carol, "lab")
    await api.ok("POST", "/api/v1/groups", {"group_id": "art"}, alice, want=201)
    await api.ok("POST", "/api/v1/groups/lab/leave", {}, alice)  # its last member: deleted
    await api.ok("POST", "/api/v1/groups", {"group_id": "lab"}, alice, want=201)
    second = await _created_everywhere(api, alice, carol, "lab")
    assert second > first  # carol's request was to the first lab: the second is another group
    listed = {g["group_id"]: g["created"] for g in (await api.ok("GET", "/api/v1/groups", None, carol))["groups"]}
    await api.client.close()

    api = await start_tracker()  # from its database
    again = {g["group_id"]: g["created"] for g in (await api.ok("GET", "/api/v1/groups", None, carol))["groups"]}
    assert again == listed and again["lab"] == second and again["art"] not in (first, second)


async def test_a_snapshot_carries_the_numbers_and_one_without_them_installs_groups_without(
        start_tracker: AppFactory, tmp_path: Path) -> None:
    async with source_and_other(start_tracker, tmp_path) as (source, other):
        made = (await source.load_state()).groups["g"].created
        assert made is not None
        snapshot = await source.dump()
        await other.install(snapshot, epoch=7)
        assert (await other.load_state()).groups["g"].created == made
        del snapshot["group_created"]  # a tracker of the release before creation numbers sends none
        await other.install(snapshot, epoch=7)
        assert (await other.load_state()).groups["g"].created is None


async def test_rows_an_older_tracker_left_behind_neither_stop_a_start_nor_a_new_group(start_tracker: AppFactory,
                                                                                      tmp_path: Path) -> None:
    """A tracker of the release before, run in between, deleted groups without their rows here."""
    api = await start_tracker()
    alice = await api.user("alice")
    await api.client.close()
    with contextlib.closing(sqlite3.connect(tmp_path / "data" / "tracker.sqlite3")) as db, db:
        db.executemany("INSERT INTO group_created(group_id, idx) VALUES (?, ?)", [("gone", 1), ("lab", 1)])
    api = await start_tracker()  # a row without its group: no KeyError at the start
    await api.ok("POST", "/api/v1/groups", {"group_id": "lab"}, alice, want=201)  # its stale row replaced
    listed = (await api.ok("GET", "/api/v1/groups", None, alice))["groups"]
    assert [(g["group_id"], g["created"] > 1) for g in listed] == [("lab", True)]
