"""A snapshot is read, encoded and decoded off the event loop, in pieces, and says the same as before: the primary
keeps answering while one is prepared (snapshot_codec.py says why)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tracker_server import internal, snapshot_codec
from tracker_server.app import create_app
from tracker_server.cluster_auth import cluster_key, sign
from tracker_server.keys import REPLICATOR, SERVICE, STORE
from tracker_server.replication import Replicator
from tracker_server.snapshot_codec import PIECE_BYTES, decode, encode_parts, encode_tables, next_batch
from tracker_server.store import Store, _dumps
from wire.tracker_list import TrackerAddress

from .helpers import SECRET, Api, AppFactory, Clock, make_config
from .snapshot_pair import same_after_install, source_and_other

DOCUMENTS: list[Any] = [
    {}, [], {"a": []}, {"epoch": 3, "from": 1, "snapshot": {"users": [["u1", "h1"], ["u\u00e9", "h\n2"]],
                                                              "log": [], "log_start": [[0, 0]]}},
    {"entries": [{"op": {"t": "x", "deep": [[[[1]]]]}, "result": None}], "n": -1.5e3, "b": True},
    [[1, [2, [3, {"k": "v"}]]], "s", None, False],
]


@pytest.mark.parametrize("doc", DOCUMENTS)
@pytest.mark.parametrize("indent", [None, 2])
def test_decode_reads_any_json_as_json_loads_does(doc: Any, indent: int | None) -> None:
    for text in (json.dumps(doc, indent=indent), json.dumps(doc, separators=(",", ":"), ensure_ascii=False)):
        for depth in (0, 1, 3, 10):
            assert decode(text.encode("utf-8"), depth) == json.loads(text)


@pytest.mark.parametrize("doc", DOCUMENTS)
def test_decode_reads_a_text_cut_into_pieces_at_its_newlines_anywhere(doc: Any,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Pieces of a few bytes: cuts after a comma, inside a row (a value is read again with the next piece), after a
    number (which may go on)."""
    monkeypatch.setattr(snapshot_codec, "PIECE_BYTES", 4)
    for text in (json.dumps(doc, indent=1), json.dumps(doc, indent=None).replace(", ", ",\n")):
        raw = text.encode("utf-8")
        for size in (1, 3, 7):
            chunks = [raw[i:i + size] for i in range(0, len(raw), size)]
            assert decode(chunks, depth=3) == json.loads(text)


@pytest.mark.parametrize("bad", ['{"a":1,}', '{"a" 1}', '[1 2]', '{1:2}', '[1,2]x', '{"a":[1,]}', '', '[', '{"a"'])
def test_decode_refuses_what_json_loads_refuses(bad: str) -> None:
    with pytest.raises(ValueError):
        json.loads(bad)
    with pytest.raises(ValueError):
        decode(bad.encode("utf-8"), depth=3)
    with pytest.raises(ValueError):
        decode([bad[i:i + 1].encode("utf-8") for i in range(len(bad))], depth=3)  # a byte a chunk: pieces


def test_the_encoding_is_the_json_of_the_tables_in_pieces_sized_near_a_bound() -> None:
    rows: list[list[Any]] = [[f"user{i}", bytes([i % 256]) * 40, i] for i in range(3000)]
    pieces = encode_tables([("users", iter(rows)), ("empty", iter([])), ("log_start", [[5, 2]])])
    wanted = {"users": [[r[0], r[1].hex(), r[2]] for r in rows], "empty": [], "log_start": [[5, 2]]}
    assert json.loads(b"".join(pieces)) == wanted == decode(pieces, depth=2)
    assert next_batch(64, PIECE_BYTES + 1) == 32 and next_batch(1, 10 * PIECE_BYTES) == 1
    assert next_batch(64, 100) == 128 and next_batch(64, PIECE_BYTES // 2) == 64


@pytest.mark.parametrize("budget", [300, 1000, 5000])
def test_the_parts_are_each_under_their_bound_and_together_the_whole(budget: int) -> None:
    """Cut between rows, a table going on in the next part; a single row over the bound goes alone."""
    rows: list[list[Any]] = [[f"user{i}", bytes([i % 256]) * (8 + i % 40), i] for i in range(400)]
    big = [["big", "x" * 2 * budget]]
    tables = [("users", rows), ("empty", []), ("big", big), ("log_start", [[5, 2]])]
    parts = list(encode_parts(tables, budget))
    assert [last for _, last in parts] == [False] * (len(parts) - 1) + [True] and len(parts) > 3
    merged: dict[str, list[Any]] = {}
    for pieces, _ in parts:
        body = b"".join(pieces)
        part = json.loads(body)
        assert len(body) <= budget or part.get("big") == [big[0]]
        assert part == decode(pieces, depth=2)
        for table, got in part.items():
            merged.setdefault(table, []).extend(got)
    assert merged == json.loads(b"".join(encode_tables(tables)))
    assert merged["users"] == [[r[0], r[1].hex(), r[2]] for r in rows] and merged["empty"] == []


async def test_the_encoded_snapshot_is_the_dump_and_installs_elsewhere_alike(start_tracker: AppFactory,
                                                                             tmp_path: Path) -> None:
    async with source_and_other(start_tracker, tmp_path) as (source, other):
        encoded = await source.dump_encoded()
        assert json.loads(encoded) == await source.dump()
        await other.install(decode(encoded, depth=3), epoch=7)
        await same_after_install(source, other)


async def _until(done: threading.Event, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + 30
    while not done.is_set():
        assert asyncio.get_running_loop().time() < deadline, what
        await asyncio.sleep(0.01)


async def test_the_primary_answers_a_heartbeat_while_a_snapshot_is_being_encoded(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """The encoder's first piece waits for a heartbeat to be answered: on the event loop (as the encoding was) it
    would hold the loop, the heartbeat would be answered only after the snapshot went, and the order below fail."""
    token = await api.user("alice")
    for i in range(20):
        await api.ok("POST", "/api/v1/users", {"user_id": f"u{i}", "password": "pw-long-enough"}, want=201)
    rep: Replicator = api.client.app[REPLICATOR]
    encoding, answered = threading.Event(), threading.Event()
    order: list[str] = []
    real_encode = snapshot_codec.encode_rows

    def encode_rows(rows: list[list[Any]]) -> bytes:
        if not encoding.is_set():
            encoding.set()
            answered.wait(timeout=10)  # bounded: a loop held here must still let the test end, and fail
            order.append("encoding went on")
        return real_encode(rows)

    async def post_raw(no: int, path: str, raw: bytes | bytearray, limit_s: float | None = None) -> dict[str, Any]:
        body = json.loads(raw)
        order.append(f"snapshot sent: {len(body['snapshot']['users'])} users")
        return {"ok": True, "epoch": body["epoch"], "last_index": 0, "last_epoch": 0}

    monkeypatch.setattr(snapshot_codec, "encode_rows", encode_rows)
    monkeypatch.setattr(rep.link, "post_raw", post_raw)
    sending = asyncio.create_task(rep._send_snapshot(2))
    try:
        await _until(encoding, "the snapshot's encoding never started")
        await api.beat(token)
        order.append("heartbeat answered")
        answered.set()
        await sending
    finally:
        answered.set()
        sending.cancel()
        await asyncio.gather(sending, return_exceptions=True)
    assert order == ["heartbeat answered", "encoding went on", "snapshot sent: 21 users"]


async def test_a_snapshot_carries_the_newest_log_up_to_a_bound_and_its_log_starts_after_what_it_left_out(
        api: Api, tmp_path: Path) -> None:
    """A log over the message cap would have every snapshot refused (413) and the secondary never level."""
    for i in range(8):
        await api.ok("POST", "/api/v1/users", {"user_id": f"u{i}", "password": "pw-long-enough"}, want=201)
    source: Store = api.client.app[STORE]
    entries = await source.entries_after(0, 1000)
    sizes = [len(_dumps(e.op)) + len(_dumps(e.result)) for e in entries]
    assert json.loads(await source.dump_encoded())["log"] == (await source.dump())["log"]  # the whole, by default
    snapshot = decode(await source.dump_encoded(log_bytes=sum(sizes[-3:])), depth=3)
    assert [row[0] for row in snapshot["log"]] == [e.index for e in entries[-3:]]
    assert snapshot["log_start"] == [[entries[-4].index, entries[-4].epoch]]
    other = await Store.open(tmp_path / "other" / "tracker.sqlite3")
    try:
        await other.install(snapshot, epoch=7)
        assert await other.digest() == await source.digest()  # every table but the log: all of the state
        mine, theirs = await source.load_state(), await other.load_state()
        assert (theirs.users, theirs.index, theirs.last_epoch) == (mine.users, mine.index, mine.last_epoch)
        assert await other.compaction_point() == (entries[-4].index, entries[-4].epoch)
        assert set(theirs.results) == {e.op_id for e in entries[-3:]}
    finally:
        await other.close()


async def test_a_snapshot_over_a_mebibyte_is_taken_through_the_internal_route_decoded_in_pieces(
        aiohttp_client: Any, tmp_path: Path) -> None:
    config = dataclasses.replace(make_config(tmp_path, Clock()),
                                 trackers=(TrackerAddress("127.0.0.1", 1, 1), TrackerAddress("127.0.0.1", 2, 2)))
    client = await aiohttp_client(create_app(config))
    users = [[f"user{i}", "scrypt$" + "x" * 90] for i in range(20_000)]
    epoch = client.app[SERVICE].state.epoch + 2
    body = bytearray(b'{"epoch":%d,"from":2,"snapshot":' % epoch)
    for piece in encode_tables([("users", users), ("log", []), ("log_start", [[40, 1]])]):
        body += piece
    body += b"}"
    assert len(body) > internal.BODY_IN_THREAD_BYTES and body.count(b"\n") > 1  # decoded in a thread, in pieces
    headers = {"Content-Type": "application/json",
               **sign(cluster_key(SECRET), "POST", "/internal/v1/snapshot", 2, bytes(body), time.time())}
    resp = await client.post("/internal/v1/snapshot", data=bytes(body), headers=headers)
    assert resp.status == 200 and (await resp.json())["ok"] is True
    state = client.app[SERVICE].state
    assert len(state.users) == 20_000 and state.users["user19999"] == users[-1][1] and state.index == 40
